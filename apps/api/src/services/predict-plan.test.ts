import { describe, expect, it } from '@jest/globals';
import { sha256Hex } from '@tabpfn-jobs/shared/crypto';
import { encodeFeatures } from '@tabpfn-jobs/tabpfn';
import { planFit } from './fit-plan.js';
import { type PredictInput, type PredictModel, checkPredictRequest, planPredict } from './predict-plan.js';
import { fieldErrors, settingsWith } from '../../../../tests/helpers/upstream-settings.js';

// No database, no upstream: models come from real fit plans, test sets from the real encoders.

const NAMES = ['size', 'color', 'count'];
const TRAIN = [
  [1.5, 'red', 3],
  [2.5, 'blue', 1],
  [0.5, 'red', 2],
  [4.0, 'green', 5],
];

function modelFor(target: unknown[], id = 'model-1'): PredictModel {
  const plan = planFit({ features: TRAIN, target, feature_names: NAMES }, null);
  return {
    id,
    task: plan.task,
    fit_key: plan.model.fitKey,
    n_samples: plan.model.nSamples,
    feature_names: plan.model.featureNames,
    feature_types: plan.model.featureTypes as ('number' | 'string')[],
  };
}

const classifier = modelFor(['a', 'b', 'a', 'b']);
const regressor = modelFor([0.5, 1.25, 3.75, 2]);
const ROWS = [
  [2.0, 'red', 4],
  [3.0, 'blue', 1],
];
const req = (over: Partial<PredictInput> = {}): PredictInput => ({ features: ROWS, ...over });

describe('planPredict: output type', () => {
  it('defaults to preds for a classifier and mean for a regressor', () => {
    expect(planPredict(classifier, req(), null).params).toEqual({ output_type: 'preds', config: {} });
    expect(planPredict(regressor, req(), null).params).toEqual({ output_type: 'mean', config: {} });
  });

  it('must suit the model task', () => {
    expect(planPredict(classifier, req({ output_type: 'probas' }), null).params.output_type).toBe('probas');
    expect(planPredict(regressor, req({ output_type: 'median' }), null).params.output_type).toBe('median');
    expect(fieldErrors(() => planPredict(classifier, req({ output_type: 'mean' }), null))).toEqual([
      { field: 'output_type', message: '"mean" is not valid for classification; use one of preds, probas' },
    ]);
    expect(fieldErrors(() => planPredict(regressor, req({ output_type: 'probas' }), null))).toEqual([
      { field: 'output_type', message: '"probas" is not valid for regression; use one of mean, median, mode, quantiles, full, main' },
    ]);
  });

  it('quantiles only with output_type "quantiles", which defaults them to the deciles', () => {
    expect(fieldErrors(() => planPredict(regressor, req({ quantiles: [0.5] }), null))).toEqual([
      { field: 'quantiles', message: 'only with output_type "quantiles"' },
    ]);
    expect(planPredict(regressor, req({ output_type: 'quantiles' }), null).params.quantiles).toEqual([
      0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
    ]);
    expect(planPredict(regressor, req({ output_type: 'quantiles', quantiles: [0.25, 0.75] }), null).params.quantiles).toEqual([0.25, 0.75]);
  });

  it('balance_probabilities is refused on a regressor and kept on a classifier', () => {
    const config = { balance_probabilities: true };
    expect(fieldErrors(() => planPredict(regressor, req({ config }), null))).toEqual([
      { field: 'config.balance_probabilities', message: 'applies to classification only' },
    ]);
    expect(planPredict(classifier, req({ config }), null).params.config).toEqual(config);
  });
});

