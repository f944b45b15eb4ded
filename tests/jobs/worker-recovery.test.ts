import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { crc32cBase64 } from '@tabpfn-jobs/tabpfn';
import { jsonCells, loadDataset, split } from '../helpers/datasets.js';
import { OTHER_TOKEN, THIRD_TOKEN, VALID_TOKEN } from '../helpers/emulator.js';
import { type Stack, startStack, waitForJob } from '../helpers/stack.js';

const iris = split(loadDataset('iris'));
const X = jsonCells(iris.trainX);
const Y = iris.trainY;
const T = jsonCells(iris.testX);

let stack: Stack;
let sql: pg.Client;

beforeAll(async () => {
  stack = await startStack({ workerEnv: { JOB_ATTEMPTS: '2' }, apiEnv: { JOB_ATTEMPTS: '2' } });
  sql = new pg.Client({ connectionString: stack.db.url });
  await sql.connect();
});
afterAll(async () => {
  await sql?.end();
  await stack?.close();
});

describe('the predict payload', () => {
  it('names the job\'s model, account and test set; one added by an older version (its job id alone) still runs', async () => {
    const { client, user_id } = await stack.account(VALID_TOKEN);
    const fit = (await client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: 22 } })).body;
    expect((await waitForJob(client, fit.job_id)).status).toBe('succeeded');
    const queue = stack.api.ctx.queues.predict;
    await stack.worker.stop('SIGTERM');
    let jobId: string;
    try {
      jobId = (await client.post(`/v1/models/${fit.model_id}/predict`, { features: T.slice(0, 3) })).body.job_id;
      const { rows } = await sql.query<{ dataset_id: string; x_bytes: Buffer }>(
        'SELECT j.dataset_id, d.x_bytes FROM jobs j JOIN datasets d ON d.id = j.dataset_id WHERE j.id = $1',
        [jobId],
      );
      const { dataset_id: datasetId, x_bytes: x } = rows[0]!;
      // The test set as upstream's first request describes it: the very bytes the worker will send.
      const testSet = { sizeBytes: x.byteLength, crc32c: crc32cBase64(x) };
      expect((await queue.getJob(jobId))?.data).toEqual({ jobId, modelId: fit.model_id, userId: user_id, datasetId, testSet });
      await queue.remove(jobId);
      await queue.add('predict', { jobId }, { jobId });
    } finally {
      await stack.restartWorker();
    }
    const done = await waitForJob(client, jobId);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(done.result.predictions).toHaveLength(3);
  });
});

