import { ValidationError } from '@tabpfn-jobs/shared/errors';
import type { DatasetRepository } from '@tabpfn-jobs/shared/repositories';
import {
  CellPartWriter,
  CellsDigest,
  type ColumnInfo,
  CsvTargetProfile,
  DataError,
  FeatureColumnProfile,
  type Label,
  featuresInMemorySizeBytes,
  splitCellPart,
} from '@tabpfn-jobs/tabpfn';
import { toCsvTerms } from './csv-locations.js';
import { fieldErrorOf } from './dataset-encoding.js';

/**
 * Bytes of cell text per stored part. The intake holds at most two (one filling, one being written),
 * so this, not the file, bounds what a CSV fit costs the api; a file that fits in one is kept whole.
 */
const PART_BYTES = 1 << 20;

/** A CSV fit's rows, validated as they arrived: what the plan needs of them, and where they are. */
export interface StreamedTrainSet {
  nRows: number;
  /** The feature columns (the header without the target), typed as the encoder will type them. */
  columns: ColumnInfo[];
  targetIndex: number;
  target: { type: 'number' | 'string'; classes: Label[] };
  /** `EncodedFeatures.inMemorySizeBytes` of the features. */
  inMemorySizeBytes: number;
  /**
   * A file that fitted in one part is kept in memory and encoded with the plan, as a JSON body is; a
   * larger one was written part by part as it arrived (the dataset row first, incomplete, then
   * completed in the submit's transaction), and the worker encodes it before the fit.
   */
  stored: { kind: 'inline'; bytes: Uint8Array } | { kind: 'parts'; datasetId: string; nParts: number; sizeBytes: number; contentHash: string };
}

/** A DataError about one cell (named as row 0 of a one-row set) restated with the CSV line and column. */
function inCsvTerms(err: unknown, line: number, header: readonly string[], targetColumn: string | undefined): unknown {
  if (!(err instanceof DataError)) return err;
  return new ValidationError([toCsvTerms(fieldErrorOf(err), { lines: Int32Array.of(line), targetColumn }, header)]);
}

/**
 * Row → CSV line (4 bytes a row): a target column named only after the file (or changed by a later
 * field) has its cells checked at the end, and an error there names the line.
 */
class LineTable {
  private data = new Int32Array(1024);
  private n = 0;
  push(line: number): void {
    if (this.n === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = line;
  }
  at(row: number): number {
    return this.data[row]!;
  }
}

type IntakeDeps = { datasets: Pick<DatasetRepository, 'insertPendingCells' | 'insertPart' | 'partsInOrder' | 'delete'> };

/**
 * A CSV fit's rows, validated cell by cell while they stream in (the same checks and type inference
 * as encoding them, see FeatureColumnProfile), and stored as cell text in parts of PART_BYTES. No
 * cell outlives its row, so the api's memory is bounded by a part, not by the file.
 */
export function createTrainSetIntake(deps: IntakeDeps, req: { userId: string; partBytes?: number }) {
  const partBytes = req.partBytes ?? PART_BYTES;
  let header: string[] = [];
  let features: FeatureColumnProfile[] = [];
  let target: { index: number; profile: CsvTargetProfile } | undefined;
  const lines = new LineTable();
  let nRows = 0;
  // Room for a part and a row more: a part is written without the buffer regrowing.
  const writer = new CellPartWriter(partBytes + 64 * 1024);
  const stored = { datasetId: undefined as string | undefined, nParts: 0, sizeBytes: 0, digest: new CellsDigest() };
  /** The last part handed to the database (each waits for the one before it). */
  let writing: Promise<void> | undefined;
  /** Bytes of parts already written: the writer fills them again. */
  const written: Uint8Array[] = [];

  /** Starts writing the rows so far as a part; resolves once the part before it is written (backpressure). */
  function flush(): Promise<void> | undefined {
    const part = writer.take(written.pop());
    const rowStart = nRows - part.nRows;
    const previous = writing;
    const current = (async () => {
      await previous;
      stored.datasetId ??= await deps.datasets.insertPendingCells({ userId: req.userId, nCols: header.length - 1 });
      await deps.datasets.insertPart(stored.datasetId, rowStart, part.nRows, part.bytes);
      stored.digest.update(part.bytes);
      stored.nParts++;
      stored.sizeBytes += part.bytes.byteLength;
      written.push(part.bytes);
    })();
    // Its failure is reported by whoever waits for it next: the next part, `finish` or `abandon`.
    current.catch(() => undefined);
    writing = current;
    return previous;
  }

  /** A target named only after the file (or changed since): its cells are read back from where they are stored. */
  async function scanTarget(t: number, inline: Uint8Array | undefined): Promise<CsvTargetProfile> {
    const profile = new CsvTargetProfile();
    const width = header.length;
    let row = 0;
    const check = (part: { bytes: Uint8Array; n_rows: number }) => {
      const cells = splitCellPart(part.bytes, part.n_rows, width);
      for (let r = 0; r < part.n_rows; r++, row++) {
        try {
          profile.add(cells[r * width + t]!, 0);
        } catch (err) {
          throw inCsvTerms(err, lines.at(row), header, header[t]);
        }
      }
    };
    if (inline) check({ bytes: inline, n_rows: nRows });
    else for await (const part of deps.datasets.partsInOrder(stored.datasetId!)) check({ bytes: part.x_bytes, n_rows: part.n_rows });
    return profile;
  }

  return {
    /** The header row; `targetColumn` when the form field came before the file (then its cells are checked as they arrive). */
    header(names: string[], targetColumn: string | undefined): void {
      if (features.length) return;
      header = names;
      features = names.map(() => new FeatureColumnProfile());
      const t = targetColumn === undefined ? -1 : names.indexOf(targetColumn);
      if (t >= 0) target = { index: t, profile: new CsvTargetProfile() };
    },

    add(record: string[], line: number): Promise<void> | undefined {
      try {
        if (target) target.profile.add(record[target.index]!, 0);
        for (let j = 0; j < record.length; j++) features[j]!.add(record[j]!, 0, j);
      } catch (err) {
        throw inCsvTerms(err, line, header, target ? header[target.index] : undefined);
      }
      lines.push(line);
      nRows++;
      writer.append(record);
      return writer.byteLength >= partBytes ? flush() : undefined;
    },

    /** Once the whole file is read; `targetColumn` is in the header (the route checked). */
    async finish(targetColumn: string): Promise<StreamedTrainSet> {
      const t = header.indexOf(targetColumn);
      if (writing) {
        if (writer.rows) flush();
        await writing;
      }
      const inline = stored.datasetId ? undefined : writer.take().bytes;
      const y = target?.index === t ? target.profile : await scanTarget(t, inline);
      const kept = features.filter((_, j) => j !== t);
      return {
        nRows,
        columns: kept.map((c, k) => ({ name: header[k < t ? k : k + 1]!, type: c.type })),
        targetIndex: t,
        target: { type: y.type, classes: y.classes },
        inMemorySizeBytes: featuresInMemorySizeBytes(kept),
        stored: inline
          ? { kind: 'inline', bytes: inline }
          : { kind: 'parts', datasetId: stored.datasetId!, nParts: stored.nParts, sizeBytes: stored.sizeBytes, contentHash: stored.digest.digest() },
      };
    },

    /** The upload failed or was a repeat: parts already written go (the incomplete-set sweep catches what a crash leaves). */
    async abandon(): Promise<void> {
      await writing?.catch(() => undefined);
      if (stored.datasetId) await deps.datasets.delete(stored.datasetId).catch(() => undefined);
    },
  };
}

export type TrainSetIntake = ReturnType<typeof createTrainSetIntake>;
