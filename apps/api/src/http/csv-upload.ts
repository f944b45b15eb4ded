import type { Request } from 'express';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import { delimiterField, parseCsvStream } from './csv-stream.js';
import { assertStorableJson } from './json-guard.js';
import { readMultipart } from './multipart.js';

/** A CSV upload stored column-wise and compactly; see `readCsvColumns`. */
export interface CsvColumns {
  fields: Record<string, string>;
  header: string[];
  fileSha256: string;
  nRows: number;
  lines: Int32Array;
  /** Column j's cells, rebuilt from the compact store: materialise one column at a time. */
  column(j: number): string[];
}

/** Checks the header against the request's fields as soon as it arrives (e.g. that the target column exists). */
export type HeaderCheck = (header: string[], fields: Readonly<Record<string, string>>) => void;

/** Cells per stored chunk: big enough to amortise the join, small enough to split quickly. */
const CHUNK_CELLS = 4096;
const SEP = '\u0000';

/**
 * For large fits: instead of one string object (and one array) per cell, each
 * column keeps its cells joined into NUL-separated chunks, about one byte per character of the file.
 * 100,000 × 50 cells held as separate strings cost ~13 × the file in RSS; this costs ~1 ×, and the
 * encoder splits one column at a time (the CSV reader refuses a NUL inside a cell, so it can separate them).
 */
export async function readCsvColumns(req: Request, maxBytes: number, checkHeader?: HeaderCheck): Promise<CsvColumns> {
  let chunks: string[][] = [];
  let pending: string[][] = [];
  let nRows = 0;
  const out = await readCsv(req, maxBytes, checkHeader, (record) => {
    if (nRows === 0) {
      chunks = record.map(() => []);
      pending = record.map(() => []);
    }
    for (let j = 0; j < record.length; j++) pending[j]!.push(record[j]!);
    nRows++;
    if (nRows % CHUNK_CELLS === 0) {
      for (let j = 0; j < pending.length; j++) chunks[j]!.push(pending[j]!.join(SEP));
      pending = pending.map(() => []);
    }
  });
  return {
    ...out,
    nRows,
    column(j) {
      const out: string[] = [];
      for (const chunk of chunks[j] ?? []) for (const cell of chunk.split(SEP)) out.push(cell);
      for (const cell of pending[j] ?? []) out.push(cell);
      return out;
    },
  };
}

/**
 * Streams a CSV upload into `onRecord` without keeping its rows: for a sink that encodes and stores
 * them part by part (a large predict), awaiting it holds the upload (backpressure).
 */
export async function readCsvStreamed(
  req: Request,
  maxBytes: number,
  checkHeader: HeaderCheck,
  onRecord: (record: string[], line: number) => void | Promise<void>,
): Promise<{ fields: Record<string, string>; header: string[]; fileSha256: string }> {
  const { fields, header, fileSha256 } = await readCsv(req, maxBytes, checkHeader, onRecord, false);
  return { fields, header, fileSha256 };
}

/** Row → CSV line, as a growing Int32Array (4 bytes a row, however many rows). */
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
  done(): Int32Array {
    return this.data.slice(0, this.n);
  }
}

/** The multipart/CSV reader both shapes share; `onRecord` gets every data row. */
async function readCsv(
  req: Request,
  maxBytes: number,
  checkHeader: HeaderCheck | undefined,
  onRecord: (record: string[], line: number) => void | Promise<void>,
  keepLines = true,
): Promise<{ fields: Record<string, string>; header: string[]; fileSha256: string; lines: Int32Array }> {
  const lines = new LineTable();
  const { fields, file, lateFields } = await readMultipart(req, maxBytes, (stream, early) =>
    parseCsvStream(stream, { delimiter: delimiterField(early.delimiter) }, {
      onHeader: (header) => checkHeader?.(header, early),
      onRecord(record, line) {
        if (keepLines) lines.push(line);
        return onRecord(record, line);
      },
    }),
  );
  if (!file) throw new ValidationError([{ field: 'file', message: 'is required (a CSV file part named "file")' }]);
  if (lateFields.includes('delimiter')) throw new ValidationError([{ field: 'delimiter', message: 'must come before the file part' }]);
  // A header check that needed a field sent after the file runs now.
  checkHeader?.(file.header, fields);
  return { fields, header: file.header, fileSha256: file.sha256, lines: lines.done() };
}

const NUMERIC = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A CSV target column is numeric when every value is a number; otherwise labels stay strings. */
export function typedColumn(values: string[]): (string | number)[] {
  return values.every((v) => NUMERIC.test(v)) ? values.map(Number) : values;
}

/** Form fields that carry JSON (config, quantiles, lists) are parsed here with errors naming the field. */
export function jsonField(fields: Record<string, string>, name: string): unknown {
  const raw = fields[name];
  if (raw === undefined || raw === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ValidationError([{ field: name, message: 'must be JSON' }]);
  }
  assertStorableJson(parsed, name);
  return parsed;
}

/** A boolean form field: `true`/`false` (also 1/0); anything else is left for the schema to refuse. */
export function booleanField(fields: Record<string, string>, name: string): unknown {
  const raw = fields[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return undefined;
  return raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
}

export function listField(fields: Record<string, string>, name: string): string[] | undefined {
  const raw = fields[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw.trim().startsWith('[')) return jsonField(fields, name) as string[];
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}
