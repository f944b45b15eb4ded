import createClient from 'openapi-fetch';
import { JobWaitTimeoutError, type Problem, TabPFNJobsError } from './errors.js';
import type { components, paths } from './schema.js';

type Schemas = components['schemas'];
export type Job = Schemas['Job'];
export type Model = Schemas['Model'];
export type FitRequest = Schemas['FitRequest'];
export type PredictRequest = Schemas['PredictRequest'];
export type PredictResult = Schemas['PredictResult'];
export type FitResult = Schemas['FitResult'];
export type Usage = Schemas['Usage'];
export type Account = Schemas['Account'];
export type SetupResponse = Schemas['SetupResponse'];
export type JobPage = Schemas['JobPage'];
export type ModelPage = Schemas['ModelPage'];
export type WebhookSecret = Schemas['WebhookSecret'];
export type WebhookDelivery = Schemas['WebhookDelivery'];
export type WebhookEventType = NonNullable<FitRequest['webhook_events']>[number];
export type JobListQuery = NonNullable<paths['/v1/jobs']['get']['parameters']['query']>;
export type ModelListQuery = NonNullable<paths['/v1/models']['get']['parameters']['query']>;

export const FINAL_STATUSES = ['succeeded', 'failed', 'canceled'] as const;
export const isFinal = (job: Pick<Job, 'status'>) => (FINAL_STATUSES as readonly string[]).includes(job.status);

export interface ClientOptions {
  /** e.g. `http://localhost:3000` */
  baseUrl: string;
  /** `tpk_…`; not needed for `setup()` and the service routes. */
  apiKey?: string;
  fetch?: typeof globalThis.fetch;
  headers?: Record<string, string>;
}

/** A CSV upload instead of JSON rows: the file's header row names the columns. */
export interface CsvInput {
  csv: string | Blob;
  filename?: string;
}

export type FitInput = FitRequest | (CsvInput & { target_column: string } & Omit<Partial<FitRequest>, 'features' | 'target' | 'feature_names'>);
export type PredictInput = PredictRequest | (CsvInput & Omit<Partial<PredictRequest>, 'features'>);

export interface WaitOptions {
  /** Give up (JobWaitTimeoutError) after this long; default 10 minutes. */
  timeoutMs?: number;
  /** First poll interval; grows ×1.5 up to `maxIntervalMs`. Default 250 ms. */
  intervalMs?: number;
  maxIntervalMs?: number;
  signal?: AbortSignal;
  /** Called with the job after every poll (status, progress.stage). */
  onProgress?: (job: Job, elapsedMs: number) => void;
}

