import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { parseKeyRing } from '@tabpfn-jobs/shared/crypto';
import { type QueueSet, closeQueues, createQueues } from '@tabpfn-jobs/shared/jobs';
import { createWorkerRedis } from '@tabpfn-jobs/shared/redis';
import { createWebhookRepository } from '@tabpfn-jobs/shared/repositories';
import { createWebhookEmitter, createWebhookSecretStore } from '@tabpfn-jobs/shared/webhooks';
import { TEST_ENCRYPTION_KEYS } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { type AppProcess, spawnApp } from '../helpers/processes.js';
import { createTestRedis } from '../helpers/redis.js';
import { type Receiver, emit, insertJob, insertUser, startReceiver, verifies, waitFor, webhookHeaders } from './support.js';

const redis = createTestRedis();
const N = 30;
let db: TestDatabase;
let receiver: Receiver;
let sql: pg.Client;
let pool: pg.Pool;
let queueRedis: ReturnType<typeof createWorkerRedis>;
let queues: QueueSet;
const workers: AppProcess[] = [];

function startWorker(): AppProcess {
  const w = spawnApp('worker', {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_RETRY_SCHEDULE: Array(8).fill('100ms').join(','),
    WEBHOOK_CONCURRENCY: '4',
    // A killed worker's jobs are taken over once their lock lapses; short, so the test is quick.
    WORKER_LOCK_DURATION_MS: '1000',
    MAINTENANCE_INTERVAL_MS: '300',
    RECONCILE_MIN_AGE_SECONDS: '1',
  });
  workers.push(w);
  return w;
}

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = await startReceiver();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  pool = new pg.Pool({ connectionString: db.url, max: 3 });
  queueRedis = createWorkerRedis(redis.settings);
  queues = createQueues(queueRedis, redis.prefix);
});

afterAll(async () => {
  for (const w of workers) await w.stop('SIGKILL');
  await closeQueues(queues).catch(() => undefined);
  queueRedis?.disconnect();
  await pool?.end();
  await sql?.end();
  await receiver?.close();
  await redis.cleanup();
  await db?.drop();
});

describe('worker killed in the middle of deliveries', () => {
  it('loses none: after a restart every delivery is delivered, each with its own webhook-id and a valid signature', async () => {
    const userId = await insertUser(sql);
    const webhooks = createWebhookRepository(pool);
    const secret = await createWebhookSecretStore({ pool, webhooks, keyRing: parseKeyRing(TEST_ENCRYPTION_KEYS) }).current(userId);
    const emitter = createWebhookEmitter({ pool, queues, webhooks, maxInlineResultBytes: 1 << 20 });

    // Slow answers keep several deliveries in flight; every third one fails its first attempt, so
    // retries (delayed jobs written by the handler) are in the air at the kill too.
    for (let i = 0; i < N; i++) {
      receiver.on(`/k/${i}`, (n) => (i % 3 === 0 && n === 1 ? { status: 500, delayMs: 100 } : { status: 200, delayMs: 150 }));
    }
    const first = startWorker();
    await first.waitFor(/worker started/);

    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      const job = await insertJob(sql, { userId, webhookUrl: `${receiver.url}/k/${i}` });
      ids.push(await emit(pool, emitter, job));
    }

    await waitFor(async () => receiver.requests.length >= 8);
    first.proc.kill('SIGKILL');
    const exit = await first.exited;
    expect(exit.signal).toBe('SIGKILL');
    const { rows: atKill } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'delivered'`);
    expect(atKill[0]!.n).toBeLessThan(N); // really in the middle

    const second = startWorker();
    await second.waitFor(/worker started/);
    await waitFor(async () => {
      const { rows } = await sql.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM webhook_deliveries GROUP BY status',
      );
      const failed = rows.find((r) => r.status === 'failed');
      if (failed) {
        // Not a loss, but not what this test is about either: fail now, saying why.
        const { rows: log } = await sql.query(
          `SELECT a.delivery_id, a.attempt, a.status_code, a.error FROM webhook_attempts a
           JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.status = 'failed' ORDER BY 1, 2`,
        );
        throw new Error(`deliveries failed: ${JSON.stringify(log)}`);
      }
      return rows.find((r) => r.status === 'delivered')?.n === N;
    }, 100);

    const { rows } = await sql.query<{ id: string; status: string }>('SELECT id, status FROM webhook_deliveries');
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const got = receiver.requests.filter((r) => r.headers['webhook-id'] === id);
      expect(got.length).toBeGreaterThanOrEqual(1); // at least once; a kill mid-request may repeat one
      for (const r of got) expect(verifies(secret.secret, r.body, webhookHeaders(r))).toBe(true);
    }
    const { rows: failed } = await sql.query(`SELECT id FROM webhook_deliveries WHERE status <> 'delivered'`);
    expect(failed).toEqual([]);
  });
});
