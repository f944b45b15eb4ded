import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { DEAD_UPSTREAM } from '../helpers/emulator.js';
import { type TestRedis, createTestRedis } from '../helpers/redis.js';

let db: TestDatabase;
let redis: TestRedis;
const apis: TestApi[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  redis = createTestRedis();
});
afterAll(async () => {
  for (const api of apis) await api.close();
  await redis?.cleanup();
  await db?.drop();
});

async function api(prefix: string, env: Record<string, string> = {}) {
  const started = await startTestApi({
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: `${redis.prefix}${prefix}`,
    TABPFN_API_URL: DEAD_UPSTREAM,
    SETUP_RATE_LIMIT_PER_MINUTE: '2',
    ...env,
  });
  apis.push(started);
  return (forwardedFor: string) =>
    fetch(`${started.url}/v1/auth/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
      body: JSON.stringify({ tabpfn_token: 'tok-whatever' }),
    }).then((r) => r.status);
}

describe('setup limit per client address', () => {
  it('behind a trusted proxy each client has its own budget', async () => {
    const setup = await api('a', { TRUST_PROXY: '1' });
    expect(await setup('203.0.113.1')).not.toBe(429);
    expect(await setup('203.0.113.1')).not.toBe(429);
    expect(await setup('203.0.113.1')).toBe(429);
    expect(await setup('203.0.113.2')).not.toBe(429);
  });

  it('without one, X-Forwarded-For is not believed (a client cannot mint new budgets)', async () => {
    const setup = await api('b');
    expect(await setup('203.0.113.1')).not.toBe(429);
    expect(await setup('203.0.113.2')).not.toBe(429);
    expect(await setup('203.0.113.3')).toBe(429);
  });
});
