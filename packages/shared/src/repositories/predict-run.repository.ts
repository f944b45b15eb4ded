import type { Queryable } from '../db/pool.js';
import type { DatasetRow } from './dataset.repository.js';
import { ASYNC_COMMIT, type JobRow, START_COLUMNS, START_SET, progress } from './job.repository.js';
import type { ModelRow } from './model.repository.js';

/**
 * A predict as its run starts: the job (running, if `started`), its model, its test set (with the
 * bytes) and its account's token, sealed.
 */
export interface PredictRun {
  job: JobRow;
  /** False for a job with a webhook (its start also records a delivery: the lifecycle's `start`) or one that has ended. */
  started: boolean;
  model: ModelRow;
  dataset: DatasetRow | undefined;
  user: { id: string; tabpfn_token_ciphertext: string };
}

// Where one table's columns end and the next one's begin in the joined row (names no column has).
const MODEL = '§model';
const DATASET = '§dataset';
const USER = '§user';
const RUN = '§run';
/**
 * From the started row: the columns the start wrote, and a cancel requested after the statement's
 * snapshot (the UPDATE waits for the cancel's commit and sees it; the join does not).
 */
const STARTED_COLUMNS = [...START_COLUMNS, 'cancel_requested_at'];

// A data-modifying CTE runs once, and the rest of the statement sees the row as it was before: the
// columns the start wrote come from `s` (none when it did not start the job). A plain join with the
// update beside it, not a union of updated and unchanged rows: half the time in Postgres. Built once.
// The start commits without waiting for its WAL flush (see ASYNC_COMMIT): the job's upstream call
// waits for this answer.
const START_PREDICT_SQL = `WITH s AS (UPDATE jobs SET ${START_SET} WHERE id = $1 AND status IN ('queued', 'running') AND webhook_url IS NULL
                          RETURNING ${STARTED_COLUMNS.join(', ')})
               SELECT j.*, NULL AS "${MODEL}", m.*, NULL AS "${DATASET}", d.*, NULL AS "${USER}", u.id, u.tabpfn_token_ciphertext,
                      NULL AS "${RUN}", ${STARTED_COLUMNS.map((c) => `s.${c}`).join(', ')}
               FROM jobs j JOIN models m ON m.id = j.model_id JOIN users u ON u.id = j.user_id
                    LEFT JOIN datasets d ON d.id = j.dataset_id LEFT JOIN s ON true CROSS JOIN ${ASYNC_COMMIT}
               WHERE j.id = $1`;

/** Splits a joined row by its marker columns into the rows it joins. */
function split(fields: { name: string }[], values: unknown[]): Record<string, Record<string, unknown>> {
  const parts: Record<string, Record<string, unknown>> = { job: {} };
  let part = parts.job!;
  fields.forEach((f, i) => {
    if (f.name === MODEL || f.name === DATASET || f.name === USER || f.name === RUN) part = parts[f.name] = {};
    else part[f.name] = values[i];
  });
  return parts;
}

export function createPredictRunRepository(pool: Queryable) {
  return {
    /**
     * Starts a predict without webhooks (its start is this one UPDATE; one with a webhook also records
     * a delivery, see the lifecycle) and reads what its run needs, in one statement: one round trip and
     * one server process where a read of the job, its model, its test set and the token took four. A job
     * with a webhook, or one that has ended, is read as it is (`started` false). Undefined when it is gone.
     */
    async start(id: string, stage: string, tx: Queryable = pool): Promise<PredictRun | undefined> {
      const { rows, fields } = await tx.query<unknown[]>({
        text: START_PREDICT_SQL,
        values: [id, progress(stage)],
        rowMode: 'array',
      });
      if (!rows[0]) return undefined;
      const parts = split(fields, rows[0]);
      const dataset = parts[DATASET] as unknown as DatasetRow;
      const start = parts[RUN] as Partial<JobRow>;
      const started = start.status != null;
      return {
        job: (started ? { ...parts.job, ...start } : parts.job) as unknown as JobRow,
        started,
        model: parts[MODEL] as unknown as ModelRow,
        dataset: dataset.id ? dataset : undefined,
        user: parts[USER] as unknown as PredictRun['user'],
      };
    },
  };
}

export type PredictRunRepository = ReturnType<typeof createPredictRunRepository>;
