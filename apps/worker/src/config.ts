import { z } from 'zod';
import { parseLimitRules } from './upstream/token-limiter.js';
import { baseEnvShape, envBool, envInt, jobEnvShape, parseDuration, parseEnv, refineRedisEnv } from '@tabpfn-jobs/shared/config';

/** A duration like "5m" (see parseDuration), as milliseconds. */
function duration(fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      try {
        return parseDuration(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });
}

/** A comma-separated list of durations, as milliseconds. */
function durationList(fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      try {
        return v.split(',').map((s) => s.trim()).filter(Boolean).map(parseDuration);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });
}

export const workerEnvSchema = z.object({
  ...baseEnvShape,
  ...jobEnvShape,
  WORKER_CONCURRENCY: envInt(8, 1, 1_000),
  /** V8's `--interrupt-budget` (shared jit.ts): a quarter of V8's default, so a job's path is optimized sooner; 0 keeps V8's. */
  JIT_INTERRUPT_BUDGET: envInt(16_896),
  WEBHOOK_CONCURRENCY: envInt(16, 1, 1_000),
  HEARTBEAT_INTERVAL_MS: envInt(10_000, 100),
  /** How long SIGTERM waits for in-flight jobs before handing them back to the queue. */
  SHUTDOWN_GRACE_MS: envInt(25_000, 0),
  MAINTENANCE_INTERVAL_MS: envInt(30_000, 100),
  /** Per upstream call (fit, predict); uploads and polling have their own limits in the client. */
  TABPFN_TIMEOUT_MS: envInt(900_000, 100),
  JOB_BACKOFF_BASE_MS: envInt(2_000, 1),
  JOB_BACKOFF_MAX_MS: envInt(120_000, 1),
  /**
   * How long upstream's settings (its per-call limits) are trusted before they are read again. Batch
   * predicts are cut to them: a change upstream is seen this soon; until then an upstream refusal
   * shrinks the chunk (one refused call).
   */
  TABPFN_SETTINGS_TTL_MS: envInt(60_000, 0),
  /** A batch predict's chunks in flight at once (each still within the token's upstream rate limit). */
  PREDICT_CHUNK_CONCURRENCY: envInt(4, 1, 64),
  /** A batch predict's result up to this many rows is inlined in the job; larger ones stream from GET /v1/jobs/{id}/result. */
  PREDICT_INLINE_RESULT_ROWS: envInt(10_000, 0),
  /** Reuse an identical earlier fit's upstream fitted set (same account, data, task, model, config). */
  FIT_REUSE: envBool(true),
  RESULT_RETENTION_SECONDS: envInt(30 * 86_400, 1),
  DATASET_RETENTION_SECONDS: envInt(30 * 86_400, 1),
  RECONCILE_MIN_AGE_SECONDS: envInt(30, 0),
  /**
   * This service's share of upstream's per-token limits, enforced across all worker processes
   * (`kind:count/window`, kinds fit, predict, upload). Defaults: upstream's published limits.
   */
  UPSTREAM_LIMITS: z
    .string()
    .default('fit:60/1m,fit:1000/1h,predict:60/1m,predict:1500/1h,upload:120/1m')
    .superRefine((v, ctx) => {
      try {
        parseLimitRules(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }),
  /** Consecutive upstream-unavailable failures that open the circuit, and how long it stays open. */
  BREAKER_THRESHOLD: envInt(5, 1),
  BREAKER_COOLDOWN_MS: envInt(15_000, 1),
  /** A job whose worker stops renewing its lock this long (killed) is handed to another worker. */
  WORKER_LOCK_DURATION_MS: envInt(30_000, 500),
  /** Webhooks: one attempt (connect, headers, body) ends after this long. */
  WEBHOOK_TIMEOUT_MS: envInt(10_000, 10),
  /**
   * Delays before attempts 2, 3, …; its length + 1 is the number of attempts. The default grows
   * roughly exponentially and adds up to ≈72 h, so a receiver may be down for about three days.
   */
  WEBHOOK_RETRY_SCHEDULE: durationList('5s,5m,30m,2h,5h,10h,14h,20h,20h'),
  /** A receiver's Retry-After is honoured up to this long. */
  WEBHOOK_RETRY_AFTER_MAX: duration('1h'),
  /** Prometheus `GET /metrics` on this port; 0 turns it off. */
  METRICS_PORT: envInt(9464, 0, 65_535),
  METRICS_HOST: z.string().default('0.0.0.0'),
})
  // On a Redis Cluster the key prefix must carry a hash tag (redis-env.ts).
  .superRefine(refineRedisEnv);

export type WorkerConfig = z.infer<typeof workerEnvSchema>;

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return parseEnv(workerEnvSchema, env);
}
