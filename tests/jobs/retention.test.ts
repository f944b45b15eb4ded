import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jsonCells, loadDataset, split } from '../helpers/datasets.js';
import { type Stack, startStack, waitForJob } from '../helpers/stack.js';

let stack: Stack;
const iris = split(loadDataset('iris'));

beforeAll(async () => {
  stack = await startStack({
    workerEnv: { RESULT_RETENTION_SECONDS: '2', DATASET_RETENTION_SECONDS: '2', MAINTENANCE_INTERVAL_MS: '300' },
    apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
});
afterAll(async () => {
  await stack?.close();
});

describe('retention', () => {
  it('results past retention are removed and the job says data_removed', async () => {
    const { client } = await stack.account();
    const fit = await client.post('/v1/models/fit', { features: jsonCells(iris.trainX), target: iris.trainY });
    await waitForJob(client, fit.body.job_id);
    // The webhook body inlines the result; nobody listens there, so the delivery stays stored.
    const pred = await client.post(`/v1/models/${fit.body.model_id}/predict`, { features: jsonCells(iris.testX), webhook_url: 'http://127.0.0.1:9/hook' });
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
    // The copy inlined in the webhook delivery is gone too (it is listed and redelivered through the API).
    const deliveries = await client.get(`/v1/jobs/${pred.body.job_id}/webhook-deliveries`);
    expect(deliveries.body.data).toHaveLength(1);
    const { rows: stored } = await stack.api.ctx.pool.query(`SELECT jsonb_typeof(payload->'data'->'result') AS result FROM webhook_deliveries WHERE job_id = $1`, [pred.body.job_id]);
    expect(stored).toEqual([{ result: 'null' }]);
  });
});
