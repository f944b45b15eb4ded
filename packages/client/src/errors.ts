/** An RFC 9457 problem from the API (`application/problem+json`). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  request_id: string;
  errors?: { field: string; message: string }[];
  [extra: string]: unknown;
}

/** Thrown for every non-2xx answer; `code` is the API's stable error code. */
export class TabPFNJobsError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | undefined;
  readonly problem: Problem | undefined;
  /** Seconds to wait before retrying, from `Retry-After` (429, 503). */
  readonly retryAfter: number | undefined;

  constructor(status: number, problem: Problem | undefined, retryAfter?: number, fallback?: string) {
    const fields = problem?.errors?.map((e) => `${e.field}: ${e.message}`).join('; ');
    super(problem ? `${problem.detail}${fields ? ` (${fields})` : ''}` : (fallback ?? `HTTP ${status}`));
    this.name = 'TabPFNJobsError';
    this.status = status;
    this.code = problem?.code ?? `http_${status}`;
    this.requestId = problem?.request_id;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/** A job that did not finish within `waitForJob`'s timeout. */
export class JobWaitTimeoutError extends Error {
  constructor(
    readonly jobId: string,
    readonly lastStatus: string,
    timeoutMs: number,
  ) {
    super(`job ${jobId} is still ${lastStatus} after ${Math.round(timeoutMs / 1000)} s`);
    this.name = 'JobWaitTimeoutError';
  }
}
