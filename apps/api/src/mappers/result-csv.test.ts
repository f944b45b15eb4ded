import { describe, expect, it } from '@jest/globals';
import { resultToCsv } from './result-csv.js';

describe('result as CSV', () => {
  it('a full regression output has one row per input row; model-level arrays (borders) are left out', () => {
    const csv = resultToCsv(
      { output_type: 'full', predictions: { mean: [1.5, 2.5], median: [1, 2], borders: [0, 1, 2, 3, 4], logits: [[0.1], [0.2]] } },
      2,
    );
    expect(csv).toBe('mean,median\n1.5,1\n2.5,2\n');
  });

  it('probabilities: a prediction column, then one column per class', () => {
    const csv = resultToCsv({ output_type: 'probas', classes: ['a', 'b,c'], probabilities: [[0.9, 0.1]], predictions: ['a'] }, 1);
    expect(csv).toBe('prediction,p_a,"p_b,c"\na,0.9,0.1\n');
  });
});
