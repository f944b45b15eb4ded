import { DataError } from './errors.js';
import { crc32cBase64, type ParquetColumn, writeParquet } from './parquet.js';

export type ColumnType = 'number' | 'string';

export interface ColumnInfo {
  name: string;
  type: ColumnType;
}

export interface EncodedFeatures {
  /** Parquet bytes exactly as they go upstream. */
  bytes: Uint8Array;
  /** CRC32C (base64, big-endian) of `bytes`: the `hash` upstream dedups on. */
  hash: string;
  columns: ColumnInfo[];
  nRows: number;
  nCols: number;
  /** What pandas' `memory_usage(deep=True)` would report; the python client compares this with the async threshold. */
  inMemorySizeBytes: number;
}

export interface EncodeFeaturesOptions {
  /**
   * Force column types instead of inferring them. Predict passes the fitted model's types so that a test
   * column that happens to look numeric is still sent as strings when training sent strings.
   */
  columnTypes?: ColumnType[];
}

export type TargetType = 'number' | 'string' | 'boolean';
export type Label = number | string | boolean;

export interface EncodedTarget {
  bytes: Uint8Array;
  hash: string;
  type: TargetType;
  /** Sorted unique values (numpy `np.unique` order): the column order of `probas`. */
  classes: Label[];
  nRows: number;
  inMemorySizeBytes: number;
}

const MISSING_STRINGS = new Set(['', 'na', 'nan', 'n/a', 'null', 'none']);
const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** NUMERIC without an exponent. */
const PLAIN_DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;
/** Longest text cell kept (longer text is cut to this many code points, as the python client does). */
export const MAX_TEXT_CHARS = 2500;
// pandas: 128 bytes of RangeIndex, 8 per numeric cell, and ~49 bytes of PyObject header plus the text per string cell.
export const PANDAS_INDEX_BYTES = 128;
const PANDAS_STR_OVERHEAD = 49;
/** What pandas' `memory_usage(deep=True)` counts for one cell of a string column holding `textBytes` bytes (0 when missing). */
export const pandasStringCellBytes = (textBytes: number) => 8 + PANDAS_STR_OVERHEAD + textBytes;

/** Whether a text is a plain decimal or scientific numeral (no surrounding spaces, no NA spelling). */
export const isNumeral = (s: string) => NUMERIC.test(s);
/**
 * Whether a text is a plain decimal (no exponent, no surrounding spaces) short enough to be finite:
 * under 309 characters it is below 1e308. The usual numeric cell, decided without parsing it.
 */
export const isFinitePlainDecimal = (s: string) => s.length < 309 && PLAIN_DECIMAL.test(s);

/** Printable ASCII, not a space (module-level: a closure per call would be garbage per cell). */
const printable = (c: number) => c > 32 && c < 127;

/** null, undefined, NaN, '' and the usual NA spellings (as pandas' CSV reader treats them) are missing. */
export function isMissing(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  if (typeof value === 'number') return Number.isNaN(value);
  if (typeof value === 'string') {
    // Fast path for the common cell (a number, a label): no NA spelling is longer than 4 characters,
    // so most cells are decided without trimming and lower-casing (an allocation per cell on big uploads).
    // (Both ends printable ASCII means trim() would remove nothing; Unicode spaces are all above 126.)
    if (value.length > 4 && printable(value.charCodeAt(0)) && printable(value.charCodeAt(value.length - 1))) return false;
    return MISSING_STRINGS.has(value.trim().toLowerCase());
  }
  return false;
}

/** The same cleaning the python client applies to non-numeric object columns before upload (§7). */
export function cleanText(value: string): string {
  const cleaned = value.replaceAll(',', '').replace(/\s+/g, ' ').trim();
  if (cleaned.length <= MAX_TEXT_CHARS) return cleaned;
  return Array.from(cleaned).slice(0, MAX_TEXT_CHARS).join('');
}

function checkScalar(value: unknown, field: string): void {
  if (typeof value === 'object' && value !== null) {
    throw new DataError(field, `expected a number, string, boolean or null, got ${Array.isArray(value) ? 'an array' : 'an object'}`);
  }
  if (typeof value === 'number' && !Number.isFinite(value) && !Number.isNaN(value)) throw new DataError(field, INFINITE_MESSAGE);
  if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol') {
    throw new DataError(field, `unsupported value of type ${typeof value}`);
  }
}

const INFINITE_WORD = /^[+-]?inf(?:inity)?$/i;
const INFINITE_MESSAGE = 'infinite values are not supported';

