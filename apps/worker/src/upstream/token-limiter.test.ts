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

  describe('leases', () => {
    const leased = (size: number, ms: number, rules = 'predict:100/10s,upload:100/10s') => {
      const prefix = `${redis.prefix}:${Math.random()}`;
      const l = createTokenLimiter({ redis: connection, prefix, rules: parseLimitRules(rules), marginMs: 0, lease: { size, ms } });
      /** Calls counted in each of the token's windows, by kind. */
      const counted = async () => {
        const keys = await connection.keys(`${prefix}:upstream-limit:*`);
        const out: Record<string, number> = {};
        for (const k of keys) out[k.split(':').at(-2)!] = await connection.zcard(k);
        return out;
      };
      return { l, counted, prefix };
    };
    const until = async (what: string, check: () => Promise<boolean>) => {
      for (let i = 0; !(await check()); i++) {
        if (i > 200) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };

    it('counts a few calls ahead and hands them to the next admissions; the ones not handed out go back', async () => {
      const { l, counted, prefix } = leased(4, 300);
      const tickets = [];
      for (let i = 0; i < 3; i++) {
        const a = await l.admit('tok', ['predict', 'upload']);
        expect(a.wait).toBe(0);
        tickets.push(a.ticket);
      }
      expect(new Set(tickets).size).toBe(3);
      // One round trip counted four calls of each kind; three were handed out.
      expect(await counted()).toEqual({ predict: 4, upload: 4 });
      // The fourth goes back when the lease runs out: the windows hold what was handed out, exactly.
      await until('the unused call to be given back', async () => (await counted()).predict === 3);
      expect(await counted()).toEqual({ predict: 3, upload: 3 });
      // A handed-out call moves when it is sent, as any other.
      const at = Date.now() + 5_000;
      await l.sent('tok', ['predict'], tickets[1]!, at);
      const [predictKey] = await connection.keys(`${prefix}:upstream-limit:*:predict:*`);
      expect(Number(await connection.zscore(predictKey!, tickets[1]!))).toBe(at);
    });

    it('near the limit counts one call at a time, and at the limit waits', async () => {
      const { l, counted } = leased(4, 10_000, 'predict:5/10s');
      for (let i = 0; i < 5; i++) expect((await l.admit('tok', ['predict'])).wait).toBe(0);
      // 4 counted ahead (room 5 ≥ 2 × 4? no: room 5 < 8), so each admission counted only its own call.
      expect(await counted()).toEqual({ predict: 5 });
      const full = await l.admit('tok', ['predict']);
      expect(full.wait).toBeGreaterThan(9_000);
    });
  });
});
