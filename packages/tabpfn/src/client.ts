import { Agent, type Dispatcher, interceptors } from 'undici';
import { NotFoundError, TrainSetNotFoundError } from './errors.js';
import { type FitCallOptions, type FitInput, type FitResult, type FlowContext, runFit } from './fit.js';
import { abortError, type ClientLogger, errorFromResponse, type HttpContext, jsonBody, send } from './http.js';
import { availableModels, modelPath, type Task } from './models.js';
import { type PredictCallOptions, type PredictInput, type PredictResult, type PreparedTestSet, type TestSetInfo, prepareTestSet, runPredict } from './predict.js';
import { defaultSettingsCache, type Settings, type SettingsCache, settingsSchema } from './settings.js';
import { normaliseUsage, type Usage } from './usage.js';

export interface TabPFNClientOptions {
  token: string;
  /** Default `https://api.priorlabs.ai`. */
  baseUrl?: string;
  /** Per API call (fit, predict, prepare, submit), like `TABPFN_CLIENT_TIMEOUT`. Default 900 000 ms. */
  timeoutMs?: number;
  /** Per upload PUT. Default 7 200 000 ms. */
  uploadTimeoutMs?: number;
  /** Token check, settings, usage and deletes: short calls that sit on a user's request path. Default 30 000 ms. */
  metadataTimeoutMs?: number;
  /** Sleep between fit-status polls until the server sends `retry_in_secs`. Default 5 000 ms. */
  pollIntervalMs?: number;
  /** Lower clamp of `retry_in_secs`. Default 300 ms. */
  minPollIntervalMs?: number;
  /** Per status poll. Default 15 000 ms. */
  pollRequestTimeoutMs?: number;
  /** Overall polling deadline; overrides the server's `poll_timeout_secs` (default 7 200 s). */
  pollTimeoutMs?: number;
  /** Overrides the server's `async_settings.use_above_trainset_size_bytes`. */
  asyncThresholdBytes?: number;
  /** `Prior-Client-Version`. Default `0.4.1`, the protocol generation this client speaks. */
  clientVersion?: string;
  /** Share one keep-alive Agent across clients. */
  dispatcher?: Dispatcher;
  logger?: ClientLogger;
  /** Share the 1 h settings cache across short-lived clients. Default: a process-wide cache. */
  settingsCache?: SettingsCache;
  /** Parallel PUTs per file (`TABPFN_CLIENT_MAX_THREAD_PER_UPLOAD`). Default 8. */
  uploadConcurrency?: number;
  /** Send CRC32C hashes so upstream can dedup uploads (`TABPFN_CLIENT_DEDUP_DATASETS`). Default true. */
  dedupDatasets?: boolean;
  /** `force_reupload` (`TABPFN_CLIENT_FORCE_REUPLOAD`). Default false. */
  forceReupload?: boolean;
}

export type TokenStatus = 'valid' | 'unverified' | 'invalid';

export const DEFAULT_BASE_URL = 'https://api.priorlabs.ai';
export const DEFAULT_CLIENT_VERSION = '0.4.1';

let sharedAgent: Dispatcher | undefined;

/** A keep-alive HTTP/1.1 agent (upstream dropped HTTP/2 over PING races during long fits). */
export function createTabPFNAgent(options: Agent.Options = {}): Dispatcher {
  return new Agent({ keepAliveTimeout: 30_000, connections: 64, ...options });
}

function defaultAgent(): Dispatcher {
  sharedAgent ??= createTabPFNAgent();
  return sharedAgent;
}