describe('the first upstream request sent ahead of the reads', () => {
  /** The fitted sets this account's prepares and predicts named, in order, from the emulator's record. */
  const upstreamCalls = (token: string, since: number) =>
    stack.emulator.state.requests
      .filter((r) => r.atMs >= since && r.token === token && (r.route === 'prepare_test_set_upload' || r.route === 'predict'))
      .map((r) => `${r.route} ${(r.body as { fitted_train_set_id: string }).fitted_train_set_id}`);

  it('goes out on what the model\'s last job showed; a guess gone stale (a re-fitted set) costs one prepare, not the answer', async () => {
    const { client } = await stack.account(THIRD_TOKEN);
    const fitted = async (randomState: number) => {
      const fit = (await client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: randomState } })).body;
      expect((await waitForJob(client, fit.job_id)).status).toBe('succeeded');
      const { rows } = await sql.query<{ set: string }>('SELECT upstream_fitted_train_set_id AS set FROM models WHERE id = $1', [fit.model_id]);
      return { modelId: fit.model_id as string, set: rows[0]!.set };
    };
    const a = await fitted(31);
    const b = await fitted(32);
    const predict = async (rows: unknown[][], modelId = a.modelId) => {
      const from = Date.now();
      const done = await waitForJob(client, (await client.post(`/v1/models/${modelId}/predict`, { features: rows })).body.job_id);
      expect(done.status).toBe('succeeded');
      return { predictions: done.result.predictions as unknown[], calls: upstreamCalls(THIRD_TOKEN, from) };
    };
    // The worker learns the model's set from this job's reads.
    expect((await predict(T.slice(0, 4))).calls).toEqual([`prepare_test_set_upload ${a.set}`, `predict ${a.set}`]);

    // As if upstream had forgotten the set and a re-fit had replaced it: the guess still names the old one.
    await sql.query('UPDATE models SET upstream_fitted_train_set_id = $2 WHERE id = $1', [a.modelId, b.set]);
    const stale = await predict(T.slice(4, 9));
    expect(stale.calls).toEqual([`prepare_test_set_upload ${a.set}`, `prepare_test_set_upload ${b.set}`, `predict ${b.set}`]);

    // The same rows on the model that owns that set (never seen by the worker: no guess) answer alike.
    const unguessed = await predict(T.slice(4, 9), b.modelId);
    expect(unguessed.calls).toEqual([`prepare_test_set_upload ${b.set}`, `predict ${b.set}`]);
    expect(stale.predictions).toEqual(unguessed.predictions);

    // Learned again: one prepare, on the right set.
    expect((await predict(T.slice(9, 14))).calls).toEqual([`prepare_test_set_upload ${b.set}`, `predict ${b.set}`]);
  });

  it('made with a token the account has since replaced, is not used: the job runs under the new token alone', async () => {
    const [before, after] = ['tok-valid-rotate-before-eeeeeee', 'tok-valid-rotate-after-fffffff'];
    for (const t of [before, after]) stack.emulator.state.validTokens.add(t);
    const { client } = await stack.account(before);
    const fit = (await client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: 33 } })).body;
    expect((await waitForJob(client, fit.job_id)).status).toBe('succeeded');
    const predict = async (rows: unknown[][]) => {
      const since = Date.now();
      const done = await waitForJob(client, (await client.post(`/v1/models/${fit.model_id}/predict`, { features: rows })).body.job_id);
      const calls = stack.emulator.state.requests.filter((r) => r.atMs >= since && r.route !== 'get_settings').map((r) => `${r.route} ${r.token === before ? 'before' : r.token === after ? 'after' : r.token}`);
      return { done, calls };
    };
    expect((await predict(T.slice(0, 3))).done.status).toBe('succeeded');

    expect((await client.put('/v1/auth/tabpfn-token', { tabpfn_token: after })).status).toBe(204);
    const { done, calls } = await predict(T.slice(3, 6));
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1 });
    // The guess went out under the old token; everything after it under the new one (which owns no
    // fitted set yet: upstream answers 404, and the job re-fits under the new token, then predicts).
    expect(calls[0]).toBe('prepare_test_set_upload before');
    expect(calls.slice(1).every((c) => c.endsWith(' after'))).toBe(true);
    expect(calls).toContain('predict after');
  });
});

