import { describe, expect, it } from '@jest/globals';
import { CsvTargetProfile, FeatureColumnProfile, csvTargetValues, featuresInMemorySizeBytes } from './column-profile.js';
import { encodeFeatureColumns, encodeTarget } from './encode.js';
import { DataError } from './errors.js';

// The profiles must decide exactly what the encoder decides from whole columns: these tables are
// the cells where the two could drift apart (spaces, NA spellings, exponents, long numerals, text).

const NUMERALS = ['1', ' 2.5 ', '-.5', '+3.', '1e3', '1E-2', '+.5e+3', '007', '9'.repeat(308), `0.${'1'.repeat(400)}`];
const MISSING = ['', 'NA', 'nan', 'None', ' null ', 'N/A', '  '];
const TEXT = ['abc', 'a,b', '  two   words ', 'Ωmega', '1,5', '1.2.3', 'e5', '0x10', `${'long '.repeat(600)}`, '1 2'];
const INFINITE = ['1e999', '-1E400', 'inf', '-Infinity', '+INF', '9'.repeat(400)];

/** Deterministic pseudo-random picks (mulberry32), so a failure replays. */
function rng(seed: number) {
  let a = seed;
  return (n: number) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n;
  };
}

function profileOf(cells: string[]): FeatureColumnProfile {
  const p = new FeatureColumnProfile();
  for (const [i, c] of cells.entries()) p.add(c, i, 0);
  return p;
}

function thrown(fn: () => unknown): { field: string; message: string } | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof DataError) return { field: err.field, message: err.message };
    throw err;
  }
  return undefined;
}

describe('FeatureColumnProfile', () => {
  it('infers the type and the in-memory size encodeFeatureColumns reports, for 300 random columns', () => {
    const pick = rng(7);
    const pools = [NUMERALS, MISSING, TEXT];
    for (let k = 0; k < 300; k++) {
      // Mostly numeric columns, some with a missing cell or a text cell somewhere.
      const cells = Array.from({ length: 1 + Math.floor(pick(12)) }, () => {
        const pool = pools[pick(10) < 7 ? 0 : pick(2) < 1 ? 1 : 2]!;
        return pool[Math.floor(pick(pool.length))]!;
      });
      const encoded = encodeFeatureColumns({ nRows: cells.length, names: ['c'], column: () => cells });
      const profile = profileOf(cells);
      expect({ cells, type: profile.type, size: featuresInMemorySizeBytes([profile]) }).toEqual({
        cells,
        type: encoded.columns[0]!.type,
        size: encoded.inMemorySizeBytes,
      });
    }
  });

  it('an all-missing column is numeric, like the encoder says', () => {
    expect(profileOf(MISSING).type).toBe('number');
  });

  it('refuses a cell that spells an infinite number with the encoder’s error, in a numeric and in a text column', () => {
    for (const inf of INFINITE) {
      for (const others of [['1', '2'], ['a', 'b']]) {
        const cells = [...others, inf];
        const expected = thrown(() => encodeFeatureColumns({ nRows: 3, names: ['c'], column: () => cells }));
        expect(expected).toEqual({ field: 'features[2][0]', message: 'features[2][0]: infinite values are not supported' });
        expect(thrown(() => profileOf(cells))).toEqual(expected);
      }
    }
  });
});

describe('CsvTargetProfile', () => {
  const profile = (cells: string[]) => {
    const p = new CsvTargetProfile();
    for (const [i, c] of cells.entries()) p.add(c, i);
    return p;
  };

  it('types and classes as encodeTarget gives them for the CSV column', () => {
    for (const cells of [
      ['1', '0', '1.0', '2'],
      ['b', 'a', 'b', '10'],
      ['2.5', '-1', '1e3'],
      [' x ', 'x'],
    ]) {
      const y = encodeTarget(csvTargetValues(cells));
      expect({ type: profile(cells).type, classes: profile(cells).classes }).toEqual({ type: y.type, classes: y.classes });
    }
  });

  it('refuses a missing or infinite target with the encoder’s error', () => {
    for (const bad of ['', 'NA', ' nan ', '1e999', 'inf']) {
      const cells = ['1', bad, '2'];
      const expected = thrown(() => encodeTarget(csvTargetValues(cells)));
      expect(expected?.field).toBe('target[1]');
      expect(thrown(() => profile(cells))).toEqual(expected);
    }
  });
});
