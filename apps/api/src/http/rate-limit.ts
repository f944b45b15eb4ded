import type { RequestHandler, Response } from 'express';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError } from '@tabpfn-jobs/shared/errors';
import type { RedisConnection } from '@tabpfn-jobs/shared/redis';

export interface RateLimitOptions {
  redis: RedisConnection;
  keyPrefix: string;
  policyName: string;
  points: number;
  durationSeconds: number;
  /** The limiter's key for this request (API key id, client address, …). */
  key: (req: Parameters<RequestHandler>[0], res: Response) => string;
}

/**
 * Fixed-window limit on Redis, shared by every api process. If Redis is unreachable the limit falls
 * back to process memory instead of failing requests (the insurance limiter).
 */
export function rateLimit(opts: RateLimitOptions): RequestHandler {
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

  return async (req, res, next) => {
    try {
      const r = await limiter.consume(opts.key(req, res));
      for (const [k, v] of Object.entries(headers(r))) res.setHeader(k, v);
      next();
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        throw new RateLimitedError(
          'rate_limited',
          `Too many requests: the limit is ${opts.points} per ${opts.durationSeconds} s. Retry after ${Math.ceil(err.msBeforeNext / 1000)} s.`,
          err.msBeforeNext / 1000,
          headers(err),
        );
      }
      throw err;
    }
  };
}
