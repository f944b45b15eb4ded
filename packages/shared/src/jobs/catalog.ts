import type { DefaultJobOptions } from 'bullmq';
import { z } from 'zod';

/**
 * The one job catalog: producer (api) and consumer (worker) share names, payload schemas and queue
 * options. Payloads carry ids only; datasets and tokens stay in Postgres.
 */
const id = z.uuid();

export const jobCatalog = {
  fit: {
    payload: z.strictObject({ jobId: id }),
    options: { attempts: 1, removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } },
  },
  predict: {
    payload: z.strictObject({ jobId: id }),
    options: { attempts: 1, removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } },
  },
  webhook: {
    payload: z.strictObject({ deliveryId: z.string().min(1).max(100) }),
    options: { attempts: 1, removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } },
  },
  maintenance: {
    payload: z.strictObject({ task: z.enum(['reconcile', 'retention', 'heartbeat']) }),
    options: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
  },
} as const satisfies Record<string, { payload: z.ZodType; options: DefaultJobOptions }>;

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
