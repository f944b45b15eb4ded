import {
  type ResultChunk,
  type ResultDocument,
  at,
  argmaxLabel,
  fieldValue,
  firstChunk,
  fullFields,
  kindOf,
  segments,
} from './document.js';
import type { Sink } from './sink.js';

/** A CSV cell: empty for null (a missing row), JSON for objects, quoted when it holds `"`, `,` or a line break. */
function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

interface CsvLayout {
  columns: string[];
  /** The row's cells (one per column) from its chunk. */
  cells(chunk: ResultChunk, local: number): unknown[];
}

async function csvLayout(doc: ResultDocument): Promise<CsvLayout> {
  const { header } = doc;
  const kind = kindOf(header.output_type);
  if (kind === 'probas') {
    const classes = header.classes ?? [];
    return {
      columns: ['prediction', ...classes.map((c) => `p_${String(c)}`)],
      cells: (chunk, local) => {
        const row = at(chunk.prediction, local);
        return [argmaxLabel(classes, row), ...(Array.isArray(row) ? row : [])];
      },
    };
  }
  if (kind === 'quantiles') {
    const first = await firstChunk(doc.chunks);
    const quantiles = header.quantiles ?? (Array.isArray(first?.prediction) ? first.prediction.map((_, q) => q) : []);
    return {
      columns: quantiles.map((q) => `q_${q}`),
      cells: (chunk, local) => quantiles.map((_, q) => at(at(chunk.prediction, q), local)),
    };
  }
  if (kind === 'full') {
    // One column per key with one plain value per row (mean, median, mode); lists per row (logits),
    // quantile-major lists and model-level arrays (borders) are not columns.
    const first = await firstChunk(doc.chunks);
    const fields = fullFields(first).filter((f) => f.layout === 'row' && first && !Array.isArray(fieldValue(f, first, 0)));
    return { columns: fields.map((f) => f.key), cells: (chunk, local) => fields.map((f) => fieldValue(f, chunk, local)) };
  }
  return { columns: ['prediction'], cells: (chunk, local) => [at(chunk.prediction, local)] };
}

/** `text/csv`: a header line, then one line per input row in input order; a missing row's cells are empty. */
export async function writeCsv(sink: Sink, doc: ResultDocument): Promise<void> {
  const layout = await csvLayout(doc);
  sink.push(`${layout.columns.map(cell).join(',')}\n`);
  const empty = `${','.repeat(Math.max(0, layout.columns.length - 1))}\n`;
  for await (const seg of segments(doc)) {
    for (let i = seg.start; i < seg.end; i++) {
      const line = seg.chunk
        ? `${layout
            .cells(seg.chunk, i - seg.chunk.row_start)
            .map(cell)
            .join(',')}\n`
        : empty;
      if (sink.push(line)) await sink.flush();
    }
  }
}
