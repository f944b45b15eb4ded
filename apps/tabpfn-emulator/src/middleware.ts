import type { NextFunction, Request, Response } from 'express';
import type { EmulatorState, RecordedRequest } from './emulator-state.js';
import type { Fault, RouteName } from './faults.js';
import { bearerToken, type Handler, locals, newTraceId, RequestLocals, sendError, wait } from './http-helpers.js';
import type { RouteClass } from './rate-limiter.js';
import { redactSecrets } from './redact.js';

/** Trace id, abort signal, counters and the request record, for every request. */
export function requestContext(state: EmulatorState): Handler {
  // One listener for every request (`this` is the response) instead of a closure per request.
  function onClose(this: Response): void {
    if (this.writableFinished) return;
    const l = locals(this);
    l.abort();
    if (l.record) l.record.aborted = true;
    // A socket the emulator drops itself (hang/reset faults) is not a client abort.
    if (l.route && l.token !== undefined && !l.droppedByServer) state.countersFor(l.token).aborted += 1;
  }
  return (req: Request, res: Response, next: NextFunction) => {
    const l = new RequestLocals(newTraceId());
    l.token = bearerToken(req);
    res.locals = l;
    res.setHeader('x-trace-id', l.traceId);
    res.on('close', onClose);
    next();
  };
}

/**
 * Names the route for faults and counters, and records the request. The record is written before the
 * handler runs and its status when the head goes out, so it is complete before the client sees the answer.
 */
export function tagRoute(state: EmulatorState, route: RouteName): Handler {
  return (req, res, next) => {
    const l = locals(res);
    l.route = route;
    const record = newRecord(req, route, l.token);
    l.record = record;
    state.record(record);
    next();
  };
}

function newRecord(req: Request, route: RouteName, token: string | undefined): RecordedRequest {
  const now = Date.now();
  return {
    at: isoTime(now),
    atMs: now,
    method: req.method,
    path: req.path,
    query: recordedQuery(req),
    route,
    token,
    headers: { ...req.headers },
    // A copy: the handler still reads the real password from req.body.
    body: Buffer.isBuffer(req.body) ? { bytes: req.body.byteLength } : redactSecrets(req.body),
    status: 0,
    aborted: false,
  };
}

/** `req.query` parses the query string on every read, and most API calls carry none. */
function recordedQuery(req: Request): Record<string, unknown> {
  return req.url.includes('?') ? (redactSecrets({ ...req.query }) as Record<string, unknown>) : {};
}

let isoSecond = Number.NaN;
let isoSecondPrefix = '';

/** `new Date(ms).toISOString()`, reusing the part up to the seconds: requests come many to a second. */
function isoTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoSecondPrefix = new Date(second * 1000).toISOString().slice(0, -4); // "…T07:48:29."
  }
  return `${isoSecondPrefix}${String(ms - second * 1000).padStart(3, '0')}Z`;
}

/**
 * Sets the record's status (`tagRoute`), and counts the response, as the head goes out. Installed once on
 * the app's response prototype rather than as a wrapper on every response.
 */
export function recordStatusOnHead(state: EmulatorState, proto: Response): void {
  const writeHead = proto.writeHead;
  proto.writeHead = function (this: Response, ...args: Parameters<typeof writeHead>) {
    const l = this.locals as Partial<RequestLocals> | undefined;
    const record = l?.record;
    if (record) {
      record.status = args[0];
      const owner = l.token;
      if (owner !== undefined) {
        const c = state.countersFor(owner);
        c.requests += 1;
        if (args[0] === 429) c.responses429 += 1;
      }
    }
    return writeHead.apply(this, args);
  } as typeof writeHead;
}

/** Upstream's 401 for a bad token and 403 for an account that has not verified its email. */
export function requireToken(state: EmulatorState, opts: { allowUnverified?: boolean } = {}): Handler {
  return (_req, res, next) => {
    const status = state.tokenStatus(locals(res).token);
    if (status === 'invalid') return sendError(res, 401, 'Invalid or expired authentication token', 'UNAUTHORIZED');
    if (status === 'unverified' && !opts.allowUnverified) {
      return sendError(res, 403, 'Please verify your email address before using the API', 'EMAIL_NOT_VERIFIED');
    }
    next();
  };
}

