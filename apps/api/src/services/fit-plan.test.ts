import { describe, expect, it } from '@jest/globals';
import { isProvisionalFitKey, sha256Hex } from '@tabpfn-jobs/shared/crypto';
import { encodeFeatures, encodeTarget } from '@tabpfn-jobs/tabpfn';
import { type FitInput, inferTask, planFit } from './fit-plan.js';
import { fieldErrors, settingsWith } from '../../../../tests/helpers/upstream-settings.js';
import { streamTrainSet } from '../../../../tests/helpers/train-set.js';

// No database, no upstream: the plan is plain data, from the real encoders.

const X = [
  [1.5, 'red', 3],
  [2.5, 'blue', 1],
  [0.5, 'red', 2],
  [4.0, 'green', 5],
];

const fit = (over: Partial<FitInput> = {}): FitInput => ({ features: X, target: ['a', 'b', 'a', 'b'], ...over });

describe('planFit: task inference', () => {
  it('string targets classify, with the sorted classes kept on the model', () => {
    const plan = planFit(fit({ target: ['dog', 'cat', 'dog', 'bird'] }), null);
    expect(plan.task).toBe('classification');
    expect(plan.model.classes).toEqual(['bird', 'cat', 'dog']);
    expect(plan.model.targetType).toBe('string');
    expect(plan.params.task).toBe('classification');
  });

  it('a few integer values classify; floats regress (no classes kept)', () => {
    const ints = planFit(fit({ target: [0, 2, 1, 2] }), null);
    expect(ints.task).toBe('classification');
    expect(ints.model.classes).toEqual([0, 1, 2]);

    const floats = planFit(fit({ target: [0.5, 1.25, 3.75, 2] }), null);
    expect(floats.task).toBe('regression');
    expect(floats.model.classes).toBeNull();
  });

  it('more than 10 distinct integers regress; booleans classify', () => {
    expect(inferTask('number', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).toBe('classification');
    expect(inferTask('number', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])).toBe('regression');
    expect(inferTask('boolean', [false, true])).toBe('classification');
  });

  it('an explicit task wins over inference', () => {
    expect(planFit(fit({ target: [0, 1, 0, 1], task: 'regression' }), null).task).toBe('regression');
  });
});

describe('planFit: refusals', () => {
  it('regression on a string target is an error on target', () => {
    expect(fieldErrors(() => planFit(fit({ task: 'regression' }), null))).toEqual([
      { field: 'target', message: 'regression needs numeric target values' },
    ]);
  });

  it('a single class is an error on target', () => {
    expect(fieldErrors(() => planFit(fit({ target: ['a', 'a', 'a', 'a'] }), null))).toEqual([
      { field: 'target', message: 'classification needs at least 2 distinct classes' },
    ]);
  });

  it('an unknown model name is an error on model (without the encoder prefix); a known one is accepted', () => {
    expect(fieldErrors(() => planFit(fit({ model: 'v9_nonsense' }), null))).toEqual([
      { field: 'model', message: 'Invalid model name: v9_nonsense' },
    ]);
    // A regressor-only name is unknown to a classification.
    expect(fieldErrors(() => planFit(fit({ model: 'v2.5_low-skew' }), null))[0]?.field).toBe('model');
    expect(planFit(fit({ model: 'v2.5_default' }), null).model.modelName).toBe('v2.5_default');
  });

  it('balance_probabilities is refused for regression and kept for classification', () => {
    const config = { balance_probabilities: true };
    expect(fieldErrors(() => planFit(fit({ target: [0.5, 1.5, 2.5, 3.5], config }), null))).toEqual([
      { field: 'config.balance_probabilities', message: 'applies to classification only' },
    ]);
    expect(planFit(fit({ config }), null).model.config).toEqual(config);
  });

  it('mismatched lengths and an empty body are refused before anything else', () => {
    expect(fieldErrors(() => planFit(fit({ target: ['a', 'b'] }), null))[0]?.field).toBe('target');
    expect(fieldErrors(() => planFit(fit({ features: [], target: [] }), null))[0]?.message).toBe('the dataset is empty');
  });
});