/**
 * A cell that spells an infinite number: `inf`/`Infinity` (pandas reads both as float inf) or a numeral
 * beyond float64 (`1e999`). Upstream cannot take infinities, and turning them into a category named
 * "Infinity" or into a silent ±Infinity would be a guess, so such cells are refused wherever they appear.
 */
function spellsInfinity(s: string): boolean {
  // Only a sign, a dot, a digit or an "i" can start one, so most text is decided on its first character
  // (this runs for every cell of a text column).
  const c = s.charCodeAt(0);
  if (!(c === 43 || c === 45 || c === 46 || (c >= 48 && c <= 57) || c === 73 || c === 105)) return false;
  if (s.length <= 9 && INFINITE_WORD.test(s)) return true;
  return NUMERIC.test(s) && !Number.isFinite(Number(s));
}

const cellField = (i: number, j: number) => `features[${i}][${j}]`;

/** Cell (i, j) as a number, or undefined when it is not one; throws for a cell that spells infinity. */
function numericValue(value: unknown, i: number, j: number): number | undefined {
  if (typeof value === 'number') return value;
  // Booleans are 0/1, as pandas/pyarrow hand a bool column to TabPFN: an ordinal binary feature.
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    const s = value.trim();
    if (NUMERIC.test(s)) {
      const n = Number(s);
      if (!Number.isFinite(n)) throw new DataError(cellField(i, j), INFINITE_MESSAGE);
      return n;
    }
    if (s.length <= 9 && INFINITE_WORD.test(s)) throw new DataError(cellField(i, j), INFINITE_MESSAGE);
  }
  return undefined;
}

function stringValue(value: unknown, i: number, j: number): string {
  const s = typeof value === 'string' ? value : String(value);
  if (spellsInfinity(s.trim())) throw new DataError(cellField(i, j), INFINITE_MESSAGE);
  return cleanText(s);
}

/**
 * One text cell as feature type inference sees it: missing, a number, or text; throws a DataError
 * naming `features[i][j]` for a cell that spells an infinite number. `inferType` and `numericCells`
 * decide the same over a whole column; this is for callers that see a CSV one row at a time.
 */
export function featureCellKind(value: string, i: number, j: number): 'missing' | 'number' | 'text' {
  if (isMissing(value)) return 'missing';
  // The usual numeric cell decided without parsing it (parsing every cell of a large upload cost more than reading it).
  if (isFinitePlainDecimal(value.trim())) return 'number';
  return numericValue(value, i, j) === undefined ? 'text' : 'number';
}

function inferType(values: readonly unknown[], j: number): ColumnType {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!isMissing(v) && numericValue(v, i, j) === undefined) return 'string';
  }
  return 'number';
}

/** The column as numbers (null for missing cells), or undefined as soon as one cell is not numeric. */
function numericCells(values: readonly unknown[], j: number): (number | null)[] | undefined {
  const out = new Array<number | null>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (isMissing(v)) {
      out[i] = null;
      continue;
    }
    const n = numericValue(v, i, j);
    if (n === undefined) return undefined;
    out[i] = n;
  }
  return out;
}

/**
 * One cell as the encoder stores it in a column of a known type: null when missing, a number, or
 * cleaned text. Throws a DataError naming `features[i][j]` for a cell the column cannot hold. For
 * callers that convert cells as they arrive (a streamed CSV) instead of holding them as text.
 */
export function encodeCell(v: unknown, type: ColumnType, name: string, i: number, j: number): number | string | null {
  if (isMissing(v)) return null;
  if (type === 'string') return stringValue(v, i, j);
  const n = numericValue(v, i, j);
  if (n === undefined) throw new DataError(cellField(i, j), `column "${name}" is numeric but this cell is ${JSON.stringify(v)}`);
  return n;
}

/**
 * Column-wise input: `column(j)` hands over column j's cells (only one column needs to be alive at a
 * time, which is what keeps a 100k-row CSV upload from holding every cell as a string at once).
 */
export interface FeatureColumns {
  nRows: number;
  names: string[];
  column(j: number): readonly unknown[];
}

/**
 * Encodes a feature matrix as the parquet file upstream receives. Column names default to "0".."n-1",
 * like `pd.DataFrame(np_array)`.
 */
export function encodeFeatures(rows: unknown[][], names?: string[], options: EncodeFeaturesOptions = {}): EncodedFeatures {
  if (!Array.isArray(rows)) throw new DataError('features', 'expected an array of rows');
  const nCols = names?.length ?? (Array.isArray(rows[0]) ? rows[0].length : 0);
  rows.forEach((row, i) => {
    if (!Array.isArray(row)) throw new DataError(`features[${i}]`, 'expected an array of cells');
    if (row.length !== nCols) throw new DataError(`features[${i}]`, `row has ${row.length} cells, expected ${nCols}`);
    row.forEach((cell, j) => {
      checkScalar(cell, `features[${i}][${j}]`);
    });
  });
  const columnNames = names ?? Array.from({ length: nCols }, (_, j) => String(j));
  return encodeFeatureColumns({ nRows: rows.length, names: columnNames, column: (j) => rows.map((row) => row[j]) }, options);
}

