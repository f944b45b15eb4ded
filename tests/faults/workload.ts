import { jsonCells, loadDataset, split } from '../helpers/datasets.js';
import type { request } from '../helpers/http.js';

const iris = split(loadDataset('iris'));
export const X = jsonCells(iris.trainX);
export const Y = iris.trainY;
export const T = jsonCells(iris.testX);

/**
 * `fits` models, each with `predictsPerFit` predicts on distinct rows (so none is served from cache),
 * submitted as fast as the API takes them. Returns every job id.
 */
export async function submitWorkload(client: ReturnType<typeof request>, fits: number, predictsPerFit: number, tag = 0): Promise<string[]> {
  const ids: string[] = [];
  for (let f = 0; f < fits; f++) {
    const fit = await client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: tag * 1000 + f } });
    if (fit.status !== 202) throw new Error(`fit submit: ${fit.status} ${fit.text}`);
    ids.push(fit.body.job_id);
    for (let p = 0; p < predictsPerFit; p++) {
      const row = T[(f * predictsPerFit + p) % T.length]!;
      const features = [row.map((v) => (typeof v === 'number' ? v + (f * predictsPerFit + p) * 1e-6 : v))];
      const pred = await client.post(`/v1/models/${fit.body.model_id}/predict`, { features });
      if (pred.status !== 202) throw new Error(`predict submit: ${pred.status} ${pred.text}`);
      ids.push(pred.body.job_id);
    }
  }
  return ids;
}
