import type { DatasetRepository, DatasetRow } from '@tabpfn-jobs/shared/repositories';
import { decodeParquetColumns, encodeFeatureColumns } from '@tabpfn-jobs/tabpfn';
import type { RowRange } from './chunk-plan.js';

type Columns = DatasetRow['columns'];
type Decoded = Awaited<ReturnType<typeof decodeParquetColumns>>;

/** Decoding is CPU work: between pieces the event loop runs (lock renewals, cancel broadcasts). */
const yieldToLoop = () => new Promise((r) => setImmediate(r));

/**
 * A test set's rows [start, end) as the parquet file one upstream predict sends. The whole of a set
 * stored in one piece is sent as stored; anything else is decoded column-wise from the parts (or the
 * one piece) that hold the range and re-encoded with the set's column types, so a chunk's cells are
 * exactly the cells the api validated.
 */
export function createTestSetReader(deps: { datasets: Pick<DatasetRepository, 'partsOverlapping'> }) {
  /** A set stored in one piece (a JSON body) is decoded once per batch, not once per chunk. */
  let whole: { id: string; decoded: Promise<Decoded> } | undefined;

  async function columnsOf(dataset: DatasetRow, range: RowRange): Promise<unknown[][]> {
    const out: unknown[][] = dataset.columns.map(() => []);
    const take = (d: Decoded, offset: number) => {
      const from = Math.max(0, range.start - offset);
      const to = Math.min(d.nRows, range.end - offset);
      d.columns.forEach((col, j) => {
        const target = out[j]!;
        for (let i = from; i < to; i++) target.push(col[i]);
      });
    };
    if (dataset.n_parts === 0) {
      if (whole?.id !== dataset.id) whole = { id: dataset.id, decoded: decodeParquetColumns(dataset.x_bytes!) };
      take(await whole.decoded, 0);
    } else {
      for (const part of await deps.datasets.partsOverlapping(dataset.id, range.start, range.end)) {
        await yieldToLoop();
        take(await decodeParquetColumns(part.x_bytes), part.row_start);
      }
    }
    if ((out[0]?.length ?? 0) !== range.end - range.start) throw new Error(`test set ${dataset.id} lacks rows ${range.start}–${range.end - 1}`);
    return out;
  }

  return {
    async bytes(dataset: DatasetRow, range: RowRange): Promise<Uint8Array> {
      if (dataset.n_parts === 0 && range.start === 0 && range.end === dataset.n_rows) return dataset.x_bytes!;
      const columns = await columnsOf(dataset, range);
      await yieldToLoop();
      return encodeColumns(columns, dataset.columns);
    },
  };
}

function encodeColumns(columns: unknown[][], info: Columns): Uint8Array {
  return encodeFeatureColumns(
    { nRows: columns[0]?.length ?? 0, names: info.map((c) => c.name), column: (j) => columns[j]! },
    { columnTypes: info.map((c) => c.type) },
  ).bytes;
}

export type TestSetReader = ReturnType<typeof createTestSetReader>;
