import { type TestApi, TEST_ENCRYPTION_KEYS, startTestApi } from './api.js';
import { type TestDatabase, createTestDatabase } from './database.js';
import { type TestEmulator, VALID_TOKEN, startTestEmulator } from './emulator.js';
import { type Json, request } from './http.js';
import { type AppProcess, spawnApp } from './processes.js';
import { createTestRedis } from './redis.js';

/** Postgres + Redis + emulator + api (in-process) + a real worker process. */
export async function startStack(opts: { apiEnv?: Record<string, string>; workerEnv?: Record<string, string>; emulator?: Parameters<typeof startTestEmulator>[0] } = {}) {
  const redis = createTestRedis();
  const db: TestDatabase = await createTestDatabase();
  const emulator: TestEmulator = await startTestEmulator(opts.emulator);
  const common = { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, TABPFN_API_URL: emulator.url };
  const api: TestApi = await startTestApi({ ...common, SETUP_RATE_LIMIT_PER_MINUTE: '10000', RATE_LIMIT_PER_MINUTE: '100000', ...opts.apiEnv });
  const workerEnv = {
    ...common,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    JOB_BACKOFF_BASE_MS: '50',
    JOB_BACKOFF_MAX_MS: '500',
    MAINTENANCE_INTERVAL_MS: '500',
    RECONCILE_MIN_AGE_SECONDS: '1',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    LOG_LEVEL: 'info',
    // Tests run several workers on one host: no fixed metrics port unless a test asks for one.
    METRICS_PORT: '0',
    ...opts.workerEnv,
  };
  let worker: AppProcess = spawnApp('worker', workerEnv);
  await worker.waitFor(/worker started/);

  return {
    db,
    redis,
    emulator,
    api,
    get worker() {
      return worker;
    },
    async restartWorker(env: Record<string, string> = {}) {
      worker = spawnApp('worker', { ...workerEnv, ...env });
      await worker.waitFor(/worker started/);
      return worker;
    },
    async account(token = VALID_TOKEN) {
      const res = await request(api.url).post('/v1/auth/setup', { tabpfn_token: token });
      if (res.status !== 201) throw new Error(`setup failed: ${res.status} ${res.text}`);
      return { ...res.body, client: request(api.url, res.body.api_key) } as { user_id: string; api_key: string; client: ReturnType<typeof request> };
    },
    async close() {
      await worker.stop('SIGTERM');
      await api.close();
      await emulator.close();
      await redis.cleanup();
      await db.drop();
    },
  };
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

/** Polls a job until it is final (tests only; the API itself never polls). */
export async function waitForJob(client: ReturnType<typeof request>, jobId: string, maxMs = 60_000): Promise<Json> {
  const start = Date.now();
  for (;;) {
    const res = await client.get(`/v1/jobs/${jobId}`);
    if (['succeeded', 'failed', 'canceled'].includes(res.body?.status)) return res.body;
    if (Date.now() - start > maxMs) throw new Error(`job ${jobId} still ${res.body?.status} after ${maxMs} ms: ${res.text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Postgres, Redis and the emulator behind an in-process api, with no worker: submitted jobs stay queued. */
export async function startApiStack(apiEnv: Record<string, string> = {}) {
  const db = await createTestDatabase();
  const redis = createTestRedis();
  const emulator = await startTestEmulator();
  const api = await startTestApi({ DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, TABPFN_API_URL: emulator.url, ...apiEnv });
  return {
    db,
    redis,
    emulator,
    api,
    async close() {
      await api.close();
      await emulator.close();
      await redis.cleanup();
      await db.drop();
    },
  };
}
