import { describe, expect, it } from '@jest/globals';
import { CellPartWriter, CellsDigest, CsvCellsEncoder, splitCellPart } from './csv-cells.js';
import { csvTargetValues } from './column-profile.js';
import { encodeFeatures, encodeTarget } from './encode.js';

const rows = [
  ['1.5', 'cat', 'red', ''],
  ['2', 'dog', 'blue', 'line one\nline two'],
  [' 0.5 ', 'cat', 'Ωmega', 'a,b "quoted"'],
  ['NA', 'bird', 'red', '😀'],
];

function partsOf(table: string[][], rowsPerPart: number) {
  const out: { bytes: Uint8Array; nRows: number }[] = [];
  const writer = new CellPartWriter(4);
  for (const row of table) {
    writer.append(row);
    if (writer.rows === rowsPerPart) out.push(writer.take());
  }
  if (writer.rows) out.push(writer.take());
  return out;
}

describe('cell parts', () => {
  it('give back every cell as written, whatever it holds (empty, newlines, quotes, non-ASCII)', () => {
    const [part] = partsOf(rows, 10);
    expect(part!.nRows).toBe(4);
    expect(splitCellPart(part!.bytes, 4, 4)).toEqual(rows.flat());
    // A single empty cell is a row too.
    const [empty] = partsOf([[''], ['']], 10);
    expect(splitCellPart(empty!.bytes, 2, 1)).toEqual(['', '']);
  });

  it('are written into the bytes of a part handed back, so a long upload reuses a few buffers', () => {
    const writer = new CellPartWriter(64);
    writer.append(['a', 'b']);
    const first = writer.take();
    writer.append(['c', 'd']);
    const second = writer.take(first.bytes);
    expect(second.bytes.buffer).toBe(first.bytes.buffer);
    expect(splitCellPart(second.bytes, 1, 2)).toEqual(['c', 'd']);
  });

  it('refuse a part that does not hold the rows it claims', () => {
    const [part] = partsOf(rows, 10);
    expect(() => splitCellPart(part!.bytes, 3, 4)).toThrow('a stored part of 3 rows × 4 columns holds 16 cells');
  });

  it('hash their bytes in order, part by part as in one piece', () => {
    const digest = (parts: Uint8Array[]) => {
      const d = new CellsDigest();
      for (const p of parts) d.update(p);
      return d.digest();
    };
    const parts = partsOf(rows, 1).map((p) => p.bytes);
    expect(digest(parts)).toBe(digest([Buffer.concat(parts)]));
    expect(digest(parts)).not.toBe(digest(parts.slice(1)));
    expect(digest(parts)).not.toBe(digest([...parts].reverse()));
    expect(digest(partsOf(rows, 10).map((p) => p.bytes))).toMatch(/^csv-cells:\d+:[0-9a-f]{8}$/);
  });
});

describe('CsvCellsEncoder', () => {
  const names = ['size', 'color', 'note'];
  const features = rows.map((r) => [r[0], r[2], r[3]]);
  const target = rows.map((r) => r[1]!);
  const json = { x: encodeFeatures(features, names), y: encodeTarget(csvTargetValues(target)) };

  it('encodes to the bytes a JSON body of the same cells gives, inferring the types or given them, in any number of parts', () => {
    for (const rowsPerPart of [1, 3, 10]) {
      for (const types of [undefined, { features: json.x.columns.map((c) => c.type), target: 'string' as const }]) {
        const encoder = new CsvCellsEncoder({ names, targetIndex: 1, nRows: 4, types });
        for (const part of partsOf(rows, rowsPerPart)) encoder.add(part);
        const { x, y } = encoder.finish();
        expect({ x: x.hash, y: y.hash, columns: x.columns, size: x.inMemorySizeBytes }).toEqual({
          x: json.x.hash,
          y: json.y.hash,
          columns: json.x.columns,
          size: json.x.inMemorySizeBytes,
        });
        expect(Buffer.from(x.bytes).equals(Buffer.from(json.x.bytes))).toBe(true);
      }
    }
  });

  it('a numeric CSV target is numbers, as a JSON body of numbers', () => {
    const encoder = new CsvCellsEncoder({ names: ['a'], targetIndex: 0, nRows: 3 });
    for (const part of partsOf([['1', '0.5'], ['0', '2'], ['1', '3']], 2)) encoder.add(part);
    expect(encoder.finish().y.hash).toBe(encodeTarget([1, 0, 1]).hash);
  });

  it('refuses stored cells that contradict the given types or the row count', () => {
    const numeric = { features: ['number', 'number', 'string'] as const, target: 'string' as const };
    const wrongType = new CsvCellsEncoder({ names, targetIndex: 1, nRows: 4, types: { ...numeric, features: [...numeric.features] } });
    for (const part of partsOf(rows, 10)) expect(() => wrongType.add(part)).toThrow('column "color" is numeric but this cell is "red"');

    const short = new CsvCellsEncoder({ names, targetIndex: 1, nRows: 5 });
    for (const part of partsOf(rows, 10)) short.add(part);
    expect(() => short.finish()).toThrow('the stored cells hold 4 rows, expected 5');
  });
});
