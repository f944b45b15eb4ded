import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './processes.js';

export const DATASETS_DIR = process.env.DATASETS_DIR ?? join(ROOT, 'tests', 'fixtures', 'datasets');

export interface Dataset {
  header: string[];
  rows: string[][];
  targetIndex: number;
}

/** Reads one of tests/fixtures/datasets (real datasets; see tests/fixtures/datasets/README.md) (simple CSV: no quoted commas in these files). */
export function loadDataset(name: string, target?: string): Dataset {
  const text = readFileSync(join(DATASETS_DIR, `${name}.csv`), 'utf8').trim();
  const [head, ...lines] = text.split(/\r?\n/);
  const header = head!.split(',');
  const targetIndex = target ? header.indexOf(target) : header.length - 1;
  return { header, rows: lines.map((l) => l.split(',')), targetIndex };
}

/** Every 5th row is held out: a deterministic 80/20 split. */
export function split(ds: Dataset) {
  const train = ds.rows.filter((_, i) => i % 5 !== 0);
  const test = ds.rows.filter((_, i) => i % 5 === 0);
  const xs = (rows: string[][]) => rows.map((r) => r.filter((_, j) => j !== ds.targetIndex));
  const ys = (rows: string[][]) => rows.map((r) => r[ds.targetIndex]!);
  return { trainX: xs(train), trainY: ys(train), testX: xs(test), testY: ys(test), train, test };
}

/** JSON cells the way a client would send them: numbers as numbers, NA as null, strings as strings. */
export function jsonCells(rows: string[][]): (string | number | null)[][] {
  return rows.map((r) => r.map((c) => (c === 'NA' || c === '' ? null : /^-?\d+(\.\d+)?(e-?\d+)?$/i.test(c) ? Number(c) : c)));
}

export function toCsv(header: string[], rows: string[][]): string {
  return [header.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n';
}
