/**
 * API keys are cached per api process (AUTH_CACHE_TTL_MS): a revoked key or a deleted account must
 * stop working in every api process at once, and a lost broadcast must not keep a key alive longer
 * than the cache's age limit.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { type TestEmulator, OTHER_TOKEN, VALID_TOKEN, startTestEmulator } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { type TestRedis, createTestRedis } from '../helpers/redis.js';

let db: TestDatabase;
let redis: TestRedis;
let emulator: TestEmulator;
let sql: pg.Client;
const apis: TestApi[] = [];

async function api(env: Record<string, string> = {}): Promise<TestApi> {
  const started = await startTestApi({
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    TABPFN_API_URL: emulator.url,
    SETUP_RATE_LIMIT_PER_MINUTE: '1000',
    ...env,
  });
  apis.push(started);
  return started;
}

beforeAll(async () => {
  db = await createTestDatabase();
  redis = createTestRedis();
  emulator = await startTestEmulator();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});
afterAll(async () => {
  for (const a of apis) await a.close();
  await sql?.end();
  await emulator?.close();
  await redis?.cleanup();
  await db?.drop();
});

/** Polls `probe` until it answers `status`; fails with what it saw after `ms`. */
async function untilStatus(probe: () => Promise<number>, status: number, ms: number): Promise<number> {
  const start = Date.now();
  const seen: number[] = [];
  for (;;) {
    const s = await probe();
    seen.push(s);
    if (s === status) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`still not ${status} after ${ms} ms; saw ${[...new Set(seen)].join(', ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('cached API keys across api processes', () => {
  it('a key revoked through one api stops working in another at once', async () => {
    const [a, b] = [await api(), await api()];
    const setup = await request(a.url).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN });
    const second = await request(a.url, setup.body.api_key).post('/v1/auth/keys', { name: 'second' });
    expect(second.status).toBe(201);
    const onB = () => request(b.url, second.body.api_key).get('/v1/me').then((r) => r.status);
    expect(await onB()).toBe(200); // now cached in b
    expect((await request(a.url, setup.body.api_key).delete(`/v1/auth/keys/${second.body.id}`)).status).toBe(200);
    const ms = await untilStatus(onB, 401, 2_000);
    expect(ms).toBeLessThan(2_000);
    expect((await request(b.url, second.body.api_key).get('/v1/me')).body.code).toBe('api_key_revoked');
  });

  it('an account deleted through one api is gone in another at once', async () => {
    const [a, b] = [await api(), await api()];
    const setup = await request(a.url).post('/v1/auth/setup', { tabpfn_token: OTHER_TOKEN });
    const onB = () => request(b.url, setup.body.api_key).get('/v1/me').then((r) => r.status);
    expect(await onB()).toBe(200);
    expect((await request(a.url, setup.body.api_key).delete('/v1/me')).status).toBe(204);
    await untilStatus(onB, 401, 2_000);
  });

  it('without the broadcast a cached key lasts no longer than AUTH_CACHE_TTL_MS; with 0 nothing is cached', async () => {
    const cached = await api({ AUTH_CACHE_TTL_MS: '1500' });
    const uncached = await api({ AUTH_CACHE_TTL_MS: '0' });
    const setup = await request(cached.url).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN });
    const key = setup.body.api_key as string;
    const on = (t: TestApi) => () => request(t.url, key).get('/v1/me').then((r) => r.status);
    expect(await on(cached)()).toBe(200);
    expect(await on(uncached)()).toBe(200);
    // Revoked behind the api's back: no broadcast.
    await sql.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [setup.body.api_key_id]);
    expect(await on(uncached)()).toBe(401);
    expect(await on(cached)()).toBe(200);
    const ms = await untilStatus(on(cached), 401, 5_000);
    expect(ms).toBeLessThan(5_000);
  });
});
