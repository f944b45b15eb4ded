import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { RequestHandler } from 'express';
import { AppError, NotFoundError } from '@tabpfn-jobs/shared';

const REALM = 'Basic realm="tabpfn-jobs admin", charset="UTF-8"';

/**
 * Operator login for the admin area: HTTP Basic with user `admin` and the password whose bcrypt hash
 * is `ADMIN_PASSWORD_HASH`. bcrypt is deliberately slow, so a verified password is remembered (by its
 * SHA-256, in memory) for a few minutes instead of re-hashing on every dashboard asset.
 */
export function requireAdmin(passwordHash: string | undefined, rememberMs = 5 * 60_000): RequestHandler {
  const verified = new Map<string, number>();
  return async (req, res, next) => {
    if (!passwordHash) throw new NotFoundError('admin_disabled', 'The admin area is off: set ADMIN_PASSWORD_HASH to enable it.');
    const header = req.get('authorization') ?? '';
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    const [user, ...rest] = m ? Buffer.from(m[1]!, 'base64').toString('utf8').split(':') : [];
    const password = rest.join(':');
    const fail = () => {
      res.setHeader('WWW-Authenticate', REALM);
      return new AppError(401, 'admin_login_required', 'Unauthorized', { detail: 'Operator login required.' });
    };
    if (user !== 'admin' || !password) throw fail();
    const fingerprint = createHash('sha256').update(password).digest('hex');
    const until = verified.get(fingerprint);
    if (!until || until < Date.now()) {
      if (!(await bcrypt.compare(password, passwordHash))) throw fail();
      verified.set(fingerprint, Date.now() + rememberMs);
    }
    next();
  };
}