describe('planFit: categorical features', () => {
  const names = ['size', 'color', 'count'];

  it('by index, by name, and "3" as an index when no column is named "3"', () => {
    expect(planFit(fit({ categorical_features: [1] }), null).model.categoricalFeatures).toEqual([1]);
    expect(planFit(fit({ feature_names: names, categorical_features: ['color', 0] }), null).model.categoricalFeatures).toEqual([1, 0]);
    expect(planFit(fit({ feature_names: names, categorical_features: ['2'] }), null).model.categoricalFeatures).toEqual([2]);
  });

  it('a column named "3" is matched by name before "3" is read as an index', () => {
    const rows = X.map((r) => [...r, 7]);
    const plan = planFit(fit({ features: rows, feature_names: ['a', '3', 'b', 'c'], categorical_features: ['3'] }), null);
    expect(plan.model.categoricalFeatures).toEqual([1]);
  });

  it('no categorical features is null on the model and the job params', () => {
    const plan = planFit(fit(), null);
    expect(plan.model.categoricalFeatures).toBeNull();
    expect(plan.params.categorical_features).toBeNull();
  });

  it('an unknown name or an index out of range names the offending entry', () => {
    expect(fieldErrors(() => planFit(fit({ feature_names: names, categorical_features: [0, 'colour'] }), null))).toEqual([
      { field: 'categorical_features[1]', message: 'no such column: colour' },
    ]);
    expect(fieldErrors(() => planFit(fit({ categorical_features: [3] }), null))).toEqual([
      { field: 'categorical_features[0]', message: 'no such column: 3' },
    ]);
    expect(fieldErrors(() => planFit(fit({ categorical_features: ['3'] }), null))[0]?.field).toBe('categorical_features[0]');
    expect(fieldErrors(() => planFit(fit({ categorical_features: [-1] }), null))[0]?.field).toBe('categorical_features[0]');
  });
});

describe('planFit: the fit key', () => {
  it('is the same for the same request, whatever the order of config keys', () => {
    const a = planFit(fit({ config: { n_estimators: 4, softmax_temperature: 0.9 } }), null);
    const b = planFit(fit({ config: { softmax_temperature: 0.9, n_estimators: 4 } }), null);
    expect(a.model.fitKey).toMatch(/^[0-9a-f]{64}$/);
    expect(b.model.fitKey).toBe(a.model.fitKey);
  });

  it('keeps its formula: keys already stored on models (fit_key) stay comparable', () => {
    const x = encodeFeatures(X);
    const y = encodeTarget(['a', 'b', 'a', 'b']);
    // Keys sorted, as the canonical JSON writes them.
    const expected = sha256Hex(
      JSON.stringify({
        categorical: [1],
        config: { a: 1 },
        model: null,
        names: ['0', '1', '2'],
        path: null,
        task: 'classification',
        x: x.hash,
        y: y.hash,
      }),
    );
    expect(planFit(fit({ categorical_features: [1], config: { a: 1 } }), null).model.fitKey).toBe(expected);
  });

  it('changes with the config, the model, the categorical columns, the data and the target', () => {
    const base = planFit(fit(), null).model.fitKey;
    const keys = [
      planFit(fit({ config: { n_estimators: 4 } }), null),
      planFit(fit({ model: 'v2.5_default' }), null),
      planFit(fit({ categorical_features: [1] }), null),
      planFit(fit({ features: X.map((r, i) => (i === 0 ? [9.5, r[1], r[2]] : r)) }), null),
      planFit(fit({ target: ['b', 'a', 'a', 'b'] }), null),
      planFit(fit({ feature_names: ['p', 'q', 'r'] }), null),
    ].map((p) => p.model.fitKey);
    expect(new Set([base, ...keys]).size).toBe(keys.length + 1);
  });
});

