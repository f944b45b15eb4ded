import { DataError } from './errors.js';
import { type HttpContext, isConnectError, isTransient, jsonBody, requireString, retryOnce, send } from './http.js';
import type { Task } from './models.js';
import { crc32cBase64 } from './parquet.js';
import { waitForFit } from './poll.js';
import type { Settings } from './settings.js';
import { type FileUploadInfo, uploadFile } from './upload.js';
import { dropNulls, errorFromConflict, tabpfnConfigFor } from './wire.js';

export interface FitInput {
  /** Parquet bytes of the features (see `encodeFeatures`). */
  x: Uint8Array;
  /** Parquet bytes of the target (see `encodeTarget`). */
  y: Uint8Array;
  task: Task;
  tabpfnConfig?: Record<string, unknown>;
  /** Wire `model_path` (see `modelPath`); overrides `tabpfnConfig.model_path`. */
  modelPath?: string;
  description?: string;
  /** `tabpfn_systems`; default `["preprocessing","text"]`, plus `"thinking"` when `thinking` is set. */
  systems?: string[];
  /** `thinking_config`, e.g. `{effort: "high", timeout_secs: 600, metric: "roc_auc"}`; `{}` enables thinking with server defaults. */
  thinking?: Record<string, unknown>;
  /** pandas-equivalent in-memory size of X plus y; chooses sync vs async fit like the python client. */
  inMemorySizeBytes?: number;
}

export type FitStage = 'uploading' | 'fitting';

export interface FitCallOptions {
  signal?: AbortSignal;
  onStage?: (stage: FitStage) => void;
}

export interface FitResult {
  fittedTrainSetId: string;
  trainSetUploadId: string;
  /** False when upstream already held this exact train set (409 on prepare) and nothing was uploaded. */
  uploaded: boolean;
  mode: 'sync' | 'async';
}

/** What the fit and predict flows need from the client. */
export interface FlowContext {
  http: HttpContext;
  timeoutMs: number;
  uploadTimeoutMs: number;
  uploadConcurrency: number;
  dedupDatasets: boolean;
  forceReupload: boolean;
  asyncThresholdBytes?: number | undefined;
  pollTimeoutMs?: number | undefined;
  pollIntervalMs: number;
  minPollIntervalMs: number;
  pollRequestTimeoutMs: number;
  getSettings(signal?: AbortSignal): Promise<Settings | null>;
}

const DEFAULT_ASYNC_THRESHOLD_BYTES = 50 * 1024 * 1024;
const DEFAULT_POLL_TIMEOUT_MS = 7_200_000;

export function fileInfo(bytes: Uint8Array, dedup: boolean): Record<string, unknown> {
  return dropNulls({ format: 'parquet', hash: dedup ? crc32cBase64(bytes) : undefined, size_bytes: bytes.byteLength });
}

export function buildFitBody(trainSetUploadId: string, input: FitInput): Record<string, unknown> {
  const thinking = input.thinking !== undefined;
  let systems = input.systems ?? ['preprocessing', 'text'];
  if (thinking && !systems.includes('thinking')) systems = [...systems, 'thinking'];
  return dropNulls({
    train_set_upload_id: trainSetUploadId,
    task_config: { task: input.task, tabpfn_config: tabpfnConfigFor(input.task, input.tabpfnConfig, input.modelPath) },
    tabpfn_systems: systems,
    thinking_config: input.thinking,
  });
}

/** Prepares the train set upload and uploads X and y, unless upstream already holds them (409). */
async function uploadTrainSet(
  flow: FlowContext,
  input: FitInput,
  signal: AbortSignal | undefined,
  onStage: FitCallOptions['onStage'],
): Promise<{ trainSetUploadId: string; uploaded: boolean }> {
  const prepare = await send(flow.http, {
    method: 'POST',
    url: '/tabpfn/prepare_train_set_upload',
    json: dropNulls({
      x_train_info: fileInfo(input.x, flow.dedupDatasets),
      y_train_info: fileInfo(input.y, flow.dedupDatasets),
      description: input.description,
      force_reupload: flow.forceReupload,
    }),
    timeoutMs: flow.timeoutMs,
    signal,
    operation: 'prepare_train_set_upload',
  });

  let trainSetUploadId: string;
  let uploaded = false;
  if (prepare.status === 409) {
    trainSetUploadId = errorFromConflict(prepare, 'train_set_upload_id', 'prepare_train_set_upload');
    flow.http.logger?.debug({ trainSetUploadId }, 'Train set already exists, skipping upload');
  } else {
    const body = jsonBody(prepare, 'prepare_train_set_upload');
    trainSetUploadId = requireString(body, 'train_set_upload_id', 'prepare_train_set_upload');
    onStage?.('uploading');
    const common = { timeoutMs: flow.uploadTimeoutMs, concurrency: flow.uploadConcurrency, signal };
    await Promise.all([
      uploadFile(flow.http, body.x_train_info as FileUploadInfo, input.x, { ...common, label: 'x_train' }),
      uploadFile(flow.http, body.y_train_info as FileUploadInfo, input.y, { ...common, label: 'y_train' }),
    ]);
    uploaded = true;
  }
  return { trainSetUploadId, uploaded };
}

export async function runFit(flow: FlowContext, input: FitInput, opts: FitCallOptions = {}): Promise<FitResult> {
  const { signal, onStage } = opts;
  if (input.task !== 'classification' && input.task !== 'regression') throw new DataError('task', `unknown task ${String(input.task)}`);
  const settings = await flow.getSettings(signal);

  const { trainSetUploadId, uploaded } = await uploadTrainSet(flow, input, signal, onStage);

  const fitBody = buildFitBody(trainSetUploadId, input);
  const threshold = flow.asyncThresholdBytes ?? settings?.async_settings?.use_above_trainset_size_bytes ?? DEFAULT_ASYNC_THRESHOLD_BYTES;
  const size = input.inMemorySizeBytes ?? input.x.byteLength + input.y.byteLength;
  const pollTimeoutMs =
    flow.pollTimeoutMs ?? (settings?.async_settings ? settings.async_settings.poll_timeout_secs * 1000 : DEFAULT_POLL_TIMEOUT_MS);
  onStage?.('fitting');

  if (size > threshold) {
    // No server-side dedup of fit jobs: only retry when the request cannot have reached the server.
    const res = await retryOnce(
      async () =>
        jsonBody(
          await send(flow.http, {
            method: 'POST',
            url: '/tabpfn/submit_fit_job',
            json: fitBody,
            timeoutMs: flow.timeoutMs,
            signal,
            operation: 'submit_fit_job',
          }),
          'submit_fit_job',
        ),
      isConnectError,
    );
    const fittedTrainSetId = requireString(res, 'fitted_train_set_id', 'submit_fit_job');
    await waitForFit(flow, fittedTrainSetId, pollTimeoutMs, signal);
    return { fittedTrainSetId, trainSetUploadId, uploaded, mode: 'async' };
  }

  const res = await retryOnce(
    async () =>
      jsonBody(
        await send(flow.http, { method: 'POST', url: '/tabpfn/fit', json: fitBody, timeoutMs: flow.timeoutMs, signal, operation: 'fit' }),
        'fit',
      ),
    isTransient,
  );
  const fittedTrainSetId = requireString(res, 'fitted_train_set_id', 'fit');
  // Gen B/C: the server's blocking wait may end before the fit does; then poll like the async path.
  if (res.status !== undefined && res.status !== 'completed') await waitForFit(flow, fittedTrainSetId, pollTimeoutMs, signal);
  return { fittedTrainSetId, trainSetUploadId, uploaded, mode: 'sync' };
}
