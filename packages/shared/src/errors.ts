/**
 * One error tree for the whole service. `status` is the HTTP status the API answers with,
 * `code` a stable machine string clients can switch on. Anything that is not an AppError is a bug.
 */
export interface FieldError {
  field: string;
  message: string;
}

export interface AppErrorOptions {
  detail?: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
  cause?: unknown;
  /** Extra members for the problem body (for example `retry_after`). */
  extra?: Record<string, unknown>;
}

export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly errors?: FieldError[];
  readonly headers: Record<string, string>;
  readonly extra?: Record<string, unknown>;

  constructor(status: number, code: string, title: string, opts: AppErrorOptions = {}) {
    super(opts.detail ?? title, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.title = title;
    this.errors = opts.errors;
    this.headers = opts.headers ?? {};
    this.extra = opts.extra;
  }

  get detail(): string {
    return this.message;
  }
}

export class BadRequestError extends AppError {
  constructor(code: string, detail: string, opts: AppErrorOptions = {}) {
    super(400, code, 'Bad Request', { ...opts, detail });
  }
}

export class ValidationError extends AppError {
  constructor(errors: FieldError[], detail?: string) {
    const first = errors[0];
    super(422, 'validation_failed', 'Validation Failed', {
      errors,
      detail: detail ?? (first ? `${first.field}: ${first.message}` : 'The request is invalid.'),
    });
  }
}

/** A request that is well-formed but breaks a rule (422 with a specific code). */
export class UnprocessableError extends AppError {
  constructor(code: string, detail: string, opts: AppErrorOptions = {}) {
    super(422, code, 'Unprocessable Content', { ...opts, detail });
  }
}

export class UnauthorizedError extends AppError {
  constructor(code = 'unauthorized', detail = 'A valid API key is required.') {
    super(401, code, 'Unauthorized', { detail, headers: { 'WWW-Authenticate': 'Bearer' } });
  }
}

export class ForbiddenError extends AppError {
  constructor(code = 'forbidden', detail = 'This resource belongs to another account.') {
    super(403, code, 'Forbidden', { detail });
  }
}

export class NotFoundError extends AppError {
  constructor(code = 'not_found', detail = 'The resource does not exist.') {
    super(404, code, 'Not Found', { detail });
  }
}

export class ConflictError extends AppError {
  constructor(code: string, detail: string) {
    super(409, code, 'Conflict', { detail });
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(detail = 'The request body is too large.') {
    super(413, 'payload_too_large', 'Payload Too Large', { detail });
  }
}

export class NotAcceptableError extends AppError {
  constructor(detail: string) {
    super(406, 'not_acceptable', 'Not Acceptable', { detail });
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(detail: string) {
    super(415, 'unsupported_media_type', 'Unsupported Media Type', { detail });
  }
}

export class RateLimitedError extends AppError {
  constructor(code: string, detail: string, retryAfterSeconds: number, headers: Record<string, string> = {}) {
    const retryAfter = String(Math.max(1, Math.ceil(retryAfterSeconds)));
    super(429, code, 'Too Many Requests', { detail, headers: { ...headers, 'Retry-After': retryAfter } });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(code: string, detail: string, retryAfterSeconds = 5) {
    super(503, code, 'Service Unavailable', {
      detail,
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    });
  }
}

/**
 * A write that lost a race with `DELETE /v1/me`: the account row it refers to is gone (a foreign key
 * on `user_id`). The caller's key went with it, so this is the 401 its next request would get.
 */
export function accountGoneError(err: unknown): AppError | undefined {
  const e = err as { code?: string; constraint?: string };
  if (e?.code !== '23503' || !e.constraint?.endsWith('_user_id_fkey')) return undefined;
  return new UnauthorizedError('account_deleted', 'The account was deleted while this request ran.');
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
