import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type TestEmulator, VALID_TOKEN, startTestEmulator } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { type TestRedis, createTestRedis } from '../helpers/redis.js';

let db: TestDatabase;
let redis: TestRedis;
let emulator: TestEmulator;
let api: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = createTestRedis();
  emulator = await startTestEmulator();
  api = await startTestApi({ DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, TABPFN_API_URL: emulator.url, MAX_API_KEYS: '3' });
});
afterAll(async () => {
  await api?.close();
  await emulator?.close();
  await redis?.cleanup();
  await db?.drop();
});

describe('API keys per account', () => {
  it('are capped, exactly under concurrency; revoking one makes room; setup counts too', async () => {
    const setup = await request(api.url).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN });
    const client = request(api.url, setup.body.api_key);
    // One key exists; five concurrent creations race for the two places left.
    const burst = await Promise.all(Array.from({ length: 5 }, () => client.post('/v1/auth/keys', {})));
    expect(burst.filter((r) => r.status === 201).length).toBe(2);
    const refused = burst.filter((r) => r.status === 409);
    expect(refused.length).toBe(3);
    expect(refused[0]!.body.code).toBe('too_many_api_keys');
    expect((await request(api.url).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN })).status).toBe(409);

    const created = burst.find((r) => r.status === 201)!.body;
    expect((await client.delete(`/v1/auth/keys/${created.id}`)).status).toBe(200);
    expect((await client.post('/v1/auth/keys', {})).status).toBe(201);
  });
});
