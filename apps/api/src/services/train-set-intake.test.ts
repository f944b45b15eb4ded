import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import { CsvCellsEncoder, splitCellPart } from '@tabpfn-jobs/tabpfn';
import { memoryCellStore, streamTrainSet } from '../../../../tests/helpers/train-set.js';
import { createTrainSetIntake } from './train-set-intake.js';

// No database: the intake's storage is the dataset repository's few methods, kept in memory.

const header = ['a', 'b', 'y', 'c'];
const rows = Array.from({ length: 50 }, (_, i) => [String(i * 0.5), i % 7 === 0 ? 'NA' : `${i}`, ['x', 'z'][i % 2]!, i % 5 === 0 ? 'red' : String(-i)]);

/** What encoding the same cells in one go gives: the reference every intake result must agree with. */
function encodedAtOnce(table: string[][]) {
  const writer = new CsvCellsEncoder({ names: ['a', 'b', 'c'], targetIndex: 2, nRows: table.length });
  const cells = table.flat().join('\u0000');
  writer.add({ bytes: Buffer.from(cells), nRows: table.length });
  return writer.finish();
}

function problem(err: unknown) {
  expect(err).toBeInstanceOf(ValidationError);
  return (err as ValidationError).errors;
}

describe('train-set intake: where the rows go', () => {
  it('keeps a file that fits one part whole and stores nothing', async () => {
    const store = memoryCellStore();
    const set = await streamTrainSet(header, rows, 'y', { store });
    expect(set.stored.kind).toBe('inline');
    expect(store.sets.size).toBe(0);
    if (set.stored.kind === 'inline') expect(splitCellPart(set.stored.bytes, 50, 4)).toEqual(rows.flat());
  });

  it('stores a larger one in parts of whole rows, in order, and says what the encoder will make of it', async () => {
    const store = memoryCellStore();
    const set = await streamTrainSet(header, rows, 'y', { store, partBytes: 100 });
    if (set.stored.kind !== 'parts') throw new Error('expected parts');
    const parts = store.sets.get(set.stored.datasetId)!.parts;
    expect(parts.length).toBe(set.stored.nParts);
    expect(parts.length).toBeGreaterThan(5);
    expect(parts.map((p) => p.row_start)).toEqual(parts.map((_, k) => parts.slice(0, k).reduce((s, p) => s + p.n_rows, 0)));
    expect(parts.flatMap((p) => splitCellPart(p.x_bytes, p.n_rows, 4))).toEqual(rows.flat());
    expect(set.stored.sizeBytes).toBe(parts.reduce((s, p) => s + p.x_bytes.byteLength, 0));

    const { x, y } = encodedAtOnce(rows);
    expect({ columns: set.columns, size: set.inMemorySizeBytes, target: set.target, targetIndex: set.targetIndex, nRows: set.nRows }).toEqual({
      columns: x.columns,
      size: x.inMemorySizeBytes,
      target: { type: y.type, classes: y.classes },
      targetIndex: 2,
      nRows: 50,
    });
  });

  it('holds the upload while the part before the one just filled is still being written (two parts at most)', async () => {
    const store = memoryCellStore();
    const release: (() => void)[] = [];
    const slow = { ...store, insertPart: (...args: Parameters<typeof store.insertPart>) => new Promise<void>((r) => release.push(() => r(store.insertPart(...args)))) };
    const intake = createTrainSetIntake({ datasets: slow }, { userId: 'u1', partBytes: 1 });
    intake.header(header, 'y');
    expect(intake.add(rows[0]!, 2)).toBeUndefined();
    const held = intake.add(rows[1]!, 3);
    expect(held).toBeInstanceOf(Promise);
    let through = false;
    void held!.then(() => (through = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(through).toBe(false);
    release.shift()!();
    await held;
    release.shift()!();
    const finished = intake.finish('y');
    await new Promise((r) => setTimeout(r, 10));
    release.shift()?.();
    expect((await finished).stored).toMatchObject({ kind: 'parts', nParts: 2 });
  });

  it('a storage failure fails the upload; abandon removes what was stored', async () => {
    const store = memoryCellStore();
    let calls = 0;
    const failing = { ...store, insertPart: async (...args: Parameters<typeof store.insertPart>) => (++calls === 2 ? Promise.reject(new Error('disk full')) : store.insertPart(...args)) };
    const intake = createTrainSetIntake({ datasets: failing }, { userId: 'u1', partBytes: 1 });
    intake.header(header, 'y');
    await intake.add(rows[0]!, 2);
    await intake.add(rows[1]!, 3);
    await expect(intake.add(rows[2]!, 4)).rejects.toThrow('disk full');
    expect(store.sets.size).toBe(1);
    await intake.abandon();
    expect(store.sets.size).toBe(0);
  });
});

describe('train-set intake: refusals name the CSV line and column', () => {
  const intakeWith = (target: string | undefined) => {
    const intake = createTrainSetIntake({ datasets: memoryCellStore() }, { userId: 'u1' });
    intake.header(header, target);
    return intake;
  };

  it('an infinite feature cell, at its row', () => {
    const intake = intakeWith('y');
    intake.add(rows[0]!, 2);
    try {
      intake.add(['1', '1e999', 'x', '3'], 9);
      throw new Error('not refused');
    } catch (err) {
      expect(problem(err)).toEqual([{ field: 'file', message: 'line 9, column "b": infinite values are not supported' }]);
    }
  });

  it('a missing target, at its row when the target is known, at the end when it is named after the file', async () => {
    const bad = ['1', '2', 'NA', '3'];
    try {
      intakeWith('y').add(bad, 7);
      throw new Error('not refused');
    } catch (err) {
      expect(problem(err)).toEqual([{ field: 'file', message: 'line 7, column "y": the target must not contain missing values (null, NaN or empty)' }]);
    }
    for (const partBytes of [undefined, 1]) {
      const late = createTrainSetIntake({ datasets: memoryCellStore() }, { userId: 'u1', partBytes });
      late.header(header, undefined);
      await late.add(rows[0]!, 2);
      await late.add(bad, 5);
      await late.add(rows[1]!, 6);
      await expect(late.finish('y')).rejects.toMatchObject({
        errors: [{ field: 'file', message: 'line 5, column "y": the target must not contain missing values (null, NaN or empty)' }],
      });
    }
    // Named before the file as "c", then (a second field after it) as "y": the last one counts, checked at the end.
    const changed = intakeWith('c');
    changed.add(rows[0]!, 2);
    changed.add(bad, 8);
    await expect(changed.finish('y')).rejects.toMatchObject({
      errors: [{ field: 'file', message: 'line 8, column "y": the target must not contain missing values (null, NaN or empty)' }],
    });
  });

  it('a target named only after the file gives the same result as one named before it', async () => {
    for (const partBytes of [undefined, 100]) {
      const early = await streamTrainSet(header, rows, 'y', { partBytes });
      const late = await streamTrainSet(header, rows, 'y', { partBytes, targetEarly: false });
      expect({ ...late, stored: late.stored.kind }).toEqual({ ...early, stored: early.stored.kind });
      // The early target changed by a later form field: the final one counts.
      const changed = await streamTrainSet(header, rows, 'c', { partBytes });
      expect(changed.targetIndex).toBe(3);
      expect(changed.columns.map((c) => c.name)).toEqual(['a', 'b', 'y']);
    }
  });
});
