import { DataError, type EncodedFeatures, type EncodedTarget, type FeatureColumns, type Settings, encodeFeatureColumns, encodeFeatures, encodeTarget } from '@tabpfn-jobs/tabpfn';
import { type FieldError, ValidationError } from '@tabpfn-jobs/shared';

/** Runs an encoder and turns its DataError (which names the cell) into a 422. */
function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DataError) throw new ValidationError([{ field: err.field, message: err.message.replace(`${err.field}: `, '') }]);
    throw err;
  }
}

/** Rows (JSON bodies) or columns (CSV uploads, see readCsvColumns). */
export function encodeTrain(features: unknown[][] | FeatureColumns, target: unknown[], names?: string[]): { x: EncodedFeatures; y: EncodedTarget } {
  const nRows = Array.isArray(features) ? features.length : features.nRows;
  if (nRows === 0) throw new ValidationError([{ field: 'features', message: 'the dataset is empty' }]);
  if (nRows < 2) throw new ValidationError([{ field: 'features', message: 'at least 2 training rows are needed' }]);
  if (target.length !== nRows) {
    throw new ValidationError([{ field: 'target', message: `has ${target.length} values but features has ${nRows} rows` }]);
  }
  if (names && Array.isArray(features) && Array.isArray(features[0]) && names.length !== features[0].length) {
    throw new ValidationError([{ field: 'feature_names', message: `has ${names.length} names but rows have ${features[0].length} cells` }]);
  }
  const x = guard(() => (Array.isArray(features) ? encodeFeatures(features, names) : encodeFeatureColumns(features)));
  if (x.nCols === 0) throw new ValidationError([{ field: 'features', message: 'rows have no columns' }]);
  const y = guard(() => encodeTarget(target));
  return { x, y };
}

export function encodeTest(features: unknown[][], names: string[], types: ('number' | 'string')[]): EncodedFeatures {
  if (features.length === 0) throw new ValidationError([{ field: 'features', message: 'the dataset is empty' }]);
  const first = features[0];
  if (Array.isArray(first) && first.length !== names.length) {
    throw new ValidationError([
      { field: 'features', message: `rows have ${first.length} columns but the model was fitted on ${names.length}` },
    ]);
  }
  return guard(() => encodeFeatures(features, names, { columnTypes: types }));
}

/** Upstream's published limits (GET /tabpfn/get_settings), with the same meaning as in tabpfn-client. */
export function checkTrainLimits(settings: Settings | null, x: EncodedFeatures, y: EncodedTarget, classification: boolean): void {
  const limit = settings?.max_model_limit;
  if (!settings || !limit) return;
  const errors: FieldError[] = [];
  if (x.nRows > limit.train_set_max_rows) errors.push({ field: 'features', message: `The number of train rows (${x.nRows}) exceeds the maximum of ${limit.train_set_max_rows}.` });
  if (x.nCols > limit.max_cols) errors.push({ field: 'features', message: `The number of train columns (${x.nCols}) exceeds the maximum of ${limit.max_cols}.` });
  if (x.nRows * x.nCols > limit.train_set_max_cells) errors.push({ field: 'features', message: `The number of train cells (${x.nRows * x.nCols}) exceeds the maximum of ${limit.train_set_max_cells}.` });
  if (classification && y.classes.length > limit.max_classes) errors.push({ field: 'target', message: `Number of classes ${y.classes.length} exceeds the maximal number of ${limit.max_classes} classes supported by TabPFN.` });
  if (settings.dataset_max_size_bytes && x.inMemorySizeBytes > settings.dataset_max_size_bytes) errors.push({ field: 'features', message: `In-memory size of x_train (${x.inMemorySizeBytes} bytes) exceeds the server limit of ${settings.dataset_max_size_bytes} bytes.` });
  if (errors.length) throw new ValidationError(errors);
}

export function checkTestLimits(settings: Settings | null, x: EncodedFeatures, trainRows: number, outputType: string): void {
  const limit = settings?.model_limits?.[settings.default_model_version] ?? settings?.max_model_limit;
  if (!limit) return;
  const budget = limit.predict_row_pairs_budget ?? 250_000 * 1_000_000;
  let maxRows = Math.min(limit.test_set_max_rows, Math.floor(budget / Math.max(1, trainRows)));
  if (outputType === 'full') maxRows = Math.min(maxRows, limit.test_set_max_rows_w_full_regression_output);
  const errors: FieldError[] = [];
  if (x.nRows > maxRows) errors.push({ field: 'features', message: `The number of test rows (${x.nRows}) exceeds the maximum of ${maxRows}${outputType === 'full' ? ' for full regression output' : ''}. Split the test set across multiple calls to reduce the number of rows.` });
  if (x.nRows * x.nCols > limit.test_set_max_cells) errors.push({ field: 'features', message: `The number of test cells (${x.nRows * x.nCols}) exceeds the maximum of ${limit.test_set_max_cells}.` });
  if (errors.length) throw new ValidationError(errors);
}
