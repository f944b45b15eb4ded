import { Queue, type JobsOptions } from 'bullmq';
import { type RedisConnection, assertPrefixFitsConnection } from '../redis.js';
import { JOB_NAMES, type JobName, type JobPayload, jobOptions, parseJobPayload, queueName } from './catalog.js';
import { queueTelemetryOption } from '../tracing/state.js';

export type QueueSet = { [N in JobName]: Queue };

/**
 * The producer side: one Queue per catalog entry, sharing one connection, with the catalog's job
 * options as defaults (so no caller repeats attempts or backoff). `jobAttempts` is JOB_ATTEMPTS.
 */
export function createQueues(connection: RedisConnection, prefix: string, opts: { jobAttempts?: number } = {}): QueueSet {
  assertPrefixFitsConnection(connection, prefix);
  // With tracing on, each add is a span and carries the trace context to the worker (tracing/bullmq.ts).
  const make = (name: JobName) =>
    new Queue(queueName(name), { connection, prefix, defaultJobOptions: jobOptions(name, opts.jobAttempts), ...queueTelemetryOption() });
  return Object.fromEntries(JOB_NAMES.map((name) => [name, make(name)])) as QueueSet;
}

/** Adds a job after validating its payload against the catalog; `jobId` makes the add idempotent. */
export async function enqueue<N extends JobName>(
  queues: QueueSet,
  name: N,
  payload: JobPayload<N>,
  opts: JobsOptions & { jobId: string },
): Promise<void> {
  const data = parseJobPayload(name, payload);
  await queues[name].add(name, data, opts);
}

/**
 * Adds a job unless the queue holds it alive (waiting, delayed, active, waiting on children); a copy
 * that ended (completed, failed) or that BullMQ cannot place is removed and added again. Returns
 * whether it added. For reconcilers: Postgres says the work is due, the queue must agree.
 */
export async function ensureQueued(queue: Queue, jobId: string, add: () => Promise<void>): Promise<boolean> {
  const existing = await queue.getJob(jobId);
  if (existing) {
    const state = await existing.getState();
    if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return false;
    await existing.remove().catch(() => undefined);
  }
  await add();
  return true;
}

export async function closeQueues(queues: QueueSet): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}
