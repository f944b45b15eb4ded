import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { OUT_DIR } from './processes.js';

/** One line of the table: a figure, the baseline measured in the same run, and how they compare. */
export interface Row {
  scenario: string;
  metric: string;
  value: string;
  baseline: string;
  comparison: string;
  target: string;
  /** undefined: informational row without a target. */
  pass?: boolean;
}

export interface Report {
  startedAt: string;
  quick: boolean;
  machine: { cores: number; cpu: string; node: string; platform: string };
  settings: Record<string, unknown>;
  rows: Row[];
  raw: Record<string, unknown>;
}

export function machine(): Report['machine'] {
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

export function toMarkdown(report: Report): string {
  const m = report.machine;
  const lines = [
    `Run ${report.startedAt}${report.quick ? ' (--quick: smoke test, figures not meaningful)' : ''} on ${m.cores} cores, ${m.cpu}, Node ${m.node}, ${m.platform}.`,
    '',
    '| scenario | metric | value | baseline (same run) | comparison | target | met |',
    '|---|---|---|---|---|---|---|',
    ...report.rows.map(
      (r) =>
        `| ${r.scenario} | ${r.metric} | ${r.value} | ${r.baseline} | ${r.comparison} | ${r.target} | ${r.pass === undefined ? '' : r.pass ? 'yes' : '**no**'} |`,
    ),
    '',
    'Settings:',
    '',
    ...Object.entries(report.settings).map(([k, v]) => `- ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Writes `bench/out/<timestamp>.json|.md` and `latest.*`; returns the markdown. */
export function writeReport(report: Report): string {
  mkdirSync(OUT_DIR, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const md = toMarkdown(report);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  for (const name of [stamp, 'latest']) {
    writeFileSync(join(OUT_DIR, `${name}.json`), json);
    writeFileSync(join(OUT_DIR, `${name}.md`), md);
  }
  return md;
}

export const fmt = {
  rps: (n: number) => `${Math.round(n).toLocaleString('en-US')} req/s`,
  ms: (n: number) => `${n.toFixed(1)} ms`,
  pct: (n: number) => `${(n * 100).toFixed(0)} %`,
  mb: (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`,
};
