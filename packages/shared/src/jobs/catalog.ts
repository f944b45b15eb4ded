import type { DefaultJobOptions } from 'bullmq';
import { z } from 'zod';

/**
 * The one job catalog: producer (api) and consumer (worker) share names, payload schemas and queue
 * options. Payloads carry ids (and a test set's size and checksum); datasets and tokens stay in Postgres.
 */
const id = z.uuid();

/**
 * Upstream work is retried by BullMQ: `JOB_ATTEMPTS` attempts (read by both processes, see
 * config/env.ts), spaced by the worker's `upstream` backoff strategy (which honours Retry-After).
 */
const upstreamRetry = { attempts: 'JOB_ATTEMPTS', backoff: { type: 'upstream' } } as const;

export const jobCatalog = {
  fit: {
    payload: z.strictObject({ jobId: id }),
    options: { removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } },
    retry: upstreamRetry,
  },
  predict: {
    // The row's own ids, so the worker reads the job, its model, its test set and the account's token
    // in one round trip instead of three in a row. Optional: a job added by an older version has only
    // `jobId`, and the worker then reads them from the row. `testSet`: the size and crc32c (base64) of
    // a test set stored whole, which is all upstream's first request needs of it, so the worker can
    // send that request while its reads are in flight (predict.handler.ts).
    payload: z.strictObject({
      jobId: id,
      modelId: id.optional(),
      userId: id.optional(),
      datasetId: id.optional(),
      testSet: z.strictObject({ sizeBytes: z.number().int().nonnegative(), crc32c: z.string().min(1).max(16) }).optional(),
    }),
    options: { removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } },
    retry: upstreamRetry,
  },
  webhook: {
    payload: z.strictObject({ deliveryId: z.string().min(1).max(100) }),
    options: { attempts: 1, removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } },
  },
  maintenance: {
    payload: z.strictObject({ task: z.enum(['reconcile', 'retention', 'heartbeat']) }),
    options: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
  },
} as const satisfies Record<string, { payload: z.ZodType; options: DefaultJobOptions; retry?: typeof upstreamRetry }>;

/** Attempts a job of this kind gets when no configuration says otherwise (JOB_ATTEMPTS' default). */
export const DEFAULT_JOB_ATTEMPTS = 6;

/** A queue's default job options: the catalog's, plus attempts and backoff for retried kinds. */
export function jobOptions(name: JobName, jobAttempts = DEFAULT_JOB_ATTEMPTS): DefaultJobOptions {
  const entry = jobCatalog[name];
  if (!('retry' in entry)) return entry.options;
  return { ...entry.options, attempts: jobAttempts, backoff: { ...entry.retry.backoff } };
}

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.infer<(typeof jobCatalog)[N]['payload']>;
export const JOB_NAMES = Object.keys(jobCatalog) as JobName[];

/** One BullMQ queue per job name keeps slow fits from blocking fast webhooks. */
export function queueName(name: JobName): string {
  return name;
}

export function parseJobPayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  return jobCatalog[name].payload.parse(data) as JobPayload<N>;
}
