import { z } from 'zod';
import { baseEnvShape, envBool, envInt, jobEnvShape, migrationEnvShape, parseEnv, refineRedisEnv } from '@tabpfn-jobs/shared/config';

export const apiEnvSchema = z.object({
  ...baseEnvShape,
  ...jobEnvShape,
  PORT: envInt(3000, 0, 65_535),
  HOST: z.string().default('0.0.0.0'),
  MIGRATE_ON_START: envBool(true),
  /** Migrations at start (MIGRATE_ON_START) connect here when set, else to DATABASE_URL. */
  ...migrationEnvShape,
  /** Body limit for JSON requests; CSV uploads have their own, larger limit. */
  JSON_BODY_LIMIT: z.string().default('50mb'),
  /** How long /ready trusts its last upstream reachability probe; 0 leaves upstream out of /ready. */
  UPSTREAM_PROBE_TTL_MS: envInt(10_000, 0),
  /** Timeout of upstream calls on a request path (token checks, usage). */
  TABPFN_TIMEOUT_MS: envInt(15_000, 100),
  RATE_LIMIT_PER_MINUTE: envInt(600, 1),
  /**
   * How long an api process trusts a key it has authenticated without looking it up again. Revoking a
   * key or deleting an account reaches every api process at once by a Redis broadcast; this bounds how
   * long a key could outlive a lost broadcast. 0 looks every key up on every request.
   */
  AUTH_CACHE_TTL_MS: envInt(10_000, 0, 300_000),
  /**
   * Which proxies in front of the API to believe about the client address (Express `trust proxy`):
   * `false` (default, direct exposure), a hop count like `1` behind one ingress, or addresses/CIDRs
   * (`loopback, 10.0.0.0/8`). The per-address setup limit keys on the address this yields.
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v): boolean | number | string => (v === 'false' ? false : v === 'true' ? true : /^\d+$/.test(v) ? Number(v) : v)),
  /** Setup attempts per minute per client address (each one costs an upstream call). */
  SETUP_RATE_LIMIT_PER_MINUTE: envInt(30, 1),
  MAX_INFLIGHT_JOBS: envInt(100, 1),
  /** Active API keys per account (each key has its own request budget). */
  MAX_API_KEYS: envInt(25, 1, 10_000),
  ADMIN_PASSWORD_HASH: z.string().regex(/^\$2[aby]\$\d{2}\$.{53}$/, 'must be a bcrypt hash (pnpm hash-password)').optional(),
  /** Wrong admin passwords allowed per client address per window; then 429 until the window ends. */
  ADMIN_LOGIN_MAX_FAILURES: envInt(10, 1),
  ADMIN_LOGIN_WINDOW_SECONDS: envInt(900, 1),
  SHUTDOWN_GRACE_MS: envInt(10_000, 0),
  /**
   * Bodies larger than this (or of unknown length: chunked) count as large: at most
   * MAX_LARGE_BODIES_IN_FLIGHT of them are read and processed at once per process; more answer 503.
   */
  LARGE_BODY_BYTES: envInt(1024 * 1024, 1024),
  MAX_LARGE_BODIES_IN_FLIGHT: envInt(4, 1, 1_000),
  /**
   * A request body that sends no byte for this long is cut off (408, connection closed). 30 s is
   * longer than any stall of a live connection (TCP's retransmission backoff reaches ~15 s after a
   * few lost segments) and short enough that a client trickling bytes holds a slot for seconds, not
   * for the 5 minutes of the server's overall request timeout. 0 turns it off.
   */
  BODY_IDLE_TIMEOUT_MS: envInt(30_000, 0),
  /** Largest CSV file accepted by a multipart upload. */
  CSV_UPLOAD_LIMIT_BYTES: envInt(200 * 1024 * 1024, 1024),
  /** Rows one predict may carry, JSON or CSV; the worker splits them to upstream's per-call limits. */
  MAX_PREDICT_ROWS: envInt(1_000_000, 1),
  /** An identical predict within this many seconds is served from the stored result; 0 turns it off. */
  PREDICT_CACHE_TTL_SECONDS: envInt(3600, 0),
  /** After a rotation the previous webhook secret keeps signing this long. */
  WEBHOOK_SECRET_OVERLAP_HOURS: envInt(24, 0, 24 * 30),
  /**
   * Benchmarks only (`pnpm bench`): serves hello-world routes on this process as the baseline the
   * real routes are compared with. Off by default, and then not mounted at all (nor documented).
   */
  BENCH_HELLO: envBool(false),
})
  // On a Redis Cluster the key prefix must carry a hash tag (redis-env.ts).
  .superRefine(refineRedisEnv);

export type ApiConfig = z.infer<typeof apiEnvSchema>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return parseEnv(apiEnvSchema, env);
}
