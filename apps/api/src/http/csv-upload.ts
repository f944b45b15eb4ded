import busboy from 'busboy';
import { parse as csvParse } from 'csv-parse';
import type { Request } from 'express';
import { PayloadTooLargeError, ValidationError } from '@tabpfn-jobs/shared';

export interface CsvUpload {
  fields: Record<string, string>;
  header: string[];
  rows: string[][];
}

/**
 * Streams a multipart body: form fields as strings, and the `file` part parsed as CSV while it
 * arrives (header row = column names), so the raw upload is never buffered whole.
 */
export function readCsvUpload(req: Request, maxBytes: number): Promise<CsvUpload> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fileSize: maxBytes, files: 1, fields: 50, fieldSize: 64 * 1024 } });
    } catch (err) {
      reject(new ValidationError([{ field: 'body', message: (err as Error).message }]));
      return;
    }
    const fields: Record<string, string> = {};
    let header: string[] | undefined;
    const rows: string[][] = [];
    let sawFile = false;
    let parsing: Promise<void> = Promise.resolve();
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      req.unpipe(bb);
      req.resume();
      reject(err);
    };

    bb.on('field', (name, value) => {
      fields[name] = value;
    });
    bb.on('file', (name, stream) => {
      if (name !== 'file') {
        stream.resume();
        return;
      }
      sawFile = true;
      const parser = csvParse({ bom: true, trim: true, skip_empty_lines: true, relax_column_count: false });
      parsing = new Promise<void>((done, error) => {
        parser.on('readable', () => {
          let record: string[] | null;
          // biome-ignore lint/suspicious/noAssignInExpressions: stream read loop
          while ((record = parser.read()) !== null) {
            if (!header) header = record;
            else rows.push(record);
          }
        });
        parser.on('end', done);
        parser.on('error', (err) => error(new ValidationError([{ field: 'file', message: `not valid CSV: ${err.message}` }])));
      });
      stream.on('limit', () => fail(new PayloadTooLargeError(`The CSV file is larger than ${maxBytes} bytes.`)));
      stream.pipe(parser);
    });
    bb.on('error', (err) => fail(new ValidationError([{ field: 'body', message: `malformed multipart body: ${(err as Error).message}` }])));
    bb.on('close', () => {
      if (failed) return;
      parsing.then(
        () => {
          if (!sawFile) return fail(new ValidationError([{ field: 'file', message: 'is required (a CSV file part named "file")' }]));
          if (!header) return fail(new ValidationError([{ field: 'file', message: 'the CSV is empty' }]));
          resolve({ fields, header, rows });
        },
        (err) => fail(err),
      );
    });
    req.pipe(bb);
  });
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
  try {
    return JSON.parse(raw);
  } catch {
    throw new ValidationError([{ field: name, message: 'must be JSON' }]);
  }
}

export function listField(fields: Record<string, string>, name: string): string[] | undefined {
  const raw = fields[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw.trim().startsWith('[')) return jsonField(fields, name) as string[];
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}