describe('planFit: what the persist step writes', () => {
  it('the training set and the model agree with the encoded data', () => {
    const plan = planFit(fit({ feature_names: ['size', 'color', 'count'], description: 'pets', model: 'default' }), null);
    expect(plan.dataset).toMatchObject({ kind: 'train', nRows: 4, nCols: 3, targetType: 'string' });
    expect(plan.dataset.columns).toEqual([
      { name: 'size', type: 'number' },
      { name: 'color', type: 'string' },
      { name: 'count', type: 'number' },
    ]);
    expect(plan.dataset.x.byteLength).toBeGreaterThan(0);
    expect(plan.dataset.y?.byteLength).toBeGreaterThan(0);
    expect(plan.dataset.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.model).toMatchObject({
      task: 'classification',
      modelName: 'default',
      nSamples: 4,
      nFeatures: 3,
      featureNames: ['size', 'color', 'count'],
      featureTypes: ['number', 'string', 'number'],
      description: 'pets',
      config: {},
    });
    expect(plan.params).toEqual({ task: 'classification', model: 'default', config: {}, categorical_features: null });
  });

  it('the same cells give the same training set hash; other cells another', () => {
    const a = planFit(fit(), null).dataset.contentHash;
    expect(planFit(fit(), null).dataset.contentHash).toBe(a);
    expect(planFit(fit({ target: ['b', 'a', 'a', 'b'] }), null).dataset.contentHash).not.toBe(a);
    expect(a).not.toBe(sha256Hex(''));
  });

  it('a CSV kept whole plans exactly like the same rows as JSON; one stored in parts the same model with a provisional key', async () => {
    const names = ['size', 'color', 'count'];
    const header = ['size', 'species', 'color', 'count'];
    const rows = X.map((r, i) => [String(r[0]), ['a', 'b', 'a', 'b'][i]!, String(r[1]), String(r[2])]);
    const json = planFit(fit({ feature_names: names }), null);

    const whole = planFit(fit({ features: [], target: [], trainSet: await streamTrainSet(header, rows, 'species') }), null);
    expect(whole.model).toEqual(json.model);
    expect(whole.dataset).toEqual(json.dataset);
    expect(whole.parts).toBeUndefined();

    const inParts = planFit(fit({ features: [], target: [], trainSet: await streamTrainSet(header, rows, 'species', { partBytes: 1 }) }), null);
    expect({ ...inParts.model, fitKey: '' }).toEqual({ ...json.model, fitKey: '' });
    expect(isProvisionalFitKey(inParts.model.fitKey)).toBe(true);
    expect(inParts.parts?.complete).toMatchObject({ nParts: 4, targetColumn: 1, nRows: 4, columns: json.dataset.columns, targetType: 'string' });
    expect(inParts.dataset).toMatchObject({ nRows: 4, nCols: 3, columns: json.dataset.columns, targetType: 'string', y: null });
  });
});

describe('planFit: upstream limits', () => {
  it('without settings only the fallback ceiling applies', () => {
    expect(planFit(fit(), null).task).toBe('classification');
  });

  it('too many columns or cells is refused on the raw shape, before a bad cell is even looked at', () => {
    const wide = X.map((r) => [...r, { not: 'a scalar' }]);
    const errors = fieldErrors(() => planFit(fit({ features: wide }), settingsWith({ max_cols: 3, train_set_max_cells: 10 })));
    expect(errors.map((e) => e.message)).toEqual([
      'The number of train columns (4) exceeds the maximum of 3.',
      'The number of train cells (16) exceeds the maximum of 10.',
    ]);
    // Within the limits the same body fails on its cell instead.
    expect(fieldErrors(() => planFit(fit({ features: wide }), settingsWith()))[0]?.field).toBe('features[0][3]');
  });

  it('too many rows', () => {
    expect(fieldErrors(() => planFit(fit(), settingsWith({ train_set_max_rows: 3 })))).toEqual([
      { field: 'features', message: 'The number of train rows (4) exceeds the maximum of 3.' },
    ]);
  });

  it('too many classes for a classification, but not for a regression on the same numbers', () => {
    const target = [1, 2, 3, 4];
    expect(fieldErrors(() => planFit(fit({ target }), settingsWith({ max_classes: 3 })))).toEqual([
      { field: 'target', message: 'Number of classes 4 exceeds the maximal number of 3 classes supported by TabPFN.' },
    ]);
    expect(planFit(fit({ target, task: 'regression' }), settingsWith({ max_classes: 3 })).task).toBe('regression');
  });

  it('an in-memory size over the server limit', () => {
    const errors = fieldErrors(() => planFit(fit(), settingsWith({}, { datasetMaxBytes: 100 })));
    expect(errors[0]?.field).toBe('features');
    expect(errors[0]?.message).toMatch(/^In-memory size of x_train \(\d+ bytes\) exceeds the server limit of 100 bytes\.$/);
  });
});
