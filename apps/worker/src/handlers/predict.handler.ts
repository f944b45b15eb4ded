import { DelayedError, type Job } from 'bullmq';
import { isFinalStatus } from '@tabpfn-jobs/shared/domain';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import type { DatasetRepository, JobRepository, ModelRepository, ModelRow } from '@tabpfn-jobs/shared/repositories';
import { type TabPFNClient, TrainSetNotFoundError, modelPath } from '@tabpfn-jobs/tabpfn';
import { tabpfnConfigOf } from './fit.handler.js';
import type { JobHandler } from './handler.js';
import type { JobRunner } from './job-runner.js';

export interface PredictHandlerDeps {
  runner: JobRunner;
  jobs: JobRepository;
  models: ModelRepository;
  datasets: DatasetRepository;
  logger: Logger;
}

/** Upstream's prediction in the public result shape (DESIGN §2). */
export function toResult(model: ModelRow, params: { output_type: string; quantiles?: number[] }, prediction: unknown) {
  const outputType = params.output_type;
  if (outputType === 'probas') {
    const probabilities = prediction as number[][];
    const classes = model.classes ?? [];
    const predictions = probabilities.map((row) => classes[row.indexOf(Math.max(...row))] ?? null);
    return { output_type: outputType, classes, probabilities, predictions };
  }
  if (outputType === 'quantiles') return { output_type: outputType, quantiles: params.quantiles, predictions: prediction };
  return { output_type: outputType, predictions: prediction };
}

export function createPredictHandler(deps: PredictHandlerDeps): JobHandler<'predict'> {
  const { runner } = deps;

  /** The train set upstream forgot: upload it again from the stored dataset and re-fit. */
  async function refit(client: TabPFNClient, model: ModelRow, signal: AbortSignal): Promise<ModelRow> {
    const dataset = model.dataset_id ? await deps.datasets.findWithData(model.dataset_id) : undefined;
    if (!dataset?.x_bytes || !dataset.y_bytes) throw new Error(`training data of model ${model.id} is gone; fit it again`);
    const out = await client.fit(
      { x: dataset.x_bytes, y: dataset.y_bytes, task: model.task, tabpfnConfig: tabpfnConfigOf(model), modelPath: modelPath(model.model_name, model.task) },
      { signal },
    );
    const updated = await deps.models.markReady(model.id, { uploadId: out.trainSetUploadId, fittedId: out.fittedTrainSetId });
    deps.logger.info({ model_id: model.id }, 'upstream had forgotten the train set; re-fitted');
    return updated ?? model;
  }

  /**
   * One re-fit per forgotten model: predicts that find the same train set gone at the same time in
   * this process share one re-fit, and one that comes after a re-fit by any process uses its result.
   */
  const refitting = new Map<string, Promise<ModelRow>>();
  async function refitOnce(client: TabPFNClient, model: ModelRow, signal: AbortSignal): Promise<ModelRow> {
    const current = await deps.models.findById(model.id);
    if (current?.upstream_fitted_train_set_id && current.upstream_fitted_train_set_id !== model.upstream_fitted_train_set_id) return current;
    let pending = refitting.get(model.id);
    if (!pending) {
      pending = refit(client, model, signal).finally(() => refitting.delete(model.id));
      refitting.set(model.id, pending);
    }
    return pending;
  }

  return async ({ jobId }, bullJob: Job, lockToken?: string) => {
    const pending = await deps.jobs.findById(jobId);
    if (!pending || isFinalStatus(pending.status)) return;
    try {
      const model = await deps.models.findById(pending.model_id);
      if (!model) return;
      if (model.status === 'pending') {
        // Normally parked until the fit ends; reaching here means a re-enqueue raced the fit.
        await bullJob.moveToDelayed(Date.now() + 2_000, lockToken);
        throw new DelayedError();
      }
      if (model.status === 'failed') {
        await runner.finalize(jobId, {
          status: 'failed',
          error: { code: 'model_fit_failed', message: `The model failed to fit: ${model.error?.message ?? 'unknown error'}`, retryable: false },
        });
        return;
      }

      const loaded = await runner.load(jobId, pending);
      if (!loaded) return;
      await runner.admit(bullJob, lockToken, loaded.job, loaded.token, ['predict', 'upload']);
      const job = await runner.start(loaded.job, 'uploading');
      if (!job) return;
      const { client } = loaded;
      const params = job.params as { output_type: string; quantiles?: number[]; config?: Record<string, unknown> };
      const dataset = job.dataset_id ? await deps.datasets.findWithData(job.dataset_id) : undefined;
      if (!dataset?.x_bytes) throw new Error(`test data of job ${job.id} is gone`);
      const prediction = await runner.withCancel(job.id, async (signal) => {
        const call = (m: ModelRow) =>
          client.predict(
            {
              fittedTrainSetId: m.upstream_fitted_train_set_id!,
              x: dataset.x_bytes!,
              task: m.task,
              outputType: params.output_type,
              quantiles: params.quantiles,
              tabpfnConfig: { ...tabpfnConfigOf(m), ...(params.config ?? {}) },
              modelPath: modelPath(m.model_name, m.task),
            },
            { signal, onStage: (stage) => runner.setStage(job.id, stage) },
          );
        try {
          return await call(model);
        } catch (err) {
          if (!(err instanceof TrainSetNotFoundError)) throw err;
          runner.setStage(job.id, 'fitting', 'upstream forgot the train set; re-fitting');
          await runner.waitForLimit(loaded.token, ['fit', 'upload'], signal);
          return call(await refitOnce(client, model, signal));
        }
      });
      runner.upstreamSucceeded();
      await runner.finalize(job.id, { status: 'succeeded', result: toResult(model, params, prediction.prediction) }, undefined, job);
    } catch (err) {
      // Held back (parked model, rate limit, open circuit): not an error, the job waits in the queue.
      if (err instanceof DelayedError) throw err;
      await runner.handleError(bullJob, jobId, err);
    }
  };
}
