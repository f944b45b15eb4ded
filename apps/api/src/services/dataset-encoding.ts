import {
  CsvCellsEncoder,
  type CsvCellsLayout,
  DataError,
  type EncodedFeatures,
  type EncodedTarget,
  type Settings,
  encodeFeatures,
  encodeTarget,
} from '@tabpfn-jobs/tabpfn';
import { type FieldError, ValidationError } from '@tabpfn-jobs/shared/errors';

/** An encoder's DataError (which names the cell, `features[i][j]`) as the field error a 422 carries. */
export function fieldErrorOf(err: DataError): FieldError {
  return { field: err.field, message: err.message.replace(`${err.field}: `, '') };
}

/** Runs an encoder and turns its DataError into a 422. */
function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DataError) throw new ValidationError([fieldErrorOf(err)]);
    throw err;
  }
}

/** The refusals of a train set's shape that encoding it makes: no rows, a single row, no feature columns. */
export function checkTrainRows(nRows: number, nCols: number): void {
  if (nRows === 0) throw new ValidationError([{ field: 'features', message: 'the dataset is empty' }]);
  if (nRows < 2) throw new ValidationError([{ field: 'features', message: 'at least 2 training rows are needed' }]);
  if (nCols === 0) throw new ValidationError([{ field: 'features', message: 'rows have no columns' }]);
}

/** A JSON body's rows and target. */
export function encodeTrain(features: unknown[][], target: unknown[], names?: string[]): { x: EncodedFeatures; y: EncodedTarget } {
  const nRows = features.length;
  if (nRows === 0) throw new ValidationError([{ field: 'features', message: 'the dataset is empty' }]);
  if (nRows < 2) throw new ValidationError([{ field: 'features', message: 'at least 2 training rows are needed' }]);
  if (target.length !== nRows) {
    throw new ValidationError([{ field: 'target', message: `has ${target.length} values but features has ${nRows} rows` }]);
  }
  if (names && Array.isArray(features[0]) && names.length !== features[0].length) {
    throw new ValidationError([{ field: 'feature_names', message: `has ${names.length} names but rows have ${features[0].length} cells` }]);
  }
  const x = guard(() => encodeFeatures(features, names));
  if (x.nCols === 0) throw new ValidationError([{ field: 'features', message: 'rows have no columns' }]);
  const y = guard(() => encodeTarget(target));
  return { x, y };
}

/**
 * A CSV fit small enough to be kept whole (train-set-intake.ts), its cells encoded at once: the same
 * bytes a JSON body of the same cells gives. Its cells were validated as they arrived, and its shape
 * checked (checkTrainRows).
 */
export function encodeTrainCells(cells: Uint8Array, layout: Omit<CsvCellsLayout, 'types'>): { x: EncodedFeatures; y: EncodedTarget } {
  return guard(() => {
    const encoder = new CsvCellsEncoder(layout);
    encoder.add({ bytes: cells, nRows: layout.nRows });
    return encoder.finish();
  });
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

/**
 * When upstream's settings could not be fetched: the documented ceiling of its largest model (v3: 1M
 * rows × 200 features or 100K × 2,000), so an absurd shape is still refused before it is encoded.
 */
const FALLBACK_LIMIT = { train_set_max_rows: 1_000_000, max_cols: 2_000, train_set_max_cells: 200_000_000, test_set_max_cells: 200_000_000 };

/** Rows × columns of a JSON body's rows (the first row's length). */
export function shapeOf(features: unknown[][]): { nRows: number; nCols: number } {
  const first = features[0];
  return { nRows: features.length, nCols: Array.isArray(first) ? first.length : 0 };
}

/**
 * Upstream's shape limits, checked on the raw input before any encoding: a 2-row body with ten
 * million columns must be a quick 422, not a minute of encoding (same messages as tabpfn-client).
 */
export function checkTrainShape(settings: Settings | null, nRows: number, nCols: number): void {
  const limit = settings?.max_model_limit ?? FALLBACK_LIMIT;
  const errors: FieldError[] = [];
  if (nRows > limit.train_set_max_rows) errors.push({ field: 'features', message: `The number of train rows (${nRows}) exceeds the maximum of ${limit.train_set_max_rows}.` });
  if (nCols > limit.max_cols) errors.push({ field: 'features', message: `The number of train columns (${nCols}) exceeds the maximum of ${limit.max_cols}.` });
  if (nRows * nCols > limit.train_set_max_cells) errors.push({ field: 'features', message: `The number of train cells (${nRows * nCols}) exceeds the maximum of ${limit.train_set_max_cells}.` });
  if (errors.length) throw new ValidationError(errors);
}

/** Upstream's published limits (GET /tabpfn/get_settings) that need the encoded data, as in tabpfn-client. */
export function checkTrainLimits(
  settings: Settings | null,
  x: Pick<EncodedFeatures, 'inMemorySizeBytes'>,
  y: Pick<EncodedTarget, 'classes'>,
  classification: boolean,
): void {
  const limit = settings?.max_model_limit;
  if (!settings || !limit) return;
  const errors: FieldError[] = [];
  if (classification && y.classes.length > limit.max_classes) errors.push({ field: 'target', message: `Number of classes ${y.classes.length} exceeds the maximal number of ${limit.max_classes} classes supported by TabPFN.` });
  if (settings.dataset_max_size_bytes && x.inMemorySizeBytes > settings.dataset_max_size_bytes) errors.push({ field: 'features', message: `In-memory size of x_train (${x.inMemorySizeBytes} bytes) exceeds the server limit of ${settings.dataset_max_size_bytes} bytes.` });
  if (errors.length) throw new ValidationError(errors);
}

/**
 * A predict's shape: any number of rows up to `maxRows` (MAX_PREDICT_ROWS; the worker splits them to
 * upstream's per-call limits), and no more columns than upstream takes at all.
 */
export function checkTestShape(settings: Settings | null, x: { nRows: number; nCols: number }, maxRows: number): void {
  const maxCols = settings?.max_model_limit?.max_cols ?? FALLBACK_LIMIT.max_cols;
  const errors: FieldError[] = [];
  if (x.nRows > maxRows) errors.push({ field: 'features', message: `The number of test rows (${x.nRows}) exceeds this service's maximum of ${maxRows} per predict (MAX_PREDICT_ROWS); split it across several predicts.` });
  if (x.nCols > maxCols) errors.push({ field: 'features', message: `The number of test columns (${x.nCols}) exceeds the maximum of ${maxCols}.` });
  if (errors.length) throw new ValidationError(errors);
}
