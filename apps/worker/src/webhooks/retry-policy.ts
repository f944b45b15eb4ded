/**
 * When to try a webhook again. The schedule lists the delay before attempt 2, 3, …; after the
 * last entry the delivery is failed. Each delay is spread by ±20 % (jitter) so receivers that came
 * back at the same moment are not hit by every queued delivery at once. (Full jitter, 0..delay,
 * would let the first retry fire immediately and halve the ~3-day window, so it is not used.)
 * A receiver's Retry-After wins when it asks for longer, up to a cap.
 */
export interface RetryPolicy {
  schedule: readonly number[];
  retryAfterMaxMs: number;
  random?: () => number;
}

/** Milliseconds until the next attempt, or null when the schedule is exhausted. */
export function nextRetryDelay(policy: RetryPolicy, attemptsSoFar: number, retryAfterMs: number | undefined): number | null {
  const base = policy.schedule[attemptsSoFar - 1];
  if (base === undefined) return null;
  const random = policy.random ?? Math.random;
  const jittered = Math.round(base * (0.8 + 0.4 * random()));
  const asked = retryAfterMs === undefined ? 0 : Math.min(retryAfterMs, policy.retryAfterMaxMs);
  return Math.max(jittered, asked);
}

/** Retry-After as delay-seconds or an HTTP-date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const trimmed = raw.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
