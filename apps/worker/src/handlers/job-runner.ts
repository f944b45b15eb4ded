import { DelayedError, type Job } from 'bullmq';
import { TabPFNError, type TabPFNClient } from '@tabpfn-jobs/tabpfn';
import type { Breaker } from '../upstream/breaker.js';
import type { CancelRegistry } from './cancel-registry.js';
import type { CallKind, TokenLimiter } from '../upstream/token-limiter.js';
import {
  type JobError,
  type JobRepository,
  type JobRow,
  type KeyRing,
  type Logger,
  type Pool,
  type PoolClient,
  type QueueSet,
  type Redis,
  type UserRepository,
  type WebhookEvent,
  enqueue,
  publishJobFinished,
  withTransaction,
} from '@tabpfn-jobs/shared';

/** Records webhook deliveries inside a state-change transaction and sends them after commit. */
export interface WebhookSink {
  record(tx: PoolClient, job: JobRow, event: WebhookEvent): Promise<string | null>;
  enqueue(ids: (string | null)[]): Promise<void>;
}

export interface RunnerDeps {
  pool: Pool;
  jobs: JobRepository;
  users: UserRepository;
  keyRing: KeyRing;
  tabpfnFor: (token: string) => TabPFNClient;
  queues: QueueSet;
  publisher: Redis;
  prefix: string;
  logger: Logger;
  webhooks: WebhookSink;
  /** Running jobs' abort controllers, so a cancel broadcast can stop the upstream call. */
  running: Map<string, AbortController>;
  /** Cancel broadcasts that found no running call yet (see cancel-registry.ts). */
  cancels: CancelRegistry;
  jobAttempts: number;
  limiter: TokenLimiter;
  breaker: Breaker;
  /** Metrics hooks (worker/src/metrics.ts): a job reached its final status; an attempt will be retried. */
  onFinalized?: (row: JobRow) => void;
  onRetry?: (type: string) => void;
}

export class JobCanceled extends Error {}

const CANCELED: JobError = { code: 'canceled', message: 'Canceled by the user.', retryable: false };

/** The worker is shutting down past its grace period: the job goes back to the queue untouched. */
export class ReturnedToQueue extends Error {}

/** Aborts every running job's upstream call so it returns to the queue (shutdown past the grace period). */
export function returnRunningJobs(running: Map<string, AbortController>): void {
  for (const controller of running.values()) controller.abort(new ReturnedToQueue('worker shutting down'));
}

export function toJobError(err: unknown): JobError {
  if (err instanceof TabPFNError) {
    return {
      code: err.code,
      message: err.message,
      retryable: err.retryable,
      ...(err.traceId ? { trace_id: err.traceId } : {}),
      ...(err.status ? { upstream_status: err.status } : {}),
    };
  }
  return { code: 'internal_error', message: 'The job failed unexpectedly.', retryable: true };
}

/**
 * The parts every job handler shares: claiming the job, the user's token, cancellation, final
 * writes (once, with webhook deliveries in the same transaction), and the retry decision.
 */
