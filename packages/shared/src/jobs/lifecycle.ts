import type { RedisConnection } from '../redis.js';
import type { Pool, Queryable } from '../db/pool.js';
import { withTransaction } from '../db/pool.js';
import type { JobError, JobType, WebhookEvent } from '../domain.js';
import type { Logger } from '../logger.js';
import type { JobRepository, JobRow, NewJob } from '../repositories/job.repository.js';
import type { ModelRepository } from '../repositories/model.repository.js';
import type { PredictRun, PredictRunRepository } from '../repositories/predict-run.repository.js';
import { ATTR } from '../tracing/attributes.js';
import { activeTraceparent, annotateActiveSpan, inJobTrace } from '../tracing/spans.js';
import { publishCancel, publishJobFinished } from './job-events.js';
import type { JobPayload } from './catalog.js';
import { type QueueSet, enqueue, ensureQueued } from './queues.js';

/**
 * One job's life, written in one place. Every state change of a fit or predict goes through here,
 * and each writes what belongs to it together: the row (Postgres, the record), the webhook outbox row
 * in the same transaction, then after commit the queue (BullMQ, the transport) and the broadcast.
 *
 *   create ──▶ queued ──start──▶ running ──finish──▶ succeeded | failed | canceled
 *                 │  ▲              │
 *                 │  └── retry ─────┘   (the worker: BullMQ attempts, backoff from the catalog)
 *                 └──── cancel ───────────────────▶ canceled   (the api, while still queued)
 *
 * A fit that ends any other way than `succeeded` fails its model, and predicts parked on the model
 * (created while it was pending) are released to learn its fate. The api creates and cancels; the
 * worker starts and finishes; the reconciler re-enqueues what Redis lost.
 */

/** What the queue needs of a job row: its kind and the ids a predict's payload carries (jobs/catalog.ts). */
export type QueuedJob = Pick<JobRow, 'id' | 'type' | 'model_id' | 'user_id' | 'dataset_id'>;

/** A predict's test set as upstream's first request describes it (known at submit; the catalog's `testSet`). */
export type TestSetDigest = NonNullable<JobPayload<'predict'>['testSet']>;

/** The job's BullMQ job, added idempotently (its id is the job's). */
function addTo(queues: QueueSet, job: QueuedJob, testSet?: TestSetDigest): Promise<void> {
  if (job.type === 'fit') return enqueue(queues, 'fit', { jobId: job.id }, { jobId: job.id });
  const ids = { modelId: job.model_id, userId: job.user_id, ...(job.dataset_id ? { datasetId: job.dataset_id } : {}), ...(testSet ? { testSet } : {}) };
  return enqueue(queues, 'predict', { jobId: job.id, ...ids }, { jobId: job.id });
}

/** The webhook outbox as the lifecycle uses it (webhooks/emitter.ts). */
export interface JobOutbox {
  record(tx: Queryable, job: JobRow, event: WebhookEvent): Promise<string | null>;
  enqueue(deliveryIds: readonly (string | null | undefined)[]): Promise<void>;
}

export type JobOutcome = Parameters<JobRepository['finish']>[1];

export interface JobLifecycleDeps {
  pool: Pool;
  jobs: JobRepository;
  models: Pick<ModelRepository, 'markFailed'>;
  predictRuns: PredictRunRepository;
  queues: QueueSet;
  /** Publishes finish and cancel broadcasts. */
  publisher: RedisConnection;
  prefix: string;
  outbox: JobOutbox;
  logger: Logger;
  /** How long an enqueue may wait for Redis before the job is left to the reconciler (default 2 s). */
  enqueueTimeoutMs?: number;
  /** A job reached its final status (metrics). */
  onFinished?: (row: JobRow) => void;
}

/** What `create` wrote, as data: the caller stores its response, commits, then calls `submitted`. */
export interface CreatedJob {
  job: JobRow;
  /** Predicts on a model still fitting wait for the fit's end instead of the queue. */
  parked: boolean;
  /** Outbox rows of a job born final (a predict served from cache). */
  deliveries: string[];
  /** A predict's test set stored whole, described for the queue payload. */
  testSet?: TestSetDigest;
}

const CANCELED: JobError = { code: 'canceled', message: 'Canceled by the user.', retryable: false };
const eventOf = (status: JobOutcome['status']): WebhookEvent =>
  status === 'succeeded' ? 'job.succeeded' : status === 'failed' ? 'job.failed' : 'job.canceled';
