import { crc32c } from '@node-rs/crc32';
import { csvTargetValues } from './column-profile.js';
import { type ColumnType, type EncodedFeatures, type EncodedTarget, encodeCell, encodeFeatureColumns, encodeTarget } from './encode.js';

/**
 * A CSV's cells as text, the way a large fit upload is stored between the api (which validates it
 * as it streams in) and the worker (which encodes it before the fit): each part holds whole rows,
 * every cell exactly as the CSV reader gave it, in file order, separated by NUL. The CSV reader
 * refuses a cell containing NUL (Postgres text could not hold one either), so NUL never occurs in a
 * cell. Cheap to write (one join and one UTF-8 write per row) and to read (one split per part),
 * which is the point: the api answers once the cells are checked and stored, not once they are parquet.
 */
export const CSV_CELLS_FORMAT = 'csv-cells';

const SEP = '\u0000';

/** Rows of cells appended into one growing buffer, taken out as a part when big enough. */
export class CellPartWriter {
  private buf: Buffer;
  private length = 0;
  private nRows = 0;

  constructor(private readonly initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  append(cells: readonly string[]): void {
    const row = cells.join(SEP);
    // At most 3 UTF-8 bytes per UTF-16 unit, plus the separator before the row.
    const need = this.length + 1 + 3 * row.length;
    if (need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, 2 * this.buf.length));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    if (this.nRows > 0) this.buf[this.length++] = 0;
    this.length += this.buf.write(row, this.length, 'utf8');
    this.nRows++;
  }

  get byteLength(): number {
    return this.length;
  }

  get rows(): number {
    return this.nRows;
  }

  /**
   * The rows so far as one part (its bytes are the caller's); the writer goes on in a new buffer, or
   * in `reuse`: the bytes of a part taken earlier and written since. Handing them back keeps a long
   * upload to two or three buffers: a new one per part would outlive the young generation while
   * being written and pile up until a full GC.
   */
  take(reuse?: Uint8Array): { bytes: Uint8Array; nRows: number } {
    const part = { bytes: this.buf.subarray(0, this.length), nRows: this.nRows };
    this.buf = reuse ? Buffer.from(reuse.buffer, reuse.byteOffset, reuse.buffer.byteLength - reuse.byteOffset) : Buffer.allocUnsafe(this.initialBytes);
    this.length = 0;
    this.nRows = 0;
    return part;
  }
}

/**
 * The content hash of a set stored as cells: its size and CRC32C over its parts' bytes in row order.
 * Provisional (the parquet's hashes replace it once the worker encodes the set), and the worker's
 * check that it read back every byte the api stored. CRC32C is native here: hashing the parts
 * costs next to nothing (SHA-256 of a 37 MB upload cost the api ~0.1 s).
 */
export class CellsDigest {
  private crc = 0;
  private bytes = 0;
  update(part: Uint8Array): void {
    this.crc = crc32c(part, this.crc);
    this.bytes += part.byteLength;
  }
  digest(): string {
    return `${CSV_CELLS_FORMAT}:${this.bytes}:${(this.crc >>> 0).toString(16).padStart(8, '0')}`;
  }
}

/** A stored part's cells, row-major (`nRows × width`); throws when the part does not hold that many. */
export function splitCellPart(bytes: Uint8Array, nRows: number, width: number): string[] {
  if (nRows === 0) return [];
  const cells = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8').split(SEP);
  if (cells.length !== nRows * width) throw new Error(`a stored part of ${nRows} rows × ${width} columns holds ${cells.length} cells`);
  return cells;
}

export interface CsvCellsLayout {
  /** The feature columns' names, in file order. */
  names: string[];
  /** Which cell of a stored row is the target (the others are the features, in order). */
  targetIndex: number;
  nRows: number;
  /**
   * The feature types and target type the api inferred when it validated the upload (the worker
   * passes them, and a cell that contradicts them is an error). Without them they are inferred here
   * exactly as for a JSON body of the same cells.
   */
  types?: { features: ColumnType[]; target: 'number' | 'string' };
}

/** One feature column being filled: numbers unboxed when the type is known, else the cells as text. */
interface ColumnStore {
  put(i: number, cell: string): void;
  cells(): unknown[];
}

function columnStore(type: ColumnType | undefined, nRows: number, name: string, j: number): ColumnStore {
  if (type !== 'number') {
    const cells = new Array<string>(nRows);
    return {
      put(i, cell) {
        cells[i] = cell;
      },
      cells: () => cells,
    };
  }
  // NaN marks a missing cell (a numeral never parses to NaN).
  let values = new Float64Array(nRows);
  return {
    put(i, cell) {
      const v = encodeCell(cell, 'number', name, i, j) as number | null;
      values[i] = v === null ? Number.NaN : v;
    },
    cells() {
      const out = Array.from(values, (v) => (Number.isNaN(v) ? null : v));
      // Read once, by the encoder: the unboxed copy goes as the boxed one is made.
      values = new Float64Array(0);
      return out;
    },
  };
}

/**
 * Encodes stored cell parts, added in row order, as the parquet files upstream receives: the same
 * bytes a JSON body of the same cells gives (and the old whole-file CSV path gave). Holds the cells
 * until `finish`, numbers unboxed when the types are known.
 */
export class CsvCellsEncoder {
  private readonly stores: ColumnStore[];
  private readonly target: string[];
  private row = 0;

  constructor(private readonly layout: CsvCellsLayout) {
    const { names, nRows, types } = layout;
    this.stores = names.map((name, k) => columnStore(types?.features[k], nRows, name, k));
    this.target = new Array<string>(nRows);
  }

  add(part: { bytes: Uint8Array; nRows: number }): void {
    const { names, targetIndex: t, nRows } = this.layout;
    const width = names.length + 1;
    if (this.row + part.nRows > nRows) throw new Error(`the stored cells hold more than ${nRows} rows`);
    const cells = splitCellPart(part.bytes, part.nRows, width);
    for (let r = 0; r < part.nRows; r++, this.row++) {
      const base = r * width;
      for (let j = 0; j < width; j++) {
        if (j === t) this.target[this.row] = cells[base + j]!;
        else this.stores[j < t ? j : j - 1]!.put(this.row, cells[base + j]!);
      }
    }
  }

  finish(): { x: EncodedFeatures; y: EncodedTarget } {
    const { names, nRows, types } = this.layout;
    if (this.row !== nRows) throw new Error(`the stored cells hold ${this.row} rows, expected ${nRows}`);
    const x = encodeFeatureColumns({ nRows, names, column: (k) => this.stores[k]!.cells() }, types ? { columnTypes: types.features } : {});
    const y = encodeTarget(csvTargetValues(this.target));
    if (types && y.type !== types.target) throw new Error(`the stored target is ${y.type}, expected ${types.target}`);
    return { x, y };
  }
}
