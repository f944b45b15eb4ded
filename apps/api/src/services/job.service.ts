import { type Pool, withTransactionRetry } from '@tabpfn-jobs/shared/db';
import { assertOwned, isFinalStatus } from '@tabpfn-jobs/shared/domain';
import { ConflictError } from '@tabpfn-jobs/shared/errors';
import type { ReadyModelCache } from './ready-model-cache.js';
import type { JobEventHub, JobLifecycle } from '@tabpfn-jobs/shared/jobs';
import type {
  DatasetRepository,
  JobRepository,
  JobRow,
  ModelRepository,
  PredictChunkRepository,
  PredictChunkRow,
} from '@tabpfn-jobs/shared/repositories';

export interface JobServiceDeps {
  pool: Pool;
  jobs: JobRepository;
  models: ModelRepository;
  datasets: DatasetRepository;
  predictChunks: Pick<PredictChunkRepository, 'each' | 'ranges'>;
  lifecycle: Pick<JobLifecycle, 'cancel' | 'abandon'>;
  events: JobEventHub;
  /** The submit's cache of ready models: a deleted model leaves it at once. */
  readyModels?: Pick<ReadyModelCache, 'forget'>;
}

/** What `GET /v1/jobs/{id}/result` answers from. */
export interface JobResult {
  job: JobRow;
  /** A chunked (batch) result still stored: its rows, read chunk by chunk in row order, once per call. */
  chunks?: () => AsyncIterable<PredictChunkRow>;
  /** A failed batch's partial result: some row ranges are missing. */
  partial: boolean;
}

export function createJobService(deps: JobServiceDeps) {
  const owned = async (userId: string, jobId: string): Promise<JobRow> => assertOwned(await deps.jobs.findById(jobId), userId, 'job');
  const ownedModel = async (userId: string, modelId: string) => assertOwned(await deps.models.findById(modelId), userId, 'model');

  return {
    get: owned,
    getModel: ownedModel,

    list: deps.jobs.list,
    listModels: deps.models.list,

    /**
     * A succeeded job's result, or a failed batch predict's partial one (the chunks it finished, kept
     * when the caller allowed partial results). Anything else has no result: 409.
     */
    async result(userId: string, jobId: string): Promise<JobResult> {
      const job = await owned(userId, jobId);
      const partial =
        job.status === 'failed' &&
        job.result_chunked &&
        (job.result_removed_at !== null || (await deps.predictChunks.ranges(job.id)).length > 0);
      if (job.status !== 'succeeded' && !partial) {
        throw new ConflictError('result_not_ready', `The job is ${job.status}; a result exists only once it has succeeded.`);
      }
      const stored = job.result_chunked && !job.result_removed_at;
      return { job, partial, ...(stored ? { chunks: () => deps.predictChunks.each(job.id) } : {}) };
    },

    /** Waits (without polling) until the job is final or `seconds` pass; returns the latest row. */
    async waitForFinal(jobId: string, seconds: number, signal?: AbortSignal): Promise<JobRow | undefined> {
      const waiter = deps.events.waitForFinish(jobId, seconds * 1000, signal);
      try {
        const now = await deps.jobs.findById(jobId);
        if (!now || isFinalStatus(now.status)) return now;
        await waiter.promise;
        return await deps.jobs.findById(jobId);
      } finally {
        waiter.cancel();
      }
    },

    /** queued → canceled at once; running → the worker is told to abort and ends it canceled. */
    async cancel(userId: string, jobId: string): Promise<JobRow> {
      return deps.lifecycle.cancel(await owned(userId, jobId));
    },

    async deleteModel(userId: string, modelId: string): Promise<void> {
      const model = await ownedModel(userId, modelId);
      const active = await withTransactionRetry(deps.pool, async (tx) => {
        const { active, datasetIds } = await deps.jobs.forModelDeletion(model.id, tx);
        await deps.models.delete(model.id, tx);
        // Its training set and its predicts' test sets go with it (the jobs went by cascade).
        await deps.datasets.deleteUnreferenced([...(model.dataset_id ? [model.dataset_id] : []), ...datasetIds], tx);
        return active;
      });
      deps.readyModels?.forget(model.id);
      await deps.lifecycle.abandon(active);
    },
  };
}

export type JobService = ReturnType<typeof createJobService>;
