import type { ModelRow } from '@tabpfn-jobs/shared/repositories';

export function toModel(row: ModelRow) {
  return {
    model_id: row.id,
    object: 'model' as const,
    status: row.status,
    task: row.task,
    model: row.model_name,
    n_samples: row.n_samples,
    n_features: row.n_features,
    feature_names: row.feature_names,
    feature_types: row.feature_types,
    classes: row.classes,
    target_type: row.target_type,
    config: row.config,
    categorical_features: row.categorical_features,
    description: row.description,
    error: row.error,
    created_at: row.created_at.toISOString(),
    ready_at: row.ready_at?.toISOString() ?? null,
    links: { self: `/v1/models/${row.id}`, predict: `/v1/models/${row.id}/predict`, jobs: `/v1/jobs?model_id=${row.id}` },
  };
}
