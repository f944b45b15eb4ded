import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { keyRingError } from '../crypto/key-ring.js';
import { DEFAULT_JOB_ATTEMPTS } from '../jobs/catalog.js';
import { envBool, envInt, falsy } from './env-values.js';
import { redisEnvShape } from './redis-env.js';

export { envBool, envInt, envNumber } from './env-values.js';
export * from './redis-env.js';

/** Thrown when the environment does not satisfy an app's schema; `main.ts` prints it as one line and exits. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Where an app's `.env` comes from, by `TABPFN_JOBS_DOTENV`: unset → the nearest `.env` walking up from
 * `cwd`; `off` (or `false`/`0`/`no`) → none at all; anything else → exactly that file. Tests and the
 * `pnpm start` supervisor (which reads `.env` once itself and passes the result on) set `off`, so a
 * developer's `.env` can never leak into a process that did not ask for it.
 */
export function dotEnvPath(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string | undefined {
  const setting = env.TABPFN_JOBS_DOTENV?.trim();
  if (setting !== undefined && setting !== '') {
    if (falsy.has(setting.toLowerCase())) return undefined;
    return resolve(cwd, setting);
  }
  let dir = resolve(cwd);
  for (;;) {
    const file = join(dir, '.env');
    if (existsSync(file)) return file;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Loads the `.env` that {@link dotEnvPath} names into `process.env` without overriding variables
 * that are already set, so the real environment always wins. A file named explicitly must exist.
 */
export function loadDotEnv(cwd = process.cwd()): string | undefined {
  const file = dotEnvPath(process.env, cwd);
  if (!file) return undefined;
  if (!existsSync(file)) throw new ConfigError(`TABPFN_JOBS_DOTENV names ${file}, which does not exist`);
  process.loadEnvFile(file);
  return file;
}

/** Parses `env` once with `schema`; on failure the message names every offending variable. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const parts = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || 'environment';
    const missing = issue.code === 'invalid_type' && env[String(issue.path[0])] === undefined;
    return missing ? `${name} is required but not set` : `${name}: ${issue.message}`;
  });
  throw new ConfigError(`Invalid configuration: ${parts.join('; ')}`);
}

/** Settings every process shares. */
export const baseEnvShape = {
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/tabpfn_jobs'),
  ...redisEnvShape,
  /** Every Redis key starts with it; with REDIS_CLUSTER_NODES it must hold a hash tag (see redis-env.ts). */
  QUEUE_PREFIX: z.string().min(1).default('{tabpfn-jobs}'),
  DB_POOL_SIZE: envInt(10, 1, 200),
  DB_STATEMENT_TIMEOUT_MS: envInt(15_000, 100),
  /**
   * Parameterized statements as named prepared statements: each connection parses and plans a statement
   * once. Set false behind a pooler in transaction mode that does not keep them (PgBouncer before 1.21,
   * or without `max_prepared_statements`).
   */
  DB_PREPARED_STATEMENTS: envBool(true),
};

/**
 * Where migrations connect, when that is not `DATABASE_URL`. Behind a pooler in transaction mode
 * (PgBouncer) the apps' `DATABASE_URL` names the pooler, while a migration holds one session for its
 * whole run (node-pg-migrate takes a session advisory lock and runs DDL): it connects here, directly to
 * Postgres. Unset (or empty), migrations use `DATABASE_URL`; see {@link migrationDatabaseUrl}.
 */
export const migrationEnvShape = {
  DATABASE_URL_DIRECT: z.preprocess((v) => (v === '' ? undefined : v), z.string().url().optional()),
};

/** The URL migrations use: `DATABASE_URL_DIRECT` when set, else `DATABASE_URL`. */
export function migrationDatabaseUrl(config: { DATABASE_URL: string; DATABASE_URL_DIRECT?: string | undefined }): string {
  return config.DATABASE_URL_DIRECT ?? config.DATABASE_URL;
}

/** What a migration run reads (`pnpm migrate`, the image's `node apps/api/dist/migrate.js`). */
export const migrateEnvSchema = z.object({
  NODE_ENV: baseEnvShape.NODE_ENV,
  LOG_LEVEL: baseEnvShape.LOG_LEVEL,
  DATABASE_URL: baseEnvShape.DATABASE_URL,
  ...migrationEnvShape,
});

/**
 * Settings the api and the worker must agree on (one encrypts what the other decrypts, one enqueues
 * with the attempts the other counts, both judge webhook targets and bodies): declared once, so the
 * two processes cannot validate or default them differently.
 */
export const jobEnvShape = {
  /** `id:base64key,…` — AES-256 keys for TabPFN tokens and webhook secrets; the first one encrypts. */
  ENCRYPTION_KEYS: z
    .string()
    .min(1)
    .superRefine((v, ctx) => {
      const problem = keyRingError(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  TABPFN_API_URL: z.string().url().default('https://api.priorlabs.ai'),
  /** BullMQ attempts per fit/predict job (upstream errors that can be retried). */
  JOB_ATTEMPTS: envInt(DEFAULT_JOB_ATTEMPTS, 1, 100),
  /** Development and tests only: lets webhook URLs point at loopback and private addresses. */
  WEBHOOK_ALLOW_PRIVATE: envBool(false),
  /** Results above this many bytes are not inlined in webhook bodies (the job links to them). */
  WEBHOOK_MAX_INLINE_BYTES: envInt(262_144, 0),
};

/** Reads a positive duration like "500ms", "10s", "5m", "24h", "3d", or plain milliseconds. */
export function parseDuration(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!m) throw new Error(`not a duration: "${value}"`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1;
  return Math.round(n * factor);
}
