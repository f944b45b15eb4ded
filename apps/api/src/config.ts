import { z } from 'zod';
import { baseEnvShape, envBool, envInt, parseEnv } from '@tabpfn-jobs/shared';

export const apiEnvSchema = z.object({
  ...baseEnvShape,
  PORT: envInt(3000, 0, 65_535),
  HOST: z.string().default('0.0.0.0'),
  MIGRATE_ON_START: envBool(true),
  /** Body limit for JSON requests; CSV uploads have their own, larger limit. */
  JSON_BODY_LIMIT: z.string().default('50mb'),
  /** `id:base64key,…` — AES-256 keys for TabPFN tokens and webhook secrets; the first one encrypts. */
  ENCRYPTION_KEYS: z.string().min(1),
  TABPFN_API_URL: z.string().url().default('https://api.priorlabs.ai'),
  TABPFN_TIMEOUT_MS: envInt(15_000, 100),
  RATE_LIMIT_PER_MINUTE: envInt(600, 1),
  MAX_INFLIGHT_JOBS: envInt(100, 1),
  ADMIN_PASSWORD_HASH: z.string().optional(),
  /** How long the API waits for a response before answering 503 (Postgres down, etc). */
  REQUEST_TIMEOUT_MS: envInt(10_000, 100),
  SHUTDOWN_GRACE_MS: envInt(10_000, 0),
});

export type ApiConfig = z.infer<typeof apiEnvSchema>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return parseEnv(apiEnvSchema, env);
}
