import { describe, expect, it } from '@jest/globals';
import { loadWorkerConfig } from '@tabpfn-jobs/worker';
import { nextRetryDelay, parseRetryAfter } from '../../apps/worker/src/webhooks/retry-policy.js';

const config = loadWorkerConfig({ ENCRYPTION_KEYS: `k1:${Buffer.alloc(32).toString('base64')}` });

describe('webhook retry schedule', () => {
  it('defaults to 10 attempts spread over about three days', () => {
    const schedule = config.WEBHOOK_RETRY_SCHEDULE;
    expect(schedule).toHaveLength(9);
    const totalHours = schedule.reduce((a, b) => a + b, 0) / 3_600_000;
    expect(totalHours).toBeGreaterThan(2.5 * 24);
    expect(totalHours).toBeLessThan(3.5 * 24);
    expect(config.WEBHOOK_TIMEOUT_MS).toBe(10_000);
    expect(config.WEBHOOK_ALLOW_PRIVATE).toBe(false);
  });

  it('jitters each step by ±20 % and stops after the last one', () => {
    const policy = { schedule: [1000, 60_000], retryAfterMaxMs: 3_600_000 };
    expect(nextRetryDelay({ ...policy, random: () => 0 }, 1, undefined)).toBe(800);
    expect(nextRetryDelay({ ...policy, random: () => 0.999999 }, 1, undefined)).toBe(1200);
    expect(nextRetryDelay({ ...policy, random: () => 0.5 }, 2, undefined)).toBe(60_000);
    expect(nextRetryDelay(policy, 3, undefined)).toBeNull();
  });

  it('honours a longer Retry-After up to the cap, never a shorter one', () => {
    const policy = { schedule: [1000], retryAfterMaxMs: 10_000, random: () => 0.5 };
    expect(nextRetryDelay(policy, 1, 5_000)).toBe(5_000);
    expect(nextRetryDelay(policy, 1, 500)).toBe(1000);
    expect(nextRetryDelay(policy, 1, 86_400_000)).toBe(10_000);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('rejects a malformed schedule at startup', () => {
    expect(() => loadWorkerConfig({ ENCRYPTION_KEYS: 'k1:x', WEBHOOK_RETRY_SCHEDULE: '5s,soon' })).toThrow(/WEBHOOK_RETRY_SCHEDULE/);
  });
});
