import type { Queryable } from '../db/pool.js';
import type { JobError, ModelStatus, Task } from '../domain.js';

export interface ModelRow {
  id: string;
  user_id: string;
  status: ModelStatus;
  task: Task;
  model_name: string | null;
  dataset_id: string | null;
  fit_key: string;
  upstream_train_set_upload_id: string | null;
  upstream_fitted_train_set_id: string | null;
  n_samples: number;
  n_features: number;
  feature_names: string[];
  feature_types: ('number' | 'string')[];
  classes: (string | number | boolean)[] | null;
  target_type: string | null;
  config: Record<string, unknown>;
  categorical_features: number[] | null;
  description: string | null;
  error: JobError | null;
  created_at: Date;
  updated_at: Date;
  ready_at: Date | null;
}

export interface NewModel {
  userId: string;
  task: Task;
  modelName: string | null;
  datasetId: string;
  fitKey: string;
  nSamples: number;
  nFeatures: number;
  featureNames: string[];
  featureTypes: string[];
  classes: unknown[] | null;
  targetType: string;
  config: Record<string, unknown>;
  categoricalFeatures: number[] | null;
  description: string | null;
}

export function createModelRepository(pool: Queryable) {
  return {
    async insert(m: NewModel, tx: Queryable = pool): Promise<ModelRow> {
      const { rows } = await tx.query<ModelRow>(
        `INSERT INTO models (user_id, task, model_name, dataset_id, fit_key, n_samples, n_features, feature_names, feature_types,
                             classes, target_type, config, categorical_features, description)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING *`,
        [
          m.userId,
          m.task,
          m.modelName,
          m.datasetId,
          m.fitKey,
          m.nSamples,
          m.nFeatures,
          JSON.stringify(m.featureNames),
          JSON.stringify(m.featureTypes),
          m.classes === null ? null : JSON.stringify(m.classes),
          m.targetType,
          JSON.stringify(m.config),
          m.categoricalFeatures === null ? null : JSON.stringify(m.categoricalFeatures),
          m.description,
        ],
      );
      return rows[0]!;
    },

    async findById(id: string, tx: Queryable = pool): Promise<ModelRow | undefined> {
      const { rows } = await tx.query<ModelRow>('SELECT * FROM models WHERE id = $1', [id]);
      return rows[0];
    },

    /** Locks the model row against a concurrent status change (fit finishing) for this transaction. */
    async findForShare(id: string, tx: Queryable): Promise<ModelRow | undefined> {
      const { rows } = await tx.query<ModelRow>('SELECT * FROM models WHERE id = $1 FOR SHARE', [id]);
      return rows[0];
    },

    /** Newest first; `page_key` is created_at to the microsecond, for the next page's cursor. */
    async list(f: { userId: string; status?: ModelStatus; before?: { pageKey: string; id: string }; limit: number }, tx: Queryable = pool) {
      const { rows } = await tx.query<ModelRow & { page_key: string }>(
        `SELECT *, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS page_key FROM models WHERE user_id = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
         ORDER BY created_at DESC, id DESC LIMIT $5`,
        [f.userId, f.status ?? null, f.before?.pageKey ?? null, f.before?.id ?? null, f.limit],
      );
      return rows;
    },

    /** A ready model of this account with the same fit key: its upstream fitted set can be reused. */
    async findReusable(userId: string, fitKey: string, excludeId: string, tx: Queryable = pool): Promise<ModelRow | undefined> {
      const { rows } = await tx.query<ModelRow>(
        `SELECT * FROM models WHERE user_id = $1 AND fit_key = $2 AND status = 'ready' AND id <> $3
           AND upstream_fitted_train_set_id IS NOT NULL
         ORDER BY ready_at DESC LIMIT 1`,
        [userId, fitKey, excludeId],
      );
      return rows[0];
    },

    /** The real fit key of a model whose train set the worker has just encoded (it was stored as CSV cells, with a provisional key). */
    async setFitKey(id: string, fitKey: string, tx: Queryable = pool): Promise<void> {
      await tx.query('UPDATE models SET fit_key = $2, updated_at = now() WHERE id = $1', [id, fitKey]);
    },

    async markReady(id: string, upstream: { uploadId: string | null; fittedId: string }, tx: Queryable = pool): Promise<ModelRow | undefined> {
      const { rows } = await tx.query<ModelRow>(
        `UPDATE models SET status = 'ready', upstream_train_set_upload_id = $2, upstream_fitted_train_set_id = $3,
                           error = NULL, ready_at = COALESCE(ready_at, now()), updated_at = now()
         WHERE id = $1 RETURNING *`,
        [id, upstream.uploadId, upstream.fittedId],
      );
      return rows[0];
    },

    async markFailed(id: string, error: JobError, tx: Queryable = pool): Promise<void> {
      await tx.query(`UPDATE models SET status = 'failed', error = $2, updated_at = now() WHERE id = $1 AND status = 'pending'`, [
        id,
        JSON.stringify(error),
      ]);
    },

    async delete(id: string, tx: Queryable = pool): Promise<boolean> {
      const { rowCount } = await tx.query('DELETE FROM models WHERE id = $1', [id]);
      return (rowCount ?? 0) > 0;
    },
  };
}

export type ModelRepository = ReturnType<typeof createModelRepository>;
