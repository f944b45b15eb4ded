import { PassThrough, Writable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from '@jest/globals';
import {
  type ChunkSource,
  RESULT_FORMATS,
  type ResultChunk,
  type ResultDocument,
  type ResultFormat,
  resultDocument,
  writeResult,
} from './stream.js';

// The public result shape, as the worker's toResult builds it (apps may not import each other).
function toResult(classes: unknown[], params: { output_type: string; quantiles?: number[] }, prediction: unknown) {
  if (params.output_type === 'probas') {
    const probabilities = prediction as number[][];
    const predictions = probabilities.map((row) => classes[row.indexOf(Math.max(...row))] ?? null);
    return { output_type: params.output_type, classes, probabilities, predictions };
  }
  if (params.output_type === 'quantiles') return { output_type: params.output_type, quantiles: params.quantiles, predictions: prediction };
  return { output_type: params.output_type, predictions: prediction };
}

/** Upstream's answer for rows [from, to) of a whole prediction, as a chunk stores it. */
function slicePrediction(outputType: string, whole: unknown, from: number, to: number): unknown {
  if (outputType === 'quantiles') return (whole as unknown[][]).map((list) => list.slice(from, to));
  if (outputType === 'full' || outputType === 'main') {
    const obj = whole as Record<string, unknown>;
    return Object.fromEntries(
      Object.entries(obj).map(([k, v]) => {
        if (k === 'borders') return [k, v];
        if (k === 'quantiles') return [k, (v as unknown[][]).map((list) => list.slice(from, to))];
        return [k, (v as unknown[]).slice(from, to)];
      }),
    );
  }
  return (whole as unknown[]).slice(from, to);
}

function chunksOf(outputType: string, whole: unknown, bounds: number[]): ResultChunk[] {
  const out: ResultChunk[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    out.push({
      row_start: bounds[i]!,
      row_end: bounds[i + 1]!,
      prediction: slicePrediction(outputType, whole, bounds[i]!, bounds[i + 1]!),
    });
  }
  return out;
}

const sourceOf = (chunks: ResultChunk[]): ChunkSource =>
  async function* each() {
    for (const c of chunks) yield c;
  };

/** The header the worker stores in jobs.result for a chunked result. */
function headerOf(classes: unknown[], params: { output_type: string; quantiles?: number[] }) {
  return {
    output_type: params.output_type,
    ...(params.output_type === 'probas' ? { classes } : {}),
    ...(params.output_type === 'quantiles' ? { quantiles: params.quantiles } : {}),
  };
}

async function render(format: ResultFormat, doc: ResultDocument): Promise<string> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (b: Buffer) => parts.push(b));
  expect(await writeResult(out, format, doc)).toBe(true);
  return Buffer.concat(parts).toString('utf8');
}

const ndjsonLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const N = 10;
const BOUNDS = [0, 3, 4, 8, 10];
const CLASSES = ['setosa', 'versi,color', 7];
const rowsOf = <T>(f: (i: number) => T) => Array.from({ length: N }, (_, i) => f(i));
const CASES: { params: { output_type: string; quantiles?: number[] }; prediction: unknown }[] = [
  { params: { output_type: 'preds' }, prediction: rowsOf((i) => CLASSES[i % 3]) },
  { params: { output_type: 'probas' }, prediction: rowsOf((i) => [0, 1, 2].map((j) => [0.7, 0.2, 0.1][(i + j) % 3]!)) },
  { params: { output_type: 'mean' }, prediction: rowsOf((i) => i * 1.5) },
  { params: { output_type: 'median' }, prediction: rowsOf((i) => 0 - i) },
  { params: { output_type: 'mode' }, prediction: rowsOf((i) => i / 3) },
  { params: { output_type: 'quantiles', quantiles: [0.1, 0.5, 0.9] }, prediction: [0.1, 0.5, 0.9].map((q) => rowsOf((i) => i + q)) },
  {
    params: { output_type: 'full' },
    prediction: {
      mean: rowsOf((i) => i + 0.5),
      median: rowsOf((i) => i),
      mode: rowsOf((i) => i - 0.5),
      quantiles: [0.25, 0.75].map((q) => rowsOf((i) => i + q)),
      logits: rowsOf((i) => [i, 0 - i, 0]),
      borders: [0, 1, 2, 3],
    },
  },
  {
    params: { output_type: 'main' },
    prediction: {
      mean: rowsOf((i) => i + 0.5),
      median: rowsOf((i) => i),
      mode: rowsOf((i) => i),
      quantiles: [0.5].map(() => rowsOf((i) => i)),
    },
  },
];