describe('jobs that end before their upstream call', () => {
  it('a fit whose cancel arrived while no worker held it ends canceled, fails its model and the predicts parked on it', async () => {
    const { client } = await stack.account(VALID_TOKEN);
    await stack.worker.stop('SIGTERM');
    let fit: { job_id: string; model_id: string };
    let predict: string;
    try {
      fit = (await client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: 21 } })).body;
      predict = (await client.post(`/v1/models/${fit.model_id}/predict`, { features: T.slice(0, 2) })).body.job_id;
      // As if an earlier attempt had started it and it now waits for a retry in the queue.
      await sql.query(`UPDATE jobs SET status = 'running', started_at = now() WHERE id = $1`, [fit.job_id]);
      const cancel = await client.post(`/v1/jobs/${fit.job_id}/cancel`);
      expect(cancel.body.status).toBe('running');
    } finally {
      await stack.restartWorker();
    }
    expect((await waitForJob(client, fit.job_id)).status).toBe('canceled');
    expect((await client.get(`/v1/models/${fit.model_id}`)).body.status).toBe('failed');
    const parked = await waitForJob(client, predict);
    expect(parked.status).toBe('failed');
    expect(parked.error.code).toBe('model_fit_failed');
  });

  it('a job whose token cannot be decrypted fails after its attempts instead of being re-queued forever', async () => {
    const good = await stack.account(VALID_TOKEN);
    expect((await waitForJob(good.client, (await good.client.post('/v1/models/fit', { features: X, target: Y })).body.job_id)).status).toBe('succeeded');
    const broken = await stack.account(OTHER_TOKEN);
    // The key it was encrypted with is no longer in ENCRYPTION_KEYS.
    await sql.query(`UPDATE users SET tabpfn_token_ciphertext = 'retired:' || split_part(tabpfn_token_ciphertext, ':', 2) WHERE id = $1`, [broken.user_id]);
    const fit = await broken.client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: 22 } });
    expect(fit.status).toBe(202);
    const done = await waitForJob(broken.client, fit.body.job_id, 30_000);
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('retries_exhausted');
    expect(done.error.message).toContain('after 2 attempts');
    expect((await broken.client.get(`/v1/models/${fit.body.model_id}`)).body.status).toBe('failed');
    // The error is logged as a bug, and the log does not carry the token.
    expect(stack.worker.output.some((l) => l.includes('"level":"error"') && l.includes(fit.body.job_id))).toBe(true);
  });

  it('a cancel whose broadcast never arrived still stops the job from ending succeeded', async () => {
    const { client } = await stack.account(VALID_TOKEN);
    const fit = await client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: 23 } });
    expect((await waitForJob(client, fit.body.job_id)).status).toBe('succeeded');
    stack.emulator.state.setLatency({ predict: 1_500 });
    try {
      const job = (await client.post(`/v1/models/${fit.body.model_id}/predict`, { features: T.slice(0, 2) })).body.job_id as string;
      for (let i = 0; i < 200 && (await client.get(`/v1/jobs/${job}`)).body.progress?.stage !== 'predicting'; i++) await new Promise((r) => setTimeout(r, 20));
      // What POST /cancel writes, without the Redis broadcast that would abort the call.
      await sql.query('UPDATE jobs SET cancel_requested_at = now() WHERE id = $1', [job]);
      const done = await waitForJob(client, job);
      expect(done.status).toBe('canceled');
      expect((await client.get(`/v1/jobs/${job}/result`)).status).toBe(409);
    } finally {
      stack.emulator.state.setLatency({ predict: 0 });
    }
  });

  it('deleting an account stops its running upstream calls', async () => {
    const { client } = await stack.account(VALID_TOKEN);
    const fit = await client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: 24 } });
    expect((await waitForJob(client, fit.body.job_id)).status).toBe('succeeded');
    const abortedBefore = stack.emulator.state.counters(VALID_TOKEN).aborted;
    stack.emulator.state.setLatency({ predict: 30_000 });
    try {
      const job = (await client.post(`/v1/models/${fit.body.model_id}/predict`, { features: T.slice(0, 2) })).body.job_id as string;
      for (let i = 0; i < 200 && (await client.get(`/v1/jobs/${job}`)).body.progress?.stage !== 'predicting'; i++) await new Promise((r) => setTimeout(r, 20));
      expect((await client.delete('/v1/me')).status).toBe(204);
      for (let i = 0; i < 200 && stack.emulator.state.counters(VALID_TOKEN).aborted === abortedBefore; i++) await new Promise((r) => setTimeout(r, 20));
      expect(stack.emulator.state.counters(VALID_TOKEN).aborted).toBeGreaterThan(abortedBefore);
      expect((await sql.query('SELECT count(*)::int AS n FROM jobs WHERE id = $1', [job])).rows[0].n).toBe(0);
    } finally {
      stack.emulator.state.setLatency({ predict: 0 });
    }
  });

  it('requests racing the deletion of their account get 401 or their answer, never 500', async () => {
    const statuses = new Set<number>();
    for (let round = 0; round < 3; round++) {
      const { client } = await stack.account(THIRD_TOKEN);
      const racing = [
        ...Array.from({ length: 8 }, (_, i) => client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: 100 + round * 10 + i } })),
        ...Array.from({ length: 4 }, () => client.post('/v1/auth/keys', {})),
      ];
      const deleted = client.delete('/v1/me');
      for (const r of await Promise.all(racing)) statuses.add(r.status);
      const del = await deleted;
      expect(del.status).toBe(204);
    }
    expect([...statuses].filter((s) => ![201, 202, 401].includes(s))).toEqual([]);
  });
});
