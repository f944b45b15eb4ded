import type { Queryable } from '../db/pool.js';
import type { JobError, JobProgress, JobStatus, JobType } from '../domain.js';
import { type NewDataset, datasetInsertSql } from './dataset.repository.js';

export interface JobRow {
  id: string;
  user_id: string;
  type: JobType;
  status: JobStatus;
  model_id: string;
  dataset_id: string | null;
  params: Record<string, unknown>;
  cache_key: string | null;
  cached: boolean;
  result: unknown;
  /** The rows are in predict_chunks; `result` holds only the header (batch predicts, see batch/). */
  result_chunked: boolean;
  result_removed_at: Date | null;
  error: JobError | null;
  progress: JobProgress | null;
  attempts: number;
  n_rows: number;
  webhook_url: string | null;
  webhook_events: string[] | null;
  cancel_requested_at: Date | null;
  /** W3C traceparent of the span that submitted the job; null when it was not traced. */
  traceparent: string | null;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface NewJob {
  id?: string;
  userId: string;
  type: JobType;
  modelId: string;
  datasetId: string | null;
  params: Record<string, unknown>;
  cacheKey?: string | null;
  nRows: number;
  webhookUrl?: string | null;
  webhookEvents?: string[] | null;
  /** For a predict served from cache: the job is born finished. */
  cachedResult?: unknown;
  /** The submit's trace context (W3C traceparent), when it is traced. */
  traceparent?: string | null;
}

export interface JobListFilter {
  userId: string;
  status?: JobStatus;
  type?: JobType;
  modelId?: string;
  /** Keyset cursor: rows strictly older than (createdAt, id). */
  /** Keyset position: `page_key` (created_at to the microsecond) and id of the previous page's last row. */
  before?: { pageKey: string; id: string };
  limit: number;
}

/** The account already has as many queued or running jobs as the insert allowed (`admitUnder`). */
export class ActiveJobCapReached extends Error {
  constructor(readonly active: number) {
    super(`the account has ${active} queued or running jobs`);
  }
}

/**
 * A FROM item that makes the statement's own transaction commit without waiting for its WAL to reach
 * disk (`synchronous_commit` off, transaction-local). For writes a crash may lose without harm: a
 * job marked running (a lost start leaves it queued, and the worker's later final write, durable,
 * flushes the WAL up to and past it) and progress. A job's creation and its end stay durable.
 */
export const ASYNC_COMMIT = `(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`;

/** One job's progress, as the worker reports it (`setProgress`). */
export interface ProgressWrite {
  id: string;
  progress: Partial<JobProgress> & { stage: string };
}

export const progress = (stage: string) => JSON.stringify({ stage, updated_at: new Date().toISOString() });

/** A job's start: running, one more attempt, its first start kept, the stage `$2`. From queued or running only. */
export const START_SET = `status = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, now()), progress = $2, updated_at = now()`;
/** The columns `START_SET` writes. */
export const START_COLUMNS = ['status', 'attempts', 'started_at', 'progress', 'updated_at'] as const;

export function createJobRepository(pool: Queryable) {
  /** The account's queued and running jobs (kept by the jobs_count_active trigger). */
  async function countActive(userId: string, tx: Queryable = pool): Promise<number> {
    const { rows } = await tx.query<{ n: number }>('SELECT active AS n FROM account_job_counts WHERE user_id = $1', [userId]);
    return rows[0]?.n ?? 0;
  }

  return {
    /**
     * Inserts a job. `admitUnder`: only if the account has fewer queued or running jobs than that
     * (else `ActiveJobCapReached`), read from its row in account_job_counts, locked to the commit (the
     * jobs_count_active trigger counts the new job there). `testSet`: a dataset row written in the same
     * statement, the job referring to it. A predict on a ready model without an Idempotency-Key is thus
     * one statement, one round trip.
     */
    async insert(job: NewJob, tx: Queryable = pool, opts: { admitUnder?: number; testSet?: NewDataset } = {}): Promise<JobRow> {
      const cached = job.cachedResult !== undefined;
      const values: unknown[] = [
        job.id ?? null,
        job.userId,
        job.type,
        job.modelId,
        job.datasetId,
        JSON.stringify(job.params),
        job.cacheKey ?? null,
        job.nRows,
        job.webhookUrl ?? null,
        job.webhookEvents ?? null,
        cached,
        cached ? JSON.stringify(job.cachedResult) : null,
        progress(cached ? 'done' : 'queued'),
        job.traceparent ?? null,
      ];
      const ctes: string[] = [];
      let source = '';
      if (opts.admitUnder !== undefined) {
        values.push(opts.admitUnder);
        ctes.push(
          // The account and the model are locked (as the job's foreign keys would) BEFORE the count:
          // deleting either locks it first and the count last (cascade, then trigger), so taking them
          // in the same order cannot deadlock. A gone account or model fails the inserts' foreign keys.
          // MATERIALIZED and `n` read: the planner drops subquery outputs nobody reads, locks and all.
          `locked AS MATERIALIZED (SELECT
             (SELECT count(*) FROM (SELECT 1 FROM users WHERE id = $2::uuid FOR KEY SHARE) o) +
             (SELECT count(*) FROM (SELECT 1 FROM models WHERE id = $4::uuid FOR KEY SHARE) m) AS n)`,
          `admitted AS (INSERT INTO account_job_counts (user_id) SELECT $2::uuid FROM locked WHERE locked.n >= 0
             ON CONFLICT (user_id) DO UPDATE SET active = account_job_counts.active
             WHERE account_job_counts.active < $${values.length}::int RETURNING active)`,
        );
        source = 'admitted';
      }
      if (opts.testSet) {
        const d = datasetInsertSql(opts.testSet, values.length + 1);
        values.push(...d.values);
        ctes.push(`d AS (INSERT INTO datasets (${d.columns}) SELECT ${d.placeholders} ${source ? `FROM ${source}` : ''} RETURNING id)`);
        source = 'd';
      }
      const sql = `${ctes.length ? `WITH ${ctes.join(', ')} ` : ''}
        INSERT INTO jobs (id, user_id, type, model_id, dataset_id, params, cache_key, n_rows, webhook_url, webhook_events,
                          status, cached, result, progress, started_at, finished_at, traceparent)
        SELECT COALESCE($1::uuid, gen_random_uuid()), $2::uuid, $3::text, $4::uuid, ${opts.testSet ? 'COALESCE(d.id, $5::uuid)' : '$5::uuid'}, $6::jsonb,
               $7::text, $8::int, $9::text, $10::text[],
               CASE WHEN $11::boolean THEN 'succeeded' ELSE 'queued' END, $11::boolean, $12::jsonb, $13::jsonb,
               CASE WHEN $11::boolean THEN now() END, CASE WHEN $11::boolean THEN now() END, $14::text
        ${source ? `FROM ${source}` : ''}
        RETURNING *`;
      const { rows } = await tx.query<JobRow>(sql, values);
      if (rows[0]) return rows[0];
      // Only the admission returns no row: the account is full.
      throw new ActiveJobCapReached(await countActive(job.userId, tx));
    },

    /** Whether the job's cancel was requested (false for a job that is gone). */
    async isCancelRequested(id: string, tx: Queryable = pool): Promise<boolean> {
      const { rows } = await tx.query<{ requested: boolean }>(
        'SELECT cancel_requested_at IS NOT NULL AS requested FROM jobs WHERE id = $1',
        [id],
      );
      return rows[0]?.requested ?? false;
    },

    async findById(id: string, tx: Queryable = pool): Promise<JobRow | undefined> {
      const { rows } = await tx.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
      return rows[0];
    },

    async list(f: JobListFilter, tx: Queryable = pool): Promise<(JobRow & { page_key: string })[]> {
      const { rows } = await tx.query<JobRow & { page_key: string }>(
        `SELECT *, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS page_key FROM jobs
         WHERE user_id = $1
           AND ($2::text IS NULL OR status = $2)
           AND ($3::text IS NULL OR type = $3)
           AND ($4::uuid IS NULL OR model_id = $4)
           AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6::uuid))
         ORDER BY created_at DESC, id DESC
         LIMIT $7`,
        [f.userId, f.status ?? null, f.type ?? null, f.modelId ?? null, f.before?.pageKey ?? null, f.before?.id ?? null, f.limit],
      );
      return rows;
    },

    countActive,

    /** The newest finished predict with this cache key and a result still kept. */
    async findCached(userId: string, cacheKey: string, maxAgeSeconds: number, tx: Queryable = pool): Promise<JobRow | undefined> {
      const { rows } = await tx.query<JobRow>(
        `SELECT * FROM jobs
         WHERE user_id = $1 AND cache_key = $2 AND status = 'succeeded' AND result IS NOT NULL AND NOT result_chunked
           AND finished_at > now() - make_interval(secs => $3)
         ORDER BY finished_at DESC LIMIT 1`,
        [userId, cacheKey, maxAgeSeconds],
      );
      return rows[0];
    },

    /** queued/running → running; returns undefined when the job is already final (or gone). */
    async markRunning(id: string, stage: string, tx: Queryable = pool): Promise<JobRow | undefined> {
      const { rows } = await tx.query<JobRow>(
        `UPDATE jobs SET ${START_SET}
         WHERE id = $1 AND status IN ('queued', 'running') RETURNING *`,
        [id, progress(stage)],
      );
      return rows[0];
    },

    /**
     * The progress of several jobs in one statement (the worker coalesces its jobs' writes), each only
     * while its job is queued or running. Rows are locked in id order, as any other batch would.
     */
    async setProgress(writes: readonly ProgressWrite[], tx: Queryable = pool): Promise<void> {
      if (!writes.length) return;
      const at = new Date().toISOString();
      const sorted = [...writes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      await tx.query(
        `UPDATE jobs SET progress = w.progress, updated_at = now()
           FROM unnest($1::uuid[], $2::jsonb[]) AS w(id, progress), ${ASYNC_COMMIT}
         WHERE jobs.id = w.id AND jobs.status IN ('queued', 'running')`,
        [sorted.map((w) => w.id), sorted.map((w) => JSON.stringify({ ...w.progress, updated_at: at }))],
      );
    },

    /**
     * Final write; only from a non-final state (or only from `from`), so a job can finish once. A job
     * whose cancel was requested cannot end `succeeded`, even if the cancel broadcast never arrived.
     */
    async finish(
      id: string,
      outcome:
        | { status: 'succeeded'; result: unknown; chunked?: boolean }
        | { status: 'failed'; error: JobError; chunked?: boolean; result?: unknown }
        | { status: 'canceled'; error?: JobError },
      tx: Queryable = pool,
      from: readonly ('queued' | 'running')[] = ['queued', 'running'],
    ): Promise<JobRow | undefined> {
      const { rows } = await tx.query<JobRow>(
        // A batch's counters (chunks, rows) stay in the final progress; a waiting message does not.
        `UPDATE jobs SET status = $2, result = $3, error = $4, finished_at = now(), updated_at = now(),
                         progress = (COALESCE(progress, '{}'::jsonb) - 'message' - 'retry_in_seconds') || $5::jsonb,
                         result_chunked = $7
         WHERE id = $1 AND status = ANY($6::text[]) AND ($2 <> 'succeeded' OR cancel_requested_at IS NULL) RETURNING *`,
        [
          id,
          outcome.status,
          'result' in outcome && outcome.result !== undefined ? JSON.stringify(outcome.result) : null,
          'error' in outcome && outcome.error ? JSON.stringify(outcome.error) : null,
          progress('done'),
          from,
          'chunked' in outcome && outcome.chunked === true,
        ],
      );
      return rows[0];
    },

    async requestCancel(id: string, tx: Queryable = pool): Promise<void> {
      await tx.query(`UPDATE jobs SET cancel_requested_at = COALESCE(cancel_requested_at, now()), updated_at = now() WHERE id = $1`, [id]);
    },

    /** A model's jobs that are not final yet, and every dataset its jobs use (for deleting the model). */
    async forModelDeletion(
      modelId: string,
      tx: Queryable = pool,
    ): Promise<{ active: Pick<JobRow, 'id' | 'type' | 'status'>[]; datasetIds: string[] }> {
      const { rows } = await tx.query<Pick<JobRow, 'id' | 'type' | 'status' | 'dataset_id'>>(
        'SELECT id, type, status, dataset_id FROM jobs WHERE model_id = $1',
        [modelId],
      );
      return {
        active: rows.filter((r) => r.status === 'queued' || r.status === 'running'),
        datasetIds: [...new Set(rows.map((r) => r.dataset_id).filter((id): id is string => id !== null))],
      };
    },

    /** Predicts parked behind a fit that has now finished. */
    async queuedPredictsForModel(
      modelId: string,
      tx: Queryable = pool,
    ): Promise<Pick<JobRow, 'id' | 'type' | 'model_id' | 'user_id' | 'dataset_id' | 'traceparent'>[]> {
      const { rows } = await tx.query(
        `SELECT id, type, model_id, user_id, dataset_id, traceparent FROM jobs WHERE model_id = $1 AND type = 'predict' AND status = 'queued'`,
        [modelId],
      );
      return rows;
    },

    /** Jobs the reconciler may need to re-enqueue (older than `minAgeSeconds`, to skip ones being enqueued right now). */
    /**
     * Active jobs untouched for `minAgeSeconds`, oldest first, after `after` (keyset paging, so a
     * backlog that is fine in Redis cannot hide the jobs behind it). Predicts parked on a fit still
     * running are left out: the fit's end enqueues them.
     */
    async listStaleActive(
      minAgeSeconds: number,
      limit: number,
      after?: { pageKey: string; id: string },
      tx: Queryable = pool,
    ): Promise<(Pick<JobRow, 'id' | 'type' | 'status' | 'model_id' | 'user_id' | 'dataset_id' | 'traceparent'> & { page_key: string })[]> {
      const { rows } = await tx.query(
        `SELECT j.id, j.type, j.status, j.model_id, j.user_id, j.dataset_id, j.traceparent, j.updated_at::text AS page_key FROM jobs j
         WHERE j.status IN ('queued', 'running') AND j.updated_at < now() - make_interval(secs => $1)
           AND ($3::timestamptz IS NULL OR (j.updated_at, j.id) > ($3, $4::uuid))
           AND NOT (j.type = 'predict' AND j.status = 'queued'
                    AND EXISTS (SELECT 1 FROM models m WHERE m.id = j.model_id AND m.status = 'pending'))
         ORDER BY j.updated_at, j.id LIMIT $2`,
        [minAgeSeconds, limit, after?.pageKey ?? null, after?.id ?? null],
      );
      return rows;
    },

    async touch(id: string, tx: Queryable = pool): Promise<void> {
      await tx.query('UPDATE jobs SET updated_at = now() WHERE id = $1', [id]);
    },

    /** Drops result data past retention; the job keeps its metadata and says `data_removed`. */
    /** Returns the ids of the jobs whose results it removed. */
    async removeExpiredResults(olderThanSeconds: number, limit: number, tx: Queryable = pool): Promise<string[]> {
      const { rows } = await tx.query<{ id: string }>(
        `WITH expired AS (
           UPDATE jobs SET result = NULL, result_removed_at = now()
           WHERE id IN (SELECT id FROM jobs WHERE result IS NOT NULL AND finished_at < now() - make_interval(secs => $1) LIMIT $2)
           RETURNING id
         ), chunks AS (DELETE FROM predict_chunks c USING expired e WHERE c.job_id = e.id)
         SELECT id FROM expired`,
        [olderThanSeconds, limit],
      );
      return rows.map((r) => r.id);
    },
  };
}

export type JobRepository = ReturnType<typeof createJobRepository>;