describe('JSON: the inline document, whatever the chunks', () => {
  it.each(CASES.map((c) => [c.params.output_type, c] as const))('%s', async (_name, { params, prediction }) => {
    const inline = toResult(CLASSES, params, prediction);
    const chunked = resultDocument(headerOf(CLASSES, params), N, { chunks: sourceOf(chunksOf(params.output_type, prediction, BOUNDS)) });
    expect(JSON.parse(await render('application/json', chunked))).toEqual(inline);
    // The inline result itself goes through the same writer and comes back unchanged.
    const text = await render('application/json', resultDocument(inline, N));
    expect(JSON.parse(text)).toEqual(inline);
    expect(text).toBe(JSON.stringify(inline));
  });
});

describe('NDJSON: one object per input row, in input order', () => {
  const docFor = (i: number) => {
    const { params, prediction } = CASES[i]!;
    return resultDocument(headerOf(CLASSES, params), N, { chunks: sourceOf(chunksOf(params.output_type, prediction, BOUNDS)) });
  };

  it('labels and numbers: {row, prediction}', async () => {
    const lines = ndjsonLines(await render('application/x-ndjson', docFor(0)));
    expect(lines).toHaveLength(N);
    expect(lines.map((l) => l.row)).toEqual(rowsOf((i) => i));
    expect(lines[4]).toEqual({ row: 4, prediction: CLASSES[1] });
    expect(ndjsonLines(await render('application/x-ndjson', docFor(2)))[3]).toEqual({ row: 3, prediction: 4.5 });
  });

  it('probas: {row, prediction (argmax), probabilities}', async () => {
    const lines = ndjsonLines(await render('application/x-ndjson', docFor(1)));
    const probs = CASES[1]!.prediction as number[][];
    expect(lines).toHaveLength(N);
    expect(lines[5]).toEqual({ row: 5, prediction: CLASSES[probs[5]!.indexOf(0.7)], probabilities: probs[5] });
  });

  it('quantiles: {row, quantiles: the row across the quantiles}', async () => {
    const lines = ndjsonLines(await render('application/x-ndjson', docFor(5)));
    expect(lines).toHaveLength(N);
    expect(lines[6]).toEqual({ row: 6, quantiles: [6.1, 6.5, 6.9] });
  });

  it('full: {row, mean, median, mode, quantiles, logits}; borders (model level) left out', async () => {
    const text = await render('application/x-ndjson', docFor(6));
    const lines = ndjsonLines(text);
    expect(lines).toHaveLength(N);
    expect(lines[7]).toEqual({ row: 7, mean: 7.5, median: 7, mode: 6.5, quantiles: [7.25, 7.75], logits: [7, -7, 0] });
    expect(text).not.toContain('borders');
    expect(Object.keys(ndjsonLines(await render('application/x-ndjson', docFor(7)))[0]!)).toEqual([
      'row',
      'mean',
      'median',
      'mode',
      'quantiles',
    ]);
  });
});

describe('CSV: one line per input row, in input order', () => {
  const csv = async (result: unknown, n: number) => render('text/csv', resultDocument(result, n));

  it('a full regression output has one row per input row; model-level arrays (borders) are left out', async () => {
    const text = await csv(
      { output_type: 'full', predictions: { mean: [1.5, 2.5], median: [1, 2], borders: [0, 1, 2, 3, 4], logits: [[0.1], [0.2]] } },
      2,
    );
    expect(text).toBe('mean,median\n1.5,1\n2.5,2\n');
  });

  it('probabilities: a prediction column, then one column per class', async () => {
    expect(await csv({ output_type: 'probas', classes: ['a', 'b,c'], probabilities: [[0.9, 0.1]], predictions: ['a'] }, 1)).toBe(
      'prediction,p_a,"p_b,c"\na,0.9,0.1\n',
    );
  });

  it('quantiles: one column per quantile; labels: one prediction column; chunked like inline', async () => {
    const { params, prediction } = CASES[5]!;
    const chunked = await render(
      'text/csv',
      resultDocument(headerOf(CLASSES, params), N, { chunks: sourceOf(chunksOf(params.output_type, prediction, BOUNDS)) }),
    );
    const lines = chunked.trim().split('\n');
    expect(lines).toHaveLength(N + 1);
    expect(lines[0]).toBe('q_0.1,q_0.5,q_0.9');
    expect(lines[3]).toBe('2.1,2.5,2.9');
    expect(chunked).toBe(await csv(toResult(CLASSES, params, prediction), N));
    expect(await csv({ output_type: 'preds', predictions: ['x', 'a"b', null] }, 3)).toBe('prediction\nx\n"a""b"\n\n');
  });
});

