import { describe, expect, it } from '@jest/globals';
import { createCancelRegistry } from './cancel-registry.js';

describe('cancel registry', () => {
  it('aborts a running call; keeps an early cancel for the call that registers later, once', () => {
    const running = new Map<string, AbortController>();
    const cancels = createCancelRegistry(running);
    const c = new AbortController();
    running.set('a', c);
    cancels.onBroadcast('a');
    expect(c.signal.aborted).toBe(true);
    expect(cancels.takeEarly('a')).toBe(false);

    cancels.onBroadcast('b');
    expect(cancels.takeEarly('b')).toBe(true);
    expect(cancels.takeEarly('b')).toBe(false);
  });

  it('early cancels expire and are capped', () => {
    let t = 0;
    const cancels = createCancelRegistry(new Map(), { keepMs: 100, max: 2, now: () => t });
    cancels.onBroadcast('old');
    t = 200;
    expect(cancels.takeEarly('old')).toBe(false);
    cancels.onBroadcast('x');
    cancels.onBroadcast('y');
    cancels.onBroadcast('z');
    expect(cancels.takeEarly('x')).toBe(false);
    expect(cancels.takeEarly('y')).toBe(true);
    expect(cancels.takeEarly('z')).toBe(true);
  });
});
