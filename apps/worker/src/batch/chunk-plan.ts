import type { ModelLimit, Settings } from '@tabpfn-jobs/tabpfn';

export interface RowRange {
  start: number;
  /** Exclusive. */
  end: number;
}

/** The limits of the model version a model path names (protocol §8): that version or the closest lower one. */
function limitFor(settings: Settings, modelPath: string | undefined): ModelLimit {
  const wanted = modelPath ? /-(v\d(?:\.\d)?)-/.exec(modelPath)?.[1] : undefined;
  const versions = Object.keys(settings.model_limits).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  if (!wanted) return settings.model_limits[settings.default_model_version] ?? settings.max_model_limit;
  const lower = versions.filter((v) => Number(v.slice(1)) <= Number(wanted.slice(1)));
  return settings.model_limits[lower[lower.length - 1] ?? ''] ?? settings.max_model_limit;
}

/**
 * Rows one upstream predict may carry (protocol §8): `min(test_set_max_rows, budget // train_rows)`,
 * the full-output cap, and the cells limit over the columns. Unknown settings: unbounded (an upstream
 * refusal then shrinks the chunk).
 */
export function chunkRowsFor(
  settings: Settings | null,
  shape: { trainRows: number; nCols: number; outputType: string; modelPath?: string },
): number {
  if (!settings) return Number.POSITIVE_INFINITY;
  const limit = limitFor(settings, shape.modelPath);
  const budget = limit.predict_row_pairs_budget ?? 250_000 * 1_000_000;
  let rows = Math.min(limit.test_set_max_rows, Math.floor(budget / Math.max(1, shape.trainRows)));
  if (shape.outputType === 'full') rows = Math.min(rows, limit.test_set_max_rows_w_full_regression_output);
  rows = Math.min(rows, Math.floor(limit.test_set_max_cells / Math.max(1, shape.nCols)));
  return Math.max(1, rows);
}

/** The rows of [0, nRows) that no stored chunk covers, in order. */
export function uncovered(stored: readonly RowRange[], nRows: number): RowRange[] {
  const gaps: RowRange[] = [];
  let at = 0;
  for (const r of [...stored].sort((a, b) => a.start - b.start)) {
    if (r.start > at) gaps.push({ start: at, end: Math.min(r.start, nRows) });
    at = Math.max(at, r.end);
  }
  if (at < nRows) gaps.push({ start: at, end: nRows });
  return gaps.filter((g) => g.end > g.start);
}

/** Ranges cut into pieces of at most `size` rows. */
export function split(ranges: readonly RowRange[], size: number): RowRange[] {
  const out: RowRange[] = [];
  for (const r of ranges) for (let s = r.start; s < r.end; s += size) out.push({ start: s, end: Math.min(r.end, s + size) });
  return out;
}
