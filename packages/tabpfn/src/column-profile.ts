import {
  type ColumnType,
  type Label,
  MAX_TEXT_CHARS,
  PANDAS_INDEX_BYTES,
  checkTargetText,
  cleanText,
  featureCellKind,
  isFinitePlainDecimal,
  isNumeral,
  pandasStringCellBytes,
  sortLabels,
} from './encode.js';

/**
 * What the encoder would decide about one feature column, worked out one cell at a time and keeping
 * no cell: its type (`encodeFeatureColumns` infers number unless a non-missing cell is not numeric),
 * the in-memory size it would report, and the same refusal of a cell that spells an infinite number.
 * For a CSV seen row by row (a large fit upload), so that its rows are validated as they arrive.
 */
export class FeatureColumnProfile {
  private numeric = true;
  private cells = 0;
  /** UTF-8 bytes of the cleaned text of the non-missing cells: the column's size should it be text. */
  private textBytes = 0;

  /** Throws a DataError naming `features[i][j]` for a cell no column may hold. */
  add(cell: string, i: number, j: number): void {
    this.cells++;
    // The usual cell, decided at once: a short plain decimal with nothing to trim (csv-parse trims).
    if (isFinitePlainDecimal(cell)) {
      this.textBytes += cell.length;
      return;
    }
    const kind = featureCellKind(cell, i, j);
    if (kind === 'missing') return;
    if (kind === 'text') {
      this.numeric = false;
      this.textBytes += Buffer.byteLength(cleanText(cell));
    } else {
      // A numeral is ASCII and cleans to itself without its surrounding spaces.
      this.textBytes += Math.min(trimmedLength(cell), MAX_TEXT_CHARS);
    }
  }

  get type(): ColumnType {
    return this.numeric ? 'number' : 'string';
  }

  /** The column's part of `EncodedFeatures.inMemorySizeBytes` (without the index). */
  get inMemorySizeBytes(): number {
    return this.numeric ? 8 * this.cells : pandasStringCellBytes(0) * this.cells + this.textBytes;
  }
}

/** `inMemorySizeBytes` of a set of columns, as `encodeFeatureColumns` reports it. */
export const featuresInMemorySizeBytes = (columns: readonly FeatureColumnProfile[]) =>
  columns.reduce((sum, c) => sum + c.inMemorySizeBytes, PANDAS_INDEX_BYTES);

/** `s.trim().length` without a new string for the usual cell (nothing to trim: csv-parse trimmed it). */
function trimmedLength(s: string): number {
  const first = s.charCodeAt(0);
  const last = s.charCodeAt(s.length - 1);
  return first > 32 && first < 127 && last > 32 && last < 127 ? s.length : s.trim().length;
}

/**
 * The target column of a CSV, one cell at a time: the checks `encodeTarget` makes (no missing, no
 * infinite value), whether it is numeric (`csvTargetValues`), and its distinct labels (the classes).
 */
export class CsvTargetProfile {
  private numeric = true;
  private readonly labels = new Set<string>();

  /** Throws a DataError naming `target[i]`. */
  add(cell: string, i: number): void {
    checkTargetText(cell, i);
    if (this.numeric && !isNumeral(cell)) this.numeric = false;
    this.labels.add(cell);
  }

  get type(): 'number' | 'string' {
    return this.numeric ? 'number' : 'string';
  }

  /** Sorted distinct values in the target's type, as `encodeTarget` reports them. */
  get classes(): Label[] {
    return this.numeric ? sortLabels([...this.labels].map(Number)) : sortLabels(this.labels);
  }
}

/** A CSV's target cells in their type: numbers when every value is a numeral, otherwise the labels as they are. */
export function csvTargetValues(values: string[]): (string | number)[] {
  return values.every(isNumeral) ? values.map(Number) : values;
}
