import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { type QueueSet, closeQueues, createQueues } from '@tabpfn-jobs/shared/jobs';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { createWorkerRedis } from '@tabpfn-jobs/shared/redis';
import { createWebhookRepository } from '@tabpfn-jobs/shared/repositories';
import { type WebhookEmitter, createWebhookEmitter } from '@tabpfn-jobs/shared/webhooks';
import { type WorkerProcess, loadWorkerConfig, startWorkerProcess } from '@tabpfn-jobs/worker';
import { TEST_ENCRYPTION_KEYS, type TestApi, startTestApi } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { OTHER_TOKEN, type TestEmulator, VALID_TOKEN, startTestEmulator } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { LogCapture } from '../helpers/log-capture.js';
import { createTestRedis } from '../helpers/redis.js';
import {
  type Receiver,
  attemptLog,
  closedPort,
  deliveryState,
  emit,
  insertJob,
  settled,
  sleep,
  startReceiver,
  verifies,
  verify,
  waitFor,
  webhookHeaders,
} from './support.js';

const redis = createTestRedis();
const SCHEDULE = ['50ms', '50ms', '50ms']; // 4 attempts in all
const TIMEOUT_MS = 400;
let db: TestDatabase;
let emulator: TestEmulator;
let api: TestApi;
let worker: WorkerProcess;
let workerLogs: LogCapture;
let receiver: Receiver;
let sql: pg.Client;
let pool: pg.Pool;
let queueRedis: ReturnType<typeof createWorkerRedis>;
let queues: QueueSet;
let emitter: WebhookEmitter;
let user: { user_id: string; api_key: string };
let other: { user_id: string; api_key: string };

beforeAll(async () => {
  db = await createTestDatabase();
  emulator = await startTestEmulator();
  receiver = await startReceiver();
  const env = { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix };
  api = await startTestApi({ ...env, TABPFN_API_URL: emulator.url, WEBHOOK_ALLOW_PRIVATE: 'true' });
  workerLogs = new LogCapture();
  worker = await startWorkerProcess(
    loadWorkerConfig({
      ...env,
      NODE_ENV: 'test',
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_SCHEDULE: SCHEDULE.join(','),
      WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    }),
    createLogger({ name: 'worker', level: 'debug', destination: workerLogs }),
  );
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  pool = new pg.Pool({ connectionString: db.url, max: 3 });
  queueRedis = createWorkerRedis(redis.settings);
  queues = createQueues(queueRedis, redis.prefix);
  emitter = createWebhookEmitter({
    pool,
    queues,
    webhooks: createWebhookRepository(pool),
    maxInlineResultBytes: 200,
    reconcileGraceSeconds: 0,
  });
  const anon = request(api.url);
  user = (await anon.post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN })).body;
  other = (await anon.post('/v1/auth/setup', { tabpfn_token: OTHER_TOKEN })).body;
  expect(user.user_id).toBeDefined();
  expect(other.user_id).toBeDefined();
});

afterAll(async () => {
  await worker?.stop(1_000);
  await api?.close();
  await closeQueues(queues).catch(() => undefined);
  queueRedis?.disconnect();
  await pool?.end();
  await sql?.end();
  await receiver?.close();
  await emulator?.close();
  await redis.cleanup();
  await db?.drop();
});

const as = (key: string) => request(api.url, key);
const secretOf = async (key: string) => (await as(key).get('/v1/webhooks/secret')).body.secret as string;

