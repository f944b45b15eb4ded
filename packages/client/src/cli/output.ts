import type { Job, JobProgress } from '../client.js';

/** Everything for people goes to stderr, so stdout stays clean for data and `--json`. */
export interface Output {
  json: boolean;
  quiet: boolean;
  /** Data: JSON with `--json`, else the text. */
  result(data: unknown, text: () => string): void;
  info(message: string): void;
  /** Where data goes (stdout): a result streamed as it arrives. */
  data: NodeJS.WritableStream;
  progress(job: Job, elapsedMs: number): void;
  endProgress(): void;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const count = (n: number | undefined) => (n ?? 0).toLocaleString('en-US');

/** `predicting` or, for a batch predict, `predicting: chunk 7/20, 70,000/200,000 rows`. */
function stageText(p: JobProgress): string {
  if (p.chunks_total === undefined) return p.stage;
  const rows = p.rows_total === undefined ? '' : `, ${count(p.rows_done)}/${count(p.rows_total)} rows`;
  return `${p.stage}: chunk ${count(p.chunks_done)}/${count(p.chunks_total)}${rows}`;
}

export function createOutput(opts: { json: boolean; quiet: boolean; stdout?: NodeJS.WritableStream; stderr?: NodeJS.WriteStream | NodeJS.WritableStream }): Output {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const tty = Boolean((stderr as NodeJS.WriteStream).isTTY);
  let lastLine = '';
  let open = false;

  return {
    json: opts.json,
    quiet: opts.quiet,
    result(data, text) {
      stdout.write(opts.json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
    },
    info(message) {
      if (!opts.quiet) stderr.write(`${message}\n`);
    },
    data: stdout,
    /**
     * `fit c9f0f895 running · fitting · 3.2s`, `predict 1b2c3d4e running · predicting: chunk 7/20, 70,000/200,000 rows · 41.0s`:
     * rewritten in place on a terminal, one line per change otherwise.
     */
    progress(job, elapsedMs) {
      if (opts.quiet) return;
      const p = job.progress as JobProgress | null;
      const stage = p?.stage && (p.stage !== job.status || p.chunks_total !== undefined) ? ` · ${stageText(p)}` : '';
      const note = job.progress?.message ? ` · ${job.progress.message}` : '';
      const head = `${job.type} ${job.job_id.slice(0, 8)} ${job.status}${stage}${note}`;
      if (tty) {
        stderr.write(`\r\x1b[2K${head} · ${seconds(elapsedMs)}`);
        open = true;
      } else if (head !== lastLine) {
        stderr.write(`${head} · ${seconds(elapsedMs)}\n`);
      }
      lastLine = head;
    },
    endProgress() {
      if (open) stderr.write('\n');
      open = false;
      lastLine = '';
    },
  };
}

/** A plain aligned table. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(',') : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

/** `key: value` lines for one resource. */
export function details(obj: Record<string, unknown>, keys: string[]): string {
  const width = Math.max(...keys.map((k) => k.length));
  return keys
    .filter((k) => obj[k] !== undefined)
    .map((k) => {
      const v = obj[k];
      const text = v === null ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v);
      return `${k.padEnd(width)}  ${text}`;
    })
    .join('\n');
}
