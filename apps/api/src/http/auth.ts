import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AuthService, Principal } from '../services/auth.service.js';

/** The authenticated caller, set by `requireAuth`. */
export function principal(res: Response): Principal {
  const p = res.locals.principal as Principal | undefined;
  if (!p) throw new Error('principal() used on a route without requireAuth');
  return p;
}

export function bearerToken(req: Request): string | undefined {
  const header = req.get('authorization');
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : header;
}

export function requireAuth(auth: AuthService): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    res.locals.principal = await auth.authenticate(bearerToken(req));
    next();
  };
}