describe('delivery, signing and retries', () => {
  it('500 three times then 200 → delivered on the 4th attempt with one webhook-id, 4 attempts logged; every request verifies', async () => {
    receiver.on('/flaky', (n) => (n <= 3 ? { status: 500, body: 'boom' } : { status: 200 }));
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/flaky` });
    const id = await emit(pool, emitter, job);

    const d = await settled(sql, id);
    expect(d).toMatchObject({ status: 'delivered', attempts: 4, last_status_code: 200 });
    const reqs = receiver.forPath('/flaky');
    expect(reqs).toHaveLength(4);
    expect(new Set(reqs.map((r) => r.headers['webhook-id']))).toEqual(new Set([id]));
    expect(id).toMatch(/^msg_[0-9A-Z]{26}$/);

    const secret = await secretOf(user.api_key);
    expect(secret).toMatch(/^whsec_/);
    for (const r of reqs) {
      const body = verify(secret, r) as { type: string; timestamp: string; data: { job_id: string; status: string; result: unknown } };
      expect(body.type).toBe('job.succeeded');
      expect(body.data).toMatchObject({ job_id: job.id, status: 'succeeded', result: { preds: [0, 1, 1] } });
    }
    // Same bytes on every attempt.
    expect(new Set(reqs.map((r) => r.body)).size).toBe(1);

    const log = await attemptLog(sql, id);
    expect(log.map((a) => [a.attempt, a.status_code])).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
      [4, 200],
    ]);
    expect(log[0]!.error).toContain('HTTP 500');
    expect(log[3]!.error).toBeNull();

    const listed = await as(user.api_key).get(`/v1/jobs/${job.id}/webhook-deliveries`);
    expect(listed.status).toBe(200);
    expect(listed.body.data).toHaveLength(1);
    expect(listed.body.data[0]).toMatchObject({ id, status: 'delivered', attempts: 4, event_type: 'job.succeeded' });
    expect(listed.body.data[0].attempt_log.map((a: { status_code: number }) => a.status_code)).toEqual([500, 500, 500, 200]);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
  });

  it('a tampered body or timestamp fails verification', async () => {
    const r = receiver.forPath('/flaky').at(-1)!;
    const secret = await secretOf(user.api_key);
    const headers = webhookHeaders(r);
    expect(verifies(secret, r.body, headers)).toBe(true);
    expect(verifies(secret, r.body.replace('"succeeded"', '"failed"'), headers)).toBe(false);
    const ts = Number(headers['webhook-timestamp']);
    expect(verifies(secret, r.body, { ...headers, 'webhook-timestamp': String(ts + 1) })).toBe(false);
    expect(verifies(secret, r.body, { ...headers, 'webhook-id': 'msg_other' })).toBe(false);
    expect(verifies('whsec_' + Buffer.alloc(32, 7).toString('base64'), r.body, headers)).toBe(false);
  });

  it('receiver down for the whole schedule → delivery failed, job and its result untouched', async () => {
    const port = await closedPort();
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `http://127.0.0.1:${port}/down`, result: { preds: [1, 0, 1] } });
    const id = await emit(pool, emitter, job);
    const d = await settled(sql, id);
    expect(d).toMatchObject({ status: 'failed', attempts: SCHEDULE.length + 1, last_status_code: null });
    const log = await attemptLog(sql, id);
    expect(log).toHaveLength(SCHEDULE.length + 1);
    for (const a of log) expect(a.error).toMatch(/ECONNREFUSED/);
    const after = await sql.query('SELECT status, result, error FROM jobs WHERE id = $1', [job.id]);
    expect(after.rows[0]).toEqual({ status: 'succeeded', result: { preds: [1, 0, 1] }, error: null });
  });

  it('410 → failed after one attempt, no further attempts', async () => {
    receiver.on('/gone', () => ({ status: 410 }));
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/gone` });
    const id = await emit(pool, emitter, job);
    const d = await settled(sql, id);
    expect(d).toMatchObject({ status: 'failed', attempts: 1, last_status_code: 410 });
    await sleep(500); // several schedule lengths: a retry would have come by now
    expect(receiver.forPath('/gone')).toHaveLength(1);
    expect(await attemptLog(sql, id)).toHaveLength(1);
  });

  it('a hanging receiver: the attempt ends at the timeout and is retried', async () => {
    receiver.on('/hang', (n) => (n === 1 ? 'hang' : { status: 204 }));
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/hang` });
    const id = await emit(pool, emitter, job);
    const d = await settled(sql, id);
    expect(d).toMatchObject({ status: 'delivered', attempts: 2, last_status_code: 204 });
    const log = await attemptLog(sql, id);
    expect(log[0]).toMatchObject({ status_code: null, error: `timed out after ${TIMEOUT_MS} ms` });
    expect(log[0]!.duration_ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(receiver.forPath('/hang')).toHaveLength(2);
  });

  it('a redirect is not followed and counts as a failed attempt', async () => {
    receiver.on('/redirect', () => ({ status: 302, headers: { location: '/redirect-target' } }));
    receiver.on('/redirect-target', () => ({ status: 200 }));
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/redirect` });
    const id = await emit(pool, emitter, job);
    const d = await settled(sql, id);
    expect(d).toMatchObject({ status: 'failed', attempts: SCHEDULE.length + 1, last_status_code: 302 });
    expect((await attemptLog(sql, id))[0]!.error).toContain('redirect not followed');
    expect(receiver.forPath('/redirect-target')).toHaveLength(0);
  });

  it('Retry-After is honoured: the next attempt waits at least that long', async () => {
    receiver.on('/busy', (n) => (n === 1 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 }));
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/busy` });
    const id = await emit(pool, emitter, job);
    expect((await settled(sql, id)).status).toBe('delivered');
    const [first, second] = receiver.forPath('/busy');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
  });
});