export function rateLimit(state: EmulatorState, cls: RouteClass): Handler {
  return (_req, res, next) => {
    const limit = state.config.rateLimits[cls];
    const token = locals(res).token;
    if (limit === undefined || limit === null || token === undefined) return next();
    const d = state.rateLimiter.hit(token, cls, limit, Date.now(), state.config.rateLimitWindowMs);
    res.setHeader('x-ratelimit-limit', String(d.limit));
    res.setHeader('x-ratelimit-remaining', String(d.remaining));
    res.setHeader('x-ratelimit-reset', String(d.resetSeconds));
    if (d.allowed) return next();
    res.setHeader('retry-after', String(d.resetSeconds));
    sendError(
      res,
      429,
      `Rate limit exceeded: ${limit} ${cls} requests per minute. Retry in ${d.resetSeconds} seconds.`,
      'RATE_LIMIT_EXCEEDED',
    );
  };
}

/** Applies the first injected fault that matches this request. */
export function injectFaults(state: EmulatorState): Handler {
  // Synchronous when no fault hits (nearly always): an async handler costs a promise per request.
  return (req, res, next) => {
    const l = locals(res);
    if (!l.route) return next();
    const fault = state.faults.take(l.route, l.token ?? uploadOwner(state, req));
    if (!fault) return next();
    return applyFault(state, fault, req, res, next);
  };
}

/** Counts the fault, adds its headers, waits or drops the socket, then answers as its kind says. */
async function applyFault(state: EmulatorState, fault: Fault, req: Request, res: Response, next: NextFunction): Promise<unknown> {
  const l = locals(res);
  if (l.token !== undefined) state.countersFor(l.token).faultsInjected += 1;
  for (const [k, v] of Object.entries(fault.headers ?? {})) res.setHeader(k, v);
  if (fault.retryAfter !== undefined) res.setHeader('retry-after', String(fault.retryAfter));
  if (fault.kind === 'hang') {
    await wait(fault.delayMs ?? 600_000, l);
    l.droppedByServer = true;
    req.socket.destroy();
    return;
  }
  if (fault.kind === 'reset') {
    l.droppedByServer = true;
    req.socket.destroy();
    return;
  }
  if (fault.delayMs && !(await wait(fault.delayMs, l))) return;
  return answerFault(fault, res, next);
}

function answerFault(fault: Fault, res: Response, next: NextFunction): unknown {
  const l = locals(res);
  switch (fault.kind) {
    case 'delay':
    case 'headers':
      return next();
    case 'fit_failed':
      l.failFit = fault.message ?? 'Injected fit failure';
      return next();
    case 'streamed_error': {
      res.status(200).type('application/json');
      res.write('  \n  ');
      res.end(JSON.stringify({ _streamed_error: true, message: fault.message ?? 'Injected streamed error', trace_id: l.traceId }));
      return;
    }
    case 'client_too_old': {
      if (!fault.headers) {
        res.setHeader('deprecation', 'true');
        res.setHeader('sunset', new Date(Date.now() + 30 * 86_400_000).toUTCString());
        res.setHeader('link', '<https://docs.priorlabs.ai/changelog>; rel="deprecation"');
      }
      const status = fault.status ?? 426;
      if (fault.body !== undefined) return res.status(status).json(fault.body);
      return sendError(
        res,
        status,
        fault.message ?? 'Client version too old. Please upgrade tabpfn-client: pip install -U tabpfn-client',
        fault.errorCode ?? 'CLIENT_VERSION_TOO_OLD',
      );
    }
    default: {
      const status = fault.status ?? 503;
      if (fault.body !== undefined) return res.status(status).json(fault.body);
      return sendError(res, status, fault.message ?? `Injected fault: HTTP ${status}`, fault.errorCode ?? defaultCode(status));
    }
  }
}

function defaultCode(status: number): string {
  if (status === 429) return 'RATE_LIMIT_EXCEEDED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 401) return 'UNAUTHORIZED';
  return 'GENERAL_ERROR';
}

/** Upload PUTs carry no token of their own; faults and counters go to the upload's owner. */
export function uploadOwner(state: EmulatorState, req: Request): string | undefined {
  const id = req.params?.uploadId;
  return typeof id === 'string' ? state.uploads.get(id)?.token : undefined;
}
