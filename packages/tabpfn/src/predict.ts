import { DataError, NotFoundError, ProtocolError, TrainSetNotFoundError } from './errors.js';
import type { FlowContext } from './fit.js';
import { isTransient, jsonBody, requireString, retryOnce, send } from './http.js';
import { outputTypes, type Task } from './models.js';
import { detailsOf } from './poll.js';
import { crc32cBase64 } from './parquet.js';
import { type FileUploadInfo, uploadFile } from './upload.js';
import { dropNulls, errorFromConflict, tabpfnConfigFor } from './wire.js';

export interface PredictInput {
  fittedTrainSetId: string;
  /** Parquet bytes of the test features, with the train set's columns and types. */
  x: Uint8Array;
  task: Task;
  /** classification: `preds` | `probas`; regression: `mean` | `median` | `mode` | `quantiles` | `full` | `main`. */
  outputType: string;
  quantiles?: number[];
  /** Resent in full at predict, as the python client does. */
  tabpfnConfig?: Record<string, unknown>;
  modelPath?: string;
}

export type PredictStage = 'uploading' | 'predicting';

export interface PredictCallOptions {
  signal?: AbortSignal;
  onStage?: (stage: PredictStage) => void;
  /**
   * Awaited once the test set's upload is prepared, before anything is uploaded or predicted; its
   * rejection ends the call. Lets the caller do its own bookkeeping (the worker marks the job running)
   * while the first request is in flight, yet before upstream does real work.
   */
  proceed?: Promise<unknown>;
  /**
   * A prepare sent earlier (`TabPFNClient.prepareTestSet`), before the caller held the bytes. Used when
   * it was answered for this very call (same fitted set, same size and crc32c of `x`); otherwise (it
   * failed, or the caller's guess was wrong) the call prepares again, as without it.
   */
  prepared?: Promise<PreparedTestSet>;
}

/** What `prepare_test_set_upload` is told: the fitted set, and the test set's size and crc32c (not its bytes). */
export interface TestSetInfo {
  fittedTrainSetId: string;
  sizeBytes: number;
  /** crc32c of the parquet bytes, base64 (upstream's dedup key); omitted when the client does not dedup. */
  crc32c?: string;
}

/** An answered prepare: where to upload the bytes, or nothing when upstream holds them already (409). */
export interface PreparedTestSet {
  info: TestSetInfo;
  testSetUploadId: string;
  upload?: FileUploadInfo;
}

export interface PredictResult {
  /** Upstream's prediction as is: labels, probability rows, numbers, quantile rows or an object (full/main). */
  prediction: unknown;
  metadata: unknown;
  testSetUploadId: string;
  uploaded: boolean;
}

export function buildPredictBody(testSetUploadId: string, input: PredictInput): Record<string, unknown> {
  return dropNulls({
    test_set_upload_id: testSetUploadId,
    fitted_train_set_id: input.fittedTrainSetId,
    task_config: {
      task: input.task,
      tabpfn_config: tabpfnConfigFor(input.task, input.tabpfnConfig, input.modelPath),
      predict_params: { output_type: input.outputType, quantiles: input.quantiles },
    },
  });
}

export function testSetInfo(fittedTrainSetId: string, x: Uint8Array, dedup: boolean): TestSetInfo {
  return dropNulls({ fittedTrainSetId, sizeBytes: x.byteLength, crc32c: dedup ? crc32cBase64(x) : undefined });
}

/** `prepare_test_set_upload`: an id to predict with, and where to upload unless upstream dedups the set. */
export async function prepareTestSet(flow: FlowContext, info: TestSetInfo, signal?: AbortSignal): Promise<PreparedTestSet> {
  const prepare = await send(flow.http, {
    method: 'POST',
    url: '/tabpfn/prepare_test_set_upload',
    json: {
      fitted_train_set_id: info.fittedTrainSetId,
      x_test_info: dropNulls({ format: 'parquet', hash: info.crc32c, size_bytes: info.sizeBytes }),
      force_reupload: flow.forceReupload,
    },
    timeoutMs: flow.timeoutMs,
    signal,
    operation: 'prepare_test_set_upload',
  });
  if (prepare.status === 409) return { info, testSetUploadId: errorFromConflict(prepare, 'test_set_upload_id', 'prepare_test_set_upload') };
  const body = jsonBody(prepare, 'prepare_test_set_upload');
  return { info, testSetUploadId: requireString(body, 'test_set_upload_id', 'prepare_test_set_upload'), upload: body.x_test_info as FileUploadInfo };
}

const sameInfo = (a: TestSetInfo, b: TestSetInfo) => a.fittedTrainSetId === b.fittedTrainSetId && a.sizeBytes === b.sizeBytes && a.crc32c === b.crc32c;

/** The earlier prepare, when it was answered for exactly this test set; a failed one is as if never sent. */
async function preparedEarlier(opts: PredictCallOptions, info: TestSetInfo): Promise<PreparedTestSet | undefined> {
  const early = await opts.prepared?.catch(() => undefined);
  return early && sameInfo(early.info, info) ? early : undefined;
}

export async function runPredict(flow: FlowContext, input: PredictInput, opts: PredictCallOptions = {}): Promise<PredictResult> {
  const { signal, onStage } = opts;
  if (!outputTypes(input.task).includes(input.outputType)) {
    throw new DataError(
      'output_type',
      `"${input.outputType}" is not an output type for ${input.task} (${outputTypes(input.task).join(', ')})`,
    );
  }
  const notFound = (err: unknown): never => {
    if (err instanceof NotFoundError && !(err instanceof TrainSetNotFoundError))
      throw new TrainSetNotFoundError(input.fittedTrainSetId, detailsOf(err));
    throw err;
  };

  // Rejected while the prepare is in flight (or not awaited at all, when the prepare fails): not unhandled.
  opts.proceed?.catch(() => undefined);
  const info = testSetInfo(input.fittedTrainSetId, input.x, flow.dedupDatasets);
  const prepared = (await preparedEarlier(opts, info)) ?? (await prepareTestSet(flow, info, signal).catch(notFound));
  await opts.proceed;
  const { testSetUploadId } = prepared;
  let uploaded = false;
  if (prepared.upload) {
    onStage?.('uploading');
    await uploadFile(flow.http, prepared.upload, input.x, {
      timeoutMs: flow.uploadTimeoutMs,
      concurrency: flow.uploadConcurrency,
      signal,
      label: 'x_test',
    });
    uploaded = true;
  }
  onStage?.('predicting');
  const predictBody = buildPredictBody(testSetUploadId, input);
  const body = await retryOnce(
    async () =>
      jsonBody(
        await send(flow.http, {
          method: 'POST',
          url: '/tabpfn/predict',
          json: predictBody,
          timeoutMs: flow.timeoutMs,
          signal,
          operation: 'predict',
        }),
        'predict',
      ),
    isTransient,
  ).catch(notFound);
  if (!('prediction' in body)) throw new ProtocolError('Fail to call predict: response lacks "prediction"');
  return { prediction: body.prediction, metadata: body.metadata ?? null, testSetUploadId, uploaded };
}
