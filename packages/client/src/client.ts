import createClient from 'openapi-fetch';
import { JobWaitTimeoutError, type Problem, TabPFNJobsError } from './errors.js';
import { RESULT_CONTENT_TYPES, RESULT_FORMATS, type ResultFormat, resultFormatFor } from './results.js';
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

/**
 * A job's progress. A batch predict (more rows than one upstream call takes, run as chunks) adds the
 * counters while it predicts; a small predict and a fit have `stage` and `updated_at` only.
 */
export type JobProgress = NonNullable<Job['progress']> & {
  chunks_done?: number;
  chunks_total?: number;
  rows_done?: number;
  rows_total?: number;
};
/** A failed job's error; a batch predict's failed chunk names its rows, [start, end) in input order. */
export type JobError = NonNullable<Job['error']> & { rows?: { start: number; end: number } };

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

/**
 * A CSV file on disk, of any size: streamed as the upload's `file` part, never read into memory
 * (Node only; `filename` defaults to the file's name).
 */
export interface CsvFileInput {
  csvPath: string;
  filename?: string;
}

type CsvSource = CsvInput | CsvFileInput;
/** The predict fields; `allow_partial`: a failed batch keeps its finished chunks' rows readable (`partial: true`). */
export type PredictFields = PredictRequest & { allow_partial?: boolean };
export type FitInput = FitRequest | (CsvSource & { target_column: string } & Omit<Partial<FitRequest>, 'features' | 'target' | 'feature_names'>);
export type PredictInput = PredictFields | (CsvSource & Omit<Partial<PredictFields>, 'features'>);

export interface WaitOptions {
  /** Give up (JobWaitTimeoutError) after this long; default 10 minutes. */
  timeoutMs?: number;
  /** First poll interval; grows ×1.5 up to `maxIntervalMs`. Default 250 ms. */
  intervalMs?: number;
  maxIntervalMs?: number;
  signal?: AbortSignal;
  /** Called with the job after every poll (status, progress.stage). */
  onProgress?: (job: Job, elapsedMs: number) => void;
  /**
   * Called with the job's progress each time it changes: on the first poll, then when the status or
   * a progress field other than `updated_at` differs (a batch predict's `chunks_done`, `rows_done`, …).
   */
  onProgressChange?: (progress: JobProgress | null, job: Job) => void;
}

/** What `downloadResult` wrote. */
export interface DownloadedResult {
  format: ResultFormat;
  bytes: number;
}

export interface DownloadOptions {
  /** Default: from a path's extension (see `resultFormatFor`), else `json`. */
  format?: ResultFormat;
  signal?: AbortSignal;
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

function isCsvFile(input: object): input is CsvFileInput {
  return 'csvPath' in input;
}

/** The form fields of a CSV upload: objects as JSON, arrays comma-joined (quantiles as JSON), booleans `true`/`false`. */
function formFields(input: object): [string, string][] {
  return Object.entries(input)
    .filter(([k, v]) => k !== 'csv' && k !== 'csvPath' && k !== 'filename' && v !== undefined)
    .map(([k, v]) => [k, Array.isArray(v) && k !== 'quantiles' ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v)]);
}

/** multipart/form-data for a CSV upload: the other fields, then the file. */
function toForm(input: CsvInput): FormData {
  const form = new FormData();
  for (const [k, v] of formFields(input)) form.append(k, v);
  const file = typeof input.csv === 'string' ? new Blob([input.csv], { type: 'text/csv' }) : input.csv;
  form.append('file', file, input.filename ?? 'data.csv');
  return form;
}

/**
 * With a caller's own `fetch` a file goes through it, as a file-backed Blob in the FormData (not read
 * here; undici's fetch does buffer a request body while sending it, see upload.ts).
 */
async function withFileBlob<T extends CsvFileInput>(input: T): Promise<T & CsvInput> {
  const { fileBlob } = await import('./upload.js');
  return { ...input, csv: await fileBlob(input.csvPath), filename: input.filename ?? input.csvPath.split(/[\\/]/).pop()! };
}

/** Status and progress without `updated_at`: what `onProgressChange` compares. */
const progressKey = (job: Job) => {
  const { updated_at: _at, ...rest } = (job.progress ?? {}) as Partial<JobProgress>;
  return JSON.stringify([job.status, job.progress ? rest : null]);
};

