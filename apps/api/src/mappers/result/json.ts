import {
  type FullField,
  type ResultChunk,
  type ResultDocument,
  argmaxLabel,
  at,
  fieldValue,
  firstChunk,
  fullFields,
  json,
  kindOf,
  segments,
} from './document.js';
import type { Sink } from './sink.js';

/** Rows gathered into one string before it goes to the sink. */
const PIECE = 16 * 1024;

/**
 * One array of n_rows values, in one pass over the chunks: `value` of each covered row, null for a
 * missing one.
 */
async function writeRows(sink: Sink, doc: ResultDocument, value: (chunk: ResultChunk, local: number) => unknown): Promise<void> {
  let text = '[';
  for await (const seg of segments(doc)) {
    for (let i = seg.start; i < seg.end; i++) {
      if (i > 0) text += ',';
      text += seg.chunk ? json(value(seg.chunk, i - seg.chunk.row_start)) : 'null';
      if (text.length >= PIECE) {
        if (sink.push(text)) await sink.flush();
        text = '';
      }
    }
  }
  if (sink.push(`${text}]`)) await sink.flush();
}

/** A quantile-major array: one list per quantile, each a pass of its own. */
async function writeQuantileMajor(sink: Sink, doc: ResultDocument, width: number, list: (chunk: ResultChunk) => unknown): Promise<void> {
  sink.push('[');
  for (let q = 0; q < width; q++) {
    if (q > 0) sink.push(',');
    await writeRows(sink, doc, (chunk, local) => at(at(list(chunk), q), local));
  }
  sink.push(']');
}

async function writeFullPredictions(sink: Sink, doc: ResultDocument, fields: FullField[]): Promise<void> {
  sink.push('{');
  for (const [n, field] of fields.entries()) {
    sink.push(`${n > 0 ? ',' : ''}${JSON.stringify(field.key)}:`);
    if (field.layout === 'model') sink.push(json(field.value));
    else if (field.layout === 'row') await writeRows(sink, doc, (chunk, local) => fieldValue(field, chunk, local));
    else await writeQuantileMajor(sink, doc, field.width, (chunk) => (chunk.prediction as Record<string, unknown>)[field.key]);
  }
  sink.push('}');
}

/**
 * `application/json`: the document an inline result is (the worker's `toResult` shape), so that
 * parsing the stream gives what the inline result would be; a partial one adds `"partial": true`
 * and null for each missing row.
 */
export async function writeJson(sink: Sink, doc: ResultDocument): Promise<void> {
  const { header } = doc;
  const kind = kindOf(header.output_type);
  const rows = (value: (chunk: ResultChunk, local: number) => unknown) => writeRows(sink, doc, value);
  sink.push(`{"output_type":${JSON.stringify(header.output_type)}${doc.partial ? ',"partial":true' : ''}`);
  if (kind === 'probas') {
    const classes = header.classes ?? [];
    sink.push(`,"classes":${JSON.stringify(classes)},"probabilities":`);
    await rows((chunk, local) => at(chunk.prediction, local));
    sink.push(',"predictions":');
    await rows((chunk, local) => argmaxLabel(classes, at(chunk.prediction, local)));
  } else if (kind === 'quantiles') {
    if (header.quantiles) sink.push(`,"quantiles":${JSON.stringify(header.quantiles)}`);
    const width = header.quantiles?.length ?? lengthOf((await firstChunk(doc.chunks))?.prediction);
    sink.push(',"predictions":');
    await writeQuantileMajor(sink, doc, width, (chunk) => chunk.prediction);
  } else if (kind === 'full') {
    sink.push(',"predictions":');
    await writeFullPredictions(sink, doc, fullFields(await firstChunk(doc.chunks)));
  } else {
    sink.push(',"predictions":');
    await rows((chunk, local) => at(chunk.prediction, local));
  }
  sink.push('}');
}

const lengthOf = (v: unknown): number => (Array.isArray(v) ? v.length : 0);
