import type { Queryable } from '../db/pool.js';

export interface PredictChunkRow {
  row_start: number;
  row_end: number;
  /** Upstream's prediction for rows [row_start, row_end), as it answered. */
  prediction: unknown;
}

/** A batch predict's finished chunks (migrations/…_batch-predict.sql). */
export function createPredictChunkRepository(pool: Queryable) {
  return {
    /**
     * Stores a finished chunk unless stored chunks already cover any of its rows (two runs of one job,
     * e.g. a worker presumed dead that was not, may cut the rows differently): a result never holds a
     * row twice. `tx` must be a transaction: the per-job lock lasts until it ends.
     */
    async store(jobId: string, rowStart: number, rowEnd: number, prediction: unknown, tx: Queryable): Promise<boolean> {
      await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))', [jobId]);
      const { rowCount } = await tx.query(
        `INSERT INTO predict_chunks (job_id, row_start, row_end, prediction)
         SELECT $1, $2, $3, $4
         WHERE NOT EXISTS (SELECT 1 FROM predict_chunks WHERE job_id = $1 AND row_start < $3 AND row_end > $2)`,
        [jobId, rowStart, rowEnd, JSON.stringify(prediction)],
      );
      return (rowCount ?? 0) > 0;
    },

    /** The row ranges already stored, in row order (what a resumed batch skips). */
    async ranges(jobId: string, tx: Queryable = pool): Promise<{ start: number; end: number }[]> {
      const { rows } = await tx.query<{ start: number; end: number }>(
        'SELECT row_start AS start, row_end AS "end" FROM predict_chunks WHERE job_id = $1 ORDER BY row_start',
        [jobId],
      );
      return rows;
    },

    /** Every chunk with its prediction, in row order: only for results small enough to assemble. */
    async all(jobId: string, tx: Queryable = pool): Promise<PredictChunkRow[]> {
      const { rows } = await tx.query<PredictChunkRow>(
        'SELECT row_start, row_end, prediction FROM predict_chunks WHERE job_id = $1 ORDER BY row_start',
        [jobId],
      );
      return rows;
    },

    /** The chunks in row order, read one at a time, so a large result is never held whole. */
    async *each(jobId: string, tx: Queryable = pool): AsyncGenerator<PredictChunkRow> {
      let from = -1;
      for (;;) {
        const { rows } = await tx.query<PredictChunkRow>(
          'SELECT row_start, row_end, prediction FROM predict_chunks WHERE job_id = $1 AND row_start > $2 ORDER BY row_start LIMIT 1',
          [jobId, from],
        );
        const chunk = rows[0];
        if (!chunk) return;
        yield chunk;
        from = chunk.row_start;
      }
    },
  };
}

export type PredictChunkRepository = ReturnType<typeof createPredictChunkRepository>;
