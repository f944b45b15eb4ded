import type { Request } from 'express';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import { delimiterField, parseCsvStream } from './csv-stream.js';
import { assertStorableJson } from './json-guard.js';
import { readMultipart } from './multipart.js';

/** Checks the header against the request's fields as soon as it arrives (e.g. that the target column exists). */
export type HeaderCheck = (header: string[], fields: Readonly<Record<string, string>>) => void;

/**
 * Streams a CSV upload into `onRecord` without keeping its rows: for a sink that encodes and stores
 * them part by part (a predict, a fit), awaiting it holds the upload (backpressure). `digest: false`:
 * the file's SHA-256 is not needed (no Idempotency-Key) and not computed.
 */
export async function readCsvStreamed(
  req: Request,
  maxBytes: number,
  checkHeader: HeaderCheck,
  onRecord: (record: string[], line: number) => void | Promise<void>,
  opts: { digest?: boolean } = {},
): Promise<{ fields: Record<string, string>; header: string[]; fileSha256: string | undefined }> {
  const { fields, file, lateFields } = await readMultipart(req, maxBytes, (stream, early) =>
    parseCsvStream(stream, { delimiter: delimiterField(early.delimiter), digest: opts.digest }, { onHeader: (header) => checkHeader(header, early), onRecord }),
  );
  if (!file) throw new ValidationError([{ field: 'file', message: 'is required (a CSV file part named "file")' }]);
  if (lateFields.includes('delimiter')) throw new ValidationError([{ field: 'delimiter', message: 'must come before the file part' }]);
  // A header check that needed a field sent after the file runs now.
  checkHeader(file.header, fields);
  return { fields, header: file.header, fileSha256: file.sha256 };
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