describe('a partial result (a failed batch with rows missing)', () => {
  // Rows 3–5 and 8–9 never came back.
  const partialDoc = (i: number) => {
    const { params, prediction } = CASES[i]!;
    const all = chunksOf(params.output_type, prediction, [0, 3, 6, 8, 10]);
    return resultDocument({ ...headerOf(CLASSES, params), partial: true }, N, { chunks: sourceOf([all[0]!, all[2]!]) });
  };
  const missing = [3, 4, 5, 8, 9];

  it('JSON: "partial": true, null for each missing row, arrays of n_rows', async () => {
    const preds = JSON.parse(await render('application/json', partialDoc(0)));
    expect(preds.partial).toBe(true);
    expect(preds.predictions).toHaveLength(N);
    expect(missing.map((i) => preds.predictions[i])).toEqual(missing.map(() => null));
    expect(preds.predictions[6]).toBe(CLASSES[0]);

    const probas = JSON.parse(await render('application/json', partialDoc(1)));
    expect(probas.probabilities[4]).toBeNull();
    expect(probas.predictions[4]).toBeNull();
    expect(probas.probabilities[7]).toEqual((CASES[1]!.prediction as number[][])[7]);

    const quantiles = JSON.parse(await render('application/json', partialDoc(5)));
    expect(quantiles.predictions.map((l: unknown[]) => l.length)).toEqual([N, N, N]);
    expect(quantiles.predictions[1].slice(2, 7)).toEqual([2.5, null, null, null, 6.5]);

    const full = JSON.parse(await render('application/json', partialDoc(6)));
    expect(full.predictions.mean[9]).toBeNull();
    expect(full.predictions.logits[3]).toBeNull();
    expect(full.predictions.quantiles[0][8]).toBeNull();
    expect(full.predictions.borders).toEqual([0, 1, 2, 3]);
  });

  it('NDJSON: every row still has a line; a missing row has its fields null', async () => {
    const lines = ndjsonLines(await render('application/x-ndjson', partialDoc(1)));
    expect(lines.map((l) => l.row)).toEqual(rowsOf((i) => i));
    expect(lines[3]).toEqual({ row: 3, prediction: null, probabilities: null });
    expect(ndjsonLines(await render('application/x-ndjson', partialDoc(0)))[9]).toEqual({ row: 9, prediction: null });
    expect(ndjsonLines(await render('application/x-ndjson', partialDoc(5)))[4]).toEqual({ row: 4, quantiles: null });
    expect(ndjsonLines(await render('application/x-ndjson', partialDoc(6)))[5]).toEqual({
      row: 5,
      mean: null,
      median: null,
      mode: null,
      quantiles: null,
      logits: null,
    });
  });

  it('CSV: every row still has a line; a missing row has empty cells', async () => {
    const lines = (await render('text/csv', partialDoc(1))).split('\n');
    expect(lines).toHaveLength(N + 2); // header, N rows, the final newline
    expect(lines[1 + 4]).toBe(',,,');
    expect(lines[1 + 6]).toMatch(/^setosa,0\.7,/);
    expect((await render('text/csv', partialDoc(0))).split('\n')[1 + 9]).toBe('');
  });
});

