import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { migrateUp } from '@tabpfn-jobs/shared/db';
import { type Service, freePort, startService, waitForLog } from './processes.js';

/** The bench's own database and Redis prefix: never the developer's `tabpfn_jobs`. */
export const BENCH_DB = 'tabpfn_bench';
const PG_BASE = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';
export const DATABASE_URL = `${PG_BASE}/${BENCH_DB}`;
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const QUEUE_PREFIX = '{tabpfn-bench}';
export const TOKENS = ['bench-token-1', 'bench-token-2', 'bench-token-3', 'bench-token-4'];
const ENCRYPTION_KEYS = `k1:${randomBytes(32).toString('base64')}`;

/** API settings for every scenario: limits that would throttle the load generator are lifted. */
export const API_ENV = {
  RATE_LIMIT_PER_MINUTE: '1000000000',
  SETUP_RATE_LIMIT_PER_MINUTE: '100000',
  MAX_INFLIGHT_JOBS: '1000000',
  PREDICT_CACHE_TTL_SECONDS: '0',
  JSON_BODY_LIMIT: '200mb',
  CSV_UPLOAD_LIMIT_BYTES: String(500 * 1024 * 1024),
  LOG_LEVEL: 'warn',
};

export const WORKER_ENV = {
  WORKER_CONCURRENCY: '8',
  UPSTREAM_LIMITS: 'fit:1000000/1m,predict:1000000/1m,upload:1000000/1m',
  METRICS_PORT: '0',
  LOG_LEVEL: 'warn',
};

const common = () => ({ NODE_ENV: 'production', DATABASE_URL, REDIS_URL, QUEUE_PREFIX, ENCRYPTION_KEYS });

/** Drops and recreates the bench database, then applies the migrations. */
export async function resetDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await admin.connect();
  try {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [BENCH_DB]);
    await admin.query(`DROP DATABASE IF EXISTS ${BENCH_DB}`);
    await admin.query(`CREATE DATABASE ${BENCH_DB}`);
  } finally {
    await admin.end();
  }
  const quiet = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Parameters<typeof migrateUp>[1];
  await migrateUp(DATABASE_URL, quiet);
}

/**
 * VACUUM ANALYZE of the bench database. Scenarios that update many job rows call it between bursts:
 * each job leaves three dead row versions, and a PostgreSQL with autovacuum off (this machine's CI
 * configuration turns it off) lets them pile up, so each burst would run slower than the one before.
 * A deployment's autovacuum does this work on its own.
 */
export async function vacuumDatabase(): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query('VACUUM (ANALYZE)');
  } finally {
    await client.end();
  }
}

/** Deletes every key under the bench prefix (queues, limiter windows, rate limits). */
export async function resetRedis(): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${QUEUE_PREFIX}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function startEmulator(latency: { fit: number; predict: number }): Promise<{ service: Service; url: string }> {
  const port = await freePort();
  const service = startService(
    'emulator',
    {
      NODE_ENV: 'production',
      EMULATOR_PORT: String(port),
      EMULATOR_TOKENS: TOKENS.join(','),
      EMULATOR_CONTROL: 'true',
      EMULATOR_FIT_LATENCY_MS: String(latency.fit),
      EMULATOR_PREDICT_LATENCY_MS: String(latency.predict),
      EMULATOR_DAILY_TOKEN_LIMIT: '-1',
      LOG_LEVEL: 'warn',
    },
    `emulator-${latency.predict}ms`,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/_emulator/state`, service);
  return { service, url };
}

/** One call to the emulator's control API (`/_emulator/*`: latency, rate limits, faults). */
export async function emulatorControl(
  emulatorUrl: string,
  method: 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<void> {
  const res = await fetch(`${emulatorUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${await res.text()}`);
}

export async function startApi(
  emulatorUrl: string,
  env: Record<string, string> = {},
  label = 'api',
): Promise<{ service: Service; url: string }> {
  const port = await freePort();
  const service = startService(
    'api',
    {
      ...common(),
      ...API_ENV,
      TABPFN_API_URL: emulatorUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      MIGRATE_ON_START: 'false',
      BENCH_HELLO: 'true',
      ...env,
    },
    label,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/health`, service);
  return { service, url };
}

export async function startWorkers(n: number, emulatorUrl: string, env: Record<string, string> = {}): Promise<Service[]> {
  const workers = Array.from({ length: n }, (_, i) =>
    startService('worker', { ...common(), ...WORKER_ENV, TABPFN_API_URL: emulatorUrl, LOG_LEVEL: 'info', ...env }, `worker-${i + 1}of${n}`),
  );
  await Promise.all(workers.map((w) => waitForLog(w, /worker started/)));
  return workers;
}

/** The queue the reference server adds its predicts to: no worker consumes it. */
export const REFERENCE_QUEUE = 'bench-ref-predict';

/**
 * The HTTP scenario's reference server (bench/reference-server.ts), its own process like the api, on
 * the bench's database and Redis prefix, with the api's rate limit and JSON body limit.
 */
export async function startReference(): Promise<{ service: Service; url: string }> {
  const port = await freePort();
  const service = startService(
    'reference',
    {
      NODE_ENV: 'production',
      DATABASE_URL,
      REDIS_URL,
      QUEUE_PREFIX,
      REF_QUEUE: REFERENCE_QUEUE,
      RATE_LIMIT_PER_MINUTE: API_ENV.RATE_LIMIT_PER_MINUTE,
      JSON_BODY_LIMIT: API_ENV.JSON_BODY_LIMIT,
      PORT: String(port),
      HOST: '127.0.0.1',
    },
    'reference',
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/ref/health`, service);
  return { service, url };
}

/** Polls until `url` answers at all (any status); fails early if the process exits. */
async function waitForHttp(url: string, service: Service, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void service.exited.then(() => {
    exited = true;
  });
  for (;;) {
    try {
      await fetch(url, { signal: AbortSignal.timeout(1_000) });
      return;
    } catch {
      if (exited || Date.now() > deadline) throw new Error(`${service.name} did not come up at ${url}; see ${service.logFile}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export { common as commonEnv };
