import { TabPFNClient, TabPFNError, createTabPFNAgent, type ClientLogger } from '@tabpfn-jobs/tabpfn';
import { AppError, ServiceUnavailableError } from '@tabpfn-jobs/shared';

/** Builds a TabPFN client for one user's token; all clients share one keep-alive agent. */
export type TabPFNFor = (token: string) => TabPFNClient;

export function createTabPFNFactory(opts: { baseUrl: string; timeoutMs: number; logger?: ClientLogger }): TabPFNFor {
  const dispatcher = createTabPFNAgent();
  return (token) =>
    new TabPFNClient({ token, baseUrl: opts.baseUrl, metadataTimeoutMs: opts.timeoutMs, timeoutMs: opts.timeoutMs, dispatcher, logger: opts.logger });
}

/** Upstream failures on a user's request path: unreachable → 503 with Retry-After, anything else → 502. */
export function upstreamToAppError(err: unknown): AppError {
  if (err instanceof TabPFNError) {
    // Before the generic retryable case: upstream said how long to wait, so pass that on.
    if (err.code === 'tabpfn_rate_limited' || err.code === 'tabpfn_quota_exhausted') {
      const retryAfter = (err as { retryAfterSeconds?: number }).retryAfterSeconds ?? 60;
      return new AppError(503, err.code, 'Service Unavailable', { detail: err.message, headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfter))) } });
    }
    if (err.retryable || err.code === 'tabpfn_unavailable') {
      return new ServiceUnavailableError('tabpfn_unavailable', `TabPFN is unavailable: ${err.message}`, 10);
    }
    return new AppError(502, err.code, 'Bad Gateway', { detail: `TabPFN answered: ${err.message}` });
  }
  return new ServiceUnavailableError('tabpfn_unavailable', 'TabPFN could not be reached.', 10);
}