function raceSignal<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class TabPFNClient {
  readonly baseUrl: string;
  private readonly http: HttpContext;
  private readonly flow: FlowContext;
  private readonly metadataTimeoutMs: number;
  private readonly settingsCache: SettingsCache;

  constructor(opts: TabPFNClientOptions) {
    if (!opts.token) throw new TypeError('TabPFNClient needs a token');
    this.baseUrl = (opts.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    // The python client follows redirects; undici only does when asked.
    const dispatcher = (opts.dispatcher ?? defaultAgent()).compose(interceptors.redirect({ maxRedirections: 3 }));
    this.http = {
      baseUrl: this.baseUrl,
      token: opts.token,
      clientVersion: opts.clientVersion ?? DEFAULT_CLIENT_VERSION,
      dispatcher,
      warned: new Set(),
      ...(opts.logger ? { logger: opts.logger } : {}),
    };
    this.metadataTimeoutMs = opts.metadataTimeoutMs ?? 30_000;
    this.settingsCache = opts.settingsCache ?? defaultSettingsCache;
    this.flow = {
      http: this.http,
      timeoutMs: opts.timeoutMs ?? 900_000,
      uploadTimeoutMs: opts.uploadTimeoutMs ?? 7_200_000,
      uploadConcurrency: Math.max(1, opts.uploadConcurrency ?? 8),
      dedupDatasets: opts.dedupDatasets ?? true,
      forceReupload: opts.forceReupload ?? false,
      asyncThresholdBytes: opts.asyncThresholdBytes,
      pollTimeoutMs: opts.pollTimeoutMs,
      pollIntervalMs: opts.pollIntervalMs ?? 5_000,
      minPollIntervalMs: opts.minPollIntervalMs ?? 300,
      pollRequestTimeoutMs: opts.pollRequestTimeoutMs ?? 15_000,
      getSettings: (signal) => this.getSettings(signal),
    };
  }

  static availableModels(task: Task): string[] {
    return availableModels(task);
  }

  /** Model name → wire `model_path`; `undefined` for `auto`/`default`; throws `DataError` on an unknown name. */
  static modelPath(name: string, task: Task): string | undefined {
    return modelPath(name, task);
  }

  availableModels(task: Task): string[] {
    return availableModels(task);
  }

  modelPath(name: string, task: Task): string | undefined {
    return modelPath(name, task);
  }

  /**
   * `GET /protected/`: 200 valid, 403 valid but email unverified, 401 or another 4xx invalid. Unlike the
   * python client, 408/429/5xx and network failures throw instead of declaring the token invalid, so an
   * upstream outage never rejects a good token.
   */
  async verifyToken(signal?: AbortSignal): Promise<TokenStatus> {
    const res = await send(this.http, {
      method: 'GET',
      url: '/protected/',
      timeoutMs: this.metadataTimeoutMs,
      signal,
      operation: 'verify token',
    });
    if (res.status === 200) return 'valid';
    if (res.status === 403) return 'unverified';
    if (res.status === 408 || res.status === 429 || res.status >= 500) throw errorFromResponse(res, 'verify token');
    return 'invalid';
  }

  /** `GET /tabpfn/get_settings`, cached 1 h; on failure the stale value or null (then no limit checks apply). */
  async getSettings(signal?: AbortSignal): Promise<Settings | null> {
    const key = this.baseUrl;
    const fresh = this.settingsCache.fresh(key);
    if (fresh) return fresh;
    // The shared fetch ignores any one caller's signal so an abort does not fail the others joined to it.
    return raceSignal(
      this.settingsCache.dedupe(key, () => this.fetchSettings(key)),
      signal,
    );
  }

  private async fetchSettings(key: string): Promise<Settings | null> {
    try {
      const res = await send(this.http, {
        method: 'GET',
        url: '/tabpfn/get_settings',
        timeoutMs: this.metadataTimeoutMs,
        operation: 'get_settings',
      });
      const settings = settingsSchema.parse(jsonBody(res, 'get_settings'));
      this.settingsCache.set(key, settings);
      return settings;
    } catch (err) {
      const stale = this.settingsCache.stale(key) ?? null;
      this.http.logger?.warn(
        { err: err instanceof Error ? err.message : String(err), usingStale: stale !== null },
        'TabPFN get_settings failed',
      );
      return stale;
    }
  }

  async getUsage(signal?: AbortSignal): Promise<Usage> {
    const res = await send(this.http, {
      method: 'POST',
      url: '/get_api_usage/',
      timeoutMs: this.metadataTimeoutMs,
      signal,
      operation: 'get_api_usage',
    });
    return normaliseUsage(jsonBody(res, 'get_api_usage'));
  }

  /** `DELETE /delete_dataset/?dataset_uid=`; deleting a train set deletes its test sets too. Returns the deleted uids. */
  async deleteDataset(uid: string, signal?: AbortSignal): Promise<string[]> {
    const res = await send(this.http, {
      method: 'DELETE',
      url: `/delete_dataset/?dataset_uid=${encodeURIComponent(uid)}`,
      timeoutMs: this.metadataTimeoutMs,
      signal,
      operation: 'delete_dataset',
    });
    try {
      return deletedUids(jsonBody(res, 'delete_dataset'));
    } catch (err) {
      if (err instanceof NotFoundError) throw new TrainSetNotFoundError(uid, { status: 404 });
      throw err;
    }
  }

  async deleteAllDatasets(signal?: AbortSignal): Promise<string[]> {
    const res = await send(this.http, {
      method: 'DELETE',
      url: '/delete_all_datasets/',
      timeoutMs: this.metadataTimeoutMs,
      signal,
      operation: 'delete_all_datasets',
    });
    return deletedUids(jsonBody(res, 'delete_all_datasets'));
  }

  fit(input: FitInput, opts: FitCallOptions = {}): Promise<FitResult> {
    return runFit(this.flow, input, opts);
  }

  predict(input: PredictInput, opts: PredictCallOptions = {}): Promise<PredictResult> {
    return runPredict(this.flow, input, opts);
  }

  /**
   * `prepare_test_set_upload` ahead of `predict`, from the test set's size and crc32c alone: a caller
   * that learns those before it holds the bytes starts the first request early and hands the answer
   * to `predict` (`prepared`), which checks it matches. The crc32c is sent only when this client dedups
   * test sets (as `predict` does).
   */
  prepareTestSet(info: TestSetInfo, signal?: AbortSignal): Promise<PreparedTestSet> {
    return prepareTestSet(this.flow, this.flow.dedupDatasets ? info : { fittedTrainSetId: info.fittedTrainSetId, sizeBytes: info.sizeBytes }, signal);
  }
}

function deletedUids(body: Record<string, unknown>): string[] {
  const uids = body.deleted_dataset_uids;
  return Array.isArray(uids) ? uids.map(String) : [];
}
