/**
 * Retry delays for upstream failures: exponential with full jitter, capped; when upstream named a
 * wait (429 Retry-After), that wait plus a little jitter instead.
 */
export function createUpstreamBackoff(opts: { baseMs: number; maxMs: number; random?: () => number }) {
  const random = opts.random ?? Math.random;
  return (attemptsMade: number, _type?: string, err?: Error): number => {
    const retryAfter = (err as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (typeof retryAfter === 'number' && retryAfter > 0) return Math.round(retryAfter * 1000 + random() * Math.min(1000, opts.baseMs));
    const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, attemptsMade - 1));
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  };
}