export interface SubmitOptions {
  idempotencyKey?: string;
  /** `Prefer: wait=N` (≤ 60): the API answers with the finished job if it finishes within N seconds. */
  preferWaitSeconds?: number;
  /** Poll until the job is final before returning (see `waitForJob`). */
  wait?: boolean | WaitOptions;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

function isCsv(input: object): input is CsvInput {
  return 'csv' in input;
}

/** multipart/form-data for a CSV upload: the file plus the other fields (objects as JSON, arrays comma-joined). */
function toForm(input: CsvInput): FormData {
  const form = new FormData();
  for (const [k, v] of Object.entries(input as object)) {
    if (k === 'csv' || k === 'filename' || v === undefined) continue;
    form.append(k, Array.isArray(v) && k !== 'quantiles' ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  const file = typeof input.csv === 'string' ? new Blob([input.csv], { type: 'text/csv' }) : input.csv;
  form.append('file', file, input.filename ?? 'data.csv');
  return form;
}

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

function unwrap<T>({ data, error, response }: Outcome<T>): T {
  if (response.ok) return data as T;
  const retryAfter = Number(response.headers.get('retry-after')) || undefined;
  const problem = error && typeof error === 'object' && 'code' in error ? (error as Problem) : undefined;
  throw new TabPFNJobsError(response.status, problem, retryAfter, typeof error === 'string' ? error : undefined);
}

/**
 * The tabpfn-jobs SDK: `api` is the fully typed openapi-fetch client (every route); the methods
 * are conveniences over it that throw `TabPFNJobsError` on errors.
 */
export function createTabPFNJobsClient(opts: ClientOptions) {
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  const api = createClient<paths>({
    baseUrl,
    ...(opts.fetch ? { fetch: (req: Request) => opts.fetch!(req) } : {}),
    headers: { ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}), ...opts.headers },
  });

  const submitHeaders = (o: SubmitOptions) => ({
    ...(o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {}),
    ...(o.preferWaitSeconds ? { prefer: `wait=${o.preferWaitSeconds}` } : {}),
  });

  async function waitForJob(jobId: string, w: WaitOptions = {}): Promise<Job> {
    const start = Date.now();
    const timeoutMs = w.timeoutMs ?? 600_000;
    let interval = w.intervalMs ?? 250;
    for (;;) {
      const job = unwrap(await api.GET('/v1/jobs/{job_id}', { params: { path: { job_id: jobId } }, signal: w.signal }));
      const elapsed = Date.now() - start;
      w.onProgress?.(job, elapsed);
      if (isFinal(job)) return job;
      if (elapsed >= timeoutMs) throw new JobWaitTimeoutError(jobId, job.status, timeoutMs);
      await sleep(Math.min(interval, Math.max(0, timeoutMs - elapsed)), w.signal);
      interval = Math.min(interval * 1.5, w.maxIntervalMs ?? 5_000);
    }
  }

  async function finish(job: Job, o: SubmitOptions): Promise<Job> {
    if (!o.wait || isFinal(job)) return job;
    return waitForJob(job.job_id, o.wait === true ? {} : o.wait);
  }

  return {
    api,
    baseUrl,

    /** Registers a TabPFN token: returns the account and a new API key (shown only here). */
    async setup(tabpfnToken: string, keyName?: string): Promise<SetupResponse> {
      return unwrap(await api.POST('/v1/auth/setup', { body: { tabpfn_token: tabpfnToken, ...(keyName ? { key_name: keyName } : {}) } }));
    },

    /** Queues a fit (JSON rows, or a CSV with `target_column`); the job's `model_id` is the new model. */
    async fit(input: FitInput, o: SubmitOptions = {}): Promise<Job> {
      const headers = submitHeaders(o);
      const res = isCsv(input)
        ? await api.POST('/v1/models/fit', { body: input as never, bodySerializer: () => toForm(input), headers })
        : await api.POST('/v1/models/fit', { body: input, headers });
      return finish(unwrap(res), o);
    },

    /** Queues a predict (allowed while the model is still fitting). */
    async predict(modelId: string, input: PredictInput, o: SubmitOptions = {}): Promise<Job> {
      const headers = submitHeaders(o);
      const params = { path: { model_id: modelId } };
      const res = isCsv(input)
        ? await api.POST('/v1/models/{model_id}/predict', { params, body: input as never, bodySerializer: () => toForm(input), headers })
        : await api.POST('/v1/models/{model_id}/predict', { params, body: input, headers });
      return finish(unwrap(res), o);
    },

    waitForJob,

    async getJob(jobId: string): Promise<Job> {
      return unwrap(await api.GET('/v1/jobs/{job_id}', { params: { path: { job_id: jobId } } }));
    },
    async listJobs(query: JobListQuery = {}): Promise<JobPage> {
      return unwrap(await api.GET('/v1/jobs', { params: { query } }));
    },
    async cancelJob(jobId: string): Promise<Job> {
      return unwrap(await api.POST('/v1/jobs/{job_id}/cancel', { params: { path: { job_id: jobId } } }));
    },
    /** The result of a succeeded job (JSON). */
    async result(jobId: string): Promise<PredictResult | FitResult> {
      const out = unwrap(await api.GET('/v1/jobs/{job_id}/result', { params: { path: { job_id: jobId } } }));
      return out as PredictResult | FitResult;
    },
    /** The result of a succeeded predict as CSV (one row per input row). */
    async resultCsv(jobId: string): Promise<string> {
      const res = await api.GET('/v1/jobs/{job_id}/result', {
        params: { path: { job_id: jobId } },
        headers: { accept: 'text/csv' },
        parseAs: 'text',
      });
      return unwrap(res as Outcome<string>);
    },

    async getModel(modelId: string): Promise<Model> {
      return unwrap(await api.GET('/v1/models/{model_id}', { params: { path: { model_id: modelId } } }));
    },
    async listModels(query: ModelListQuery = {}): Promise<ModelPage> {
      return unwrap(await api.GET('/v1/models', { params: { query } }));
    },
    async deleteModel(modelId: string): Promise<void> {
      unwrap(await api.DELETE('/v1/models/{model_id}', { params: { path: { model_id: modelId } } }));
    },

    async me(): Promise<Account> {
      return unwrap(await api.GET('/v1/me'));
    },
    async usage(): Promise<Usage> {
      return unwrap(await api.GET('/v1/usage'));
    },
    async webhookSecret(): Promise<WebhookSecret> {
      return unwrap(await api.GET('/v1/webhooks/secret'));
    },
    /** A new signing secret; the previous one keeps being sent (a second signature) until `previous_secret_expires_at`. */
    async rotateWebhookSecret(): Promise<WebhookSecret> {
      return unwrap(await api.POST('/v1/webhooks/secret/rotate'));
    },
    /** A job's webhook deliveries, each with its attempt log. */
    async webhookDeliveries(jobId: string): Promise<WebhookDelivery[]> {
      return unwrap(await api.GET('/v1/jobs/{job_id}/webhook-deliveries', { params: { path: { job_id: jobId } } })).data;
    },
    /** Sends a job's deliveries (or the one with `deliveryId`) again, with the same `webhook-id` and body. */
    async redeliverWebhooks(jobId: string, deliveryId?: string): Promise<WebhookDelivery[]> {
      const body = deliveryId ? { delivery_id: deliveryId } : {};
      return unwrap(await api.POST('/v1/jobs/{job_id}/webhook-deliveries/redeliver', { params: { path: { job_id: jobId } }, body })).data;
    },
  };
}

export type TabPFNJobsClient = ReturnType<typeof createTabPFNJobsClient>;
