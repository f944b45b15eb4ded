/**
 * Per-process circuit breaker for upstream: after `threshold` consecutive "unavailable" failures it
 * opens for `cooldownMs`, during which jobs wait in the queue instead of each burning an attempt on an
 * outage; then one trial at a time goes through (half-open) until a success closes it.
 */
export function createBreaker(opts: { threshold: number; cooldownMs: number; now?: () => number }) {
  const now = opts.now ?? Date.now;
  let failures = 0;
  let openUntil = 0;
  let trialInFlight = false;
  let trialStartedAt = 0;
  return {
    /** 0 when a call may proceed, else milliseconds until it may. */
    admit(): number {
      if (failures < opts.threshold) return 0;
      const t = now();
      if (t < openUntil) return openUntil - t;
      // A trial that never reported back (its job ended some other way) lapses after a cooldown,
      // so one lost report cannot hold every later job back.
      if (trialInFlight && t - trialStartedAt < opts.cooldownMs) return Math.max(250, Math.round(opts.cooldownMs / 4));
      trialInFlight = true;
      trialStartedAt = t;
      return 0;
    },
    /** The admitted call did not happen or said nothing about upstream's health: free the trial slot. */
    release(): void {
      trialInFlight = false;
    },
    success(): void {
      failures = 0;
      trialInFlight = false;
    },
    failure(): void {
      failures++;
      trialInFlight = false;
      if (failures >= opts.threshold) openUntil = now() + opts.cooldownMs;
    },
    get state(): 'closed' | 'open' | 'half-open' {
      if (failures < opts.threshold) return 'closed';
      return now() < openUntil ? 'open' : 'half-open';
    },
  };
}

export type Breaker = ReturnType<typeof createBreaker>;
