import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { UnauthorizedError } from '@tabpfn-jobs/shared/errors';
import type { AuthService, Principal } from '../services/auth.service.js';

/** The authenticated caller, set by `requireAuth`. */
export function principal(res: Response): Principal {
  const p = res.locals.principal as Principal | undefined;
  if (!p) throw new Error('principal() used on a route without requireAuth');
  return p;
}

/**
 * The key from `Authorization: Bearer <key>`. Any other shape is refused with a message that says
 * what was wrong, never repeating the header (it may hold a real key).
 */
export function bearerToken(req: Request): string | undefined {
  const header = req.get('authorization');
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m) return m[1];
  if (/^\s*tpk_/.test(header)) {
    throw new UnauthorizedError('authorization_malformed', 'The Authorization header holds a bare API key: send it as "Authorization: Bearer tpk_…".');
  }
  const scheme = /^([A-Za-z][\w-]{0,19})\s/.exec(header)?.[1];
  throw new UnauthorizedError(
    'authorization_malformed',
    `Authorization must be "Bearer <API key>"${scheme && !/^bearer$/i.test(scheme) ? `, not the ${scheme} scheme` : ''}.`,
  );
}

export function requireAuth(auth: AuthService): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    res.locals.principal = await auth.authenticate(bearerToken(req));
    next();
  };
}
