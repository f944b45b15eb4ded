import type { ModelRow, PredictChunkRepository } from '@tabpfn-jobs/shared/repositories';
import { mergePredictions } from './merge.js';

export type PredictParams = { output_type: string; quantiles?: number[]; config?: Record<string, unknown>; allow_partial?: boolean };

/** Upstream's prediction in the public result shape (DESIGN §2). */
export function toResult(model: Pick<ModelRow, 'classes'>, params: PredictParams, prediction: unknown) {
  const outputType = params.output_type;
  if (outputType === 'probas') {
    const probabilities = prediction as number[][];
    const classes = model.classes ?? [];
    const predictions = probabilities.map((row) => classes[row.indexOf(Math.max(...row))] ?? null);
    return { output_type: outputType, classes, probabilities, predictions };
  }
  if (outputType === 'quantiles') return { output_type: outputType, quantiles: params.quantiles, predictions: prediction };
  return { output_type: outputType, predictions: prediction };
}

/**
 * What a result kept in predict_chunks stores in `jobs.result`: what a reader needs besides the rows
 * (GET /v1/jobs/{id}/result streams them).
 */
export function resultHeader(model: Pick<ModelRow, 'classes'>, params: PredictParams, partial = false) {
  return {
    output_type: params.output_type,
    ...(params.output_type === 'probas' ? { classes: model.classes ?? [] } : {}),
    ...(params.output_type === 'quantiles' ? { quantiles: params.quantiles } : {}),
    ...(partial ? { partial: true } : {}),
  };
}

/** A batch small enough to inline: its chunks joined into the result one call would have given. */
export async function assembleInline(
  chunks: Pick<PredictChunkRepository, 'all'>,
  jobId: string,
  model: Pick<ModelRow, 'classes'>,
  params: PredictParams,
) {
  const stored = await chunks.all(jobId);
  const merged = mergePredictions(
    params.output_type,
    stored.map((c) => ({ rows: c.row_end - c.row_start, prediction: c.prediction })),
  );
  return toResult(model, params, merged);
}
