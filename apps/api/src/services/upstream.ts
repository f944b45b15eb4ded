import { TabPFNClient, TabPFNError, createTabPFNAgent, defaultSettingsCache, type ClientLogger, type Settings } from '@tabpfn-jobs/tabpfn';
import { AppError, ServiceUnavailableError } from '@tabpfn-jobs/shared/errors';

/** Builds a TabPFN client for one user's token; all clients share one keep-alive agent and one settings cache. */
export interface TabPFNFor {
  (token: string): TabPFNClient;
  /**
   * Upstream's settings as the clients' shared cache holds them (1 h per base URL, process-wide; see
   * packages/tabpfn/src/settings.ts), read without a client and so without a token. Undefined when no
   * client fetched them within the hour; with `stale`, any copy ever fetched.
   */
  cachedSettings(opts?: { stale?: boolean }): Settings | undefined;
}

export function createTabPFNFactory(opts: { baseUrl: string; timeoutMs: number; logger?: ClientLogger }): TabPFNFor {
  const dispatcher = createTabPFNAgent();
  const settingsCache = defaultSettingsCache;
  // The cache is keyed by a client's normalised base URL, the same for every client built here.
  let cacheKey: string | undefined;
  const tabpfnFor = (token: string) => {
    const client = new TabPFNClient({
      token,
      baseUrl: opts.baseUrl,
      metadataTimeoutMs: opts.timeoutMs,
      timeoutMs: opts.timeoutMs,
      dispatcher,
      settingsCache,
      logger: opts.logger,
    });
    cacheKey = client.baseUrl;
    return client;
  };
  const cachedSettings = ({ stale = false }: { stale?: boolean } = {}) =>
    cacheKey === undefined ? undefined : stale ? settingsCache.stale(cacheKey) : settingsCache.fresh(cacheKey);
  return Object.assign(tabpfnFor, { cachedSettings });
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
