import { isUtf8 } from 'node:buffer';
import { type Hash, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CsvError, Parser } from 'csv-parse';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import { isStorableString } from './json-guard.js';

/** What a CSV file may be separated by; `tab` is accepted as a spelling of `\t` in the form field. */
const DELIMITERS: Record<string, string> = { ',': ',', ';': ';', '\t': '\t', tab: '\t', '|': '|' };
const CANDIDATES = [',', ';', '\t', '|'];
/** A header line longer than this is not sniffed further (2,000 long column names fit easily). */
const HEADER_PEEK_BYTES = 1024 * 1024;
/** "5,1" or "1.234,5": a number written with a decimal comma. */
const DECIMAL_COMMA = /^[-+]?(?:\d+|\d{1,3}(?:\.\d{3})+),\d+$/;

export interface CsvSink {
  /** The checked header row; may throw to refuse the upload before its rows are read. */
  onHeader(header: string[]): void;
  /**
   * A data row and the CSV line it ends on (1-based, counting the header and empty lines). A promise
   * holds the parse (and so the upload) until it settles: backpressure for a sink that writes.
   */
  onRecord(record: string[], line: number): void | Promise<void>;
}

export interface CsvStreamResult {
  header: string[];
  /** SHA-256 of the raw file bytes: the request's identity for Idempotency-Key (unless `digest: false`). */
  sha256: string | undefined;
  delimiter: string;
}

const fileError = (message: string) => new ValidationError([{ field: 'file', message }]);

/** The `delimiter` form field as a delimiter, or undefined to detect it from the header line. */
export function delimiterField(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const d = DELIMITERS[raw] ?? DELIMITERS[raw.trim().toLowerCase()];
  if (!d) throw new ValidationError([{ field: 'delimiter', message: 'must be one of "," ";" "|" or "\\t" (tab)' }]);
  return d;
}

/**
 * Parses a CSV file stream into `sink`. One promise settles the whole parse: the byte checks, the
 * delimiter sniff and csv-parse are stages of one `pipeline`, so any failure in any stage rejects it
 * (and destroys the other stages) and nothing is left running or unhandled.
 */
export async function parseCsvStream(file: Readable, opts: { delimiter?: string; digest?: boolean }, sink: CsvSink): Promise<CsvStreamResult> {
  // Hashing a large file costs real time: only a request with an Idempotency-Key needs its identity.
  const digest = opts.digest === false ? undefined : createHash('sha256');
  let header: string[] | undefined;
  let delimiter = opts.delimiter ?? ',';
  // A stage that throws makes pipeline reject with an AbortError (it destroys the stages before it):
  // the first real error is kept here and reported instead.
  let refused: unknown;
  const refuse = (err: unknown) => {
    const e = err as { name?: string; code?: string };
    const echo = e?.name === 'AbortError' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE';
    if (!echo) refused ??= err instanceof CsvError ? csvParseError(err) : err;
    return refused ?? err;
  };
  const consume = async (records: AsyncIterable<LineRecord>) => {
    try {
      for await (const { record, line } of records) {
        if (!header) {
          header = checkHeader(record);
          sink.onHeader(header);
        } else {
          checkRecord(record, header, line, delimiter);
          const written = sink.onRecord(record, line);
          if (written) await written;
        }
      }
    } catch (err) {
      throw refuse(err);
    }
  };
  await pipeline(file, (source: AsyncIterable<Buffer>) => utf8Checked(source, digest), async (source: AsyncIterable<Buffer>) => {
    const { head, rest } = await peekFirstLine(source);
    delimiter = opts.delimiter ?? sniffDelimiter(head);
    const parser = new LineParser({ bom: true, trim: true, skip_empty_lines: true, relax_column_count: false, delimiter });
    await pipeline(Readable.from(rest, { highWaterMark: 1 }), parser, consume);
  }).catch((err: unknown) => {
    throw refuse(err);
  });
  if (!header) throw fileError('the CSV is empty');
  return { header, sha256: digest?.digest('hex'), delimiter };
}

interface LineRecord {
  record: string[];
  /** The CSV line the record ends on, as csv-parse's `info.lines`. */
  line: number;
}

/**
 * csv-parse with each record's line, read off the parser's running `info` as the record is pushed.
 * Its `info: true` option gives the same number but copies the whole info object for every record,
 * 6 % of the api's time on a large upload.
 */
class LineParser extends Parser {
  override push(record: string[] | null): boolean {
    return super.push(record === null ? null : ({ record, line: this.info.lines } satisfies LineRecord));
  }
}

