import { describe, expect, it } from '@jest/globals';
import type { Settings } from '@tabpfn-jobs/tabpfn';
import { chunkRowsFor, split, uncovered } from './chunk-plan.js';

const limit = {
  train_set_max_rows: 50_000,
  train_set_max_cells: 20_000_000,
  test_set_max_rows: 10_000,
  test_set_max_cells: 200_000_000,
  max_classes: 10,
  max_cols: 2_000,
  test_set_max_rows_w_full_regression_output: 400,
  predict_row_pairs_budget: 250_000_000_000,
};
const settings: Settings = {
  default_model_version: 'v2.5',
  max_model_limit: { ...limit, test_set_max_rows: 1_000_000 },
  model_limits: { v2: { ...limit, test_set_max_rows: 5_000 }, 'v2.5': limit, v3: { ...limit, test_set_max_rows: 50_000 } },
  dataset_max_size_bytes: 100_000_000,
};
const shape = { trainRows: 1_000, nCols: 20, outputType: 'preds' };

describe('chunkRowsFor', () => {
  it('takes the default version\'s test_set_max_rows', () => expect(chunkRowsFor(settings, shape)).toBe(10_000));
  it('caps full regression output', () => expect(chunkRowsFor(settings, { ...shape, outputType: 'full' })).toBe(400));
  it('divides the row-pairs budget by the train rows', () =>
    expect(chunkRowsFor({ ...settings, model_limits: { 'v2.5': { ...limit, predict_row_pairs_budget: 3_000_000 } } }, shape)).toBe(3_000));
  it('keeps rows × columns under the cells limit', () =>
    expect(chunkRowsFor({ ...settings, model_limits: { 'v2.5': { ...limit, test_set_max_cells: 100_000 } } }, shape)).toBe(5_000));
  it('uses the model path\'s version, or the closest lower one', () => {
    expect(chunkRowsFor(settings, { ...shape, modelPath: 'tabpfn-v2-classifier-x.ckpt' })).toBe(5_000);
    expect(chunkRowsFor(settings, { ...shape, modelPath: 'tabpfn-v2.6-classifier-x.ckpt' })).toBe(10_000);
    expect(chunkRowsFor(settings, { ...shape, modelPath: 'tabpfn-v3-classifier.ckpt' })).toBe(50_000);
  });
  it('is unbounded without settings', () => expect(chunkRowsFor(null, shape)).toBe(Number.POSITIVE_INFINITY));
});

describe('uncovered and split', () => {
  it('finds the gaps between stored chunks, overlaps included', () => {
    expect(uncovered([], 10)).toEqual([{ start: 0, end: 10 }]);
    expect(uncovered([{ start: 2, end: 4 }, { start: 3, end: 6 }, { start: 8, end: 10 }], 10)).toEqual([
      { start: 0, end: 2 },
      { start: 6, end: 8 },
    ]);
    expect(uncovered([{ start: 0, end: 10 }], 10)).toEqual([]);
  });
  it('cuts ranges into pieces no larger than the chunk size', () => {
    expect(split([{ start: 0, end: 5_000 }], 400)).toHaveLength(13);
    expect(split([{ start: 0, end: 200_000 }], 10_000)).toHaveLength(20);
    expect(split([{ start: 3, end: 7 }], 2)).toEqual([{ start: 3, end: 5 }, { start: 5, end: 7 }]);
  });
});
