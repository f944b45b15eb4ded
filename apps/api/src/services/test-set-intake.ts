import { createHash } from 'node:crypto';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import type { DatasetRepository } from '@tabpfn-jobs/shared/repositories';
import type { ColumnInfo, EncodedFeatures } from '@tabpfn-jobs/tabpfn';
import { inCsvTerms } from './csv-locations.js';
import { checkTestShape, encodeTest } from './dataset-encoding.js';
import type { PredictModel } from './predict-plan.js';

/** What a streamed CSV predict stored: one part (kept in memory, inserted with the job) or parts already in Postgres. */
export type StreamedTestSet =
  | { kind: 'inline'; nRows: number; encoded: EncodedFeatures }
  | { kind: 'parts'; nRows: number; datasetId: string; nParts: number; contentHash: string; sizeBytes: number; columns: ColumnInfo[] };

/** Cells per part: a part is what the api holds in memory at once, however large the file. */
const PART_CELLS = 50_000;

/**
 * A CSV predict's rows, validated and encoded while they stream in: every `PART_CELLS` cells become
 * one parquet part. A set that fits one part stays in memory and is written with its job, as a JSON
 * predict is; a larger one is written part by part as it arrives (the dataset row first, incomplete,
 * then completed in the submit's transaction), so the upload is never held whole.
 */
export function createTestSetIntake(
  deps: { datasets: Pick<DatasetRepository, 'insertPending' | 'insertPart' | 'delete'> },
  req: { userId: string; model: Pick<PredictModel, 'feature_names' | 'feature_types'>; maxRows: number },
) {
  const names = req.model.feature_names;
  const partRows = Math.max(1, Math.floor(PART_CELLS / Math.max(1, names.length)));
  let order: number[] = [];
  let rows: unknown[][] = [];
  let lines: number[] = [];
  let nRows = 0;
  let first: EncodedFeatures | undefined;
  let datasetId: string | undefined;
  const parts = { count: 0, size: 0, hashes: createHash('sha256') };

  const encode = () => inCsvTerms({ lines: Int32Array.from(lines) }, names, () => encodeTest(rows, names, req.model.feature_types));

  async function store(encoded: EncodedFeatures, rowStart: number): Promise<void> {
    datasetId ??= await deps.datasets.insertPending({ userId: req.userId, nCols: names.length, columns: encoded.columns });
    await deps.datasets.insertPart(datasetId, rowStart, encoded.nRows, encoded.bytes);
    parts.count++;
    parts.size += encoded.bytes.byteLength;
    parts.hashes.update(encoded.hash);
  }

  async function flush(): Promise<void> {
    const encoded = encode();
    const rowStart = nRows - rows.length;
    rows = [];
    lines = [];
    // The first part waits in memory: only a second one makes this a set stored in parts.
    if (rowStart === 0) first = encoded;
    else {
      if (first) await store(first, 0);
      first = undefined;
      await store(encoded, rowStart);
    }
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
      rows.push(order.map((i) => record[i]));
      lines.push(line);
      return rows.length >= partRows ? flush() : undefined;
    },

    async finish(): Promise<StreamedTestSet> {
      if (rows.length || nRows === 0) await flush();
      if (first) return { kind: 'inline', nRows, encoded: first };
      return {
        kind: 'parts',
        nRows,
        datasetId: datasetId!,
        nParts: parts.count,
        contentHash: `parts:${parts.hashes.digest('hex')}`,
        sizeBytes: parts.size,
        columns: req.model.feature_names.map((name, j) => ({ name, type: req.model.feature_types[j]! })),
      };
    },

    /** The upload failed: parts already written go (the retention sweep catches what a crash leaves). */
    async abandon(): Promise<void> {
      if (datasetId) await deps.datasets.delete(datasetId).catch(() => undefined);
    },
  };
}

export type TestSetIntake = ReturnType<typeof createTestSetIntake>;
