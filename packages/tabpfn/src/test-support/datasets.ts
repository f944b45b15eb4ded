import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Test-only helpers: the shared CSV datasets (no quoted fields in them, so a plain split suffices). */
const here = dirname(fileURLToPath(import.meta.url));
export const DATASETS_DIR = process.env.TABPFN_DATASETS_DIR ?? resolve(here, '../../../../tests/fixtures/datasets');

export interface Dataset {
  featureNames: string[];
  features: unknown[][];
  target: unknown[];
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Numeric cells become numbers, everything else (including `NA`) stays a string, as a JSON client would send it. */
export function loadDataset(name: string, targetColumn?: string): Dataset {
  const lines = readFileSync(resolve(DATASETS_DIR, `${name}.csv`), 'utf8')
    .trim()
    .split(/\r?\n/);
  const header = (lines[0] as string).split(',');
  const t = targetColumn ? header.indexOf(targetColumn) : header.length - 1;
  const rows = lines.slice(1).map((l) => l.split(',').map((c) => (NUMBER.test(c) ? Number(c) : c)));
  return {
    featureNames: header.filter((_, j) => j !== t),
    features: rows.map((r) => r.filter((_, j) => j !== t)),
    target: rows.map((r) => r[t]),
  };
}

/** Deterministic 80/20 split: every fifth row is held out (the files are grouped by class, so this stratifies). */
export function split(d: Dataset): { train: Dataset; test: Dataset } {
  const pick = (keep: (i: number) => boolean): Dataset => ({
    featureNames: d.featureNames,
    features: d.features.filter((_, i) => keep(i)),
    target: d.target.filter((_, i) => keep(i)),
  });
  return { train: pick((i) => i % 5 !== 0), test: pick((i) => i % 5 === 0) };
}

export function accuracy(predicted: unknown[], actual: unknown[]): number {
  return predicted.filter((p, i) => p === actual[i]).length / actual.length;
}
