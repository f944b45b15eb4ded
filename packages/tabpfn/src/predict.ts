import { DataError, NotFoundError, ProtocolError, TrainSetNotFoundError } from './errors.js';
import type { FlowContext } from './fit.js';
import { fileInfo } from './fit.js';
import { isTransient, jsonBody, requireString, retryOnce, send } from './http.js';
import { outputTypes, type Task } from './models.js';
import { detailsOf } from './poll.js';
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
  const prepare = await send(flow.http, {
    method: 'POST',
    url: '/tabpfn/prepare_test_set_upload',
    json: {
      fitted_train_set_id: input.fittedTrainSetId,
      x_test_info: fileInfo(input.x, flow.dedupDatasets),
      force_reupload: flow.forceReupload,
    },
    timeoutMs: flow.timeoutMs,
    signal,
    operation: 'prepare_test_set_upload',
  });
  await opts.proceed;
  let testSetUploadId: string;
  let uploaded = false;
  if (prepare.status === 409) {
    testSetUploadId = errorFromConflict(prepare, 'test_set_upload_id', 'prepare_test_set_upload');
  } else {
    let body: Record<string, unknown>;
    try {
      body = jsonBody(prepare, 'prepare_test_set_upload');
    } catch (err) {
      return notFound(err);
    }
    testSetUploadId = requireString(body, 'test_set_upload_id', 'prepare_test_set_upload');
    onStage?.('uploading');
    await uploadFile(flow.http, body.x_test_info as FileUploadInfo, input.x, {
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
