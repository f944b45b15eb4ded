import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { createJobRepository } from '@tabpfn-jobs/shared/repositories';
import { createReconciler } from '@tabpfn-jobs/worker';
import { jsonCells, loadDataset, split } from '../helpers/datasets.js';
import { VALID_TOKEN } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { startApiStack } from '../helpers/stack.js';

const iris = split(loadDataset('iris'));
const X = jsonCells(iris.trainX);

let stack: Awaited<ReturnType<typeof startApiStack>>;

beforeAll(async () => {
  // No worker: submitted jobs stay queued, in Postgres and in BullMQ.
  stack = await startApiStack({ RATE_LIMIT_PER_MINUTE: '100000' });
});
afterAll(async () => {
  await stack?.close();
});

describe('reconciler', () => {
  it('pages past a backlog that is fine in Redis to the jobs Redis lost, and leaves parked predicts alone', async () => {
    const setup = await request(stack.api.url).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN });
    const client = request(stack.api.url, setup.body.api_key);
    const fits: { job_id: string; model_id: string }[] = [];
    for (let i = 0; i < 4; i++) fits.push((await client.post('/v1/models/fit', { features: X, target: iris.trainY, config: { random_state: i } })).body);
    const parked = (await client.post(`/v1/models/${fits[0]!.model_id}/predict`, { features: X.slice(0, 1) })).body.job_id as string;
    // The two newest fits vanish from Redis (as after a flush); the two oldest still wait there.
    for (const f of fits.slice(2)) await stack.api.ctx.queues.fit.remove(f.job_id);
    await new Promise((r) => setTimeout(r, 1_100));

    const jobs = createJobRepository(stack.api.ctx.pool);
    const listed = await jobs.listStaleActive(1, 100);
    expect(listed.map((j) => j.id)).not.toContain(parked);
    const reconcile = createReconciler({ jobs, lifecycle: stack.api.ctx.lifecycle, logger: createLogger({ name: 'test', level: 'silent' }), minAgeSeconds: 1, batchSize: 2 });
    expect(await reconcile()).toEqual({ checked: 2, enqueued: 0 });
    expect(await reconcile()).toEqual({ checked: 2, enqueued: 2 });
    for (const f of fits) expect(await stack.api.ctx.queues.fit.getJob(f.job_id)).toBeTruthy();
  });
});
