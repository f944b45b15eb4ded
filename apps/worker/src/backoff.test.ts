import { describe, expect, it } from '@jest/globals';
import { createUpstreamBackoff } from './backoff.js';

describe('upstream backoff', () => {
  it('grows exponentially with jitter and respects the cap', () => {
    const lo = createUpstreamBackoff({ baseMs: 100, maxMs: 1000, random: () => 0 });
    const hi = createUpstreamBackoff({ baseMs: 100, maxMs: 1000, random: () => 1 });
    expect([1, 2, 3, 4, 5].map((n) => hi(n))).toEqual([100, 200, 400, 800, 1000]);
    expect([1, 2, 3].map((n) => lo(n))).toEqual([50, 100, 200]);
  });

  it('waits for Retry-After when upstream sent one', () => {
    const b = createUpstreamBackoff({ baseMs: 100, maxMs: 1000, random: () => 0 });
    expect(b(1, 'upstream', Object.assign(new Error('429'), { retryAfterSeconds: 7 }))).toBe(7000);
  });
});