describe('planPredict: columns', () => {
  it('CSV columns are matched by name: order follows the model, extra columns are dropped', () => {
    const header = ['count', 'species', 'size', 'color'];
    const csvRows = ROWS.map(([size, color, count]) => [count, 'a', size, color]);
    const fromCsv = planPredict(classifier, req({ features: csvRows, feature_names: header }), null);
    const fromJson = planPredict(classifier, req(), null);
    expect(fromCsv.dataset.columns.map((c) => c.name)).toEqual(NAMES);
    expect(fromCsv.dataset.nCols).toBe(3);
    expect(fromCsv.dataset.contentHash).toBe(fromJson.dataset.contentHash);
    expect(fromCsv.cacheKey).toBe(fromJson.cacheKey);
  });

  it('CSV columns the model was fitted on must all be there, and the missing ones are named', () => {
    const errors = fieldErrors(() => planPredict(classifier, req({ features: [[1, 2]], feature_names: ['color', 'other'] }), null));
    expect(errors).toEqual([{ field: 'file', message: 'missing columns the model was fitted on: size, count' }]);
    // Checked without encoding anything.
    expect(() => checkPredictRequest(classifier, req({ features: [], feature_names: ['size'] }))).toThrow('color, count');
  });

  it('JSON rows are positional and must have the model width', () => {
    expect(fieldErrors(() => planPredict(classifier, req({ features: [[1, 'red']] }), null))).toEqual([
      { field: 'features', message: 'rows have 2 columns but the model was fitted on 3' },
    ]);
  });

  it('a bad CSV cell is named by line and column of the file', () => {
    const csv = { lines: Int32Array.from([2, 4]) };
    const rows = [
      [1, 'red', 2],
      [{ no: 1 }, 'blue', 3],
    ];
    const errors = fieldErrors(() => planPredict(classifier, req({ features: rows, feature_names: NAMES, csv }), null));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.field).toBe('file');
    expect(errors[0]?.message).toMatch(/^line 4, column "size": /);
  });

  it('the test set is encoded with the model column types, not re-inferred', () => {
    const plan = planPredict(classifier, req({ features: [[1, 7, 2]] }), null);
    expect(plan.dataset.columns.map((c) => c.type)).toEqual(['number', 'string', 'number']);
    expect(plan.dataset).toMatchObject({ kind: 'test', y: null, targetType: null, nRows: 1, nCols: 3 });
  });
});

describe('planPredict: the cache key', () => {
  it('is the same for the same request, whatever the order of config keys', () => {
    const a = planPredict(classifier, req({ config: { n_estimators: 2, softmax_temperature: 0.5 } }), null).cacheKey;
    const b = planPredict(classifier, req({ config: { softmax_temperature: 0.5, n_estimators: 2 } }), null).cacheKey;
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toBe(a);
  });

  it('keeps its formula: keys already stored on jobs (cache_key) stay comparable', () => {
    const x = encodeFeatures(ROWS, NAMES, { columnTypes: ['number', 'string', 'number'] });
    const params = { config: {}, output_type: 'preds' };
    const expected = sha256Hex(JSON.stringify({ fit: classifier.fit_key, model: 'model-1', params, x: x.hash }));
    expect(planPredict(classifier, req(), null).cacheKey).toBe(expected);
  });

  it('changes with the output type, quantiles, config, rows, model and fit', () => {
    const base = planPredict(regressor, req(), null).cacheKey;
    const keys = [
      planPredict(regressor, req({ output_type: 'median' }), null),
      planPredict(regressor, req({ output_type: 'quantiles' }), null),
      planPredict(regressor, req({ output_type: 'quantiles', quantiles: [0.5] }), null),
      planPredict(regressor, req({ config: { n_estimators: 2 } }), null),
      planPredict(regressor, req({ features: [ROWS[0]!] }), null),
      planPredict({ ...regressor, id: 'model-2' }, req(), null),
      planPredict({ ...regressor, fit_key: 'another-fit' }, req(), null),
    ].map((p) => p.cacheKey);
    expect(new Set([base, ...keys]).size).toBe(keys.length + 1);
  });
});

describe('planPredict: limits', () => {
  const rows = (n: number) => Array.from({ length: n }, (_, i) => [i, 'red', i]);

  it('without settings only the row maximum applies', () => {
    expect(planPredict(regressor, req({ features: rows(50) }), null).dataset.nRows).toBe(50);
    expect(fieldErrors(() => planPredict(regressor, req({ features: rows(3) }), null, { maxRows: 2 }))).toEqual([
      {
        field: 'features',
        message: "The number of test rows (3) exceeds this service's maximum of 2 per predict (MAX_PREDICT_ROWS); split it across several predicts.",
      },
    ]);
  });

  it('more rows than upstream takes per call are accepted: the worker splits them', () => {
    const small = settingsWith({ test_set_max_rows: 2, test_set_max_cells: 8, test_set_max_rows_w_full_regression_output: 1 });
    expect(planPredict(classifier, req({ features: rows(3) }), small).dataset.nRows).toBe(3);
    expect(planPredict(regressor, req({ features: rows(3), output_type: 'full' }), small).dataset.nRows).toBe(3);
  });

  it('more columns than upstream takes at all are refused', () => {
    const narrow = settingsWith({ max_cols: 2 });
    expect(fieldErrors(() => planPredict(classifier, req({ features: rows(1) }), narrow))[0]?.message).toBe(
      'The number of test columns (3) exceeds the maximum of 2.',
    );
  });
});
