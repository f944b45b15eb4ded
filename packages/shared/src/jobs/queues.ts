import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { type JobName, type JobPayload, jobCatalog, parseJobPayload, queueName } from './catalog.js';

export type QueueSet = { [N in JobName]: Queue };

/** The producer side: one Queue per catalog entry, sharing one connection. */
export function createQueues(connection: Redis, prefix: string): QueueSet {
  const make = (name: JobName) =>
    new Queue(queueName(name), { connection, prefix, defaultJobOptions: jobCatalog[name].options });
  return { fit: make('fit'), predict: make('predict'), webhook: make('webhook'), maintenance: make('maintenance') };
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

export async function closeQueues(queues: QueueSet): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}
