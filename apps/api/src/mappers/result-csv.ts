/** A predict result as CSV: one row per input row. */
function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** `nRows`: the predict's input rows; arrays of another length (e.g. `full`'s model-level `borders`) are not per-row columns. */
export function resultToCsv(result: unknown, nRows?: number | null): string {
  const r = (result ?? {}) as { output_type?: string; predictions?: unknown; classes?: unknown[]; probabilities?: number[][]; quantiles?: number[] };
  const lines: string[] = [];
  if (r.output_type === 'probas' && r.classes && r.probabilities) {
    lines.push(['prediction', ...r.classes.map((c) => `p_${String(c)}`)].map(cell).join(','));
    const preds = (r.predictions as unknown[] | undefined) ?? [];
    r.probabilities.forEach((row, i) => {
      lines.push([preds[i], ...row].map(cell).join(','));
    });
  } else if (r.output_type === 'quantiles' && r.quantiles && Array.isArray(r.predictions)) {
    const cols = r.predictions as number[][];
    lines.push(r.quantiles.map((q) => `q_${q}`).join(','));
    const n = cols[0]?.length ?? 0;
    for (let i = 0; i < n; i++) lines.push(cols.map((c) => cell(c[i])).join(','));
  } else if (Array.isArray(r.predictions)) {
    lines.push('prediction');
    for (const p of r.predictions) lines.push(cell(p));
  } else if (r.predictions && typeof r.predictions === 'object') {
    const obj = r.predictions as Record<string, unknown>;
    const keys = Object.keys(obj).filter(
      (k) => Array.isArray(obj[k]) && !Array.isArray((obj[k] as unknown[])[0]) && (nRows == null || (obj[k] as unknown[]).length === nRows),
    );
    lines.push(keys.join(','));
    const n = Math.max(0, ...keys.map((k) => (obj[k] as unknown[]).length));
    for (let i = 0; i < n; i++) lines.push(keys.map((k) => cell((obj[k] as unknown[])[i])).join(','));
  }
  return `${lines.join('\n')}\n`;
}
