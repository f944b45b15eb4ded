import type { RequestHandler } from 'express';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import { redactUrl } from './url-secrets.js';

/**
 * One line per request once its answer is sent (or the client has gone): `request completed` at info,
 * from status 500 at warn, `request aborted` at warn; with `req {id, method, url}`, `res {statusCode}`
 * and `responseTime` (ms), pino-http's format. Not pino-http itself: it built a child logger per
 * request, serialising the request into its bindings, even at a level that writes nothing; here a
 * request costs one listener until its line is actually written. Query values that look like
 * credentials never reach the line (url-secrets.ts).
 */
export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    res.once('close', () => {
      const aborted = !res.writableFinished;
      const level = aborted || res.statusCode >= 500 ? 'warn' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      logger[level](
        {
          req: { id: String(req.id), method: req.method, url: redactUrl(req.originalUrl ?? req.url) },
          res: { statusCode: res.statusCode },
          responseTime: Math.round(performance.now() - started),
        },
        aborted ? 'request aborted' : 'request completed',
      );
    });
    next();
  };
}
