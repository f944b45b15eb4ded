import { createHash } from 'node:crypto';
import busboy from 'busboy';
import { parse as csvParse } from 'csv-parse';
import type { Request } from 'express';
import { PayloadTooLargeError, ValidationError } from '@tabpfn-jobs/shared';
import { assertStorableJson, isStorableString } from './json-guard.js';

export interface CsvUpload {
  fields: Record<string, string>;
  header: string[];
  rows: string[][];
  /** SHA-256 of the raw file part: the request's identity for Idempotency-Key. */
  fileSha256: string;
}

/** A CSV upload stored column-wise and compactly; see `readCsvColumns`. */
export interface CsvColumns {
  fields: Record<string, string>;
  header: string[];
  fileSha256: string;
  nRows: number;
  /** Column j's cells, rebuilt from the compact store: materialise one column at a time. */
  column(j: number): string[];
}

/**
 * Streams a multipart body: form fields as strings, and the `file` part parsed as CSV while it
 * arrives (header row = column names), so the raw upload is never buffered whole.
 */
export async function readCsvUpload(req: Request, maxBytes: number): Promise<CsvUpload> {
  const rows: string[][] = [];
  const { fields, header, fileSha256 } = await readCsv(req, maxBytes, (record) => rows.push(record));
  return { fields, header, rows, fileSha256 };
}

/** Cells per stored chunk: big enough to amortise the join, small enough to split quickly. */
const CHUNK_CELLS = 4096;
const SEP = '\u0000';

/**
 * Like `readCsvUpload`, for large fits: instead of one string object (and one array) per cell, each
 * column keeps its cells joined into NUL-separated chunks, about one byte per character of the file.
 * 100,000 × 50 cells held as separate strings cost ~13 × the file in RSS; this costs ~1 ×, and the
 * encoder splits one column at a time (readCsv refuses a NUL inside a cell, so it can separate them).
 */
export async function readCsvColumns(req: Request, maxBytes: number): Promise<CsvColumns> {
  let chunks: string[][] = [];
  let pending: string[][] = [];
  let nRows = 0;
  const { fields, header, fileSha256 } = await readCsv(req, maxBytes, (record) => {
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
    fields,
    header,
    fileSha256,
    nRows,
    column(j) {
      const out: string[] = [];
      for (const chunk of chunks[j] ?? []) for (const cell of chunk.split(SEP)) out.push(cell);
      for (const cell of pending[j] ?? []) out.push(cell);
      return out;
    },
  };
}

/** The multipart/CSV reader both shapes share; `onRecord` gets every data row (may throw to refuse it). */
function readCsv(
  req: Request,
  maxBytes: number,
  onRecord: (record: string[]) => void,
): Promise<{ fields: Record<string, string>; header: string[]; fileSha256: string }> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fileSize: maxBytes, files: 2, fields: 50, fieldSize: 64 * 1024 } });
    } catch (err) {
      reject(new ValidationError([{ field: 'body', message: (err as Error).message }]));
      return;
    }
    const fields: Record<string, string> = {};
    let header: string[] | undefined;
    let sawFile = false;
    let dataRows = 0;
    const digest = createHash('sha256');
    let parsing: Promise<void> = Promise.resolve();
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      req.unpipe(bb);
      req.resume();
      reject(err);
    };

    const FIELD_MAX = 64 * 1024;
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(new ValidationError([{ field: name, message: `is longer than ${FIELD_MAX} bytes` }]));
      if (!isStorableString(name) || !isStorableString(value))
        return fail(new ValidationError([{ field: isStorableString(name) ? name : 'body', message: 'contains a NUL character' }]));
      fields[name] = value;
    });
    bb.on('filesLimit', () => fail(new ValidationError([{ field: 'file', message: 'send one file part only' }])));
    bb.on('fieldsLimit', () => fail(new ValidationError([{ field: 'body', message: 'too many form fields' }])));
    bb.on('file', (name, stream) => {
      // A part that ends early (the body stops before its boundary) errors the stream, not busboy.
      stream.on('error', (err) => fail(new ValidationError([{ field: 'body', message: `malformed multipart body: ${err.message}` }])));
      if (name !== 'file') {
        stream.resume();
        return fail(new ValidationError([{ field: name, message: 'is a file part; the CSV goes in a part named "file"' }]));
      }
      if (sawFile) {
        stream.resume();
        return fail(new ValidationError([{ field: 'file', message: 'send one file part only' }]));
      }
      sawFile = true;
      const parser = csvParse({ bom: true, trim: true, skip_empty_lines: true, relax_column_count: false });
      parsing = new Promise<void>((done, error) => {
        parser.on('readable', () => {
          let record: string[] | null;
          // biome-ignore lint/suspicious/noAssignInExpressions: stream read loop
          while ((record = parser.read()) !== null) {
            if (!header) {
              try {
                header = checkHeader(record);
              } catch (err) {
                parser.destroy(err as Error);
                return;
              }
            } else {
              try {
                // No cell may hold a NUL: Postgres text cannot, and readCsvColumns separates cells with it.
                for (let j = 0; j < record.length; j++) {
                  if (record[j]!.includes('\u0000')) throw new ValidationError([{ field: 'file', message: `row ${dataRows + 1} column ${j + 1} contains a NUL character` }]);
                }
                dataRows++;
                onRecord(record);
              } catch (err) {
                parser.destroy(err as Error);
                return;
              }
            }
          }
        });
        parser.on('end', done);
        parser.on('error', (err) =>
          error(err instanceof ValidationError ? err : new ValidationError([{ field: 'file', message: `not valid CSV: ${err.message}` }])),
        );
      });
      // A refused CSV must not stall the body: once the parser is gone, drain the rest of the file part.
      parser.once('close', () => stream.resume());
      stream.on('limit', () => fail(new PayloadTooLargeError(`The CSV file is larger than ${maxBytes} bytes.`)));
      stream.on('data', (chunk: Buffer) => digest.update(chunk));
      stream.pipe(parser);
    });
    bb.on('error', (err) => fail(new ValidationError([{ field: 'body', message: `malformed multipart body: ${(err as Error).message}` }])));
    bb.on('close', () => {
      if (failed) return;
      parsing.then(
        () => {
          if (!sawFile) return fail(new ValidationError([{ field: 'file', message: 'is required (a CSV file part named "file")' }]));
          if (!header) return fail(new ValidationError([{ field: 'file', message: 'the CSV is empty' }]));
          resolve({ fields, header, fileSha256: digest.digest('hex') });
        },
        (err) => fail(err),
      );
    });
    req.pipe(bb);
  });
}

/** Column names become feature names: each must be storable, and unique so columns can be matched by name. */
function checkHeader(header: string[]): string[] {
  const seen = new Set<string>();
  for (let j = 0; j < header.length; j++) {
    const name = header[j]!;
    if (!isStorableString(name)) throw new ValidationError([{ field: 'file', message: `header column ${j + 1} contains a NUL character` }]);
    if (seen.has(name)) throw new ValidationError([{ field: 'file', message: `header names column "${name}" twice` }]);
    seen.add(name);
  }
  return header;
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

export function listField(fields: Record<string, string>, name: string): string[] | undefined {
  const raw = fields[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw.trim().startsWith('[')) return jsonField(fields, name) as string[];
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}
