/**
 * Typed errors of the TabPFN client. `code` is a stable machine string the jobs layer copies into
 * job errors; `retryable` tells the worker whether a later attempt can succeed without the user
 * changing anything.
 */
export interface TabPFNErrorDetails {
  status?: number;
  traceId?: string;
  upstreamMessage?: string;
  errorCode?: string;
  retryable?: boolean;
  cause?: unknown;
}

export class TabPFNError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly status?: number;
  readonly traceId?: string;
  readonly upstreamMessage?: string;
  /** Upstream's own `error_code` from the error body, when it sent one. */
  readonly errorCode?: string;

  constructor(code: string, message: string, details: TabPFNErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = details.retryable ?? false;
    if (details.status !== undefined) this.status = details.status;
    if (details.traceId !== undefined) this.traceId = details.traceId;
    if (details.upstreamMessage !== undefined) this.upstreamMessage = details.upstreamMessage;
    if (details.errorCode !== undefined) this.errorCode = details.errorCode;
  }
}

/** Bad input found locally, before anything goes upstream. `field` names the cell, e.g. `features[3][2]`. */
export class DataError extends TabPFNError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('invalid_data', `${field}: ${message}`);
    this.field = field;
  }
}

export class TokenInvalidError extends TabPFNError {
  constructor(message = 'The TabPFN token was rejected', details: TabPFNErrorDetails = {}) {
    super('tabpfn_token_invalid', message, { ...details, retryable: false });
  }
}

export class EmailUnverifiedError extends TabPFNError {
  constructor(message = 'The TabPFN account behind this token has not verified its email address', details: TabPFNErrorDetails = {}) {
    super('tabpfn_email_unverified', message, { ...details, retryable: false });
  }
}

export class NotFoundError extends TabPFNError {
  constructor(message = 'Not found upstream', details: TabPFNErrorDetails = {}) {
    super('tabpfn_not_found', message, { ...details, retryable: false });
  }
}

/** The fitted train set id is unknown upstream (expired, deleted, or another account's). Refit to recover. */
export class TrainSetNotFoundError extends NotFoundError {
  readonly fittedTrainSetId: string;
  constructor(fittedTrainSetId: string, details: TabPFNErrorDetails = {}) {
    super(`Fitted train set ${fittedTrainSetId} was not found upstream`, details);
    this.fittedTrainSetId = fittedTrainSetId;
  }
}

export class RateLimitedError extends TabPFNError {
  readonly retryAfterSeconds?: number;
  constructor(message: string, retryAfterSeconds: number | undefined, details: TabPFNErrorDetails = {}) {
    super('tabpfn_rate_limited', message, { ...details, retryable: true });
    if (retryAfterSeconds !== undefined) this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * The daily or monthly token budget is spent. Not retryable by default: the reset may be hours away, and
 * failing with a clear message serves the user better than a job that silently waits.
 */
export class QuotaExhaustedError extends TabPFNError {
  readonly retryAfterSeconds?: number;
  constructor(message: string, retryAfterSeconds: number | undefined, details: TabPFNErrorDetails = {}) {
    super('tabpfn_quota_exhausted', message, { ...details, retryable: false });
    if (retryAfterSeconds !== undefined) this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class ClientTooOldError extends TabPFNError {
  constructor(message: string, details: TabPFNErrorDetails = {}) {
    super('tabpfn_client_too_old', message, { ...details, retryable: false });
  }
}

/** 408, 5xx, network failure or timeout: the request may succeed later. */
export class UpstreamUnavailableError extends TabPFNError {
  /** `connect`: the request never reached the server, so even non-idempotent calls may be retried. */
  readonly kind: 'connect' | 'network' | 'timeout' | 'status';
  constructor(message: string, kind: UpstreamUnavailableError['kind'], details: TabPFNErrorDetails = {}) {
    super('tabpfn_unavailable', message, { ...details, retryable: details.retryable ?? true });
    this.kind = kind;
  }
}

/** Any other 4xx (and a 500 that upstream labels a user error): the request itself is wrong. */
export class BadRequestError extends TabPFNError {
  constructor(message: string, details: TabPFNErrorDetails = {}, code = 'tabpfn_bad_request') {
    super(code, message, { ...details, retryable: false });
  }
}

/**
 * Upstream refused a predict because the test set breaks a per-call limit (§8), in tabpfn-client's wording:
 * `The number of test rows (N) exceeds the maximum of M[ for full regression output]. Split ...` or
 * `The number of test cells (N) exceeds the maximum of M.` Not retryable as is; a smaller test set (fewer
 * rows per call) fits. `maxRows` / `maxCells` are the M of the message, when it names one.
 */
export class TestSetTooLargeError extends BadRequestError {
  readonly maxRows?: number;
  readonly maxCells?: number;
  /** The rows limit was the one for regression `output_type: "full"`. */
  readonly fullRegressionOutput: boolean;
  constructor(
    message: string,
    limits: { maxRows?: number | undefined; maxCells?: number | undefined; fullRegressionOutput?: boolean },
    details: TabPFNErrorDetails = {},
  ) {
    super(message, details, 'tabpfn_test_set_too_large');
    if (limits.maxRows !== undefined) this.maxRows = limits.maxRows;
    if (limits.maxCells !== undefined) this.maxCells = limits.maxCells;
    this.fullRegressionOutput = limits.fullRegressionOutput ?? false;
  }
}

/** The PUT to a signed upload URL failed with a status other than 200 (e.g. the URL expired). */
export class UploadFailedError extends TabPFNError {
  constructor(message: string, details: TabPFNErrorDetails = {}) {
    // A new attempt prepares fresh signed URLs, so an expired or rejected URL is worth one more try.
    super('tabpfn_upload_failed', message, { ...details, retryable: true });
  }
}

/** A fit job reported `status: "failed"`. */
export class FitFailedError extends TabPFNError {
  readonly fittedTrainSetId: string;
  constructor(fittedTrainSetId: string, message: string, details: TabPFNErrorDetails = {}) {
    super('tabpfn_fit_failed', `Fit ${fittedTrainSetId} failed: ${message}`, { ...details, retryable: false });
    this.fittedTrainSetId = fittedTrainSetId;
  }
}

/** Polling gave up before the fit finished. The fit may still complete upstream. */
export class FitTimeoutError extends TabPFNError {
  readonly fittedTrainSetId: string;
  constructor(fittedTrainSetId: string, message: string) {
    super('tabpfn_fit_timeout', message, { retryable: true });
    this.fittedTrainSetId = fittedTrainSetId;
  }
}

/** A 200 response whose body was `{"_streamed_error": true, "message": ...}`: the call failed after upstream committed to 200. */
export class StreamedError extends TabPFNError {
  constructor(operation: string, message: string) {
    // Streamed errors come from long fits failing server-side; a retry may well succeed.
    super('tabpfn_streamed_error', `Fail to call ${operation} with error: streamed, ${message}`, {
      upstreamMessage: message,
      retryable: true,
    });
  }
}

/** The response was not what the protocol promises (unparseable JSON, missing ids). */
export class ProtocolError extends TabPFNError {
  constructor(message: string, details: TabPFNErrorDetails = {}) {
    super('tabpfn_protocol_error', message, { ...details, retryable: true });
  }
}
