import type { Writable } from 'node:stream';
import { writeCsv } from './csv.js';
import type { ResultDocument } from './document.js';
import { writeJson } from './json.js';
import { writeNdjson } from './ndjson.js';
import { ClientGone, type Sink, createSink } from './sink.js';

export { resultDocument, type ChunkSource, type ResultChunk, type ResultDocument } from './document.js';

/** The formats a predict result is served in, the first being the default (for `req.accepts`). */
export const RESULT_FORMATS = ['application/json', 'application/x-ndjson', 'text/csv'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

export const RESULT_CONTENT_TYPES: Record<ResultFormat, string> = {
  'application/json': 'application/json; charset=utf-8',
  'application/x-ndjson': 'application/x-ndjson; charset=utf-8',
  'text/csv': 'text/csv; charset=utf-8',
};

const WRITERS: Record<ResultFormat, (sink: Sink, doc: ResultDocument) => Promise<void>> = {
  'application/json': writeJson,
  'application/x-ndjson': writeNdjson,
  'text/csv': writeCsv,
};

/**
 * Writes a predict result to `out` chunk by chunk, never holding the whole document: about 64 KiB
 * at a time, waiting for 'drain' when `out` is full. Resolves true once `out` is ended, false when
 * `out` closed first (the client went away; the chunk source is closed, no further reads). Other
 * errors (reading a chunk) reject; `out` is then left as it is for the caller to destroy.
 */
export async function writeResult(out: Writable, format: ResultFormat, doc: ResultDocument): Promise<boolean> {
  const sink = createSink(out);
  try {
    await WRITERS[format](sink, doc);
    await sink.end();
    return true;
  } catch (err) {
    if (err instanceof ClientGone) return false;
    throw err;
  } finally {
    sink.release();
  }
}