describe('events and bodies', () => {
  it('only subscribed events are recorded; null means the final events', async () => {
    const defaults = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/x`, webhookEvents: null });
    const started = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/x`, webhookEvents: ['job.started'] });
    const none = await insertJob(sql, { userId: user.user_id, webhookUrl: null });
    const rec = (job: typeof defaults, e: 'job.started' | 'job.succeeded') =>
      pool.connect().then(async (c) => {
        try {
          return await emitter.record(c, job, e);
        } finally {
          c.release();
        }
      });
    expect(await rec(defaults, 'job.started')).toBeNull();
    expect(await rec(defaults, 'job.succeeded')).toMatch(/^msg_/);
    expect(await rec(defaults, 'job.succeeded')).toBeNull(); // one delivery per (job, event)
    expect(await rec(started, 'job.succeeded')).toBeNull();
    expect(await rec(started, 'job.started')).toMatch(/^msg_/);
    expect(await rec(none, 'job.succeeded')).toBeNull();
  });

  it('a result above the inline limit is left out; the job links to it', async () => {
    const big = { preds: Array.from({ length: 200 }, (_, i) => i % 2) };
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/big`, result: big });
    const id = await emit(pool, emitter, job);
    expect((await settled(sql, id)).status).toBe('delivered');
    const body = verify(await secretOf(user.api_key), receiver.forPath('/big')[0]!) as { data: Record<string, unknown> };
    expect(body.data).not.toHaveProperty('result');
    expect(body.data.links).toMatchObject({ result: `/v1/jobs/${job.id}/result` });
  });

  it('reconcile re-enqueues a delivery whose queue job was lost', async () => {
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/lost` });
    const id = await emit(pool, emitter, job, 'job.succeeded', { enqueue: false });
    await sleep(100);
    expect(receiver.forPath('/lost')).toHaveLength(0);
    expect(await emitter.reconcile()).toBeGreaterThanOrEqual(1);
    expect((await settled(sql, id)).status).toBe('delivered');
    expect(receiver.forPath('/lost')).toHaveLength(1);
  });
});

describe('secret rotation', () => {
  it('after a rotation each delivery carries two signatures and each secret verifies it', async () => {
    const first = await as(user.api_key).get('/v1/webhooks/secret');
    expect(first.status).toBe(200);
    expect(first.body.previous_secret_expires_at).toBeUndefined();
    const oldSecret = first.body.secret as string;
    expect((await as(user.api_key).get('/v1/webhooks/secret')).body.secret).toBe(oldSecret); // stable until rotated

    const rotated = await as(user.api_key).post('/v1/webhooks/secret/rotate');
    expect(rotated.status).toBe(200);
    const newSecret = rotated.body.secret as string;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);
    const expires = Date.parse(rotated.body.previous_secret_expires_at);
    expect(expires - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
    expect((await as(user.api_key).get('/v1/webhooks/secret')).body).toMatchObject({ secret: newSecret });

    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/rotated` });
    const id = await emit(pool, emitter, job);
    expect((await settled(sql, id)).status).toBe('delivered');
    const r = receiver.forPath('/rotated')[0]!;
    const sigs = String(r.headers['webhook-signature']).split(' ');
    expect(sigs).toHaveLength(2);
    for (const s of sigs) expect(s).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
    const headers = webhookHeaders(r);
    // Each secret alone verifies, and each against only its own signature.
    expect(verifies(oldSecret, r.body, headers)).toBe(true);
    expect(verifies(newSecret, r.body, headers)).toBe(true);
    expect(verifies(newSecret, r.body, { ...headers, 'webhook-signature': sigs[0]! })).toBe(true);
    expect(verifies(oldSecret, r.body, { ...headers, 'webhook-signature': sigs[1]! })).toBe(true);
    // Another account's secret does not.
    expect(verifies(await secretOf(other.api_key), r.body, headers)).toBe(false);
  });

  it('once the overlap has passed only the current secret signs', async () => {
    await sql.query(`UPDATE webhook_secrets SET expires_at = now() - interval '1 second' WHERE user_id = $1 AND expires_at IS NOT NULL`, [
      user.user_id,
    ]);
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/after-overlap` });
    const id = await emit(pool, emitter, job);
    expect((await settled(sql, id)).status).toBe('delivered');
    const r = receiver.forPath('/after-overlap')[0]!;
    expect(String(r.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(verifies(await secretOf(user.api_key), r.body, webhookHeaders(r))).toBe(true);
    expect((await as(user.api_key).get('/v1/webhooks/secret')).body.previous_secret_expires_at).toBeUndefined();
  });
});