export function createJobRunner(deps: RunnerDeps) {
  /**
   * Progress writes are not awaited by the upstream call that reports them, so two of them for one job
   * could land out of order on different pool connections ('uploading' after 'predicting'). Chaining
   * them per job keeps the row's stage the last one reported.
   */
  const progressWrites = new Map<string, Promise<void>>();
  function writeProgress(jobId: string, progress: Parameters<JobRepository['setProgress']>[1]): Promise<void> {
    const next = (progressWrites.get(jobId) ?? Promise.resolve()).then(() => deps.jobs.setProgress(jobId, progress)).catch(() => undefined);
    progressWrites.set(jobId, next);
    void next.then(() => {
      if (progressWrites.get(jobId) === next) progressWrites.delete(jobId);
    });
    return next;
  }

  async function finalize(
    jobId: string,
    outcome: Parameters<JobRepository['finish']>[1],
    extra?: (tx: PoolClient) => Promise<void>,
    /** False only when the caller knows the job has no webhook_url; undefined = check in the transaction. */
    hasWebhook = true,
  ): Promise<JobRow | undefined> {
    const event: WebhookEvent = outcome.status === 'succeeded' ? 'job.succeeded' : outcome.status === 'failed' ? 'job.failed' : 'job.canceled';
    let delivery: string | null = null;
    // With nothing else to write in the same transaction, the conditional UPDATE is atomic alone.
    const row =
      !extra && !hasWebhook
        ? await deps.jobs.finish(jobId, outcome)
        : await withTransaction(deps.pool, async (tx) => {
            const done = await deps.jobs.finish(jobId, outcome, tx);
            if (!done) return undefined;
            await extra?.(tx);
            delivery = await deps.webhooks.record(tx, done, event);
            return done;
          });
    if (!row && outcome.status === 'succeeded') {
      // Refused because a cancel was requested (its broadcast did not reach us): end it canceled.
      const current = await deps.jobs.findById(jobId);
      if (current && ['queued', 'running'].includes(current.status) && current.cancel_requested_at) throw new JobCanceled();
    }
    if (row) {
      deps.logger.info({ job_id: row.id, type: row.type, status: row.status, attempts: row.attempts }, 'job finished');
      deps.onFinalized?.(row);
      await deps.webhooks.enqueue([delivery]);
      await publishJobFinished(deps.publisher, deps.prefix, row.id, row.status).catch(() => undefined);
    }
    return row;
  }

  return {
    finalize,

    /**
     * The job and its user's TabPFN client, or undefined when there is nothing to do (final, gone,
     * canceled). `known` skips re-reading a job row the handler has just read; `onCanceled` writes what
     * a cancel means for the job's other rows (a fit's model) in the same transaction.
     */
    async load(
      jobId: string,
      known?: JobRow,
      onCanceled?: (tx: PoolClient, error: JobError) => Promise<void>,
    ): Promise<{ job: JobRow; client: TabPFNClient; token: string } | undefined> {
      const job = known ?? (await deps.jobs.findById(jobId));
      if (!job || !['queued', 'running'].includes(job.status)) return undefined;
      if (job.cancel_requested_at) {
        await finalize(jobId, { status: 'canceled', error: CANCELED }, onCanceled && ((tx) => onCanceled(tx, CANCELED)));
        return undefined;
      }
      const user = await deps.users.findById(job.user_id);
      if (!user) return undefined;
      const token = deps.keyRing.decrypt(user.tabpfn_token_ciphertext, user.id);
      return { job, client: deps.tabpfnFor(token), token };
    },

    /**
     * Holds the job back in the queue (without using an attempt) while upstream's circuit is open or
     * this token's share of upstream's rate limits is spent, so the worker slot serves other accounts.
     */
    async admit(bullJob: Job, lockToken: string | undefined, job: JobRow, token: string, kinds: CallKind[]): Promise<void> {
      const breakerWait = deps.breaker.admit();
      const wait = breakerWait || (await deps.limiter.acquire(token, kinds));
      if (!wait) return;
      // Admitted as the half-open trial but held back by the rate limit: let another job be the trial.
      if (!breakerWait) deps.breaker.release();
      const reason = breakerWait ? 'TabPFN is unavailable; waiting before trying again' : 'waiting for this token\'s TabPFN rate limit';
      await writeProgress(job.id, { stage: 'queued', message: reason, retry_in_seconds: Math.ceil(wait / 1000) });
      await bullJob.moveToDelayed(Date.now() + wait, lockToken);
      throw new DelayedError();
    },

    /** Marks the job running (idempotent; `job.started` fires only on the first start). */
    async start(job: JobRow, stage: string): Promise<JobRow | undefined> {
      if (!job.webhook_url) return deps.jobs.markRunning(job.id, stage);
      let delivery: string | null = null;
      const running = await withTransaction(deps.pool, async (tx) => {
        const j = await deps.jobs.markRunning(job.id, stage, tx);
        if (j && job.status === 'queued' && !job.started_at) delivery = await deps.webhooks.record(tx, j, 'job.started');
        return j;
      });
      if (running) await deps.webhooks.enqueue([delivery]);
      return running;
    },

    /** Inside a running job (a re-fit during predict): waits for the token's rate limit in place. */
    async waitForLimit(token: string, kinds: CallKind[], signal: AbortSignal): Promise<void> {
      for (;;) {
        const wait = await deps.limiter.acquire(token, kinds);
        if (!wait) return;
        await new Promise((r) => setTimeout(r, Math.min(wait, 5_000)));
        if (signal.aborted) throw new JobCanceled();
      }
    },

    upstreamSucceeded(): void {
      deps.breaker.success();
    },

    /** Runs `work` with an AbortSignal that a cancel broadcast trips. */
    async withCancel<T>(jobId: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
      const controller = new AbortController();
      deps.running.set(jobId, controller);
      // A cancel broadcast that arrived after the job was loaded but before this point found no
      // running call to stop; the registry kept it for us.
      if (deps.cancels.takeEarly(jobId)) controller.abort();
      try {
        return await work(controller.signal);
      } catch (err) {
        if (controller.signal.aborted) throw controller.signal.reason instanceof ReturnedToQueue ? controller.signal.reason : new JobCanceled();
        throw err;
      } finally {
        deps.running.delete(jobId);
      }
    },

    setStage(jobId: string, stage: string, message?: string, retryInSeconds?: number): void {
      void writeProgress(jobId, { stage: stage as never, ...(message ? { message } : {}), ...(retryInSeconds ? { retry_in_seconds: retryInSeconds } : {}) });
    },

    /**
     * Decides what an error means: cancel → canceled; non-retryable upstream error → failed at once;
     * retryable → rethrow so BullMQ retries with backoff, unless attempts are used up.
     */
    async handleError(bullJob: Job, jobId: string, err: unknown, onFailed?: (tx: PoolClient, error: JobError) => Promise<void>): Promise<void> {
      // Not a failure and not an attempt: straight back to the queue for another worker (BullMQ's
      // force-close cannot end a close already waiting for the job, so the lock would not lapse).
      if (err instanceof ReturnedToQueue) {
        deps.breaker.release();
        await bullJob.moveToDelayed(Date.now(), bullJob.token);
        throw new DelayedError();
      }
      if (err instanceof JobCanceled) {
        deps.breaker.release();
        await finalize(jobId, { status: 'canceled', error: CANCELED }, async (tx) => onFailed?.(tx, CANCELED));
        return;
      }
      const error = toJobError(err);
      // Any answer from upstream shows it is up; only "unavailable" counts against it; errors of
      // our own say nothing either way but must not keep the half-open trial slot.
      if (error.code === 'tabpfn_unavailable') deps.breaker.failure();
      else if (err instanceof TabPFNError) deps.breaker.success();
      else deps.breaker.release();
      const attempts = bullJob.opts.attempts ?? deps.jobAttempts;
      const last = bullJob.attemptsMade + 1 >= attempts;
      if (!error.retryable) {
        await finalize(jobId, { status: 'failed', error }, (tx) => onFailed?.(tx, error) ?? Promise.resolve());
        return;
      }
      if (last) {
        const exhausted: JobError = { ...error, code: 'retries_exhausted', message: `Gave up after ${attempts} attempts: ${error.message}` };
        await finalize(jobId, { status: 'failed', error: exhausted }, (tx) => onFailed?.(tx, exhausted) ?? Promise.resolve());
        return;
      }
      if (error.code === 'internal_error') deps.logger.error({ job_id: jobId, err }, 'job attempt failed unexpectedly');
      else deps.logger.warn({ job_id: jobId, code: error.code, attempt: bullJob.attemptsMade + 1 }, 'job attempt failed; will retry');
      await writeProgress(jobId, { stage: 'queued', message: `retrying after: ${error.message}` });
      deps.onRetry?.(bullJob.name);
      throw err;
    },

    async enqueuePredicts(ids: string[]): Promise<void> {
      for (const id of ids) {
        await enqueue(deps.queues, 'predict', { jobId: id }, { jobId: id, attempts: deps.jobAttempts, backoff: { type: 'upstream' } }).catch((err) =>
          deps.logger.warn({ job_id: id, err: (err as Error).message }, 'could not enqueue parked predict; left for the reconciler'),
        );
      }
    },
  };
}

export type JobRunner = ReturnType<typeof createJobRunner>;
