import type { Job } from 'bullmq';
import { TabPFNError, type TabPFNClient } from '@tabpfn-jobs/tabpfn';
import {
  type JobError,
  type JobRepository,
  type JobRow,
  type KeyRing,
  type Logger,
  type Pool,
  type PoolClient,
  type QueueSet,
  type Redis,
  type UserRepository,
  type WebhookEvent,
  enqueue,
  publishJobFinished,
  withTransaction,
} from '@tabpfn-jobs/shared';

/** Records webhook deliveries inside a state-change transaction and sends them after commit. */
export interface WebhookSink {
  record(tx: PoolClient, job: JobRow, event: WebhookEvent): Promise<string | null>;
  enqueue(ids: (string | null)[]): Promise<void>;
}

export interface RunnerDeps {
  pool: Pool;
  jobs: JobRepository;
  users: UserRepository;
  keyRing: KeyRing;
  tabpfnFor: (token: string) => TabPFNClient;
  queues: QueueSet;
  publisher: Redis;
  prefix: string;
  logger: Logger;
  webhooks: WebhookSink;
  /** Running jobs' abort controllers, so a cancel broadcast can stop the upstream call. */
  running: Map<string, AbortController>;
  jobAttempts: number;
}

export class JobCanceled extends Error {}

export function toJobError(err: unknown): JobError {
  if (err instanceof TabPFNError) {
    return {
      code: err.code,
      message: err.message,
      retryable: err.retryable,
      ...(err.traceId ? { trace_id: err.traceId } : {}),
      ...(err.status ? { upstream_status: err.status } : {}),
    };
  }
  return { code: 'internal_error', message: 'The job failed unexpectedly.', retryable: true };
}

/**
 * The parts every job handler shares: claiming the job, the user's token, cancellation, final
 * writes (once, with webhook deliveries in the same transaction), and the retry decision.
 */
export function createJobRunner(deps: RunnerDeps) {
  async function finalize(
    jobId: string,
    outcome: Parameters<JobRepository['finish']>[1],
    extra?: (tx: PoolClient) => Promise<void>,
  ): Promise<JobRow | undefined> {
    const event: WebhookEvent = outcome.status === 'succeeded' ? 'job.succeeded' : outcome.status === 'failed' ? 'job.failed' : 'job.canceled';
    let delivery: string | null = null;
    const row = await withTransaction(deps.pool, async (tx) => {
      const done = await deps.jobs.finish(jobId, outcome, tx);
      if (!done) return undefined;
      await extra?.(tx);
      delivery = await deps.webhooks.record(tx, done, event);
      return done;
    });
    if (row) {
      await deps.webhooks.enqueue([delivery]);
      await publishJobFinished(deps.publisher, deps.prefix, row.id, row.status).catch(() => undefined);
    }
    return row;
  }

  return {
    finalize,

    /** Marks the job running (idempotent) and returns it with the user's token, or undefined when there is nothing to do. */
    async claim(jobId: string, stage: string): Promise<{ job: JobRow; client: TabPFNClient } | undefined> {
      const current = await deps.jobs.findById(jobId);
      if (!current || !['queued', 'running'].includes(current.status)) return undefined;
      if (current.cancel_requested_at) {
        await finalize(jobId, { status: 'canceled', error: { code: 'canceled', message: 'Canceled by the user.', retryable: false } });
        return undefined;
      }
      let delivery: string | null = null;
      const job = await withTransaction(deps.pool, async (tx) => {
        const j = await deps.jobs.markRunning(jobId, stage, tx);
        if (j && current.status === 'queued') delivery = await deps.webhooks.record(tx, j, 'job.started');
        return j;
      });
      if (!job) return undefined;
      await deps.webhooks.enqueue([delivery]);
      const user = await deps.users.findById(job.user_id);
      if (!user) return undefined;
      return { job, client: deps.tabpfnFor(deps.keyRing.decrypt(user.tabpfn_token_ciphertext, user.id)) };
    },

    /** Runs `work` with an AbortSignal that a cancel broadcast trips. */
    async withCancel<T>(jobId: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
      const controller = new AbortController();
      deps.running.set(jobId, controller);
      try {
        return await work(controller.signal);
      } catch (err) {
        if (controller.signal.aborted) throw new JobCanceled();
        throw err;
      } finally {
        deps.running.delete(jobId);
      }
    },

    setStage(jobId: string, stage: string, message?: string, retryInSeconds?: number): void {
      void deps.jobs
        .setProgress(jobId, { stage: stage as never, ...(message ? { message } : {}), ...(retryInSeconds ? { retry_in_seconds: retryInSeconds } : {}) })
        .catch(() => undefined);
    },

    /**
     * Decides what an error means: cancel → canceled; non-retryable upstream error → failed at once;
     * retryable → rethrow so BullMQ retries with backoff, unless attempts are used up.
     */
    async handleError(bullJob: Job, jobId: string, err: unknown, onFailed?: (tx: PoolClient, error: JobError) => Promise<void>): Promise<void> {
      if (err instanceof JobCanceled) {
        await finalize(jobId, { status: 'canceled', error: { code: 'canceled', message: 'Canceled by the user.', retryable: false } }, async (tx) =>
          onFailed?.(tx, { code: 'canceled', message: 'Canceled', retryable: false }),
        );
        return;
      }
      const error = toJobError(err);
      const attempts = bullJob.opts.attempts ?? deps.jobAttempts;
      const last = bullJob.attemptsMade + 1 >= attempts;
      if (!error.retryable) {
        await finalize(jobId, { status: 'failed', error }, (tx) => onFailed?.(tx, error) ?? Promise.resolve());
        return;
      }
      if (last) {
        const exhausted: JobError = { ...error, code: 'retries_exhausted', message: `Gave up after ${attempts} attempts: ${error.message}` };
        await finalize(jobId, { status: 'failed', error: exhausted }, (tx) => onFailed?.(tx, exhausted) ?? Promise.resolve());
        return;
      }
      if (error.code === 'internal_error') deps.logger.error({ job_id: jobId, err }, 'job attempt failed unexpectedly');
      else deps.logger.warn({ job_id: jobId, code: error.code, attempt: bullJob.attemptsMade + 1 }, 'job attempt failed; will retry');
      await deps.jobs.setProgress(jobId, { stage: 'queued', message: `retrying after: ${error.message}` }).catch(() => undefined);
      throw err;
    },

    async enqueuePredicts(ids: string[]): Promise<void> {
      for (const id of ids) {
        await enqueue(deps.queues, 'predict', { jobId: id }, { jobId: id, attempts: deps.jobAttempts, backoff: { type: 'upstream' } }).catch((err) =>
          deps.logger.warn({ job_id: id, err: (err as Error).message }, 'could not enqueue parked predict; left for the reconciler'),
        );
      }
    },
  };
}

export type JobRunner = ReturnType<typeof createJobRunner>;
