import {
  ConflictError,
  type DatasetRepository,
  assertOwned,
  isFinalStatus,
  type JobEventHub,
  type JobRepository,
  type JobRow,
  type Logger,
  type ModelRepository,
  type Pool,
  type QueueSet,
  type Redis,
  type PoolClient,
  enqueue,
  publishCancel,
  withTransaction,
  withTransactionRetry,
} from '@tabpfn-jobs/shared';

export interface JobServiceDeps {
  pool: Pool;
  jobs: JobRepository;
  models: ModelRepository;
  datasets: DatasetRepository;
  queues: QueueSet;
  redis: Redis;
  prefix: string;
  events: JobEventHub;
  logger: Logger;
  jobAttempts: number;
  webhooks: { record(tx: PoolClient, job: JobRow, event: 'job.canceled'): Promise<string | null>; enqueue(ids: (string | null)[]): Promise<void> };
}

export function createJobService(deps: JobServiceDeps) {
  const owned = async (userId: string, jobId: string): Promise<JobRow> => assertOwned(await deps.jobs.findById(jobId), userId, 'job');
  const ownedModel = async (userId: string, modelId: string) => assertOwned(await deps.models.findById(modelId), userId, 'model');

  /** Predicts parked behind a fit that will not run: the worker fails them with model_fit_failed. */
  async function enqueueParked(modelId: string): Promise<void> {
    for (const id of await deps.jobs.queuedPredictsForModel(modelId)) {
      await enqueue(deps.queues, 'predict', { jobId: id }, { jobId: id, attempts: deps.jobAttempts, backoff: { type: 'upstream' } }).catch(() => undefined);
    }
  }

  return {
    get: owned,
    getModel: ownedModel,

    list: deps.jobs.list,
    listModels: deps.models.list,

    async result(userId: string, jobId: string) {
      const job = await owned(userId, jobId);
      if (job.status !== 'succeeded') {
        throw new ConflictError('result_not_ready', `The job is ${job.status}; a result exists only once it has succeeded.`);
      }
      return job;
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
      let job = await owned(userId, jobId);
      if (job.status === 'queued') {
        let delivery: string | null = null;
        const done = await withTransaction(deps.pool, async (tx) => {
          // Only while still queued: a worker that has just started it must be told to stop instead.
          const d = await deps.jobs.finish(job.id, { status: 'canceled', error: { code: 'canceled', message: 'Canceled by the user.', retryable: false } }, tx, ['queued']);
          if (!d) return undefined;
          // A canceled fit leaves no model: predicts parked on it must learn that rather than wait forever.
          if (d.type === 'fit') await deps.models.markFailed(d.model_id, { code: 'fit_canceled', message: 'The fit was canceled.', retryable: false }, tx);
          delivery = await deps.webhooks.record(tx, d, 'job.canceled');
          return d;
        });
        if (done) {
          await deps.queues[job.type].remove(job.id).catch(() => undefined);
          await deps.webhooks.enqueue([delivery]);
          if (done.type === 'fit') await enqueueParked(done.model_id);
          return done;
        }
        // A worker took it meanwhile (or it finished): treat it as what it is now.
        job = (await deps.jobs.findById(job.id))!;
      }
      if (job.status === 'running') {
        await deps.jobs.requestCancel(job.id);
        await publishCancel(deps.redis, deps.prefix, job.id).catch((err) =>
          deps.logger.warn({ job_id: job.id, err: (err as Error).message }, 'cancel broadcast failed; the job cannot end succeeded, and its next attempt ends it canceled'),
        );
        return (await deps.jobs.findById(job.id))!;
      }
      return job;
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
      for (const j of active) {
        await deps.queues[j.type].remove(j.id).catch(() => undefined);
        if (j.status === 'running') await publishCancel(deps.redis, deps.prefix, j.id).catch(() => undefined);
      }
    },
  };
}

export type JobService = ReturnType<typeof createJobService>;
