import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { RecordedRequest } from './emulator-state.js';
import type { RouteName } from './faults.js';

/** Per-request data the middleware chain shares. */
export interface RequestLocals {
  traceId: string;
  token?: string;
  route?: RouteName;
  record?: RecordedRequest;
  /** The emulator itself dropped the connection (a fault), so it is not counted as a client abort. */
  droppedByServer?: boolean;
  /** Aborted when the client goes away before the response is complete. */
  signal: AbortSignal;
  /** Set by a `fit_failed` fault: the fit is accepted and then fails with this message. */
  failFit?: string;
}

export function locals(res: Response): RequestLocals {
  return res.locals as RequestLocals;
}

export function newTraceId(): string {
  return randomBytes(16).toString('hex');
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
  res.status(status).json({ message, error_code: errorCode, trace_id: locals(res).traceId, ...extra });
}

/** GCS answers signed-URL problems in XML. */
export function sendGcsError(res: Response, status: number, code: string, message: string, details?: string): void {
  const xml = `<?xml version='1.0' encoding='UTF-8'?><Error><Code>${code}</Code><Message>${message}</Message>${details ? `<Details>${details}</Details>` : ''}</Error>`;
  res.status(status).type('application/xml').send(xml);
}

export function bearerToken(req: Request): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m ? (m[1] as string).trim() : undefined;
}

/** Resolves true after `ms`, or false as soon as `signal` aborts (the client went away). */
export function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
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
