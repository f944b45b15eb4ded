import { randomFillSync } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { RecordedRequest } from './emulator-state.js';
import type { RouteName } from './faults.js';

/** Per-request data the middleware chain shares (`res.locals`). */
export class RequestLocals {
  token?: string;
  route?: RouteName;
  record?: RecordedRequest;
  /** The emulator itself dropped the connection (a fault), so it is not counted as a client abort. */
  droppedByServer?: boolean;
  /** Set by a `fit_failed` fault: the fit is accepted and then fails with this message. */
  failFit?: string;
  /** The client went away before the response was complete. */
  aborted = false;
  private controller?: AbortController;

  constructor(readonly traceId: string) {}

  /**
   * Aborted when the client goes away before the response is complete. Created on first use: an
   * AbortController costs microseconds, and most requests never wait on anything.
   */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }

  /** The client went away: aborts whatever waits on `signal`. */
  abort(): void {
    this.aborted = true;
    this.controller?.abort();
  }
}

export function locals(res: Response): RequestLocals {
  return res.locals as RequestLocals;
}

/**
 * Random bytes drawn in batches: one `randomBytes(16)` per request costs several microseconds, most of it
 * the call into the crypto library, so ids are cut from a pool refilled every 256 ids.
 */
const TRACE_ID_BYTES = 16;
const traceIdPool = Buffer.alloc(TRACE_ID_BYTES * 256);
let traceIdOffset = traceIdPool.length;

export function newTraceId(): string {
  if (traceIdOffset === traceIdPool.length) {
    randomFillSync(traceIdPool);
    traceIdOffset = 0;
  }
  const id = traceIdPool.toString('hex', traceIdOffset, traceIdOffset + TRACE_ID_BYTES);
  traceIdOffset += TRACE_ID_BYTES;
  return id;
}

/** Thrown by handlers; the error middleware turns it into upstream's `{message, error_code, trace_id}`. */
export class EmulatorHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errorCode: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function sendError(res: Response, status: number, message: string, errorCode: string, extra: Record<string, unknown> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, status, { message, error_code: errorCode, trace_id: locals(res).traceId, ...extra });
}

/**
 * `res.status(status).json(body)` as Express answers it, on the same headers and bytes, but without the
 * content-type parsing and formatting Express repeats on every call. Whenever one of Express's other rules
 * could apply (a Content-Type or Transfer-Encoding set earlier, e.g. by a fault's headers; GET/HEAD, where
 * a conditional request may become a 304 or the body is dropped; a status that carries no body), Express
 * answers instead. Relies on the app's defaults: no ETag, no JSON replacer, spaces or escaping.
 */
export function sendJson(res: Response, status: number, body: unknown): void {
  res.status(status);
  const method = res.req.method;
  const plain =
    method !== 'GET' &&
    method !== 'HEAD' &&
    status !== 204 &&
    status !== 205 &&
    status !== 304 &&
    !res.hasHeader('content-type') &&
    !res.hasHeader('transfer-encoding');
  const text = plain ? (JSON.stringify(body) as string | undefined) : undefined;
  if (text === undefined) {
    res.json(body);
    return;
  }
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', String(Buffer.byteLength(text)));
  res.end(text, 'utf8');
}

/** GCS answers signed-URL problems in XML. */
export function sendGcsError(res: Response, status: number, code: string, message: string, details?: string): void {
  const xml = `<?xml version='1.0' encoding='UTF-8'?><Error><Code>${code}</Code><Message>${message}</Message>${details ? `<Details>${details}</Details>` : ''}</Error>`;
  res.status(status).type('application/xml').send(xml);
}

// The last Authorization header and its token: a client sends the same header on every call.
let lastAuthorization = '';
let lastToken: string | undefined;

export function bearerToken(req: Request): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  if (h === lastAuthorization) return lastToken;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  lastToken = m ? (m[1] as string).trim() : undefined;
  lastAuthorization = h;
  return lastToken;
}

/** Resolves true after `ms`, or false as soon as the client goes away (`l.aborted`, `l.signal`). */
export function wait(ms: number, l: RequestLocals): Promise<boolean> {
  // Checked before touching `l.signal`, so a zero wait (the usual latency) creates no AbortController.
  if (l.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  const signal = l.signal;
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export type Handler = (req: Request, res: Response, next: NextFunction) => unknown;
