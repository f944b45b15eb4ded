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
  /** Parts in dataset_parts (a large streamed test set, or a CSV fit stored as cells); 0 when `x_bytes` holds the whole set. */
  n_parts: number;
  /** Format 'csv-cells' (a CSV fit stored as its cells until the worker encodes it): which cell of a row is the target. */
  target_column: number | null;
  created_at: Date;
  data_removed_at: Date | null;
}

export interface DatasetPart {
  row_start: number;
  n_rows: number;
  x_bytes: Buffer;
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

/**
 * A dataset row's INSERT as SQL pieces: its column list, the typed placeholders from `$firstParam`
 * on, and their values. `insert` uses it, and so does a statement that writes the rows that refer to
 * the dataset with it (job.repository.ts: a test set and its predict in one round trip).
 */
export function datasetInsertSql(d: NewDataset, firstParam: number): { columns: string; placeholders: string; values: unknown[] } {
  const types = ['uuid', 'text', 'text', 'int', 'int', 'jsonb', 'text', 'int', 'bytea', 'bytea'];
  return {
    // The bytes are the last parameters: pg grows its message buffer by half again for every
    // parameter written after a large one (a 27 MB train set cost 67 MB of copies, 27 MB this way).
    columns: 'user_id, kind, content_hash, n_rows, n_cols, columns, target_type, size_bytes, y_bytes, x_bytes',
    placeholders: types.map((t, i) => `$${firstParam + i}::${t}`).join(', '),
    values: [
      d.userId,
      d.kind,
      d.contentHash,
      d.nRows,
      d.nCols,
      JSON.stringify(d.columns),
      d.targetType,
      d.x.byteLength + (d.y?.byteLength ?? 0),
      d.y ? Buffer.from(d.y.buffer, d.y.byteOffset, d.y.byteLength) : null,
      Buffer.from(d.x.buffer, d.x.byteOffset, d.x.byteLength),
    ],
  };
}

export function createDatasetRepository(pool: Queryable) {
  return {
    async insert(d: NewDataset, tx: Queryable = pool): Promise<DatasetRow> {
      const sql = datasetInsertSql(d, 1);
      const { rows } = await tx.query<DatasetRow>(
        `INSERT INTO datasets (${sql.columns}) VALUES (${sql.placeholders})
         RETURNING id, user_id, kind, content_hash, format, NULL::bytea AS x_bytes, NULL::bytea AS y_bytes, n_rows, n_cols,
                   columns, target_type, size_bytes, n_parts, created_at, data_removed_at`,
        sql.values,
      );
      return rows[0]!;
    },

    /** With the bytes: only the worker needs them. */
    async findWithData(id: string, tx: Queryable = pool): Promise<DatasetRow | undefined> {
      const { rows } = await tx.query<DatasetRow>('SELECT * FROM datasets WHERE id = $1', [id]);
      return rows[0];
    },

    /**
     * A test set that arrives in parts: the row is written first (incomplete, outside the submit's
     * transaction), then its parts as they are encoded, then `completeParts` inside the transaction.
     */
    async insertPending(d: Pick<NewDataset, 'userId' | 'nCols' | 'columns'>, tx: Queryable = pool): Promise<string> {
      const { rows } = await tx.query<{ id: string }>(
        `INSERT INTO datasets (user_id, kind, content_hash, n_rows, n_cols, columns, size_bytes, complete)
         VALUES ($1, 'test', '', 0, $2, $3, 0, false) RETURNING id`,
        [d.userId, d.nCols, JSON.stringify(d.columns)],
      );
      return rows[0]!.id;
    },

    async insertPart(datasetId: string, rowStart: number, nRows: number, bytes: Uint8Array, tx: Queryable = pool): Promise<void> {
      await tx.query('INSERT INTO dataset_parts (dataset_id, row_start, n_rows, x_bytes) VALUES ($1, $2, $3, $4)', [
        datasetId,
        rowStart,
        nRows,
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      ]);
    },

    async completeParts(
      datasetId: string,
      d: { nRows: number; nParts: number; contentHash: string; sizeBytes: number },
      tx: Queryable = pool,
    ): Promise<void> {
      await tx.query(
        `UPDATE datasets SET n_rows = $2, n_parts = $3, content_hash = $4, size_bytes = $5, complete = true WHERE id = $1`,
        [datasetId, d.nRows, d.nParts, d.contentHash, d.sizeBytes],
      );
    },

    /** The parts holding rows [from, to), in row order. */
    async partsOverlapping(datasetId: string, from: number, to: number, tx: Queryable = pool): Promise<DatasetPart[]> {
      const { rows } = await tx.query<DatasetPart>(
        `SELECT row_start, n_rows, x_bytes FROM dataset_parts
         WHERE dataset_id = $1 AND row_start < $3 AND row_start + n_rows > $2 ORDER BY row_start`,
        [datasetId, from, to],
      );
      return rows;
    },

    /** A set's parts in row order, read one at a time (a large set is never held whole). */
    async *partsInOrder(datasetId: string, tx: Queryable = pool): AsyncGenerator<DatasetPart> {
      for (let from = 0; ; ) {
        const { rows } = await tx.query<DatasetPart>(
          'SELECT row_start, n_rows, x_bytes FROM dataset_parts WHERE dataset_id = $1 AND row_start >= $2 ORDER BY row_start LIMIT 1',
          [datasetId, from],
        );
        const part = rows[0];
        if (!part) return;
        yield part;
        from = part.row_start + part.n_rows;
      }
    },

    async delete(id: string, tx: Queryable = pool): Promise<void> {
      await tx.query('DELETE FROM datasets WHERE id = $1', [id]);
    },

    /** Test sets whose upload failed half-way (no job ever referred to them). */
    async deleteIncomplete(olderThanSeconds: number, tx: Queryable = pool): Promise<number> {
      const { rowCount } = await tx.query(
        `DELETE FROM datasets WHERE NOT complete AND created_at < now() - make_interval(secs => $1)`,
        [olderThanSeconds],
      );
      return rowCount ?? 0;
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
        `WITH removed AS (
           UPDATE datasets d SET x_bytes = NULL, y_bytes = NULL, data_removed_at = now()
           WHERE d.id IN (
             SELECT id FROM datasets WHERE kind = 'test' AND complete AND data_removed_at IS NULL
               AND created_at < now() - make_interval(secs => $1) LIMIT $2
           )
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.dataset_id = d.id AND j.status IN ('queued', 'running'))
           RETURNING d.id
         ), parts AS (DELETE FROM dataset_parts p USING removed r WHERE p.dataset_id = r.id)
         SELECT id FROM removed`,
        [olderThanSeconds, limit],
      );
      return rowCount ?? 0;
    },

    /**
     * A CSV fit stored as its cells while it streams in (format 'csv-cells'): the row first, incomplete
     * (outside the submit's transaction), then its parts (`insertPart`), then `completeCells` in the
     * submit's transaction once the whole file is validated.
     */
    async insertPendingCells(d: { userId: string; nCols: number }, tx: Queryable = pool): Promise<string> {
      const { rows } = await tx.query<{ id: string }>(
        `INSERT INTO datasets (user_id, kind, format, content_hash, n_rows, n_cols, columns, size_bytes, complete)
         VALUES ($1, 'train', 'csv-cells', '', 0, $2, '[]', 0, false) RETURNING id`,
        [d.userId, d.nCols],
      );
      return rows[0]!.id;
    },

    async completeCells(
      id: string,
      d: { nRows: number; nParts: number; contentHash: string; sizeBytes: number; columns: { name: string; type: string }[]; targetType: string; targetColumn: number },
      tx: Queryable = pool,
    ): Promise<{ id: string }> {
      await tx.query(
        `UPDATE datasets SET n_rows = $2, n_parts = $3, content_hash = $4, size_bytes = $5, columns = $6, target_type = $7,
                             target_column = $8, complete = true
         WHERE id = $1`,
        [id, d.nRows, d.nParts, d.contentHash, d.sizeBytes, JSON.stringify(d.columns), d.targetType, d.targetColumn],
      );
      return { id };
    },

    /**
     * The worker's parquet encoding of a set stored as cells, written in its place (and the cells
     * dropped). False when another writer did it first: the set is encoded once.
     */
    async replaceCellsWithParquet(id: string, d: { x: Uint8Array; y: Uint8Array; contentHash: string }, tx: Queryable = pool): Promise<boolean> {
      const { rowCount } = await tx.query(
        `UPDATE datasets SET format = 'parquet', content_hash = $2, size_bytes = $3, n_parts = 0, target_column = NULL, y_bytes = $4, x_bytes = $5
         WHERE id = $1 AND format = 'csv-cells'`,
        [id, d.contentHash, d.x.byteLength + d.y.byteLength, toBuffer(d.y), toBuffer(d.x)],
      );
      if (!rowCount) return false;
      await tx.query('DELETE FROM dataset_parts WHERE dataset_id = $1', [id]);
      return true;
    },
  };
}

const toBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

export type DatasetRepository = ReturnType<typeof createDatasetRepository>;
