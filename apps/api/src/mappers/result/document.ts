/**
 * A predict result as the streaming writers read it: a header (output type, classes, quantiles, rows)
 * and the rows' predictions in row-ordered chunks, each in upstream's raw shape for its rows. A large
 * batch result comes from `predict_chunks`; an inline result (`jobs.result`) is one chunk.
 */

export interface ResultChunk {
  row_start: number;
  row_end: number;
  /** Upstream's answer for rows [row_start, row_end): labels/numbers, probability rows, nq × rows, or the `full` object. */
  prediction: unknown;
}

/** Chunks in row order. Called once per pass: the JSON document reads them once per array it writes. */
export type ChunkSource = () => AsyncIterable<ResultChunk>;

export interface ResultHeader {
  output_type: string;
  classes?: unknown[];
  quantiles?: number[];
  /** The predict's input rows: every array of the document has this length. */
  n_rows: number;
}

export interface ResultDocument {
  header: ResultHeader;
  chunks: ChunkSource;
  /** Some row ranges may be missing (a failed batch's partial result): their rows are written as nulls. */
  partial: boolean;
}

/** How the writers lay out an output type. */
export type ResultKind = 'values' | 'probas' | 'quantiles' | 'full';

export function kindOf(outputType: string): ResultKind {
  if (outputType === 'probas' || outputType === 'quantiles') return outputType;
  return outputType === 'full' || outputType === 'main' ? 'full' : 'values';
}

/** `v[i]` when `v` is an array, else undefined: a malformed chunk yields nulls, never a throw. */
export const at = (v: unknown, i: number): unknown => (Array.isArray(v) ? v[i] : undefined);

/** A JSON value; undefined (a row a chunk lacks) is `null`. */
export const json = (v: unknown): string => (v === undefined ? 'null' : JSON.stringify(v));

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The class of a probability row (its argmax), as the worker's inline result computes it. */
export function argmaxLabel(classes: readonly unknown[], row: unknown): unknown {
  if (!Array.isArray(row)) return null;
  return classes[row.indexOf(Math.max(...(row as number[])))] ?? null;
}

/** Rows of an inline prediction: its own length where the shape says it, else the job's `n_rows`. */
function inlineRows(kind: ResultKind, prediction: unknown, nRows: number): number {
  if (kind === 'values' || kind === 'probas') return Array.isArray(prediction) ? prediction.length : nRows;
  if (kind === 'quantiles') return Array.isArray(at(prediction, 0)) ? (at(prediction, 0) as unknown[]).length : nRows;
  const perRow = isRecord(prediction) ? ['mean', 'median', 'mode'].map((k) => prediction[k]).find(Array.isArray) : undefined;
  return perRow ? perRow.length : nRows;
}

/**
 * The document of a predict's result. `result` is `jobs.result`: the whole inline result, or, with
 * `chunks` (a chunked batch result), only its header (`output_type`, `classes`, `quantiles`, `partial`).
 */
export function resultDocument(result: unknown, nRows: number, opts: { chunks?: ChunkSource; partial?: boolean } = {}): ResultDocument {
  const r = isRecord(result) ? result : {};
  const outputType = typeof r.output_type === 'string' ? r.output_type : '';
  const header = (rows: number): ResultHeader => ({
    output_type: outputType,
    ...(Array.isArray(r.classes) ? { classes: r.classes } : {}),
    ...(Array.isArray(r.quantiles) ? { quantiles: r.quantiles as number[] } : {}),
    n_rows: rows,
  });
  // The worker marks a partial header too (`partial: true`); either says so.
  const partial = opts.partial === true || r.partial === true;
  if (opts.chunks) return { header: header(nRows), chunks: opts.chunks, partial };
  const kind = kindOf(outputType);
  const prediction = kind === 'probas' ? r.probabilities : r.predictions;
  const rows = inlineRows(kind, prediction, nRows);
  const chunk: ResultChunk = { row_start: 0, row_end: rows, prediction };
  return {
    header: header(rows),
    chunks: async function* inline() {
      yield chunk;
    },
    partial,
  };
}

/** A run of rows: covered by `chunk`, or missing (no chunk). */
export interface Segment {
  start: number;
  end: number;
  chunk?: ResultChunk;
}

/** Rows missing from a result that should be whole (a chunk deleted under the reader): never served as nulls. */
export class MissingRowsError extends Error {
  constructor(start: number, end: number) {
    super(`rows ${start}–${end - 1} of a complete result are missing`);
  }
}

/**
 * One pass over the rows [0, doc.header.n_rows) in order: the chunks, with the gaps between them as
 * segments without a chunk (only a partial document may have gaps: otherwise MissingRowsError). Rows
 * a chunk repeats (overlap) or holds past n_rows are skipped. Leaving the loop early closes the
 * chunk source (no further queries).
 */
export async function* segments(doc: Pick<ResultDocument, 'chunks' | 'partial' | 'header'>): AsyncGenerator<Segment> {
  const nRows = doc.header.n_rows;
  const gap = (start: number, end: number): Segment => {
    if (!doc.partial) throw new MissingRowsError(start, end);
    return { start, end };
  };
  let at = 0;
  for await (const chunk of doc.chunks()) {
    const start = Math.max(chunk.row_start, at);
    const end = Math.min(chunk.row_end, nRows);
    if (end <= start) continue;
    if (start > at) yield gap(at, start);
    yield { start, end, chunk };
    at = end;
    if (at >= nRows) break;
  }
  if (at < nRows) yield gap(at, nRows);
}

/** The first stored chunk (what tells a `full` result's keys), reading no further. */
export async function firstChunk(source: ChunkSource): Promise<ResultChunk | undefined> {
  for await (const chunk of source()) return chunk;
  return undefined;
}

/**
 * A `full`/`main` prediction's keys and how each is laid out: one value per row (`mean`, `median`,
 * `mode`, `logits` rows), quantile-major (`quantiles`: width lists of one value per row), or model
 * level (`borders`: the same in every chunk, written once).
 */
export interface FullField {
  key: string;
  layout: 'row' | 'quantile_major' | 'model';
  /** quantile_major: how many lists; model: the value. */
  width: number;
  value?: unknown;
}

export function fullFields(first: ResultChunk | undefined): FullField[] {
  if (!first || !isRecord(first.prediction)) return [];
  const rows = first.row_end - first.row_start;
  return Object.entries(first.prediction).map(([key, value]): FullField => {
    if (key === 'quantiles' && Array.isArray(value) && value.every(Array.isArray))
      return { key, layout: 'quantile_major', width: value.length };
    if (key !== 'borders' && Array.isArray(value) && value.length === rows) return { key, layout: 'row', width: 1 };
    return { key, layout: 'model', width: 0, value };
  });
}

/** A field's value for one row of a chunk (`local`: the row's index in the chunk). */
export function fieldValue(field: FullField, chunk: ResultChunk, local: number): unknown {
  const v = isRecord(chunk.prediction) ? chunk.prediction[field.key] : undefined;
  if (field.layout === 'row') return at(v, local);
  return Array.from({ length: field.width }, (_, q) => at(at(v, q), local));
}
