import { describe, expect, it } from '@jest/globals';
import { mergePredictions } from './merge.js';

describe('mergePredictions', () => {
  it('concatenates labels, numbers and probability rows', () => {
    expect(mergePredictions('preds', [{ rows: 2, prediction: ['a', 'b'] }, { rows: 1, prediction: ['c'] }])).toEqual(['a', 'b', 'c']);
    expect(mergePredictions('probas', [{ rows: 1, prediction: [[0.1, 0.9]] }, { rows: 1, prediction: [[0.7, 0.3]] }])).toEqual([
      [0.1, 0.9],
      [0.7, 0.3],
    ]);
  });
  it('keeps quantiles quantile-major', () => {
    const a = [[1, 2], [10, 20]];
    const b = [[3], [30]];
    expect(mergePredictions('quantiles', [{ rows: 2, prediction: a }, { rows: 1, prediction: b }])).toEqual([[1, 2, 3], [10, 20, 30]]);
  });
  it('merges full output key by key, keeping model-level borders once', () => {
    const chunk = (mean: number[], logits: number[][]) => ({
      rows: mean.length,
      prediction: { mean, quantiles: [mean, mean], logits, borders: [0, 1, 2] },
    });
    expect(mergePredictions('full', [chunk([1, 2], [[0, 1], [1, 0]]), chunk([3], [[5, 5]])])).toEqual({
      mean: [1, 2, 3],
      quantiles: [[1, 2, 3], [1, 2, 3]],
      logits: [[0, 1], [1, 0], [5, 5]],
      borders: [0, 1, 2],
    });
  });
});
