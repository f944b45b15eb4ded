import type { Request, RequestHandler, Response } from 'express';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError } from '@tabpfn-jobs/shared/errors';
import type { RedisConnection } from '@tabpfn-jobs/shared/redis';
import { declaredLength } from './body.js';

export interface RateLimitOptions {
  redis: RedisConnection;
  keyPrefix: string;
  policyName: string;
  points: number;
  durationSeconds: number;
  /** The limiter's key for this request (API key id, client address, …). */
  key: (req: Request, res: Response) => string;
}

export interface RateLimit {
  /** Decides before the route runs. */
  check: RequestHandler;
  /**
   * Decides while the route reads and plans: for a small body (or none), when this process's last
   * answer for the key left ample room, the route starts at once and must `await admitted(res)`
   * before it writes anything or answers. Otherwise the same as `check`.
   */
  ahead: RequestHandler;
}

/** A body this small costs little to read when the limiter then refuses the request. */
const AHEAD_MAX_BODY_BYTES = 64 * 1024;
/** Keys whose last answer this process remembers (the rest decide before the route). */
const REMEMBERED_KEYS = 10_000;

/**
 * Resolves when the request's rate limit admitted it (at once on routes without `ahead`); rejects
 * with the 429 when it did not. Routes under `ahead` await it before their first write.
 */
export function admitted(res: Response): Promise<void> {
  return (res.locals.admission as Promise<void> | undefined) ?? Promise.resolve();
}

/**
 * Fixed-window limit on Redis, shared by every api process. If Redis is unreachable the limit falls
 * back to process memory instead of failing requests (the insurance limiter).
 */
export function rateLimit(opts: RateLimitOptions): RateLimit {
  const limiter = new RateLimiterRedis({
    storeClient: opts.redis,
    keyPrefix: opts.keyPrefix,
    points: opts.points,
    duration: opts.durationSeconds,
    useRedisPackage: false,
    insuranceLimiter: new RateLimiterMemory({ points: opts.points, duration: opts.durationSeconds }),
  });
  const policy = `"${opts.policyName}";q=${opts.points};w=${opts.durationSeconds}`;
  const headers = (r: RateLimiterRes) => ({
    'RateLimit-Policy': policy,
    RateLimit: `"${opts.policyName}";r=${Math.max(0, r.remainingPoints)};t=${Math.ceil(r.msBeforeNext / 1000)}`,
  });
  // Ample: another process would have to spend a tenth of the window's budget since this answer
  // for the limiter to refuse a request that went ahead (it is then refused as usual, nothing written).
  const ample = Math.max(2, Math.ceil(opts.points / 10));
  const lastAnswers = new Map<string, { remaining: number; resetAt: number }>();
  const remember = (key: string, r: RateLimiterRes) => {
    lastAnswers.delete(key);
    if (lastAnswers.size >= REMEMBERED_KEYS) lastAnswers.delete(lastAnswers.keys().next().value as string);
    lastAnswers.set(key, { remaining: r.remainingPoints, resetAt: Date.now() + r.msBeforeNext });
  };

  async function decide(key: string, res: Response): Promise<void> {
    try {
      const r = await limiter.consume(key);
      remember(key, r);
      for (const [k, v] of Object.entries(headers(r))) res.setHeader(k, v);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      remember(key, err);
      throw new RateLimitedError(
        'rate_limited',
        `Too many requests: the limit is ${opts.points} per ${opts.durationSeconds} s. Retry after ${Math.ceil(err.msBeforeNext / 1000)} s.`,
        err.msBeforeNext / 1000,
        headers(err),
      );
    }
  }

  function mayGoAhead(key: string, req: Request): boolean {
    const last = lastAnswers.get(key);
    if (!last || declaredLength(req) > AHEAD_MAX_BODY_BYTES) return false;
    return last.remaining >= ample || Date.now() >= last.resetAt;
  }

  const check: RequestHandler = async (req, res, next) => {
    await decide(opts.key(req, res), res);
    next();
  };
  const ahead: RequestHandler = (req, res, next) => {
    const key = opts.key(req, res);
    if (!mayGoAhead(key, req)) return check(req, res, next);
    const admission = decide(key, res);
    // Awaited by the route, or by the error handler when the route fails first.
    admission.catch(() => undefined);
    res.locals.admission = admission;
    next();
  };
  return { check, ahead };
}
