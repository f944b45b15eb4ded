import { createHash } from 'node:crypto';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import type { DatasetRepository, ModelRow } from '@tabpfn-jobs/shared/repositories';
import { type ColumnInfo, DataError, type EncodedFeatures, encodeCell, encodeFeatureColumns } from '@tabpfn-jobs/tabpfn';
import { toCsvTerms } from './csv-locations.js';
import { checkTestShape, fieldErrorOf } from './dataset-encoding.js';

/** What a streamed CSV predict stored: one part (kept in memory, inserted with the job) or parts already in Postgres. */
export type StreamedTestSet =
  | { kind: 'inline'; nRows: number; encoded: EncodedFeatures }
  | { kind: 'parts'; nRows: number; datasetId: string; nParts: number; contentHash: string; sizeBytes: number; columns: ColumnInfo[] };

/** Cells per part: what the api holds of a streamed upload at once, however large the file. */
const PART_CELLS = 200_000;

/**
 * One part's cells, converted as they arrive: a numeric column is a Float64Array (NaN for missing),
 * so a row's text dies young instead of waiting for the part's end (held text is what made a large
 * upload's garbage pile up in the old generation).
 */
class PartColumns {
  readonly numbers: (Float64Array | undefined)[];
  readonly texts: ((string | null)[] | undefined)[];
  n = 0;
  constructor(types: readonly ('number' | 'string')[], capacity: number) {
    this.numbers = types.map((t) => (t === 'number' ? new Float64Array(capacity) : undefined));
    this.texts = types.map((t) => (t === 'string' ? [] : undefined));
  }
  /** Emptied for the next part: the number columns are reused (no new external memory per part). */
  reset(): void {
    this.n = 0;
    this.texts.forEach((t, j) => {
      if (t) this.texts[j] = [];
    });
  }
  column(j: number): (number | string | null)[] {
    const nums = this.numbers[j];
    if (!nums) return this.texts[j]!;
    const out = new Array<number | null>(this.n);
    for (let i = 0; i < this.n; i++) out[i] = Number.isNaN(nums[i]!) ? null : nums[i]!;
    return out;
  }
}

/**
 * A CSV predict's rows, validated and encoded while they stream in (the same encoder as a JSON body:
 * the same cells give the same bytes): every `PART_CELLS` cells become one parquet part. A set that
 * fits one part stays in memory and is written with its job, as a JSON predict is; a larger one is
 * written part by part as it arrives (the dataset row first, incomplete, then completed in the
 * submit's transaction), so the upload is never held whole.
 */
export function createTestSetIntake(
  deps: { datasets: Pick<DatasetRepository, 'insertPending' | 'insertPart' | 'delete'> },
  req: { userId: string; model: Pick<ModelRow, 'feature_names' | 'feature_types'>; maxRows: number },
) {
  const names = req.model.feature_names;
  const types = req.model.feature_types;
  const partRows = Math.max(1, Math.floor(PART_CELLS / Math.max(1, names.length)));
  let order: number[] = [];
  const part = new PartColumns(types, partRows);
  let nRows = 0;
  let first: EncodedFeatures | undefined;
  let datasetId: string | undefined;
  const parts = { count: 0, size: 0, hashes: createHash('sha256') };

  async function store(encoded: EncodedFeatures, rowStart: number): Promise<void> {
    datasetId ??= await deps.datasets.insertPending({ userId: req.userId, nCols: names.length, columns: encoded.columns });
    await deps.datasets.insertPart(datasetId, rowStart, encoded.nRows, encoded.bytes);
    parts.count++;
    parts.size += encoded.bytes.byteLength;
    parts.hashes.update(encoded.hash);
  }

  async function flush(): Promise<void> {


    const encoded = encodeFeatureColumns({ nRows: part.n, names, column: (j) => part.column(j) }, { columnTypes: types });
    const rowStart = nRows - part.n;
    part.reset();
    // The first part waits in memory: only a second one makes this a set stored in parts.
    if (rowStart === 0) first = encoded;
    else {
      if (first) await store(first, 0);
      first = undefined;
      await store(encoded, rowStart);
    }
  }

  function put(record: string[], line: number): void {
    const i = part.n;
    for (let j = 0; j < order.length; j++) {
      let v: number | string | null;
      try {
        v = encodeCell(record[order[j]!], types[j]!, names[j]!, 0, j);
      } catch (err) {
        if (!(err instanceof DataError)) throw err;
        // Named as row 0 of a one-row set whose only line is this one: the CSV terms of every upload.
        throw new ValidationError([toCsvTerms(fieldErrorOf(err), { lines: Int32Array.of(line) }, names)]);
      }
      const nums = part.numbers[j];
      if (nums) nums[i] = v === null ? Number.NaN : (v as number);
      else part.texts[j]!.push(v as string | null);
    }
    part.n++;
  }

  return {
    /** The model's columns must all be in the header (matched by name; extra columns are ignored). */
    header(header: string[]): void {
      const missing = names.filter((n) => !header.includes(n));
      if (missing.length) throw new ValidationError([{ field: 'file', message: `missing columns the model was fitted on: ${missing.join(', ')}` }]);
      order = names.map((n) => header.indexOf(n));
    },

    add(record: string[], line: number): Promise<void> | undefined {
      nRows++;
      if (nRows > req.maxRows) checkTestShape(null, { nRows, nCols: names.length }, req.maxRows);
      put(record, line);
      return part.n >= partRows ? flush() : undefined;
    },

    async finish(): Promise<StreamedTestSet> {
      if (nRows === 0) throw new ValidationError([{ field: 'features', message: 'the dataset is empty' }]);
      if (part.n) await flush();
      if (first) return { kind: 'inline', nRows, encoded: first };
      return {
        kind: 'parts',
        nRows,
        datasetId: datasetId!,
        nParts: parts.count,
        contentHash: `parts:${parts.hashes.digest('hex')}`,
        sizeBytes: parts.size,
        columns: names.map((name, j) => ({ name, type: types[j]! })),
      };
    },

    /** The upload failed: parts already written go (the retention sweep catches what a crash leaves). */
    async abandon(): Promise<void> {
      if (datasetId) await deps.datasets.delete(datasetId).catch(() => undefined);
    },
  };
}

export type TestSetIntake = ReturnType<typeof createTestSetIntake>;