/** `encodeFeatures` for column-wise input; same bytes for the same cells. Cells must be scalars. */
export function encodeFeatureColumns(input: FeatureColumns, options: EncodeFeaturesOptions = {}): EncodedFeatures {
  const columnNames = input.names;
  const nCols = columnNames.length;
  if (new Set(columnNames).size !== columnNames.length) throw new DataError('feature_names', 'column names must be unique');
  if (options.columnTypes && options.columnTypes.length !== nCols) {
    throw new DataError('column_types', `expected ${nCols} column types, got ${options.columnTypes.length}`);
  }

  const columns: ColumnInfo[] = [];
  const parquetColumns: ParquetColumn[] = [];
  let inMemory = PANDAS_INDEX_BYTES;
  for (let j = 0; j < nCols; j++) {
    const name = columnNames[j] as string;
    const cells = input.column(j);
    // One pass for the common numeric column: infer and convert together (inferType then map read
    // and parsed every cell twice, which dominated encoding a 100k × 50 upload).
    const numbers = options.columnTypes?.[j] === 'string' ? undefined : numericCells(cells, j);
    const type = options.columnTypes?.[j] ?? (numbers ? 'number' : inferType(cells, j));
    const data = numbers ?? cells.map((v, i) => encodeCell(v, type, name, i, j));
    inMemory +=
      type === 'number'
        ? 8 * input.nRows
        : data.reduce<number>((s, v) => s + pandasStringCellBytes(typeof v === 'string' ? Buffer.byteLength(v) : 0), 0);
    columns.push({ name, type });
    parquetColumns.push({ name, type: type === 'number' ? 'DOUBLE' : 'STRING', data });
  }
  const bytes = writeParquet(parquetColumns);
  return { bytes, hash: crc32cBase64(bytes), columns, nRows: input.nRows, nCols, inMemorySizeBytes: inMemory };
}

const MISSING_TARGET_MESSAGE = 'the target must not contain missing values (null, NaN or empty)';

/**
 * The checks `encodeTarget` makes of a target cell given as text: not infinite, not missing. Throws
 * a DataError naming `target[i]`. For callers that see a CSV one row at a time.
 */
export function checkTargetText(value: string, i: number): void {
  if (spellsInfinity(value.trim())) throw new DataError(`target[${i}]`, INFINITE_MESSAGE);
  if (isMissing(value)) throw new DataError(`target[${i}]`, MISSING_TARGET_MESSAGE);
}

/** np.unique order: numbers ascending, strings by code point, false before true. */
export function sortLabels<T extends Label>(labels: Iterable<T>): T[] {
  return [...new Set(labels)].sort((a, b) => {
    if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
    return Number(a) - Number(b);
  });
}

/**
 * Encodes the target as one column "0", keeping its type: numbers as float64, strings as strings,
 * booleans as booleans, so predicted labels come back in the caller's type.
 */
export function encodeTarget(values: unknown[]): EncodedTarget {
  if (!Array.isArray(values)) throw new DataError('target', 'expected an array');
  let type: TargetType | undefined;
  values.forEach((v, i) => {
    checkScalar(v, `target[${i}]`);
    if (typeof v === 'string') checkTargetText(v, i);
    else if (isMissing(v)) throw new DataError(`target[${i}]`, MISSING_TARGET_MESSAGE);
    const t = typeof v as TargetType;
    if (type === undefined) type = t;
    else if (type !== t) throw new DataError(`target[${i}]`, `mixed target types: ${type} and ${t}`);
  });
  const resolved: TargetType = type ?? 'number';
  const data = values.map((v) => (resolved === 'string' ? (v as string) : (v as number | boolean)));
  const bytes = writeParquet([{ name: '0', type: resolved === 'number' ? 'DOUBLE' : resolved === 'string' ? 'STRING' : 'BOOLEAN', data }]);
  const perCell = (v: unknown) =>
    resolved === 'string' ? pandasStringCellBytes(Buffer.byteLength(String(v))) : resolved === 'boolean' ? 1 : 8;
  return {
    bytes,
    hash: crc32cBase64(bytes),
    type: resolved,
    classes: sortLabels(data as Label[]),
    nRows: values.length,
    inMemorySizeBytes: PANDAS_INDEX_BYTES + data.reduce<number>((s, v) => s + perCell(v), 0),
  };
}
