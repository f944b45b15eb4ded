import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jsonCells, loadDataset, split } from '../helpers/datasets.js';
import { type Stack, startStack, waitForJob } from '../helpers/stack.js';

let stack: Stack;
const iris = split(loadDataset('iris'));

beforeAll(async () => {
  stack = await startStack({ workerEnv: { RESULT_RETENTION_SECONDS: '2', DATASET_RETENTION_SECONDS: '2', MAINTENANCE_INTERVAL_MS: '300' } });
});
afterAll(async () => {
  await stack?.close();
});

describe('retention', () => {
  it('results past retention are removed and the job says data_removed', async () => {
    const { client } = await stack.account();
    const fit = await client.post('/v1/models/fit', { features: jsonCells(iris.trainX), target: iris.trainY });
    await waitForJob(client, fit.body.job_id);
    const pred = await client.post(`/v1/models/${fit.body.model_id}/predict`, { features: jsonCells(iris.testX) });
    const done = await waitForJob(client, pred.body.job_id);
    expect(done.result.predictions).toHaveLength(iris.testX.length);
    let job = done;
    for (let i = 0; i < 100 && !job.data_removed; i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = (await client.get(`/v1/jobs/${pred.body.job_id}`)).body;
    }
    expect(job.status).toBe('succeeded');
    expect(job.data_removed).toBe(true);
    expect(job.result).toBeNull();
    const result = await client.get(`/v1/jobs/${pred.body.job_id}/result`);
    expect(result.body).toEqual({ job_id: pred.body.job_id, data_removed: true, result: null });
    const { rows } = await stack.api.ctx.pool.query(
      `SELECT kind, count(*) FILTER (WHERE x_bytes IS NOT NULL)::int AS kept FROM datasets GROUP BY kind ORDER BY kind`,
    );
    // Test data goes; the train set stays while its model exists (a re-fit needs it).
    expect(rows).toEqual([{ kind: 'test', kept: 0 }, { kind: 'train', kept: 1 }]);
  });
});