describe('delivery log and redelivery API', () => {
  it('redeliver sends again with the same webhook-id and a fresh schedule; the log keeps counting', async () => {
    receiver.on('/replay', () => ({ status: 200 }));
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/replay` });
    const id = await emit(pool, emitter, job);
    expect((await settled(sql, id)).status).toBe('delivered');

    const res = await as(user.api_key).post(`/v1/jobs/${job.id}/webhook-deliveries/redeliver`);
    expect(res.status).toBe(202);
    expect(res.body.data.map((d: { id: string }) => d.id)).toEqual([id]);
    await waitFor(async () => receiver.forPath('/replay').length >= 2);
    await waitFor(async () => (await deliveryState(sql, id)).status === 'delivered' && (await deliveryState(sql, id)).attempts === 2);
    const reqs = receiver.forPath('/replay');
    expect(reqs.map((r) => r.headers['webhook-id'])).toEqual([id, id]);
    expect(reqs[0]!.body).toBe(reqs[1]!.body);
    expect((await attemptLog(sql, id)).map((a) => a.attempt)).toEqual([1, 2]);

    const one = await as(user.api_key).post(`/v1/jobs/${job.id}/webhook-deliveries/redeliver`, { delivery_id: id });
    expect(one.status).toBe(202);
    await waitFor(async () => receiver.forPath('/replay').length >= 3);
  });

  it('concurrent redelivers collapse into one send, and every send is in the log', async () => {
    // The redelivered send takes a while, so every redeliver arrives while that round is under way.
    receiver.on('/burst', (n) => (n === 1 ? { status: 200 } : { status: 200, delayMs: TIMEOUT_MS - 100 }));
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/burst` });
    const id = await emit(pool, emitter, job);
    expect((await settled(sql, id)).status).toBe('delivered');
    const all = await Promise.all(Array.from({ length: 6 }, () => as(user.api_key).post(`/v1/jobs/${job.id}/webhook-deliveries/redeliver`)));
    expect(all.map((r) => r.status)).toEqual(Array(6).fill(202));
    await waitFor(async () => (await deliveryState(sql, id)).status === 'delivered' && (await deliveryState(sql, id)).attempts === 2);
    // Give any stray round time to show itself.
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.forPath('/burst')).toHaveLength(2);
    expect((await attemptLog(sql, id)).map((a) => a.attempt)).toEqual([1, 2]);
  });

  it('redelivering a failed delivery can succeed', async () => {
    let open = false;
    receiver.on('/later', () => (open ? { status: 200 } : { status: 500 }));
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/later` });
    const id = await emit(pool, emitter, job);
    expect((await settled(sql, id)).status).toBe('failed');
    open = true;
    expect((await as(user.api_key).post(`/v1/jobs/${job.id}/webhook-deliveries/redeliver`, { delivery_id: id })).status).toBe(202);
    await waitFor(async () => (await deliveryState(sql, id)).status === 'delivered');
    expect((await deliveryState(sql, id)).attempts).toBe(SCHEDULE.length + 2);
  });

  it('404 for an unknown job or delivery, 403 for another account’s job, 422 for a malformed body', async () => {
    const job = await insertJob(sql, { userId: user.user_id, webhookUrl: `${receiver.url}/x2` });
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect((await as(user.api_key).get(`/v1/jobs/${unknown}/webhook-deliveries`)).status).toBe(404);
    expect((await as(user.api_key).post(`/v1/jobs/${unknown}/webhook-deliveries/redeliver`)).status).toBe(404);
    const foreign = await as(other.api_key).get(`/v1/jobs/${job.id}/webhook-deliveries`);
    expect(foreign.status).toBe(403);
    expect((await as(other.api_key).post(`/v1/jobs/${job.id}/webhook-deliveries/redeliver`)).status).toBe(403);
    const missing = await as(user.api_key).post(`/v1/jobs/${job.id}/webhook-deliveries/redeliver`, {
      delivery_id: `msg_${'A'.repeat(26)}`,
    });
    expect(missing.status).toBe(404);
    const bad = await as(user.api_key).post(`/v1/jobs/${job.id}/webhook-deliveries/redeliver`, { delivery_id: 'nope' });
    expect(bad.status).toBe(422);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(bad.body.errors[0].field).toBe('delivery_id');
    expect((await as(user.api_key).get('/v1/jobs/not-a-uuid/webhook-deliveries')).status).toBe(422);
    expect((await request(api.url).get('/v1/webhooks/secret')).status).toBe(401);
  });

  it('secrets never reach the logs', async () => {
    const secret = await secretOf(user.api_key);
    expect(workerLogs.text()).not.toContain(secret);
    expect(api.logs.text()).not.toContain(secret);
  });
});
