import { type Dispatcher, errors as undiciErrors, request } from 'undici';
import {
  BadRequestError,
  ClientTooOldError,
  EmailUnverifiedError,
  NotFoundError,
  ProtocolError,
  QuotaExhaustedError,
  RateLimitedError,
  StreamedError,
  type TabPFNError,
  type TabPFNErrorDetails,
  TestSetTooLargeError,
  TokenInvalidError,
  UpstreamUnavailableError,
} from './errors.js';
import { traceCall } from './tracing.js';

export interface ClientLogger {
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** What every request needs from the client. */
export interface HttpContext {
  baseUrl: string;
  token: string;
  clientVersion: string;
  dispatcher: Dispatcher;
  logger?: ClientLogger;
  /** Deprecation notices already logged, so a busy worker logs each once. */
  warned: Set<string>;
}

export interface SendOptions {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** A path under the base URL, or an absolute URL (signed upload URLs). */
  url: string;
  json?: unknown;
  raw?: Uint8Array;
  headers?: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Used in error messages, like the python client's "Fail to call <op>". */
  operation: string;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

export function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/**
 * One HTTP exchange: headers every call carries, a per-call timeout, the caller's AbortSignal, and the
 * version gate (426 and Deprecation/Sunset headers) that the python client applies to every response.
 */
export function send(ctx: HttpContext, opts: SendOptions): Promise<HttpResponse> {
  const url = /^https?:\/\//.test(opts.url) ? opts.url : `${ctx.baseUrl}${opts.url}`;
  return traceCall({ operation: opts.operation, method: opts.method, url }, () => exchange(ctx, opts, url));
}

async function exchange(ctx: HttpContext, opts: SendOptions, url: string): Promise<HttpResponse> {
  if (opts.signal?.aborted) throw abortError(opts.signal);
  const headers: Record<string, string> = {
    'prior-client-version': ctx.clientVersion,
    authorization: `Bearer ${ctx.token}`,
    ...opts.headers,
  };
  let body: string | Uint8Array | undefined;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  } else if (opts.raw !== undefined) {
    body = opts.raw;
  }
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: HttpResponse;
  try {
    const r = await request(url, {
      method: opts.method,
      headers,
      body,
      signal,
      dispatcher: ctx.dispatcher,
      // undici's own 300 s defaults would cut long sync fits short; our deadline is the AbortSignal.
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
    res = { status: r.statusCode, headers: r.headers, text: await r.body.text() };
  } catch (err) {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    throw networkError(err, opts, timeout.aborted);
  }
  checkVersion(ctx, res, opts.operation);
  return res;
}

function networkError(err: unknown, opts: SendOptions, timedOut: boolean): UpstreamUnavailableError {
  const code = (err as { code?: string }).code ?? '';
  const what = `${opts.method} ${opts.url.split('?')[0]}`;
  if (timedOut || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return new UpstreamUnavailableError(`Fail to call ${opts.operation}: timed out after ${opts.timeoutMs} ms (${what})`, 'timeout', {
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  const kind = CONNECT_CODES.has(code) ? 'connect' : 'network';
  return new UpstreamUnavailableError(`Fail to call ${opts.operation}: ${kind} error ${code || message} (${what})`, kind, { cause: err });
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function checkVersion(ctx: HttpContext, res: HttpResponse, operation: string): void {
  const deprecation = header(res, 'deprecation');
  if (deprecation !== undefined) {
    const sunset = header(res, 'sunset');
    const link = header(res, 'link');
    const key = `${deprecation}|${sunset}|${link}`;
    if (!ctx.warned.has(key)) {
      ctx.warned.add(key);
      ctx.logger?.warn(
        { operation, deprecation, sunset, link, clientVersion: ctx.clientVersion },
        'TabPFN API: this client version is deprecated',
      );
    }
  }
  if (res.status === 426) {
    const { message, details } = describeError(res);
    throw new ClientTooOldError(message || 'Client version too old', details);
  }
}

export function parseBody(text: string): unknown {
  // Long fits stream keepalive whitespace before the JSON body.
  const trimmed = text.trimStart();
  if (trimmed === '') return undefined;
  return JSON.parse(trimmed);
}

function describeError(res: HttpResponse): { message: string; details: TabPFNErrorDetails } {
  let body: Record<string, unknown> | undefined;
  try {
    const parsed = parseBody(res.text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  const detail = body?.detail;
  const message =
    (typeof body?.message === 'string' && body.message) ||
    (typeof detail === 'string' ? detail : detail !== undefined ? JSON.stringify(detail) : '') ||
    res.text.trim().slice(0, 500);
  const details: TabPFNErrorDetails = { status: res.status };
  if (typeof body?.trace_id === 'string') details.traceId = body.trace_id;
  if (message) details.upstreamMessage = message;
  if (typeof body?.error_code === 'string') details.errorCode = body.error_code;
  return { message, details };
}

/** Seconds from `Retry-After` (delta or HTTP date), falling back to `X-RateLimit-Reset`. */
export function retryAfterSeconds(res: HttpResponse, now = Date.now()): number | undefined {
  const raw = header(res, 'retry-after') ?? header(res, 'x-ratelimit-reset');
  if (raw === undefined) return undefined;
  const n = Number(raw.trim());
  if (Number.isFinite(n)) return Math.max(0, n > 1e9 ? Math.ceil(n - now / 1000) : n);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

const QUOTA_MESSAGE = /quota|token limit|credit|daily|monthly|usage limit/i;
const UNVERIFIED_MESSAGE = /verif|e-?mail/i;

const TEST_ROWS_MESSAGE = /The number of test rows \(([\d,_]+)\) exceeds the maximum of ([\d,_]+)( for full regression output)?/;
const TEST_CELLS_MESSAGE = /The number of test cells \(([\d,_]+)\) exceeds the maximum of ([\d,_]+)/;
const toInt = (digits: string | undefined): number | undefined => (digits === undefined ? undefined : Number(digits.replace(/[,_]/g, '')));

/** A user-error answer in tabpfn-client's test-set-limit wording (§8) → TestSetTooLargeError; otherwise BadRequestError. */
function badRequest(text: string, message: string, details: TabPFNErrorDetails): BadRequestError {
  const rows = TEST_ROWS_MESSAGE.exec(message);
  if (rows) return new TestSetTooLargeError(text, { maxRows: toInt(rows[2]), fullRegressionOutput: rows[3] !== undefined }, details);
  const cells = TEST_CELLS_MESSAGE.exec(message);
  if (cells) return new TestSetTooLargeError(text, { maxCells: toInt(cells[2]) }, details);
  return new BadRequestError(text, details);
}

/** Maps a non-2xx response to the typed error the worker acts on. */
export function errorFromResponse(res: HttpResponse, operation: string): TabPFNError {
  const { message, details } = describeError(res);
  const status = res.status;
  const text = `Fail to call ${operation}: [HTTP ${status}] ${message || 'no message'}${details.traceId ? `. Report trace ID: ${details.traceId}.` : ''}`;
  if (status === 401) return new TokenInvalidError(text, details);
  if (status === 403) {
    if (UNVERIFIED_MESSAGE.test(message) || /VERIF|EMAIL/.test(details.errorCode ?? '')) return new EmailUnverifiedError(text, details);
    return new BadRequestError(text, details, 'tabpfn_forbidden');
  }
  if (status === 404) return new NotFoundError(text, details);
  if (status === 426) return new ClientTooOldError(message || text, details);
  if (status === 429) {
    const after = retryAfterSeconds(res);
    if (details.errorCode === 'INSUFFICIENT_QUOTA' || (details.errorCode !== 'RATE_LIMIT_EXCEEDED' && QUOTA_MESSAGE.test(message))) {
      return new QuotaExhaustedError(text, after, details);
    }
    return new RateLimitedError(text, after, details);
  }
  // Upstream reports some data problems as 500 USER_ERROR; retrying cannot fix those.
  if (status === 500 && details.errorCode === 'USER_ERROR') return badRequest(text, message, details);
  if (status === 408 || status >= 500) return new UpstreamUnavailableError(text, 'status', details);
  return badRequest(text, message, details);
}

/** Body of a 2xx `/tabpfn/*` response; a `_streamed_error` envelope is a failure despite the 200. */
export function jsonBody(res: HttpResponse, operation: string): Record<string, unknown> {
  if (res.status < 200 || res.status >= 300) throw errorFromResponse(res, operation);
  let body: unknown;
  try {
    body = parseBody(res.text);
  } catch (err) {
    throw new ProtocolError(`Fail to call ${operation}: response is not JSON`, { status: res.status, cause: err });
  }
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const obj = body as Record<string, unknown>;
    if (obj._streamed_error) throw new StreamedError(operation, typeof obj.message === 'string' ? obj.message : 'unknown error');
    return obj;
  }
  throw new ProtocolError(`Fail to call ${operation}: expected a JSON object`, { status: res.status });
}

export function requireString(body: Record<string, unknown>, key: string, operation: string): string {
  const v = body[key];
  if (typeof v !== 'string' || v === '') throw new ProtocolError(`Fail to call ${operation}: response lacks "${key}"`);
  return v;
}

const RETRY_STATUSES = new Set([408, 502, 503, 504]);

/** The python client's `backoff` policy for fit/predict/upload: network errors, timeouts and 408/502/503/504. */
export function isTransient(err: unknown): boolean {
  return err instanceof UpstreamUnavailableError && (err.kind !== 'status' || RETRY_STATUSES.has(err.status ?? 0));
}

/** Only errors where the request never reached the server: safe even for calls that enqueue work. */
export function isConnectError(err: unknown): boolean {
  return err instanceof UpstreamUnavailableError && err.kind === 'connect';
}

/** One immediate retry (python `backoff.constant(interval=0), max_tries=2`). */
export async function retryOnce<T>(
  fn: () => Promise<T>,
  shouldRetry: (err: unknown) => boolean,
  onRetry?: (err: unknown) => void,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!shouldRetry(err)) throw err;
    onRetry?.(err);
    return fn();
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
