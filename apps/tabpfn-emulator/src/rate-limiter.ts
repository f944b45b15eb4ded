import type { RateLimits } from './options.js';

export type RouteClass = keyof RateLimits;

export interface RateDecision {
  limit: number;
  remaining: number;
  resetSeconds: number;
  allowed: boolean;
}

/** Fixed one-minute windows per token and route class, like the documented per-minute limits. */
export class RateLimiter {
  private windows = new Map<string, { start: number; count: number }>();

  hit(token: string, cls: RouteClass, limit: number, now = Date.now()): RateDecision {
    const start = Math.floor(now / 60_000) * 60_000;
    const key = `${cls}:${token}`;
    let w = this.windows.get(key);
    if (!w || w.start !== start) {
      w = { start, count: 0 };
      this.windows.set(key, w);
    }
    w.count += 1;
    const resetSeconds = Math.max(1, Math.ceil((start + 60_000 - now) / 1000));
    return { limit, remaining: Math.max(0, limit - w.count), resetSeconds, allowed: w.count <= limit };
  }

  clear(): void {
    this.windows.clear();
  }
}
