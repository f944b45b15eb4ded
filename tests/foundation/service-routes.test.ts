import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { createTestRedis } from '../helpers/redis.js';
import { type TestEmulator, startTestEmulator } from '../helpers/emulator.js';
import { type Json, json } from '../helpers/http.js';
import { type TcpProxy, startTcpProxy } from '../helpers/tcp-proxy.js';

const redisEnv = createTestRedis();
let db: TestDatabase;
let pgProxy: TcpProxy;
let redisProxy: TcpProxy;
let api: TestApi;
let emulator: TestEmulator;

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  db = await createTestDatabase();
  pgProxy = await startTcpProxy(db.url);
  redisProxy = await startTcpProxy(redisEnv.url);
  emulator = await startTestEmulator();
  api = await startTestApi({
    TABPFN_API_URL: emulator.url,
    DATABASE_URL: pgProxy.url,
    REDIS_URL: redisProxy.url,
    QUEUE_PREFIX: redisEnv.prefix,
    JSON_BODY_LIMIT: '1kb',
  });
});

afterAll(async () => {
  await api?.close();
  await emulator?.close();
  await pgProxy?.close();
  await redisProxy?.close();
  await redisEnv.cleanup();
  await db?.drop();
});

describe('service routes', () => {
  it('GET / describes the service', async () => {
    const res = await fetch(`${api.url}/`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.name).toBe('tabpfn-jobs');
    expect(body.links.ready).toBe('/ready');
  });

  it('echoes a caller request id and makes one otherwise', async () => {
    const mine = await fetch(`${api.url}/health`, { headers: { 'x-request-id': 'abc-123' } });
    expect(mine.headers.get('x-request-id')).toBe('abc-123');
    const made = await fetch(`${api.url}/health`, { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('GET /ready is 200 when Postgres, Redis and migrations are fine', async () => {
    const res = await fetch(`${api.url}/ready`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.checks).toEqual({ postgres: { ok: true }, redis: { ok: true }, migrations: { ok: true }, upstream: { ok: true } });
  });

  it('Redis down → /ready 503 naming redis, /health still 200; back without a restart', async () => {
    redisProxy.cut();
    try {
      const res = await fetch(`${api.url}/ready`);
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const body = await json(res);
      expect(body.code).toBe('not_ready');
      expect(body.errors.map((e: { field: string }) => e.field)).toEqual(['redis']);
      expect(body.request_id).toBe(res.headers.get('x-request-id'));
      expect((await fetch(`${api.url}/health`)).status).toBe(200);
    } finally {
      redisProxy.restore();
    }
    await waitFor(async () => (await fetch(`${api.url}/ready`)).status === 200, 'redis to come back');
  });

  it('Postgres down → /ready 503 naming postgres, /health still 200; back without a restart', async () => {
    pgProxy.cut();
    try {
      const res = await fetch(`${api.url}/ready`);
      expect(res.status).toBe(503);
      const body = await json(res);
      expect(body.errors.map((e: { field: string }) => e.field)).toContain('postgres');
      expect(body.detail).toContain('postgres');
      expect((await fetch(`${api.url}/health`)).status).toBe(200);
    } finally {
      pgProxy.restore();
    }
    await waitFor(async () => (await fetch(`${api.url}/ready`)).status === 200, 'postgres to come back');
  });

  it('a Redis that hangs: /metrics still answers, leaving the queue depths out rather than reporting stale ones', async () => {
    expect(await (await fetch(`${api.url}/metrics`)).text()).toContain('tabpfn_jobs_queue_depth{');
    redisProxy.stall();
    try {
      // Before the fix this request hung for as long as Redis did.
      const res = await fetch(`${api.url}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).not.toContain('tabpfn_jobs_queue_depth{');
      expect(text).toContain('tabpfn_jobs_jobs');
    } finally {
      redisProxy.unstall();
    }
  });

  it('unknown route → 404 problem+json with request_id', async () => {
    const res = await fetch(`${api.url}/nope`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const body = await json(res);
    expect(body).toMatchObject({ status: 404, code: 'route_not_found', title: 'Not Found' });
    expect(body.request_id).toBe(res.headers.get('x-request-id'));
  });

  it('malformed JSON → 400 problem+json without a stack trace', async () => {
    // Bodies are read per route (an unknown path is a 404 without reading one): setup reads JSON unauthenticated.
    const res = await fetch(`${api.url}/v1/auth/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a": ',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const text = await res.text();
    expect(text).not.toMatch(/at .*\.(ts|js):\d+/);
    expect(text).not.toContain('<html');
    expect((JSON.parse(text) as Json).code).toBe('malformed_json');
  });

  it('a body over the limit → 413 problem+json', async () => {
    const res = await fetch(`${api.url}/v1/auth/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(5_000) }),
    });
    expect(res.status).toBe(413);
    expect((await json(res)).code).toBe('payload_too_large');
  });

  it('sets helmet security headers', async () => {
    const res = await fetch(`${api.url}/health`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });
});