describe('streaming', () => {
  it('a chunk repeating rows or reaching past n_rows is clipped: no row twice, none past the end', async () => {
    const chunks: ResultChunk[] = [
      { row_start: 0, row_end: 3, prediction: [0, 1, 2] },
      { row_start: 2, row_end: 4, prediction: [20, 3] },
      { row_start: 4, row_end: 7, prediction: [4, 5, 6] },
    ];
    const doc = resultDocument({ output_type: 'mean' }, 5, { chunks: sourceOf(chunks) });
    expect(JSON.parse(await render('application/json', doc))).toEqual({ output_type: 'mean', predictions: [0, 1, 2, 3, 4] });
  });

  it('rows missing from a result that is not partial are an error, never nulls', async () => {
    const chunks = sourceOf([
      { row_start: 0, row_end: 2, prediction: [0, 1] },
      { row_start: 3, row_end: 5, prediction: [3, 4] },
    ]);
    for (const format of RESULT_FORMATS) {
      const out = new PassThrough();
      out.resume();
      await expect(writeResult(out, format, resultDocument({ output_type: 'mean' }, 5, { chunks }))).rejects.toThrow(
        'rows 2–2 of a complete result are missing',
      );
    }
  });

  it('stops reading chunks when the client goes away', async () => {
    let read = 0;
    let closed = false;
    const chunks: ChunkSource = async function* many() {
      try {
        for (let c = 0; c < 1_000; c++) {
          read++;
          yield { row_start: c * 1_000, row_end: (c + 1) * 1_000, prediction: Array.from({ length: 1_000 }, (_, i) => c * 1_000 + i) };
        }
      } finally {
        closed = true;
      }
    };
    let bytes = 0;
    const out = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        if (bytes > 200_000) {
          cb();
          out.destroy();
        } else setImmediate(cb);
      },
    });
    const doc = resultDocument({ output_type: 'mean' }, 1_000_000, { chunks });
    expect(await writeResult(out, 'application/x-ndjson', doc)).toBe(false);
    expect(closed).toBe(true);
    expect(read).toBeLessThan(100);
  });

  it('an error reading a chunk rejects (the caller destroys the response)', async () => {
    const chunks: ChunkSource = async function* failing() {
      yield { row_start: 0, row_end: 1, prediction: [1] };
      throw new Error('connection lost');
    };
    const out = new PassThrough();
    out.resume();
    await expect(writeResult(out, 'application/json', resultDocument({ output_type: 'mean' }, 5, { chunks }))).rejects.toThrow(
      'connection lost',
    );
  });

  it('offers the three formats, JSON first', () => {
    expect(RESULT_FORMATS).toEqual(['application/json', 'application/x-ndjson', 'text/csv']);
  });
});

describe('a large result (200,000 rows) streams in bounded memory, honouring backpressure', () => {
  const ROWS = 200_000;
  const CHUNK = 10_000;
  const QUANTILES = [0.1, 0.5, 0.9];
  // Generated on demand, one chunk at a time: only what the writer holds stays in memory.
  const chunks: ChunkSource = async function* synthetic() {
    for (let start = 0; start < ROWS; start += CHUNK) {
      const n = Math.min(CHUNK, ROWS - start);
      const col = <T>(f: (row: number) => T): T[] => Array.from({ length: n }, (_, i) => f(start + i));
      yield {
        row_start: start,
        row_end: start + n,
        prediction: {
          mean: col((r) => r / 7),
          median: col((r) => r / 11),
          mode: col((r) => r / 13),
          quantiles: QUANTILES.map((q) => col((r) => r / 17 + q)),
          logits: col((r) => [r / 19, -r / 23, 1 / (r + 1)]),
          borders: [0, 1, 2, 3],
        },
      };
      await new Promise((r) => setImmediate(r));
    }
  };

  /** A slow client: consumes asynchronously, and (when exposed) measures the live heap every few MB. */
  function slowClient(gc: (() => void) | undefined) {
    const stats = { bytes: 0, lines: 0, maxBuffered: 0, maxHeap: 0 };
    let nextSample = 0;
    const out = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        stats.bytes += chunk.length;
        for (const b of chunk) if (b === 10) stats.lines++;
        stats.maxBuffered = Math.max(stats.maxBuffered, out.writableLength);
        if (gc && stats.bytes >= nextSample) {
          gc();
          stats.maxHeap = Math.max(stats.maxHeap, process.memoryUsage().heapUsed);
          nextSample += 4 * 1024 * 1024;
        }
        setImmediate(cb);
      },
    });
    return { out, stats };
  }

  function exposeGc(): (() => void) | undefined {
    try {
      v8.setFlagsFromString('--expose-gc');
      return vm.runInNewContext('gc') as () => void;
    } catch {
      return undefined;
    }
  }

  it.each<ResultFormat>([...RESULT_FORMATS])('%s', async (format) => {
    const gc = exposeGc();
    gc?.();
    const baseline = process.memoryUsage().heapUsed;
    const { out, stats } = slowClient(gc);
    const doc = resultDocument({ output_type: 'full' }, ROWS, { chunks });
    expect(await writeResult(out, format, doc)).toBe(true);
    if (format !== 'application/json') expect(stats.lines).toBe(ROWS + (format === 'text/csv' ? 1 : 0));
    expect(stats.bytes).toBeGreaterThan(format === 'text/csv' ? 10_000_000 : 30_000_000);
    // Never more queued in the stream than about one flush (64 KiB) at a time.
    expect(stats.maxBuffered).toBeLessThan(256 * 1024);
    // The live heap (measured after a full GC) holds a chunk (a few MB of arrays) and a flush buffer, never the rows:
    // (Measured: 3–5 MB of growth, for documents of 10–45 MB; a document built whole would be at least its size again.)
    if (gc) expect(stats.maxHeap - baseline).toBeLessThan(16 * 1024 * 1024);
  });
});
