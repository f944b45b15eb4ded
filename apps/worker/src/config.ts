import { z } from 'zod';
import { baseEnvShape, envInt, parseEnv } from '@tabpfn-jobs/shared';

export const workerEnvSchema = z.object({
  ...baseEnvShape,
  /** `id:base64key,…` — decrypts TabPFN tokens and webhook secrets; the first one encrypts. */
  ENCRYPTION_KEYS: z.string().min(1),
  TABPFN_API_URL: z.string().url().default('https://api.priorlabs.ai'),
  WORKER_CONCURRENCY: envInt(8, 1, 1_000),
  WEBHOOK_CONCURRENCY: envInt(16, 1, 1_000),
  HEARTBEAT_INTERVAL_MS: envInt(10_000, 100),
  /** How long SIGTERM waits for in-flight jobs before handing them back to the queue. */
  SHUTDOWN_GRACE_MS: envInt(25_000, 0),
  MAINTENANCE_INTERVAL_MS: envInt(30_000, 100),
});

export type WorkerConfig = z.infer<typeof workerEnvSchema>;

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return parseEnv(workerEnvSchema, env);
}
