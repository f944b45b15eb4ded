import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { isConnectionError } from '@tabpfn-jobs/shared/db';
import { AppError, NotFoundError, PayloadTooLargeError } from '@tabpfn-jobs/shared/errors';
import type { Logger } from '@tabpfn-jobs/shared/logger';

const TYPE_BASE = 'https://tabpfn-jobs.dev/problems/';

export function sendProblem(res: Response, err: AppError, requestId: string): void {
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.status(err.status).type('application/problem+json').json({
    type: `${TYPE_BASE}${err.code}`,
    title: err.title,
    status: err.status,
    detail: err.detail,
    code: err.code,
    request_id: requestId,
    ...(err.errors ? { errors: err.errors } : {}),
    ...(err.extra ?? {}),
  });
}

/** How long a connection whose body was refused keeps draining before it is cut off. */
const LINGER_MS = 2_000;

/**
 * Before answering a request whose body has not been read to its end: close the connection after
 * the answer, so Node does not read (and discard) the rest of a large body to keep the socket alive.
 *
 * The close lingers (RFC 9112 §9.6): the answer is sent and our side of the connection shut, then
 * what the client is still sending is read and dropped for at most LINGER_MS (memory stays flat; the
 * bytes go nowhere). Closing at once would leave unread bytes in the kernel's buffer, which makes it
 * answer the client with a reset, and a client still writing its body then loses our answer with it.
 */
export function closeIfBodyUnread(req: Request, res: Response): void {
  if (req.complete || res.headersSent) return;
  res.setHeader('Connection', 'close');
  const socket = req.socket;
  // Node ends a `Connection: close` response with `destroySoon()`; this socket does it gently.
  socket.destroySoon = function lingeringClose(this: typeof socket) {
    this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
    this.resume();
  };
}

/** Maps what Express, body-parser and the drivers throw onto the error tree. */
export function toAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  const e = err as { type?: string; status?: number; message?: string; body?: unknown };
  if (e?.type === 'entity.too.large') return new PayloadTooLargeError();
  if (e?.type === 'entity.parse.failed') {
    return new AppError(400, 'malformed_json', 'Bad Request', { detail: 'The request body is not valid JSON.' });
  }
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
    return new AppError(415, 'unsupported_media_type', 'Unsupported Media Type', { detail: e.message ?? 'Unsupported encoding.' });
  }
  if (e?.type === 'request.aborted') return new AppError(400, 'request_aborted', 'Bad Request', { detail: 'The request was aborted.' });
  if (isConnectionError(err)) {
    return new AppError(503, 'database_unavailable', 'Service Unavailable', {
      detail: 'The database is unavailable; try again shortly.',
      headers: { 'Retry-After': '5' },
    });
  }
  // The last four: a Redis Cluster that lost a master (failover under way) or every node.
  const redisDown = /Stream isn't writeable|Connection is closed|enableOfflineQueue|ECONNREFUSED.*6379|Command timed out|CLUSTERDOWN|Too many Cluster redirections|None of startup nodes is available|Failed to refresh slots cache/i;
  if (e?.message && redisDown.test(e.message)) {
    return new AppError(503, 'queue_unavailable', 'Service Unavailable', {
      detail: 'The queue is unavailable; try again shortly.',
      headers: { 'Retry-After': '5' },
    });
  }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return new AppError(e.status, 'bad_request', 'Bad Request', { detail: e.message ?? 'Bad request.' });
  }
  return undefined;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const known = toAppError(err);
    if (res.headersSent) {
      // Known errors here are the request's own end (a body cut off after its 408, a client gone).
      if (known) logger.debug({ request_id: String(req.id), code: known.code }, 'request failed after its answer');
      else logger.error({ err, request_id: String(req.id) }, 'error after response started');
      res.destroy();
      return;
    }
    closeIfBodyUnread(req, res);
    if (known) {
      // Expected errors (the caller's fault or a dependency outage) are warnings, not bugs.
      const level = known.status >= 500 ? 'warn' : 'debug';
      logger[level]({ request_id: String(req.id), code: known.code, status: known.status, detail: known.detail }, 'request failed');
      sendProblem(res, known, String(req.id));
      return;
    }
    logger.error({ err, request_id: String(req.id) }, 'unhandled error');
    sendProblem(res, new AppError(500, 'internal_error', 'Internal Server Error', { detail: 'An unexpected error occurred.' }), String(req.id));
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new NotFoundError('route_not_found', `No route for ${req.method} ${req.path}.`));
};