/** A Response with a JSON (or empty) body as openapi-fetch's outcome. */
async function outcomeOf<T>(response: Response): Promise<Outcome<T>> {
  const text = await response.text();
  let body: unknown = text || undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: kept as text (a proxy's error page)
  }
  return response.ok ? { data: body as T, response } : { error: body, response };
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
  const baseHeaders: Record<string, string> = { ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}), ...opts.headers };
  const api = createClient<paths>({
    baseUrl,
    ...(opts.fetch ? { fetch: (req: Request) => opts.fetch!(req) } : {}),
    headers: baseHeaders,
  });

  const submitHeaders = (o: SubmitOptions) => ({
    ...(o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {}),
    ...(o.preferWaitSeconds ? { prefer: `wait=${o.preferWaitSeconds}` } : {}),
  });

  async function waitForJob(jobId: string, w: WaitOptions = {}): Promise<Job> {
    const start = Date.now();
    const timeoutMs = w.timeoutMs ?? 600_000;
    let interval = w.intervalMs ?? 250;
    let seen: string | undefined;
    for (;;) {
      const job = unwrap(await api.GET('/v1/jobs/{job_id}', { params: { path: { job_id: jobId } }, signal: w.signal }));
      const elapsed = Date.now() - start;
      w.onProgress?.(job, elapsed);
      if (w.onProgressChange && progressKey(job) !== seen) {
        seen = progressKey(job);
        w.onProgressChange(job.progress as JobProgress | null, job);
      }
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

  /** A CSV file streamed from disk (node:http, see upload.ts). */
  async function postFile(path: string, input: CsvFileInput, headers: Record<string, string>): Promise<Job> {
    const { postCsvFile } = await import('./upload.js');
    const response = await postCsvFile({
      url: `${baseUrl}${path}`,
      headers: { ...baseHeaders, ...headers },
      fields: formFields(input),
      path: input.csvPath,
      ...(input.filename ? { filename: input.filename } : {}),
    });
    return unwrap(await outcomeOf<Job>(response));
  }

  /** GET the result route in `format` as a stream (throws TabPFNJobsError on an error answer). */
  async function resultStream(jobId: string, format: ResultFormat, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const res = await api.GET('/v1/jobs/{job_id}/result', {
      params: { path: { job_id: jobId } },
      headers: { accept: RESULT_CONTENT_TYPES[format] },
      parseAs: 'stream',
      ...(signal ? { signal } : {}),
    });
    const body = unwrap(res as Outcome<ReadableStream<Uint8Array> | null>);
    if (!body) throw new Error(`job ${jobId}: the result answer had no body`);
    // Retention removed the result: the route answers `{data_removed: true}` as JSON whatever was asked.
    if (format !== 'json' && res.response.headers.get('content-type')?.startsWith('application/json')) {
      const removed = (await new Response(body).json()) as { data_removed?: boolean };
      throw new Error(`job ${jobId}: ${removed.data_removed ? 'its result was removed (retention)' : 'the result is not available as ' + format}`);
    }
    return body;
  }

  return {
    api,
    baseUrl,

    /** Registers a TabPFN token: returns the account and a new API key (shown only here). */
    async setup(tabpfnToken: string, keyName?: string): Promise<SetupResponse> {
      return unwrap(await api.POST('/v1/auth/setup', { body: { tabpfn_token: tabpfnToken, ...(keyName ? { key_name: keyName } : {}) } }));
    },

    /** Queues a fit (JSON rows, or a CSV or CSV file with `target_column`); the job's `model_id` is the new model. */
    async fit(input: FitInput, o: SubmitOptions = {}): Promise<Job> {
      const headers = submitHeaders(o);
      if (isCsvFile(input) && !opts.fetch) return finish(await postFile('/v1/models/fit', input, headers), o);
      const body = isCsvFile(input) ? await withFileBlob(input) : input;
      const res = isCsv(body)
        ? await api.POST('/v1/models/fit', { body: body as never, bodySerializer: () => toForm(body), headers })
        : await api.POST('/v1/models/fit', { body, headers });
      return finish(unwrap(res), o);
    },

    /**
     * Queues a predict (allowed while the model is still fitting): JSON rows, a CSV, or a CSV file of
     * any size (`csvPath`, streamed from disk). A large predict runs as chunks: see `onProgressChange`
     * and `downloadResult`.
     */
    async predict(modelId: string, input: PredictInput, o: SubmitOptions = {}): Promise<Job> {
      const headers = submitHeaders(o);
      const params = { path: { model_id: modelId } };
      if (isCsvFile(input) && !opts.fetch) return finish(await postFile(`/v1/models/${encodeURIComponent(modelId)}/predict`, input, headers), o);
      const body = isCsvFile(input) ? await withFileBlob(input) : input;
      const res = isCsv(body)
        ? await api.POST('/v1/models/{model_id}/predict', { params, body: body as never, bodySerializer: () => toForm(body), headers })
        : await api.POST('/v1/models/{model_id}/predict', { params, body, headers });
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
    /**
     * The result of a succeeded job (JSON), or a failed batch predict's partial one (`partial: true`).
     * Given a job that carries its result inline, that result, without a request; otherwise (a job id,
     * or a batch predict whose result is only at `links.result`) it is fetched, whole, into memory:
     * for a large batch prefer `downloadResult`.
     */
    async result(job: string | Job): Promise<PredictResult | FitResult> {
      if (typeof job !== 'string' && job.result) return job.result;
      const jobId = typeof job === 'string' ? job : job.job_id;
      const out = unwrap(await api.GET('/v1/jobs/{job_id}/result', { params: { path: { job_id: jobId } } }));
      return out as PredictResult | FitResult;
    },
    /**
     * Streams a predict's result to a file (a path) or a Writable without holding it: `json` (the
     * same document as `result()`), `ndjson` (one object per input row, in order) or `csv` (a header
     * line, one line per input row). A path is written beside and renamed when complete; a Writable
     * is ended (process.stdout is not). Node only.
     */
    async downloadResult(job: string | Job, dest: string | NodeJS.WritableStream, o: DownloadOptions = {}): Promise<DownloadedResult> {
      const format = o.format ?? (typeof dest === 'string' ? resultFormatFor(dest) : undefined) ?? 'json';
      if (!(RESULT_FORMATS as readonly string[]).includes(format)) throw new Error(`format must be one of ${RESULT_FORMATS.join(', ')}, not "${format}"`);
      const { writeBody } = await import('./download.js');
      const body = await resultStream(typeof job === 'string' ? job : job.job_id, format, o.signal);
      return { format, bytes: await writeBody(body, dest, o.signal) };
    },
    /** The result of a succeeded predict as CSV (one row per input row), held in memory: for a large batch use `downloadResult`. */
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
