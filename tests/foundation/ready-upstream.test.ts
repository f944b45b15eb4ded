import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { DEAD_UPSTREAM, type TestEmulator, startTestEmulator } from '../helpers/emulator.js';
import { json } from '../helpers/http.js';
import { createTestRedis } from '../helpers/redis.js';

const redis = createTestRedis();
let db: TestDatabase;
const apis: TestApi[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  for (const api of apis) await api.close();
  await redis.cleanup();
  await db?.drop();
});

const start = async (env: Record<string, string>) => {
  const api = await startTestApi({ DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, ...env });
  apis.push(api);
  return api;
};

async function readyWhen(url: string, status: number, ms = 20_000): Promise<Response> {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await fetch(`${url}/ready`);
    if (res.status === status) return res;
    if (Date.now() > deadline) throw new Error(`/ready stayed ${res.status}: ${await res.text()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('/ready and the TabPFN upstream', () => {
  it('is ready while the emulator answers and not once it stops; /health stays 200', async () => {
    const emulator: TestEmulator = await startTestEmulator();
    const api = await start({ TABPFN_API_URL: emulator.url, UPSTREAM_PROBE_TTL_MS: '200' });
    const up = await json(await readyWhen(api.url, 200));
    expect(up.checks.upstream).toEqual({ ok: true });

    await emulator.close();
    const down = await readyWhen(api.url, 503);
    const body = await json(down);
    expect(body.checks.upstream.ok).toBe(false);
    expect(body.checks.upstream.error).toContain(new URL(emulator.url).origin);
    expect(body.errors.map((e: { field: string }) => e.field)).toEqual(['upstream']);
    expect((await fetch(`${api.url}/health`)).status).toBe(200);
  });

  it('answers promptly about an unreachable upstream, and probes it once per TTL however often asked', async () => {
    const emulator = await startTestEmulator();
    const api = await start({ TABPFN_API_URL: DEAD_UPSTREAM, UPSTREAM_PROBE_TTL_MS: '60000' });
    const t0 = Date.now();
    const res = await fetch(`${api.url}/ready`);
    expect(res.status).toBe(503);
    expect((await json(res)).checks.upstream.error).toMatch(/unreachable/);
    expect(Date.now() - t0).toBeLessThan(20_000);

    // Cached: many readiness calls against a live upstream cost it one request.
    const cachedApi = await start({ TABPFN_API_URL: emulator.url, UPSTREAM_PROBE_TTL_MS: '60000' });
    await Promise.all(Array.from({ length: 20 }, () => fetch(`${cachedApi.url}/ready`)));
    const { requests } = (await (await fetch(`${emulator.url}/_emulator/requests?route=root`)).json()) as { requests: unknown[] };
    expect(requests).toHaveLength(1);
    await emulator.close();
  });
});
