/**
 * The baseline for large uploads, run as its own process so its memory is its own: read the file and
 * parse it with csv-parse alone (same options as the api), or JSON.parse it. Prints one JSON line.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parse } from 'csv-parse';

const [mode, file] = process.argv.slice(2);
const rss0 = process.memoryUsage().rss;
let peak = rss0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 10);
const t0 = performance.now();
let rows = 0;
if (mode === 'json') {
  rows = (JSON.parse(readFileSync(file!, 'utf8')) as { features: unknown[] }).features.length;
} else {
  const parser = createReadStream(file!).pipe(parse({ bom: true, trim: true, skip_empty_lines: true, relax_column_count: false }));
  for await (const _record of parser) rows++;
  rows -= 1; // header
}
const ms = performance.now() - t0;
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
process.stdout.write(`${JSON.stringify({ mode, ms, rows, rssGrowth: peak - rss0 })}\n`);
