import type { RateLimits } from './options.js';

export type RouteClass = keyof RateLimits;

export interface RateDecision {
  limit: number;
  remaining: number;
  resetSeconds: number;
  allowed: boolean;
}

/** Fixed windows (one minute unless configured) per token and route class, like the documented per-minute limits. */
export class RateLimiter {
  private windows = new Map<string, { start: number; count: number }>();

  hit(token: string, cls: RouteClass, limit: number, now = Date.now(), windowMs = 60_000): RateDecision {
    const start = Math.floor(now / windowMs) * windowMs;
    const key = `${cls}:${token}`;
    let w = this.windows.get(key);
    if (!w || w.start !== start) {
      w = { start, count: 0 };
      this.windows.set(key, w);
    }
    w.count += 1;
    const resetSeconds = Math.max(1, Math.ceil((start + windowMs - now) / 1000));
    return { limit, remaining: Math.max(0, limit - w.count), resetSeconds, allowed: w.count <= limit };
  }

  clear(): void {
    this.windows.clear();
  }
}
