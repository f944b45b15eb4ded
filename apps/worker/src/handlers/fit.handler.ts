import { DelayedError } from 'bullmq';
import type { JobLifecycle } from '@tabpfn-jobs/shared/jobs';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import type { DatasetRepository, JobRepository, ModelRepository, ModelRow } from '@tabpfn-jobs/shared/repositories';
import { modelPath } from '@tabpfn-jobs/tabpfn';
import type { JobHandler } from './handler.js';
import type { JobRunner } from './job-runner.js';
import type { TrainSetCellsEncoder } from './train-set-cells.js';

export interface FitHandlerDeps {
  runner: JobRunner;
  lifecycle: Pick<JobLifecycle, 'releaseParked'>;
  jobs: JobRepository;
  models: ModelRepository;
  datasets: DatasetRepository;
  logger: Logger;
  /** Reuse the upstream fitted set of an identical earlier fit instead of fitting again. */
  reuseFits: boolean;
  /** A CSV fit stored as cells encoded to parquet (with its real fit key) before anything else. */
  encodeStoredCells: TrainSetCellsEncoder;
}

export function tabpfnConfigOf(model: Pick<ModelRow, 'config' | 'categorical_features'>): Record<string, unknown> {
  return {
    ...model.config,
    ...(model.categorical_features?.length ? { categorical_features_indices: model.categorical_features } : {}),
  };
}

export function createFitHandler(deps: FitHandlerDeps): JobHandler<'fit'> {
  const { runner } = deps;
  return async ({ jobId }, bullJob, lockToken) => {
    const pending = await deps.jobs.findById(jobId);
    if (!pending) return;
    const modelId = pending.model_id;

    try {
      const loaded = await runner.load(jobId, pending);
      if (!loaded) {
        // Final already (a redelivery): its end released the parked predicts, unless this process
        // died right after the commit; once the model is settled, releasing again is harmless.
        const model = await deps.models.findById(modelId);
        if (model && model.status !== 'pending') await deps.lifecycle.releaseParked(modelId);
        return;
      }
      const found = await deps.models.findById(modelId);
      if (!found) return;
      const model = await deps.encodeStoredCells(found);
      const reusable = deps.reuseFits ? await deps.models.findReusable(model.user_id, model.fit_key, model.id) : undefined;
      if (!reusable) await runner.admit(bullJob, lockToken, loaded.job.id, loaded.token, ['fit', 'upload']);
      const job = await runner.start(loaded.job, 'uploading');
      if (!job) return;

      let upstream: { uploadId: string | null; fittedId: string; reused: boolean };
      if (reusable?.upstream_fitted_train_set_id) {
        upstream = { uploadId: reusable.upstream_train_set_upload_id, fittedId: reusable.upstream_fitted_train_set_id, reused: true };
      } else {
        const dataset = model.dataset_id ? await deps.datasets.findWithData(model.dataset_id) : undefined;
        if (!dataset?.x_bytes || !dataset.y_bytes) throw new Error(`training data of model ${model.id} is gone`);
        const out = await runner.withCancel(job.id, (signal) =>
          loaded.client.fit(
            { x: dataset.x_bytes!, y: dataset.y_bytes!, task: model.task, tabpfnConfig: tabpfnConfigOf(model), modelPath: modelPath(model.model_name, model.task), description: model.description ?? undefined },
            { signal, onStage: (stage) => runner.setStage(job.id, stage) },
          ),
        );
        upstream = { uploadId: out.trainSetUploadId, fittedId: out.fittedTrainSetId, reused: false };
        runner.upstreamSucceeded();
      }
      // The model becomes ready in the same transaction; the lifecycle then releases parked predicts.
      await runner.finalize(job.id, { status: 'succeeded', result: { model_id: model.id, reused_fit: upstream.reused } }, async (tx) => {
        await deps.models.markReady(model.id, upstream, tx);
      });
    } catch (err) {
      // Held back (rate limit, open circuit): not an error, the job waits in the queue.
      if (err instanceof DelayedError) throw err;
      // A fit that ends failed or canceled fails its model (the lifecycle does it with the job).
      await runner.handleError(bullJob, jobId, err);
    }
  };
}
