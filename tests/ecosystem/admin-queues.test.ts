import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import bcrypt from 'bcryptjs';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { type TestRedis, createTestRedis } from '../helpers/redis.js';

const PASSWORD = 'correct horse battery staple';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let db: TestDatabase;
let redis: TestRedis;
let api: TestApi;

beforeAll(async () => {
  redis = createTestRedis();
  db = await createTestDatabase();
  api = await startTestApi({
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    TABPFN_API_URL: 'http://127.0.0.1:9',
    ADMIN_PASSWORD_HASH: bcrypt.hashSync(PASSWORD, 4),
  });
});
afterAll(async () => {
  await api?.close();
  await redis?.cleanup();
  await db?.drop();
});

describe('GET /admin/queues (bull-board)', () => {
  it('401 with a Basic challenge without the operator login, or with a wrong one', async () => {
    const none = await fetch(`${api.url}/admin/queues`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(none.headers.get('content-type')).toContain('application/problem+json');
    expect((await fetch(`${api.url}/admin/queues`, { headers: { authorization: basic('admin', 'wrong') } })).status).toBe(401);
    expect((await fetch(`${api.url}/admin/queues`, { headers: { authorization: basic('root', PASSWORD) } })).status).toBe(401);
    expect((await fetch(`${api.url}/admin/queues/api/queues`)).status).toBe(401);
  });

  it('200 with the dashboard and its queue API behind the login', async () => {
    const auth = { authorization: basic('admin', PASSWORD) };
    const page = await fetch(`${api.url}/admin/queues`, { headers: auth });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('tabpfn-jobs queues');
    const queues = await fetch(`${api.url}/admin/queues/api/queues`, { headers: auth });
    expect(queues.status).toBe(200);
    const body = (await queues.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['fit', 'maintenance', 'predict', 'webhook']);
  });

  it('references no external host (fonts and styles are local or system), so it renders offline at once', async () => {
    const auth = { authorization: basic('admin', PASSWORD) };
    const html = await (await fetch(`${api.url}/admin/queues`, { headers: auth })).text();
    const external = (text: string) => [...text.matchAll(/(?:href|src)=["'](https?:)?\/\/[^"']+|@import\s+url\(["']?https?:[^)]+|url\(["']?https?:[^)]+/g)].map((m) => m[0]);
    expect(external(html)).toEqual([]);
    const sheets = [...html.matchAll(/<link[^>]+href="([^"]+\.css)"/g)].map((m) => m[1]!);
    expect(sheets.length).toBeGreaterThan(0);
    for (const sheet of sheets) {
      const css = await fetch(new URL(sheet, `${api.url}/admin/queues/`), { headers: auth });
      expect(css.status).toBe(200);
      expect(external(await css.text())).toEqual([]);
    }
  });
});

describe('admin login throttle', () => {
  let throttledApi: TestApi;
  beforeAll(async () => {
    // Its own api: three wrong passwords per address, and X-Forwarded-For names the address.
    throttledApi = await startTestApi({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: `${redis.prefix}:throttle`,
      TABPFN_API_URL: 'http://127.0.0.1:9',
      ADMIN_PASSWORD_HASH: bcrypt.hashSync(PASSWORD, 4),
      ADMIN_LOGIN_MAX_FAILURES: '3',
      TRUST_PROXY: 'true',
    });
  });
  afterAll(async () => {
    await throttledApi?.close();
  });
  const login = (from: string, password: string) =>
    fetch(`${throttledApi.url}/admin/queues/api/queues`, { headers: { authorization: basic('admin', password), 'x-forwarded-for': from } });

  it('after the allowed wrong passwords an address gets 429 with Retry-After, even for the right password; other addresses are unaffected', async () => {
    // Unauthenticated prompts (no header) are not guesses.
    for (let i = 0; i < 5; i++) expect((await fetch(`${throttledApi.url}/admin/queues`, { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(401);
    for (let i = 0; i < 3; i++) expect((await login('203.0.113.7', `guess-${i}`)).status).toBe(401);
    const refused = await login('203.0.113.7', 'guess-4');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(800);
    expect(((await refused.json()) as { code: string }).code).toBe('admin_login_throttled');
    expect((await login('203.0.113.7', PASSWORD)).status).toBe(429);
    expect((await login('198.51.100.9', PASSWORD)).status).toBe(200);
    // The right password remembered from another address does not open the throttled one either.
    expect((await login('203.0.113.7', PASSWORD)).status).toBe(429);
  });
});
