import {
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

/** One row's fields after `"row": i`, as JSON text (`,"k":v…`); `chunk` undefined: a missing row, every field null. */
type RowFields = (chunk: ResultChunk | undefined, local: number) => string;

async function rowFields(doc: ResultDocument): Promise<RowFields> {
  const kind = kindOf(doc.header.output_type);
  if (kind === 'probas') {
    const classes = doc.header.classes ?? [];
    return (chunk, local) => {
      if (!chunk) return ',"prediction":null,"probabilities":null';
      const row = at(chunk.prediction, local);
      return `,"prediction":${json(argmaxLabel(classes, row))},"probabilities":${json(row)}`;
    };
  }
  if (kind === 'quantiles') {
    const width = doc.header.quantiles?.length;
    return (chunk, local) => {
      if (!chunk) return ',"quantiles":null';
      const lists = chunk.prediction;
      const n = width ?? (Array.isArray(lists) ? lists.length : 0);
      return `,"quantiles":${json(Array.from({ length: n }, (_, q) => at(at(lists, q), local)))}`;
    };
  }
  if (kind === 'full') {
    // Model-level keys (borders) are not per row: left out.
    const fields = fullFields(await firstChunk(doc.chunks)).filter((f) => f.layout !== 'model');
    const names = fields.map((f) => `,${JSON.stringify(f.key)}:`);
    return (chunk, local) => fields.map((f, n) => `${names[n]}${chunk ? json(fieldValue(f, chunk, local)) : 'null'}`).join('');
  }
  return (chunk, local) => `,"prediction":${chunk ? json(at(chunk.prediction, local)) : 'null'}`;
}

/**
 * `application/x-ndjson`: one object per input row, in input order, `{"row": i, …}` (see rowFields);
 * a missing row of a partial result has its fields null.
 */
export async function writeNdjson(sink: Sink, doc: ResultDocument): Promise<void> {
  const fields = await rowFields(doc);
  for await (const seg of segments(doc)) {
    for (let i = seg.start; i < seg.end; i++) {
      const line = `{"row":${i}${fields(seg.chunk, seg.chunk ? i - seg.chunk.row_start : 0)}}\n`;
      if (sink.push(line)) await sink.flush();
    }
  }
}
