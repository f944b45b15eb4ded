import { describe, expect, it } from '@jest/globals';
import { cleanText, encodeFeatureColumns, encodeFeatures, encodeTarget, isMissing, sortLabels } from './encode.js';
import { DataError } from './errors.js';
import { crc32cBase64, decodeParquet } from './parquet.js';

describe('encodeFeatures', () => {
  it('infers numeric and string columns and writes missing cells as nulls', async () => {
    const enc = encodeFeatures([
      [1, '2.5', true, 'red', null],
      [NaN, ' 3 ', false, 'NA', undefined],
      [2.25, '', null, 'blue', 'NA'],
    ]);
    expect(enc.columns).toEqual([
      { name: '0', type: 'number' },
      { name: '1', type: 'number' },
      { name: '2', type: 'number' },
      { name: '3', type: 'string' },
      { name: '4', type: 'number' },
    ]);
    expect(enc).toMatchObject({ nRows: 3, nCols: 5 });
    const table = await decodeParquet(enc.bytes);
    expect(table.columns).toEqual(['0', '1', '2', '3', '4']);
    expect(table.rows).toEqual([
      [1, 2.5, 1, 'red', null],
      [null, 3, 0, null, null],
      [2.25, null, null, 'blue', null],
    ]);
  });

  it('turns a column with any non-numeric cell into cleaned strings', async () => {
    const enc = encodeFeatures([[1], ['  big,  red\tbox '], [true]], ['thing']);
    expect(enc.columns).toEqual([{ name: 'thing', type: 'string' }]);
    expect((await decodeParquet(enc.bytes)).rows).toEqual([['1'], ['big red box'], ['true']]);
  });

  it('cleans text like the python client: no commas, one space, trimmed, 2500 characters', () => {
    expect(cleanText(' a,b  c\n d ')).toBe('ab c d');
    expect(cleanText('x'.repeat(3000))).toHaveLength(2500);
    expect(Array.from(cleanText('😀'.repeat(2600)))).toHaveLength(2500);
  });

  it('follows forced column types so predict matches training', async () => {
    const enc = encodeFeatures([['1'], ['2']], undefined, { columnTypes: ['string'] });
    expect(enc.columns[0]?.type).toBe('string');
    expect((await decodeParquet(enc.bytes)).rows).toEqual([['1'], ['2']]);
    expect(() => encodeFeatures([['a']], undefined, { columnTypes: ['number'] })).toThrow(DataError);
  });

  it('names the offending cell in a DataError', () => {
    const err = (() => {
      try {
        encodeFeatures([
          [1, 2],
          [3, { a: 1 }],
        ]);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DataError);
    expect(err).toMatchObject({ field: 'features[1][1]', code: 'invalid_data', retryable: false });
    expect(() => encodeFeatures([[1, 2], [3]])).toThrow(expect.objectContaining({ field: 'features[1]' }));
    expect(() => encodeFeatures([[[1]]])).toThrow(expect.objectContaining({ field: 'features[0][0]' }));
    expect(() => encodeFeatures([[Infinity]])).toThrow(expect.objectContaining({ field: 'features[0][0]' }));
    expect(() => encodeFeatures([[1, 2]], ['a', 'a'])).toThrow(expect.objectContaining({ field: 'feature_names' }));
  });

  it('refuses cells that spell an infinite number, in numeric and text columns alike, naming the cell', () => {
    for (const spelling of ['1e999', '-1e999', '+1E400', 'Infinity', '-Infinity', '+inf', 'INF', ' -inf ']) {
      // In a numeric column (the neighbours are numbers) and in a text column (the neighbours are words).
      expect(() => encodeFeatures([[1, 2], [3, spelling]])).toThrow(expect.objectContaining({ field: 'features[1][1]', message: expect.stringMatching(/infinite/) }));
      expect(() => encodeFeatures([['a', 'b'], ['c', spelling]])).toThrow(expect.objectContaining({ field: 'features[1][1]' }));
      expect(() => encodeTarget(['x', spelling])).toThrow(expect.objectContaining({ field: 'target[1]' }));
    }
    expect(() => encodeTarget([1, -Infinity])).toThrow(expect.objectContaining({ field: 'target[1]' }));
    // Large but finite numerals, and words that merely contain "inf", are ordinary values.
    expect(encodeFeatures([['1e308'], ['-1.7e308']]).columns[0]!.type).toBe('number');
    expect(encodeFeatures([['info'], ['infinite loop']]).columns[0]!.type).toBe('string');
  });

  it('treats NaN/NA spellings as missing values, the same for JSON and CSV cells', () => {
    for (const missing of ['NaN', 'nan', 'NA', 'n/a', 'null', 'None', '', ' ', null, Number.NaN]) expect(isMissing(missing)).toBe(true);
    for (const present of ['0', 'nana', 'NAN1', 'none of these', 0, false]) expect(isMissing(present)).toBe(false);
    const encoded = encodeFeatures([[1, 'NaN'], [2, 'NA'], [3, 4]]);
    expect(encoded.columns.map((c) => c.type)).toEqual(['number', 'number']);
    expect(() => encodeTarget(['a', 'NaN'])).toThrow(expect.objectContaining({ field: 'target[1]', message: expect.stringMatching(/missing/) }));
  });

  it('is deterministic, so upstream dedup sees the same hash for the same data', () => {
    const rows = [
      [1, 'a'],
      [2, 'b'],
    ];
    expect(encodeFeatures(rows).hash).toBe(encodeFeatures(rows).hash);
    expect(encodeFeatures(rows).hash).not.toBe(
      encodeFeatures([
        [1, 'a'],
        [2, 'c'],
      ]).hash,
    );
  });

  it('estimates the pandas in-memory size', () => {
    expect(
      encodeFeatures([
        [1, 2],
        [3, 4],
      ]).inMemorySizeBytes,
    ).toBe(128 + 4 * 8);
  });
});

describe('encodeFeatureColumns', () => {
  it('writes the same bytes as encodeFeatures for the same cells, given column-wise', () => {
    const rows = [
      ['1.50', ' x ', 'NA', '1e3'],
      ['  nan  ', 'y,z', '2', '-0.5'],
      ['3', 'NULL', '\u00a0none\u00a0', '7'],
    ];
    const names = ['a', 'b', 'c', 'd'];
    const byColumn = encodeFeatureColumns({ nRows: rows.length, names, column: (j) => rows.map((r) => r[j]) });
    const byRow = encodeFeatures(rows, names);
    expect(byColumn.hash).toBe(byRow.hash);
    expect(byColumn.columns).toEqual(byRow.columns);
    expect(byColumn.inMemorySizeBytes).toBe(byRow.inMemorySizeBytes);
  });

  it('isMissing: the fast path for long cells agrees with trimming', () => {
    for (const v of ['12345', ' null ', '\tnone\t', '\u00a0nan\u00a0', 'nulls', 'NONE ', 'n/a  ']) {
      expect([v, isMissing(v)]).toEqual([v, ['', 'na', 'nan', 'n/a', 'null', 'none'].includes(v.trim().toLowerCase())]);
    }
  });
});

describe('encodeTarget', () => {
  it('keeps numbers, strings and booleans in their type, in one column "0"', async () => {
    const num = encodeTarget([3, 1, 2, 1]);
    expect(num).toMatchObject({ type: 'number', classes: [1, 2, 3], nRows: 4 });
    expect(await decodeParquet(num.bytes)).toEqual({ columns: ['0'], rows: [[3], [1], [2], [1]] });
    const str = encodeTarget(['b', 'a', 'B']);
    expect(str).toMatchObject({ type: 'string', classes: ['B', 'a', 'b'] });
    expect((await decodeParquet(str.bytes)).rows).toEqual([['b'], ['a'], ['B']]);
    const bool = encodeTarget([true, false]);
    expect(bool).toMatchObject({ type: 'boolean', classes: [false, true] });
    expect((await decodeParquet(bool.bytes)).rows).toEqual([[true], [false]]);
  });

  it('rejects missing, mixed and structured values', () => {
    expect(() => encodeTarget([1, null, 2])).toThrow(expect.objectContaining({ field: 'target[1]' }));
    expect(() => encodeTarget([1, NaN])).toThrow(expect.objectContaining({ field: 'target[1]' }));
    expect(() => encodeTarget(['a', ''])).toThrow(expect.objectContaining({ field: 'target[1]' }));
    expect(() => encodeTarget([1, 'a'])).toThrow(expect.objectContaining({ field: 'target[1]' }));
    expect(() => encodeTarget([{}])).toThrow(expect.objectContaining({ field: 'target[0]' }));
  });

  it('sorts labels like np.unique', () => {
    expect(sortLabels([10, 2, 1, 2])).toEqual([1, 2, 10]);
    expect(sortLabels(['b', 'a', 'Z'])).toEqual(['Z', 'a', 'b']);
  });
});

describe('crc32cBase64', () => {
  it('is the base64 of the big-endian CRC32C (GCS x-goog-hash format)', () => {
    expect(crc32cBase64(new TextEncoder().encode('hello world'))).toBe('yZRlqg==');
    expect(crc32cBase64(new TextEncoder().encode('123456789'))).toBe(Buffer.from([0xe3, 0x06, 0x92, 0x83]).toString('base64'));
    expect(crc32cBase64(new Uint8Array())).toBe('AAAAAA==');
  });
});
