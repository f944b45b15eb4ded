import type { DatasetPart } from '@tabpfn-jobs/shared/repositories';
import { type StreamedTrainSet, createTrainSetIntake } from '../../apps/api/src/services/train-set-intake.js';

/** The dataset repository methods a train-set intake uses, in memory: what it stored, for tests without Postgres. */
export function memoryCellStore() {
  const sets = new Map<string, { userId: string; parts: DatasetPart[] }>();
  let next = 0;
  return {
    sets,
    async insertPendingCells(d: { userId: string; nCols: number }): Promise<string> {
      const id = `set-${++next}`;
      sets.set(id, { userId: d.userId, parts: [] });
      return id;
    },
    async insertPart(datasetId: string, rowStart: number, nRows: number, bytes: Uint8Array): Promise<void> {
      const set = sets.get(datasetId);
      if (!set) throw new Error(`no dataset ${datasetId}`);
      set.parts.push({ row_start: rowStart, n_rows: nRows, x_bytes: Buffer.from(bytes) });
    },
    async *partsInOrder(datasetId: string): AsyncGenerator<DatasetPart> {
      yield* sets.get(datasetId)?.parts ?? [];
    },
    async delete(id: string): Promise<void> {
      sets.delete(id);
    },
  };
}

/**
 * Streams CSV rows (as the CSV reader gives them: a header, then records with their line) through a
 * train-set intake and finishes it. `targetEarly: false`: the target column is named only at the end.
 */
export async function streamTrainSet(
  header: string[],
  rows: string[][],
  target: string,
  opts: { partBytes?: number; targetEarly?: boolean; store?: ReturnType<typeof memoryCellStore> } = {},
): Promise<StreamedTrainSet> {
  const intake = createTrainSetIntake({ datasets: opts.store ?? memoryCellStore() }, { userId: 'u1', partBytes: opts.partBytes });
  intake.header(header, opts.targetEarly === false ? undefined : target);
  for (const [i, row] of rows.entries()) await intake.add([...row], i + 2);
  return intake.finish(target);
}
