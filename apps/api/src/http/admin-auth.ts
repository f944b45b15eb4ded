import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { RequestHandler } from 'express';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { AppError, NotFoundError, RateLimitedError } from '@tabpfn-jobs/shared/errors';
import type { RedisConnection } from '@tabpfn-jobs/shared/redis';

const REALM = 'Basic realm="tabpfn-jobs admin", charset="UTF-8"';

export interface AdminAuthOptions {
  passwordHash: string | undefined;
  redis: RedisConnection;
  keyPrefix: string;
  /** Wrong passwords allowed per client address per `failureWindowSeconds`; then 429 until the window ends. */
  maxFailures: number;
  failureWindowSeconds: number;
  /** How long a verified password is remembered, so dashboard assets do not each pay for bcrypt. */
  rememberMs?: number;
}

/**
 * Operator login for the admin area: HTTP Basic with user `admin` and the password whose bcrypt hash
 * is `ADMIN_PASSWORD_HASH`. bcrypt is deliberately slow, so a verified password is remembered (by its
 * SHA-256, in memory) for a few minutes instead of re-hashing on every dashboard asset. Wrong
 * passwords are counted per client address in Redis (all api processes share the count), so guessing
 * is capped at `maxFailures` per window however many processes answer.
 */
export function requireAdmin(opts: AdminAuthOptions): RequestHandler {
  const rememberMs = opts.rememberMs ?? 5 * 60_000;
  const verified = new Map<string, number>();
  const failures = new RateLimiterRedis({
    storeClient: opts.redis,
    keyPrefix: opts.keyPrefix,
    points: opts.maxFailures,
    duration: opts.failureWindowSeconds,
    useRedisPackage: false,
    insuranceLimiter: new RateLimiterMemory({ points: opts.maxFailures, duration: opts.failureWindowSeconds }),
  });
  const throttled = (msBeforeNext: number) =>
    new RateLimitedError('admin_login_throttled', `Too many failed admin logins from this address; retry after ${Math.ceil(msBeforeNext / 1000)} s.`, msBeforeNext / 1000);

  return async (req, res, next) => {
    if (!opts.passwordHash) throw new NotFoundError('admin_disabled', 'The admin area is off: set ADMIN_PASSWORD_HASH to enable it.');
    const client = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const header = req.get('authorization') ?? '';
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    const [user, ...rest] = m ? Buffer.from(m[1]!, 'base64').toString('utf8').split(':') : [];
    const password = rest.join(':');
    const challenge = () => {
      res.setHeader('WWW-Authenticate', REALM);
      return new AppError(401, 'admin_login_required', 'Unauthorized', { detail: 'Operator login required.' });
    };
    // A browser's first request carries no credentials: that is a prompt, not a guess.
    if (!header) throw challenge();
    // Checked first, before bcrypt (a throttled guesser costs no CPU) and before the remembered
    // password (otherwise a right guess would still get through while wrong ones get 429: an oracle).
    const seen = await failures.get(client);
    if (seen && seen.consumedPoints >= opts.maxFailures) throw throttled(seen.msBeforeNext);
    const fingerprint = createHash('sha256').update(password).digest('hex');
    const until = verified.get(fingerprint);
    if (user === 'admin' && until && until > Date.now()) return next();
    if (user === 'admin' && password && (await bcrypt.compare(password, opts.passwordHash))) {
      verified.set(fingerprint, Date.now() + rememberMs);
      return next();
    }
    const after = await failures.penalty(client, 1);
    if (after.consumedPoints > opts.maxFailures) throw throttled(after.msBeforeNext);
    throw challenge();
  };
}