/** The error a model keeps when its fit ended without a fitted set. */
const modelErrorOf = (outcome: JobOutcome): JobError =>
  outcome.status === 'canceled' ? { code: 'fit_canceled', message: 'The fit was canceled.', retryable: false } : (outcome as { error: JobError }).error;

export function createJobLifecycle(deps: JobLifecycleDeps) {
  const enqueueTimeoutMs = deps.enqueueTimeoutMs ?? 2_000;
  const add = (job: QueuedJob, testSet?: TestSetDigest) => addTo(deps.queues, job, testSet);

  /**
   * Adds the job's BullMQ job (attempts and backoff come from the catalog). Never throws: the job is
   * safe in Postgres, and with Redis down or slow the reconciler enqueues it once Redis answers.
   */
  async function enqueueJob(job: QueuedJob, testSet?: TestSetDigest): Promise<boolean> {
    const jobId = job.id;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        add(job, testSet),
        // BullMQ can wait for a connection indefinitely.
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('enqueue timed out')), enqueueTimeoutMs);
        }),
      ]);
      return true;
    } catch (err) {
      deps.logger.warn({ job_id: jobId, err: (err as Error).message }, 'enqueue failed; left for the reconciler');
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Predicts parked on a model whose fit has ended: to the queue, where they learn its fate. */
  async function releaseParked(modelId: string): Promise<void> {
    for (const job of await deps.jobs.queuedPredictsForModel(modelId)) {
      // In the predict's own trace, linked to the fit (the span active now) that released it.
      await inJobTrace(job.traceparent, 'release parked predict', { [ATTR.jobId]: job.id, [ATTR.modelId]: job.model_id }, () => enqueueJob(job));
    }
  }

  /** After a final state committed: the outbox wake-up, the broadcast, and a fit's parked predicts. */
  async function announceFinished(row: JobRow, deliveries: readonly (string | null)[]): Promise<void> {
    // The broadcast leaves first: pollers waiting on it (Prefer: wait) answer while the rest is done here.
    const published = publishJobFinished(deps.publisher, deps.prefix, row.id, row.status).catch(() => undefined);
    deps.logger.info({ job_id: row.id, type: row.type, status: row.status, attempts: row.attempts }, 'job finished');
    annotateActiveSpan({ [ATTR.jobStatus]: row.status, ...(row.error ? { [ATTR.errorCode]: row.error.code } : {}) });
    deps.onFinished?.(row);
    await deps.outbox.enqueue(deliveries);
    await published;
    if (row.type === 'fit') await releaseParked(row.model_id);
  }

  /**
   * Writes the job's final state once (a conditional update: a job already final, or one whose cancel
   * was requested when `outcome` is success, is left alone and undefined returned), with its outbox row
   * and, for a fit that did not succeed, its model's failure. `extra` writes more in the same
   * transaction (a succeeded fit's model). `from` narrows which statuses may end (the api's cancel
   * only ends queued jobs). `known`: the caller's view of the job; a predict without a webhook needs
   * nothing but the conditional UPDATE, which is atomic alone (no transaction round trips).
   */
  async function finish(
    jobId: string,
    outcome: JobOutcome,
    opts: {
      extra?: (tx: Queryable, row: JobRow) => Promise<void>;
      from?: readonly ('queued' | 'running')[];
      known?: Pick<JobRow, 'type' | 'webhook_url'>;
    } = {},
  ): Promise<JobRow | undefined> {
    if (opts.known?.type === 'predict' && !opts.known.webhook_url && !opts.extra) {
      const row = await deps.jobs.finish(jobId, outcome, undefined, opts.from);
      if (row) await announceFinished(row, []);
      return row;
    }
    let delivery: string | null = null;
    const row = await withTransaction(deps.pool, async (tx) => {
      const done = await deps.jobs.finish(jobId, outcome, tx, opts.from);
      if (!done) return undefined;
      if (done.type === 'fit' && outcome.status !== 'succeeded') await deps.models.markFailed(done.model_id, modelErrorOf(outcome), tx);
      await opts.extra?.(tx, done);
      delivery = await deps.outbox.record(tx, done, eventOf(outcome.status));
      return done;
    });
    if (row) await announceFinished(row, [delivery]);
    return row;
  }

  return {
    enqueue: enqueueJob,
    releaseParked,
    finish,

    /**
     * Inside the submit's transaction (or as its one statement): the job row, admitted under the
     * in-flight cap and with its test set when `opts` say so, and for a job born final its outbox row.
     * Nothing leaves the transaction but data; `submitted` acts on it after commit.
     */
    async create(
      tx: Queryable,
      input: NewJob & { parked?: boolean; testSet?: TestSetDigest },
      opts: Parameters<JobRepository['insert']>[2] = {},
    ): Promise<CreatedJob> {
      const { parked = false, testSet, ...row } = input;
      // The submit's trace context goes with the job: later work on it joins this trace.
      const job = await deps.jobs.insert({ ...row, traceparent: row.traceparent ?? activeTraceparent() }, tx, opts);
      const born = job.status === 'succeeded' ? await deps.outbox.record(tx, job, 'job.succeeded') : null;
      return { job, parked, deliveries: born ? [born] : [], ...(testSet ? { testSet } : {}) };
    },

    /** After the submit committed: a queued job goes to the queue (unless parked); a final one is announced. */
    async submitted(created: CreatedJob): Promise<void> {
      if (created.job.status !== 'queued') await deps.outbox.enqueue(created.deliveries);
      else if (!created.parked) await enqueueJob(created.job, created.testSet);
    },

    /** Marks the job running (idempotent); `job.started` is recorded only on the first start. */
    async start(job: JobRow, stage: string): Promise<JobRow | undefined> {
      annotateActiveSpan({ [ATTR.jobId]: job.id, [ATTR.jobType]: job.type, [ATTR.accountId]: job.user_id, [ATTR.modelId]: job.model_id });
      if (!job.webhook_url) return deps.jobs.markRunning(job.id, stage);
      let delivery: string | null = null;
      const running = await withTransaction(deps.pool, async (tx) => {
        const j = await deps.jobs.markRunning(job.id, stage, tx);
        if (j && job.status === 'queued' && !job.started_at) delivery = await deps.outbox.record(tx, j, 'job.started');
        return j;
      });
      if (running) await deps.outbox.enqueue([delivery]);
      return running;
    },

    /**
     * `start` for a predict not read yet, with what its run reads, in one statement (a job without
     * webhooks: its start is that UPDATE). A job with a webhook, or one that has ended, is only read
     * (`started` false: `start` it as usual); undefined when it is gone.
     */
    async startPredict(jobId: string, stage: string): Promise<PredictRun | undefined> {
      const run = await deps.predictRuns.start(jobId, stage);
      if (run) annotateActiveSpan({ [ATTR.jobId]: jobId, [ATTR.jobType]: 'predict', [ATTR.accountId]: run.job.user_id, [ATTR.modelId]: run.job.model_id });
      return run;
    },

    /** The user's cancel: a queued job ends canceled at once; a running one is told to stop (the worker ends it). */
    async cancel(job: JobRow): Promise<JobRow> {
      if (job.status === 'queued') {
        const done = await finish(job.id, { status: 'canceled', error: CANCELED }, { from: ['queued'] });
        if (done) {
          await deps.queues[job.type].remove(job.id).catch(() => undefined);
          return done;
        }
        // A worker took it meanwhile (or it finished): treat it as what it is now.
        job = (await deps.jobs.findById(job.id)) ?? job;
      }
      if (job.status === 'running') {
        await deps.jobs.requestCancel(job.id);
        await publishCancel(deps.publisher, deps.prefix, job.id).catch((err) =>
          deps.logger.warn(
            { job_id: job.id, err: (err as Error).message },
            'cancel broadcast failed; the job cannot end succeeded, and its next attempt ends it canceled',
          ),
        );
        return (await deps.jobs.findById(job.id)) ?? job;
      }
      return job;
    },

    /** Active jobs whose model is going away: out of the queue, and running ones told to stop. */
    async abandon(active: readonly { id: string; type: JobType; status: string }[]): Promise<void> {
      for (const j of active) {
        await deps.queues[j.type].remove(j.id).catch(() => undefined);
        if (j.status === 'running') await publishCancel(deps.publisher, deps.prefix, j.id).catch(() => undefined);
      }
    },

    /** Reconciler: a job active in Postgres whose BullMQ job Redis lost (or holds as finished) is added again. */
    async requeueIfLost(job: QueuedJob & { traceparent?: string | null }): Promise<boolean> {
      // Added again in the job's own trace, linked to the reconciler's run that found it lost.
      const requeue = () => inJobTrace(job.traceparent, 'requeue lost job', { [ATTR.jobId]: job.id, [ATTR.jobType]: job.type }, () => add(job));
      const added = await ensureQueued(deps.queues[job.type], job.id, requeue);
      if (added) await deps.jobs.touch(job.id);
      return added;
    },
  };
}

export type JobLifecycle = ReturnType<typeof createJobLifecycle>;
