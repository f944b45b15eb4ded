/** One stored chunk: how many rows it covers and upstream's prediction for them, as upstream answered. */
export interface ChunkPrediction {
  rows: number;
  prediction: unknown;
}

/** Quantile-major (n_quantiles × n_rows): each quantile's row continues across chunks. */
function mergeQuantileMajor(parts: unknown[][][]): unknown[][] {
  const first = parts[0] ?? [];
  return first.map((_, q) => parts.flatMap((p) => p[q] ?? []));
}

/** `full`/`main`: per-row arrays continue; model-level values (`borders`) are the same in every chunk. */
function mergeObjects(chunks: readonly ChunkPrediction[]): Record<string, unknown> {
  const objects = chunks.map((c) => c.prediction as Record<string, unknown>);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(objects[0] ?? {})) {
    if (key === 'borders') out[key] = objects[0]![key];
    else if (key === 'quantiles') out[key] = mergeQuantileMajor(objects.map((o) => o[key] as unknown[][]));
    else if (chunks.every((c, i) => Array.isArray(objects[i]![key]) && (objects[i]![key] as unknown[]).length === c.rows))
      out[key] = objects.flatMap((o) => o[key] as unknown[]);
    else out[key] = objects[0]![key];
  }
  return out;
}

/**
 * Joins chunk predictions, in row order, into the prediction one upstream call over all the rows
 * would have answered: labels, numbers and probability rows concatenate; quantiles are
 * quantile-major; `full`/`main` merge key by key.
 */
export function mergePredictions(outputType: string, chunks: readonly ChunkPrediction[]): unknown {
  if (outputType === 'quantiles') return mergeQuantileMajor(chunks.map((c) => c.prediction as unknown[][]));
  if (outputType === 'full' || outputType === 'main') return mergeObjects(chunks);
  return chunks.flatMap((c) => c.prediction as unknown[]);
}
