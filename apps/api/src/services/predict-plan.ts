import { CLASSIFICATION_OUTPUTS, REGRESSION_OUTPUTS } from '@tabpfn-jobs/shared/domain';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import type { ModelRow, NewDataset } from '@tabpfn-jobs/shared/repositories';
import type { Settings } from '@tabpfn-jobs/tabpfn';
import { type CsvOrigin, inCsvTerms } from './csv-locations.js';
import { checkTestShape, encodeTest, shapeOf } from './dataset-encoding.js';
import type { StreamedTestSet } from './test-set-intake.js';
import { keyOf, refuseClassifierOptions } from './plan-common.js';

export interface PredictInput {
  features: unknown[][];
  /** A CSV upload validated and encoded while it streamed in (then `features` is empty). */
  testSet?: StreamedTestSet;
  /** Column names from a CSV header; JSON rows are positional. */
  feature_names?: string[];
  csv?: CsvOrigin;
  output_type?: string;
  quantiles?: number[];
  config?: Record<string, unknown>;
  /** A batch whose chunk fails for good keeps its finished chunks' rows (the job fails with `partial: true`). */
  allow_partial?: boolean;
  webhook_url?: string;
  webhook_events?: string[];
}

/** What a predict plan needs of its model. */
export type PredictModel = Pick<ModelRow, 'id' | 'task' | 'fit_key' | 'n_samples' | 'feature_names' | 'feature_types'>;

export type PredictParams = {
  output_type: string;
  quantiles?: number[];
  config: Record<string, unknown>;
  allow_partial?: boolean;
};

/**
 * What a predict writes, worked out without a database: the job's params, its cache key, and the test
 * set (written unless an earlier result is served from cache). The persist step adds the owner.
 */
export interface PredictPlan {
  params: PredictParams;
  cacheKey: string;
  dataset: Omit<NewDataset, 'userId'>;
  /** A test set streamed into parts (a large CSV upload): already stored, completed in the submit's transaction. */
  parts?: Extract<StreamedTestSet, { kind: 'parts' }>;
}

/** MAX_PREDICT_ROWS' default. */
export const DEFAULT_MAX_PREDICT_ROWS = 1_000_000;

const DEFAULT_QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/**
 * The checks that need neither the data encoded nor upstream's settings: output type for the model's
 * task, quantiles, classifier options, and for a CSV upload that every column the model was fitted on
 * is there. Returns the output type. Cheap, so the service runs it before it looks settings up.
 */
export function checkPredictRequest(model: Pick<PredictModel, 'task' | 'feature_names'>, input: PredictInput): string {
  const allowed: readonly string[] = model.task === 'classification' ? CLASSIFICATION_OUTPUTS : REGRESSION_OUTPUTS;
  const outputType = input.output_type ?? (model.task === 'classification' ? 'preds' : 'mean');
  if (!allowed.includes(outputType)) {
    throw new ValidationError([
      { field: 'output_type', message: `"${outputType}" is not valid for ${model.task}; use one of ${allowed.join(', ')}` },
    ]);
  }
  if (input.quantiles && outputType !== 'quantiles')
    throw new ValidationError([{ field: 'quantiles', message: 'only with output_type "quantiles"' }]);
  refuseClassifierOptions(model.task, input.config);
  const names = input.feature_names;
  const missing = names ? model.feature_names.filter((n) => !names.includes(n)) : [];
  if (missing.length)
    throw new ValidationError([{ field: 'file', message: `missing columns the model was fitted on: ${missing.join(', ')}` }]);
  return outputType;
}

/** CSV rows matched to the model by column name, in the model's order; extra columns (e.g. the target) are dropped. JSON rows are positional. */
function inModelOrder(modelNames: readonly string[], input: PredictInput): unknown[][] {
  const names = input.feature_names;
  if (!names) return input.features;
  const order = modelNames.map((n) => names.indexOf(n));
  return input.features.map((r) => order.map((i) => r[i]));
}

/**
 * Validates and encodes a predict request against its model: the request checks, the shape (rows up
 * to `maxRows`; upstream's per-call limits do not apply, the worker splits), the encoding with the
 * model's column types, and the cache key. A CSV upload arrives already encoded (`input.testSet`,
 * test-set-intake.ts). `settings` null: upstream's limits are unknown.
 */
export function planPredict(
  model: PredictModel,
  input: PredictInput,
  settings: Settings | null,
  opts: { maxRows?: number } = {},
): PredictPlan {
  const outputType = checkPredictRequest(model, input);
  const streamed = input.testSet;
  const rows = streamed ? [] : inModelOrder(model.feature_names, input);
  const shape = streamed ? { nRows: streamed.nRows, nCols: model.feature_names.length } : shapeOf(rows);
  checkTestShape(settings, shape, opts.maxRows ?? DEFAULT_MAX_PREDICT_ROWS);
  const x =
    streamed?.kind === 'parts'
      ? { hash: streamed.contentHash, bytes: new Uint8Array(0), nRows: streamed.nRows, nCols: shape.nCols, columns: streamed.columns }
      : streamed?.kind === 'inline'
        ? streamed.encoded
        : inCsvTerms(input.csv, model.feature_names, () => encodeTest(rows, model.feature_names, model.feature_types));

  const quantiles = outputType === 'quantiles' ? (input.quantiles ?? [...DEFAULT_QUANTILES]) : undefined;
  const params: PredictParams = {
    output_type: outputType,
    ...(quantiles ? { quantiles } : {}),
    config: input.config ?? {},
    ...(input.allow_partial ? { allow_partial: true } : {}),
  };
  return {
    params,
    cacheKey: keyOf({ model: model.id, fit: model.fit_key, x: x.hash, params }),
    dataset: {
      kind: 'test',
      contentHash: x.hash,
      x: x.bytes,
      y: null,
      nRows: x.nRows,
      nCols: x.nCols,
      columns: x.columns,
      targetType: null,
    },
    ...(streamed?.kind === 'parts' ? { parts: streamed } : {}),
  };
}
