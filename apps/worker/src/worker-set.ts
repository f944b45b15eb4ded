import { type Job, Worker } from 'bullmq';
import { type JobName, JOB_NAMES, parseJobPayload, queueName } from '@tabpfn-jobs/shared/jobs';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import { type RedisConnection, assertPrefixFitsConnection } from '@tabpfn-jobs/shared/redis';
import { queueTelemetryOption } from '@tabpfn-jobs/shared/tracing';
import { traceAttempt } from './attempt-span.js';
import type { HandlerMap } from './handlers/handler.js';

export interface WorkerSetOptions {
  connection: RedisConnection;
  prefix: string;
  logger: Logger;
  concurrency: Record<JobName, number>;
  /**
   * Queues whose concurrency runs as that many one-slot BullMQ Workers instead of one Worker with
   * that many slots. A Worker with free slots, handed a job, first asks Redis for another one and
   * starts the job only when that answer is back (and each job costs it three fetches, not one); a
   * one-slot Worker starts at once. For short jobs, where that round trip shows: predicts. Each one
   * holds its own blocking Redis connection.
   */
  singleSlot?: readonly JobName[];
  /** Delay before retry `attemptsMade` after `err` (BullMQ custom backoff `upstream`). */
  backoff?: (attemptsMade: number, type?: string, err?: Error) => number;
  /** How long a job may go without a lock renewal before another worker takes it over. */
  lockDurationMs?: number;
}

export interface WorkerSet {
  workers: Worker[];
  /** Stops taking jobs; waits up to `graceMs` for running ones, then hands the rest back. */
  close(graceMs: number, onGraceExpired?: () => void): Promise<void>;
}

/** BullMQ Workers for each catalog entry (see `singleSlot`), each validating its payload before the handler runs. */
export function createWorkerSet(handlers: HandlerMap, opts: WorkerSetOptions): WorkerSet {
  assertPrefixFitsConnection(opts.connection, opts.prefix);
  const slots = JOB_NAMES.flatMap((name) =>
    opts.singleSlot?.includes(name) ? Array.from({ length: opts.concurrency[name] }, () => ({ name, concurrency: 1 })) : [{ name, concurrency: opts.concurrency[name] }],
  );
  const workers = slots.map(({ name, concurrency }) => {
    const handler = handlers[name] as (payload: unknown, job: Job, token?: string) => Promise<void>;
    const worker = new Worker(
      queueName(name),
      async (job, token) => {
        const payload = parseJobPayload(name, job.data);
        await traceAttempt(name, payload, job, () => handler(payload, job, token));
      },
      {
        connection: opts.connection,
        prefix: opts.prefix,
        concurrency,
        lockDuration: opts.lockDurationMs ?? 30_000,
        // Look for stalled jobs (lock lapsed: their worker died) as often as a lock can lapse.
        stalledInterval: opts.lockDurationMs ?? 30_000,
        maxStalledCount: 1000,
        autorun: true,
        settings: { backoffStrategy: opts.backoff },
        // With tracing on, each attempt continues the trace the job's add carried (tracing/bullmq.ts).
        ...queueTelemetryOption(),
      },
    );
    worker.on('error', (err) => opts.logger.warn({ queue: name, err: err.message }, 'worker error'));
    worker.on('failed', (job, err) =>
      opts.logger.debug({ queue: name, bull_job_id: job?.id, err: err.message }, 'bull job failed'),
    );
    return worker;
  });

  return {
    workers,
    async close(graceMs, onGraceExpired) {
      // close() stops fetching and waits for active jobs. Past the grace period the handlers' upstream
      // calls are aborted and they hand their jobs back to the queue themselves (BullMQ's close(true)
      // cannot cut short a close() already waiting). A handler stuck elsewhere gets a few seconds; after
      // exit its lock lapses and another worker takes the job over as stalled.
      let timer: NodeJS.Timeout | undefined;
      const graceful = Promise.all(workers.map((w) => w.close())).then(() => 'done' as const);
      const after = (ms: number) =>
        new Promise<'timeout'>((r) => {
          timer = setTimeout(() => r('timeout'), ms);
        });
      const outcome = await Promise.race([graceful, after(graceMs)]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        opts.logger.warn('grace period over: returning in-flight jobs to the queue');
        onGraceExpired?.();
        if ((await Promise.race([graceful, after(5_000)])) === 'timeout') opts.logger.warn('some jobs did not hand back in time; their locks will lapse');
        clearTimeout(timer);
      }
    },
  };
}
