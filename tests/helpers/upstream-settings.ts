import { type FieldError, ValidationError } from '@tabpfn-jobs/shared/errors';
import type { ModelLimit, Settings } from '@tabpfn-jobs/tabpfn';

/** Small upstream limits, so unit tests can cross them with a handful of rows. */
export const SMALL_LIMIT: ModelLimit = {
  train_set_max_rows: 1_000,
  train_set_max_cells: 10_000,
  test_set_max_rows: 1_000,
  test_set_max_cells: 10_000,
  max_classes: 10,
  max_cols: 50,
  test_set_max_rows_w_full_regression_output: 100,
};

/** Upstream settings (`GET /tabpfn/get_settings`) around SMALL_LIMIT, with `limit` overriding parts of it. */
export function settingsWith(
  limit: Partial<ModelLimit> = {},
  extra: { modelLimits?: Settings['model_limits']; datasetMaxBytes?: number } = {},
): Settings {
  return {
    default_model_version: 'v2.5',
    max_model_limit: { ...SMALL_LIMIT, ...limit },
    model_limits: extra.modelLimits ?? {},
    dataset_max_size_bytes: extra.datasetMaxBytes ?? 10_000_000,
  };
}

/** The field errors a ValidationError carries; fails the test when `fn` does not throw one. */
export function fieldErrors(fn: () => unknown): FieldError[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err.errors ?? [];
    throw err;
  }
  throw new Error('expected a ValidationError');
}
