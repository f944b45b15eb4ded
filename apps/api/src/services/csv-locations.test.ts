import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import { inCsvTerms, toCsvTerms } from './csv-locations.js';

const origin = { lines: Int32Array.from([2, 3, 5, 9]), targetColumn: 'species' };

describe('CSV locations', () => {
  it('maps features[i][j] and target[i] to the CSV line and column name (empty lines skipped)', () => {
    expect(toCsvTerms({ field: 'features[2][1]', message: 'bad' }, origin, ['a', 'b'])).toEqual({ field: 'file', message: 'line 5, column "b": bad' });
    expect(toCsvTerms({ field: 'target[3]', message: 'missing' }, origin, ['a', 'b'])).toEqual({ field: 'file', message: 'line 9, column "species": missing' });
    expect(toCsvTerms({ field: 'features[0]', message: 'short' }, origin, ['a'])).toEqual({ field: 'file', message: 'line 2: short' });
    expect(toCsvTerms({ field: 'model', message: 'x' }, origin, [])).toEqual({ field: 'model', message: 'x' });
  });

  it('restates a ValidationError thrown by the encoder; JSON requests keep their fields', () => {
    const fail = () => {
      throw new ValidationError([{ field: 'target[1]', message: 'the target must not contain missing values' }]);
    };
    expect(() => inCsvTerms(origin, ['a'], fail)).toThrow('file: line 3, column "species": the target must not contain missing values');
    expect(() => inCsvTerms(undefined, ['a'], fail)).toThrow('target[1]: the target must not contain missing values');
  });
});
