import { type FieldError, ValidationError } from '@tabpfn-jobs/shared/errors';

/** Where a CSV upload's rows came from, so errors about them can name the file's line and column. */
export interface CsvOrigin {
  /** Data row i came from CSV line `lines[i]` (1-based; the header is line 1, empty lines are skipped). */
  lines: Int32Array;
  /** The CSV column the target was read from (fits). */
  targetColumn?: string;
}

const CELL = /^features\[(\d+)\]\[(\d+)\]$/;
const ROW = /^(features|target)\[(\d+)\]$/;

/**
 * The encoder names cells as in a JSON body (`features[i][j]`, `target[i]`, i counting data rows);
 * for a CSV upload that is a line and a column name of the file the caller has in front of them.
 * `featureNames[j]` is the name of feature j in the order the encoder saw the columns.
 */
export function toCsvTerms(err: FieldError, origin: CsvOrigin, featureNames: readonly string[]): FieldError {
  const line = (i: string) => origin.lines[Number(i)] ?? Number(i) + 2;
  const cell = CELL.exec(err.field);
  if (cell) return { field: 'file', message: `line ${line(cell[1]!)}, column "${featureNames[Number(cell[2])] ?? cell[2]}": ${err.message}` };
  const row = ROW.exec(err.field);
  if (row) {
    const where = row[1] === 'target' && origin.targetColumn !== undefined ? `, column "${origin.targetColumn}"` : '';
    return { field: 'file', message: `line ${line(row[2]!)}${where}: ${err.message}` };
  }
  return err;
}

/** Runs an encoder; a validation error about rows or cells of a CSV upload is restated by line and column. */
export function inCsvTerms<T>(origin: CsvOrigin | undefined, featureNames: readonly string[], encode: () => T): T {
  if (!origin) return encode();
  try {
    return encode();
  } catch (err) {
    if (!(err instanceof ValidationError) || !err.errors) throw err;
    throw new ValidationError(err.errors.map((e) => toCsvTerms(e, origin, featureNames)));
  }
}