/** Passes the bytes through unchanged, refusing the first one that is not UTF-8 (naming its line). */
async function* utf8Checked(source: AsyncIterable<Buffer>, digest: Hash | undefined): AsyncGenerator<Buffer> {
  let carry: Buffer = Buffer.alloc(0);
  let line = 1;
  for await (const chunk of source) {
    digest?.update(chunk);
    const bytes = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    // A character split across two chunks is checked with the next one.
    const whole = bytes.subarray(0, bytes.length - incompleteTail(bytes));
    if (!isUtf8(whole)) throw notUtf8(line + countNewlines(whole, firstInvalidUtf8(whole)));
    line += countNewlines(whole, whole.length);
    carry = Buffer.from(bytes.subarray(whole.length));
    yield chunk;
  }
  if (carry.length) throw notUtf8(line);
}

const notUtf8 = (line: number) =>
  fileError(`line ${line}: is not valid UTF-8; save the file as UTF-8 (a Latin-1 or Windows-1252 export is not read)`);

/** Bytes at the end that begin a multi-byte character whose remaining bytes have not arrived yet. */
function incompleteTail(b: Buffer): number {
  for (let k = 1; k <= Math.min(3, b.length); k++) {
    const c = b[b.length - k]!;
    if ((c & 0xc0) === 0x80) continue;
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > k ? k : 0;
  }
  return 0;
}

function firstInvalidUtf8(b: Buffer): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    if (n === 0 || !isUtf8(b.subarray(i, i + n))) return i;
    i += n;
  }
  return b.length;
}

function countNewlines(b: Buffer, end: number): number {
  let n = 0;
  for (let i = b.indexOf(10); i !== -1 && i < end; i = b.indexOf(10, i + 1)) n++;
  return n;
}

/** Reads until the first newline (or 1 MiB), and hands back those bytes plus an iterable of everything. */
async function peekFirstLine(source: AsyncIterable<Buffer>): Promise<{ head: Buffer; rest: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let size = 0;
  let ended = false;
  while (size < HEADER_PEEK_BYTES && !seen.some((b) => b.includes(10))) {
    const next = await it.next();
    if (next.done) {
      ended = true;
      break;
    }
    seen.push(next.value);
    size += next.value.length;
  }
  const head = Buffer.concat(seen);
  async function* rest() {
    yield* seen;
    if (ended) return;
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
  }
  return { head, rest: rest() };
}

/** The candidate that separates the header line most often, outside quotes; a single column is ",". */
export function sniffDelimiter(head: Buffer): string {
  const nl = head.indexOf(10);
  const line = head.subarray(0, nl === -1 ? head.length : nl).toString('utf8');
  const counts = new Map(CANDIDATES.map((c) => [c, 0]));
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && counts.has(ch)) counts.set(ch, counts.get(ch)! + 1);
  }
  let best = ',';
  for (const c of CANDIDATES) if (counts.get(c)! > counts.get(best)!) best = c;
  return best;
}

/** Column names become feature names: each must be storable, non-empty, and unique (columns are matched by name). */
function checkHeader(header: string[]): string[] {
  const seen = new Map<string, number>();
  for (let j = 0; j < header.length; j++) {
    const name = header[j]!;
    if (!isStorableString(name)) throw fileError(`line 1, column ${j + 1}: the header name contains a NUL character`);
    if (name === '') {
      const hint = j === header.length - 1 && j > 0 ? ' (a delimiter at the end of the header line?)' : '';
      throw fileError(`line 1, column ${j + 1}: the header name is empty${hint}; every column needs a name`);
    }
    const first = seen.get(name);
    if (first !== undefined) throw fileError(`line 1: header names column "${name}" twice (columns ${first + 1} and ${j + 1})`);
    seen.set(name, j);
  }
  return header;
}

function checkRecord(record: string[], header: string[], line: number, delimiter: string): void {
  for (let j = 0; j < record.length; j++) {
    const cell = record[j]!;
    // No cell may hold a NUL: Postgres text cannot, and a CSV fit's cells are stored separated by it (csv-cells.ts).
    if (cell.includes('\u0000')) throw fileError(`line ${line}, column "${header[j]}": contains a NUL character`);
    if (delimiter !== ',' && cell.includes(',') && DECIMAL_COMMA.test(cell)) {
      throw fileError(
        `line ${line}, column "${header[j]}": ${JSON.stringify(cell)} has a decimal comma; decimal commas are not supported (write numbers with "." as the decimal separator)`,
      );
    }
  }
}

/** csv-parse's own errors (ragged rows, quotes), restated with the line first. */
function csvParseError(err: CsvError): ValidationError {
  const line = (err as CsvError & { lines?: number }).lines;
  const message = err.message.replace(/\s+(on|at) line \d+$/, '');
  return fileError(line ? `line ${line}: not valid CSV: ${message}` : `not valid CSV: ${message}`);
}
