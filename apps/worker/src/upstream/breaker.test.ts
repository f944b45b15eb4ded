import { describe, expect, it } from '@jest/globals';
import { createBreaker } from './breaker.js';

describe('circuit breaker', () => {
  it('opens after the threshold, lets one trial through after the cooldown, closes on success', () => {
    let t = 0;
    const b = createBreaker({ threshold: 3, cooldownMs: 1000, now: () => t });
    b.failure();
    b.failure();
    expect(b.admit()).toBe(0);
    b.failure();
    expect(b.state).toBe('open');
    expect(b.admit()).toBe(1000);
    t = 1000;
    expect(b.admit()).toBe(0);
    expect(b.admit()).toBeGreaterThan(0);
    b.success();
    expect(b.state).toBe('closed');
    expect(b.admit()).toBe(0);
  });

  it('a failed trial opens it again', () => {
    let t = 0;
    const b = createBreaker({ threshold: 1, cooldownMs: 500, now: () => t });
    b.failure();
    t = 600;
    expect(b.admit()).toBe(0);
    b.failure();
    expect(b.admit()).toBe(500);
  });

  it('a trial that never reports back lapses after a cooldown; release frees the slot at once', () => {
    let t = 0;
    const b = createBreaker({ threshold: 1, cooldownMs: 1000, now: () => t });
    b.failure();
    t = 1000;
    expect(b.admit()).toBe(0);
    // The trial job ended without a verdict (canceled, limited, our own error) and nobody said so.
    t = 1500;
    expect(b.admit()).toBeGreaterThan(0);
    t = 2001;
    expect(b.admit()).toBe(0);
    expect(b.admit()).toBeGreaterThan(0);
    b.release();
    expect(b.admit()).toBe(0);
  });
});
