import type { Queryable } from '../db/pool.js';

export interface DatasetRow {
  id: string;
  user_id: string;
  kind: 'train' | 'test';
  content_hash: string;
  format: string;
  x_bytes: Buffer | null;
  y_bytes: Buffer | null;
  n_rows: number;
  n_cols: number;
  columns: { name: string; type: 'number' | 'string' }[];
  target_type: string | null;
  size_bytes: number;
  created_at: Date;
  data_removed_at: Date | null;
}

export interface NewDataset {
  userId: string;
  kind: 'train' | 'test';
  contentHash: string;
  x: Uint8Array;
  y: Uint8Array | null;
  nRows: number;
  nCols: number;
  columns: { name: string; type: string }[];
  targetType: string | null;
}

export function createDatasetRepository(pool: Queryable) {
  return {
    async insert(d: NewDataset, tx: Queryable = pool): Promise<DatasetRow> {
      const size = d.x.byteLength + (d.y?.byteLength ?? 0);
      const { rows } = await tx.query<DatasetRow>(
        `INSERT INTO datasets (user_id, kind, content_hash, x_bytes, y_bytes, n_rows, n_cols, columns, target_type, size_bytes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING id, user_id, kind, content_hash, format, NULL::bytea AS x_bytes, NULL::bytea AS y_bytes, n_rows, n_cols,
                   columns, target_type, size_bytes, created_at, data_removed_at`,
        [
          d.userId,
          d.kind,
          d.contentHash,
          Buffer.from(d.x.buffer, d.x.byteOffset, d.x.byteLength),
          d.y ? Buffer.from(d.y.buffer, d.y.byteOffset, d.y.byteLength) : null,
          d.nRows,
          d.nCols,
          JSON.stringify(d.columns),
          d.targetType,
          size,
        ],
      );
      return rows[0]!;
    },

    /** With the bytes: only the worker needs them. */
    async findWithData(id: string, tx: Queryable = pool): Promise<DatasetRow | undefined> {
      const { rows } = await tx.query<DatasetRow>('SELECT * FROM datasets WHERE id = $1', [id]);
      return rows[0];
    },

    /** Deletes those of `ids` no model or job refers to any more. */
    async deleteUnreferenced(ids: string[], tx: Queryable = pool): Promise<number> {
      if (!ids.length) return 0;
      const { rowCount } = await tx.query(
        `DELETE FROM datasets d WHERE d.id = ANY($1::uuid[])
           AND NOT EXISTS (SELECT 1 FROM models m WHERE m.dataset_id = d.id)
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.dataset_id = d.id)`,
        [ids],
      );
      return rowCount ?? 0;
    },

    /**
     * Frees the bytes of test sets past retention that no active job still needs. Train sets stay
     * while their model exists: re-fitting a model upstream has forgotten needs them.
     */
    async removeExpiredData(olderThanSeconds: number, limit: number, tx: Queryable = pool): Promise<number> {
      const { rowCount } = await tx.query(
        `UPDATE datasets d SET x_bytes = NULL, y_bytes = NULL, data_removed_at = now()
         WHERE d.id IN (
           SELECT id FROM datasets WHERE kind = 'test' AND data_removed_at IS NULL AND created_at < now() - make_interval(secs => $1) LIMIT $2
         )
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.dataset_id = d.id AND j.status IN ('queued', 'running'))`,
        [olderThanSeconds, limit],
      );
      return rowCount ?? 0;
    },
  };
}

export type DatasetRepository = ReturnType<typeof createDatasetRepository>;
