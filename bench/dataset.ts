import { createWriteStream, existsSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { OUT_DIR } from './processes.js';

/** Deterministic pseudo-random numbers (mulberry32), so every run uploads the same bytes. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function writeLines(path: string, lines: Iterable<string>): Promise<void> {
  const out = createWriteStream(path);
  let buf = '';
  for (const line of lines) {
    buf += line;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}

function* table(rows: number, cols: number) {
  const next = rng(42);
  for (let i = 0; i < rows; i++) {
    const cells = Array.from({ length: cols }, () => (next() * 200 - 100).toFixed(3));
    yield { cells, label: ['a', 'b', 'c'][i % 3]! };
  }
}

/** `rows` × `cols` numeric features plus a `target` column, as CSV and as the equivalent JSON body. */
export async function largeDataset(rows: number, cols: number): Promise<{ csv: string; json: string }> {
  const csv = join(OUT_DIR, `data-${rows}x${cols}.csv`);
  const json = join(OUT_DIR, `data-${rows}x${cols}.json`);
  if (!existsSync(csv) || statSync(csv).size === 0) {
    const header = `${[...Array.from({ length: cols }, (_, j) => `f${j}`), 'target'].join(',')}\n`;
    await writeLines(
      csv,
      (function* () {
        yield header;
        for (const r of table(rows, cols)) yield `${r.cells.join(',')},${r.label}\n`;
      })(),
    );
  }
  if (!existsSync(json) || statSync(json).size === 0) {
    const labels: string[] = [];
    await writeLines(
      json,
      (function* () {
        yield '{"features":[';
        let first = true;
        for (const r of table(rows, cols)) {
          labels.push(r.label);
          yield `${first ? '' : ','}[${r.cells.join(',')}]`;
          first = false;
        }
        yield `],"target":${JSON.stringify(labels)}}`;
      })(),
    );
  }
  return { csv, json };
}

/** `rows` × `cols` numeric features only (header `f0…`, no target), deterministic: the rows of a CSV predict. */
export async function predictCsv(rows: number, cols: number): Promise<string> {
  const csv = join(OUT_DIR, `predict-${rows}x${cols}.csv`);
  if (!existsSync(csv) || statSync(csv).size === 0) {
    const next = rng(7);
    // Written aside and renamed, so an interrupted run never leaves a truncated file to be reused.
    await writeLines(
      `${csv}.tmp`,
      (function* () {
        yield `${Array.from({ length: cols }, (_, j) => `f${j}`).join(',')}\n`;
        for (let i = 0; i < rows; i++) yield `${Array.from({ length: cols }, () => (next() * 200 - 100).toFixed(3)).join(',')}\n`;
      })(),
    );
    renameSync(`${csv}.tmp`, csv);
  }
  return csv;
}
