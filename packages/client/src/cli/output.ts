import type { Job } from '../client.js';

/** Everything for people goes to stderr, so stdout stays clean for data and `--json`. */
export interface Output {
  json: boolean;
  quiet: boolean;
  /** Data: JSON with `--json`, else the text. */
  result(data: unknown, text: () => string): void;
  info(message: string): void;
  progress(job: Job, elapsedMs: number): void;
  endProgress(): void;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

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
    /** `fit c9f0f895 running · fitting · 3.2s`: rewritten in place on a terminal, one line per change otherwise. */
    progress(job, elapsedMs) {
      if (opts.quiet) return;
      const stage = job.progress?.stage && job.progress.stage !== job.status ? ` · ${job.progress.stage}` : '';
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
