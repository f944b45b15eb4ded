import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import express from 'express';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { type RedisConnection, createApiRedis } from '@tabpfn-jobs/shared/redis';
import { type TestRedis, createTestRedis } from '../../../../tests/helpers/redis.js';
import { errorHandler } from './problem.js';
import { type RateLimit, admitted, rateLimit } from './rate-limit.js';

// Two limiters on one Redis prefix stand for two api processes sharing a key's budget. What the
// route saw is recorded: whether the limit had decided when it started (its RateLimit header is
// set then), and whether it got past `admitted` to its write.

const POINTS = 20;
let redis: TestRedis;
let connection: RedisConnection;
let server: ReturnType<express.Application['listen']>;
let url: string;
let other: RateLimit;
let seen: { decidedAtStart: boolean; wrote: boolean }[] = [];

beforeAll(async () => {
  redis = createTestRedis();
  connection = createApiRedis(redis.settings);
  const limit = (name: string) =>
    rateLimit({ redis: connection, keyPrefix: `${redis.prefix}:rl`, policyName: 'per-key', points: POINTS, durationSeconds: 60, key: (req) => `${name}:${req.get('x-key')}` });
  const mine = limit('k');
  other = limit('k');
  const app = express();
  app.use(express.json());
  app.post('/write', mine.ahead, async (req, res) => {
    const record = { decidedAtStart: res.getHeader('RateLimit') !== undefined, wrote: false };
    seen.push(record);
    if (req.body?.invalid) throw new ValidationError([{ field: 'invalid', message: 'is not allowed' }]);
    await admitted(res);
    record.wrote = true;
    res.status(202).json({ ok: true });
  });
  // The other process's traffic for the same key.
  app.get('/other', other.check, (_req, res) => {
    res.json({ ok: true });
  });
  app.use(errorHandler(createLogger({ name: 'test', level: 'silent' })));
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await redis.cleanup();
  connection?.disconnect();
});

beforeEach(() => {
  seen = [];
});

let keys = 0;
const newKey = () => `key-${++keys}`;
const write = (key: string, body: object = {}, headers: Record<string, string> = {}) =>
  fetch(`${url}/write`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-key': key, ...headers }, body: JSON.stringify(body) });
const remaining = (res: Response) => Number(/r=(\d+)/.exec(res.headers.get('ratelimit') ?? '')?.[1]);

async function spendOthersBudget(key: string) {
  for (;;) if ((await fetch(`${url}/other`, { headers: { 'x-key': key } })).status === 429) return;
}

describe('a rate limit that decides ahead of the route', () => {
  it("decides first for a key it has no answer for, then lets the route start at once, with the answer's exact headers", async () => {
    const key = newKey();
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await write(key));
    expect(answers.map((r) => r.status)).toEqual([202, 202, 202]);
    expect(answers.map(remaining)).toEqual([POINTS - 1, POINTS - 2, POINTS - 3]);
    expect(seen).toEqual([
      { decidedAtStart: true, wrote: true },
      { decidedAtStart: false, wrote: true },
      { decidedAtStart: false, wrote: true },
    ]);
  });

  it('a request that went ahead and is refused stops before its write, with the 429', async () => {
    const key = newKey();
    expect((await write(key)).status).toBe(202);
    await spendOthersBudget(key);
    const refused = await write(key);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(refused.headers.get('ratelimit')).toMatch(/^"per-key";r=0;t=\d+$/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(seen.at(-1)).toEqual({ decidedAtStart: false, wrote: false });
    // Refused once, this process decides first again: the route does not start.
    expect((await write(key)).status).toBe(429);
    expect(seen).toHaveLength(2);
  });

  it("a route failing before the answer answers as the limit says: its own error when admitted, the 429 when refused", async () => {
    const key = newKey();
    expect((await write(key)).status).toBe(202);
    const invalid = await write(key, { invalid: true });
    expect(invalid.status).toBe(422);
    expect(remaining(invalid)).toBe(POINTS - 2);
    await spendOthersBudget(key);
    const refused = await write(key, { invalid: true });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { code: string }).code).toBe('rate_limited');
    expect(seen.map((s) => s.decidedAtStart)).toEqual([true, false, false]);
  });

  it('decides first when little room was left, and for a large body', async () => {
    const key = newKey();
    expect((await write(key)).status).toBe(202);
    // Leave this process's last answer below a tenth of the budget: one request more.
    for (let i = 0; i < POINTS - 3; i++) expect((await fetch(`${url}/other`, { headers: { 'x-key': key } })).status).toBe(200);
    expect(remaining(await write(key))).toBe(1);
    expect((await write(key)).status).toBe(202);
    expect(seen.map((s) => s.decidedAtStart)).toEqual([true, false, true]);

    const roomy = newKey();
    await write(roomy);
    await write(roomy, { pad: 'x'.repeat(70 * 1024) });
    expect(seen.slice(3).map((s) => s.decidedAtStart)).toEqual([true, true]);
  });
});
