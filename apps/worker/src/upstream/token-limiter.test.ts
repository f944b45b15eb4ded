import { afterAll, describe, expect, it } from '@jest/globals';
import { createWorkerRedis } from '@tabpfn-jobs/shared/redis';
import { createTestRedis } from '../../../../tests/helpers/redis.js';
import { createTokenLimiter, parseLimitRules } from './token-limiter.js';

const redis = createTestRedis();
const connection = createWorkerRedis(redis.settings);
afterAll(async () => {
  await redis.cleanup();
  connection.disconnect();
});

const limiter = () =>
  createTokenLimiter({ redis: connection, prefix: `${redis.prefix}:${Math.random()}`, rules: parseLimitRules('fit:2/10s,upload:5/10s'), marginMs: 0 });

describe('upstream token limiter', () => {
  it('counts calls when they are sent: a call sent later than admitted holds the window open for longer', async () => {
    const l = limiter();
    const t0 = Date.now();
    expect(await l.acquire('tok', ['fit', 'upload'], 'job-a')).toBe(0);
    expect(await l.acquire('tok', ['fit'], 'job-b')).toBe(0);
    const before = await l.acquire('tok', ['fit'], 'job-c');
    // Both counted at admission: the window opens again 10 s after the first.
    expect(before).toBeGreaterThan(9_000);
    expect(before).toBeLessThanOrEqual(10_000);

    // job-a's fit goes out 5 s after it was admitted (a long upload first), job-b's at once.
    await l.sent('tok', ['fit'], 'job-a', t0 + 5_000);
    await l.sent('tok', ['fit'], 'job-b', t0);
    const after = await l.acquire('tok', ['fit'], 'job-c');
    // Still full; the oldest send is job-b's, so the wait is unchanged…
    expect(after).toBeGreaterThan(9_000);
    await l.sent('tok', ['fit'], 'job-b', t0 + 6_000);
    // …until both sends are late: the window is open again only 10 s after the earlier of them.
    expect(await l.acquire('tok', ['fit'], 'job-c')).toBeGreaterThan(14_000 - (Date.now() - t0));
  });

  it('a ticket moves only the records it made: an unknown ticket or another kind changes nothing', async () => {
    const l = limiter();
    const t0 = Date.now();
    expect(await l.acquire('tok', ['upload'], 'job-a')).toBe(0);
    expect(await l.acquire('tok', ['fit'], 'job-b')).toBe(0);
    expect(await l.acquire('tok', ['fit'], 'job-c')).toBe(0);
    await l.sent('tok', ['fit'], 'nobody', t0 + 60_000);
    await l.sent('tok', ['fit'], 'job-a', t0 + 60_000);
    const wait = await l.acquire('tok', ['fit'], 'job-d');
    expect(wait).toBeGreaterThan(9_000);
    expect(wait).toBeLessThanOrEqual(10_000);
    // And the uploads' window is job-a's alone, still counted at its admission.
    for (const t of ['u1', 'u2', 'u3', 'u4']) expect(await l.acquire('tok', ['upload'], t)).toBe(0);
    const full = await l.acquire('tok', ['upload'], 'u5');
    expect(full).toBeGreaterThan(9_000);
    expect(full).toBeLessThanOrEqual(10_000);
  });
});
