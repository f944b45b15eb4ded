import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { jsonCells, loadDataset, split, toCsv } from '../helpers/datasets.js';
import { OTHER_TOKEN, THIRD_TOKEN, VALID_TOKEN } from '../helpers/emulator.js';
import type { Json } from '../helpers/http.js';
import { type Stack, startStack, waitForJob } from '../helpers/stack.js';

let stack: Stack;
let sql: pg.Client;
let a: Awaited<ReturnType<Stack['account']>>;
let b: Awaited<ReturnType<Stack['account']>>;
let smallApi: TestApi;
const iris = split(loadDataset('iris'));
const irisHeader = loadDataset('iris').header;
const X = jsonCells(iris.trainX);
const Y = iris.trainY;
const T = jsonCells(iris.testX);

beforeAll(async () => {
  stack = await startStack({ workerEnv: { JOB_ATTEMPTS: '4' }, apiEnv: { JOB_ATTEMPTS: '4' } });
  sql = new pg.Client({ connectionString: stack.db.url });
  await sql.connect();
  a = await stack.account(VALID_TOKEN);
  b = await stack.account(OTHER_TOKEN);
  smallApi = await startTestApi({
    DATABASE_URL: stack.db.url,
    REDIS_URL: stack.redis.url,
    QUEUE_PREFIX: stack.redis.prefix,
    TABPFN_API_URL: stack.emulator.url,
    CSV_UPLOAD_LIMIT_BYTES: '2048',
    JSON_BODY_LIMIT: '1kb',
  });
});
afterAll(async () => {
  await smallApi?.close();
  await sql?.end();
  await stack?.close();
});

const jobCount = async () => (await sql.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n as number;
const counters = (token = VALID_TOKEN) => stack.emulator.state.counters(token);

async function fitIris(client = a.client, extra: Record<string, unknown> = {}) {
  const res = await client.post('/v1/models/fit', { features: X, target: Y, ...extra });
  expect(res.status).toBe(202);
  const job = await waitForJob(client, res.body.job_id);
  expect(job.status).toBe('succeeded');
  return res.body.model_id as string;
}

async function postCsv(apiUrl: string, key: string, path: string, csv: string, fields: Record<string, string>) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([csv], { type: 'text/csv' }), 'data.csv');
  const res = await fetch(`${apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  return { status: res.status, body: (await res.json()) as Json };
}

describe('validation before anything is queued', () => {
  let modelId: string;
  beforeAll(async () => {
    modelId = await fitIris();
  });

  it.each([
    ['feature count mismatch', () => `/v1/models/${modelId}/predict`, { features: [[1, 2, 3]] }, 'features'],
    ['wrong output type for the task', () => `/v1/models/${modelId}/predict`, { features: T, output_type: 'quantiles' }, 'output_type'],
    ['ragged rows', () => '/v1/models/fit', { features: [[1, 2], [3], [4, 5]], target: ['a', 'b', 'a'] }, 'features[1]'],
    ['empty dataset', () => '/v1/models/fit', { features: [], target: [] }, 'features'],
    ['missing target values', () => '/v1/models/fit', { features: [[1], [2], [3]], target: ['a', null, 'b'] }, 'target[1]'],
    ['target length mismatch', () => '/v1/models/fit', { features: [[1], [2], [3]], target: ['a', 'b'] }, 'target'],
    ['junk where a number must be', () => `/v1/models/${modelId}/predict`, { features: [[5.1, 'junk', 1.4, 0.2]] }, 'features[0][1]'],
    ['an object as a cell', () => '/v1/models/fit', { features: [[{ a: 1 }], [2]], target: ['a', 'b'] }, 'features[0][0]'],
    ['unknown config key', () => '/v1/models/fit', { features: X, target: Y, config: { n_estimatorz: 3 } }, 'config.n_estimatorz'],
    ['unknown model name', () => '/v1/models/fit', { features: X, target: Y, model: 'v9_nonexistent' }, 'model'],
    ['bad webhook url', () => '/v1/models/fit', { features: X, target: Y, webhook_url: 'ftp://example.com/x' }, 'webhook_url'],
  ])('%s → 422 naming the problem, no job row', async (_name, path, body, field) => {
    const before = await jobCount();
    const res = await a.client.post(path(), body);
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await jobCount()).toBe(before);
  });

  it('a CSV without the target column → 422 naming target_column, no job row', async () => {
    const before = await jobCount();
    const res = await postCsv(stack.api.url, a.api_key, '/v1/models/fit', toCsv(irisHeader, iris.train), { target_column: 'nope' });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe('target_column');
    expect(await jobCount()).toBe(before);
  });

  it('an oversized upload → 413, no job row', async () => {
    const before = await jobCount();
    const csv = await postCsv(smallApi.url, a.api_key, '/v1/models/fit', toCsv(irisHeader, iris.train), { target_column: 'species' });
    expect(csv.status).toBe(413);
    expect(csv.body.code).toBe('payload_too_large');
    const json = await fetch(`${smallApi.url}/v1/models/fit`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.api_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ features: X, target: Y }),
    });
    expect(json.status).toBe(413);
    expect(await jobCount()).toBe(before);
  });
});

describe('cancel', () => {
  it('a queued job is canceled at once', async () => {
    await stack.worker.stop('SIGTERM');
    try {
      const res = await a.client.post('/v1/models/fit', { features: X, target: Y, description: 'to cancel' });
      const canceled = await a.client.post(`/v1/jobs/${res.body.job_id}/cancel`);
      expect(canceled.status).toBe(200);
      expect(canceled.body.status).toBe('canceled');
    } finally {
      await stack.restartWorker();
    }
  });

  it('canceling a queued fit fails the predicts parked on it instead of leaving them waiting', async () => {
    await stack.worker.stop('SIGTERM');
    let fitJob: string;
    let predJob: string;
    try {
      const fit = await a.client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: 11 } });
      fitJob = fit.body.job_id;
      const pred = await a.client.post(`/v1/models/${fit.body.model_id}/predict`, { features: T.slice(0, 2) });
      predJob = pred.body.job_id;
      expect((await a.client.post(`/v1/jobs/${fitJob}/cancel`)).body.status).toBe('canceled');
      expect((await a.client.get(`/v1/models/${fit.body.model_id}`)).body.status).toBe('failed');
      const again = await a.client.post(`/v1/models/${fit.body.model_id}/predict`, { features: T.slice(0, 2) });
      expect(again.status).toBe(422);
      expect(again.body.code).toBe('model_fit_failed');
    } finally {
      await stack.restartWorker();
    }
    const done = await waitForJob(a.client, predJob!);
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('model_fit_failed');
  });

  it('a running job ends canceled and its upstream request is aborted', async () => {
    stack.emulator.state.setLatency({ fit: 60_000 });
    const abortedBefore = counters().aborted;
    try {
      const res = await a.client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: 7 } });
      for (let i = 0; i < 400; i++) {
        const job = await a.client.get(`/v1/jobs/${res.body.job_id}`);
        if (job.body.progress?.stage === 'fitting') break;
        await new Promise((r) => setTimeout(r, 25));
      }
      await new Promise((r) => setTimeout(r, 100));
      const cancel = await a.client.post(`/v1/jobs/${res.body.job_id}/cancel`);
      expect(cancel.status).toBe(200);
      const done = await waitForJob(a.client, res.body.job_id);
      expect(done.status).toBe('canceled');
      for (let i = 0; i < 100 && counters().aborted === abortedBefore; i++) await new Promise((r) => setTimeout(r, 20));
      expect(counters().aborted).toBeGreaterThan(abortedBefore);
    } finally {
      stack.emulator.state.setLatency({ fit: 0 });
    }
  });
});

describe('idempotency and Prefer: wait', () => {
  it('the same Idempotency-Key twice → one job; another body → 422', async () => {
    const before = await jobCount();
    const body = { features: X, target: Y, description: 'idem' };
    const first = await a.client.post('/v1/models/fit', body, { 'idempotency-key': 'key-1' });
    const second = await a.client.post('/v1/models/fit', body, { 'idempotency-key': 'key-1' });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body.job_id).toBe(first.body.job_id);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await jobCount()).toBe(before + 1);
    const other = await a.client.post('/v1/models/fit', { ...body, description: 'different' }, { 'idempotency-key': 'key-1' });
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('idempotency_key_reused');
    expect(await jobCount()).toBe(before + 1);
  });

  it('CSV uploads: the same file replays, a different file with the same key is refused', async () => {
    const rows = iris.train;
    const csv = toCsv(irisHeader, rows);
    const changed = toCsv(irisHeader, [rows[0]!, ...rows.slice(1, -1).reverse(), rows[rows.length - 1]!]);
    const send = (body: string) => {
      const form = new FormData();
      form.append('target_column', 'species');
      form.append('file', new Blob([body], { type: 'text/csv' }), 'iris.csv');
      return fetch(`${stack.api.url}/v1/models/fit`, { method: 'POST', headers: { authorization: `Bearer ${a.api_key}`, 'idempotency-key': 'csv-key' }, body: form });
    };
    const first = (await (await send(csv)).json()) as Json;
    const again = await send(csv);
    expect(again.status).toBe(202);
    expect(((await again.json()) as Json).job_id).toBe(first.job_id);
    const other = await send(changed);
    expect(other.status).toBe(422);
  });

  it('Prefer: wait=5 on a fast predict → 200 with the result; on a slow one → 202', async () => {
    const modelId = await fitIris();
    const fast = await a.client.post(`/v1/models/${modelId}/predict`, { features: T.slice(0, 5) }, { prefer: 'wait=5' });
    expect(fast.status).toBe(200);
    expect(fast.body.status).toBe('succeeded');
    expect(fast.body.result.predictions).toHaveLength(5);
    stack.emulator.state.setLatency({ predict: 4_000 });
    try {
      const slow = await a.client.post(`/v1/models/${modelId}/predict`, { features: T.slice(0, 6) }, { prefer: 'wait=1' });
      expect(slow.status).toBe(202);
      expect(['queued', 'running']).toContain(slow.body.status);
    } finally {
      stack.emulator.state.setLatency({ predict: 0 });
    }
  });
});

describe('reuse and recovery', () => {
  it('repeating an identical fit and predict does not call upstream again', async () => {
    const c = await stack.account(THIRD_TOKEN);
    const m1 = await fitIris(c.client);
    const p1 = await c.client.post(`/v1/models/${m1}/predict`, { features: T });
    expect((await waitForJob(c.client, p1.body.job_id)).status).toBe('succeeded');
    const before = counters(THIRD_TOKEN);
    const m2 = await fitIris(c.client);
    expect(m2).not.toBe(m1);
    const p2 = await c.client.post(`/v1/models/${m1}/predict`, { features: T });
    const again = await waitForJob(c.client, p2.body.job_id);
    expect(again.cached).toBe(true);
    expect(again.result).toEqual((await c.client.get(`/v1/jobs/${p1.body.job_id}`)).body.result);
    const after = counters(THIRD_TOKEN);
    expect(after.fits).toBe(before.fits);
    expect(after.predicts).toBe(before.predicts);
  });

  it('upstream forgets the train set → the next predict still succeeds by re-fitting', async () => {
    const modelId = await fitIris(a.client, { description: 'forgettable' });
    const fitted = (await sql.query('SELECT upstream_fitted_train_set_id AS id FROM models WHERE id = $1', [modelId])).rows[0].id;
    expect(stack.emulator.state.forgetFittedTrainSet(fitted)).toBe(1);
    const fitsBefore = counters().fits;
    const res = await a.client.post(`/v1/models/${modelId}/predict`, { features: T.slice(0, 7) });
    const done = await waitForJob(a.client, res.body.job_id);
    expect(done.status).toBe('succeeded');
    expect(done.result.predictions).toHaveLength(7);
    expect(counters().fits).toBe(fitsBefore + 1);
    const now = (await sql.query('SELECT upstream_fitted_train_set_id AS id FROM models WHERE id = $1', [modelId])).rows[0].id;
    expect(now).not.toBe(fitted);
  });

  it('predicts that find the same train set forgotten at once share one re-fit', async () => {
    const modelId = await fitIris(a.client, { description: 'forgettable too', config: { random_state: 31 } });
    const fitted = (await sql.query('SELECT upstream_fitted_train_set_id AS id FROM models WHERE id = $1', [modelId])).rows[0].id;
    expect(stack.emulator.state.forgetFittedTrainSet(fitted)).toBe(1);
    const fitsBefore = counters().fits;
    const ids = await Promise.all(Array.from({ length: 5 }, (_, i) => a.client.post(`/v1/models/${modelId}/predict`, { features: T.slice(i, i + 2) })));
    for (const r of ids) expect((await waitForJob(a.client, r.body.job_id)).status).toBe('succeeded');
    expect(counters().fits).toBe(fitsBefore + 1);
  });

  it('injected 503s that then stop → the job succeeds with attempts > 1', async () => {
    const modelId = await fitIris();
    stack.emulator.state.addFault({ route: 'predict', status: 503, count: 3, token: VALID_TOKEN });
    const res = await a.client.post(`/v1/models/${modelId}/predict`, { features: T.slice(0, 8) });
    const done = await waitForJob(a.client, res.body.job_id);
    expect(done.status).toBe('succeeded');
    expect(done.attempts).toBeGreaterThan(1);
  });

  it('an injected permanent 400 → job failed with upstream message', async () => {
    const modelId = await fitIris();
    stack.emulator.state.addFault({ route: 'predict', status: 400, count: 50, message: 'column 3 is cursed', token: VALID_TOKEN });
    try {
      const res = await a.client.post(`/v1/models/${modelId}/predict`, { features: T.slice(0, 9) });
      const done = await waitForJob(a.client, res.body.job_id);
      expect(done.status).toBe('failed');
      expect(done.error.retryable).toBe(false);
      expect(done.error.message).toContain('column 3 is cursed');
      expect(done.attempts).toBe(1);
    } finally {
      stack.emulator.state.clearFaults();
    }
  });

  it('a predict submitted while the model is fitting runs after the fit', async () => {
    stack.emulator.state.setLatency({ fit: 500 });
    try {
      const fit = await a.client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: 8 } });
      const pred = await a.client.post(`/v1/models/${fit.body.model_id}/predict`, { features: T.slice(0, 4) });
      expect(pred.status).toBe(202);
      const done = await waitForJob(a.client, pred.body.job_id);
      expect(done.status).toBe('succeeded');
      expect((await a.client.get(`/v1/jobs/${fit.body.job_id}`)).body.status).toBe('succeeded');
    } finally {
      stack.emulator.state.setLatency({ fit: 0 });
    }
  });
});

describe('ownership and secrecy', () => {
  it("account B gets 403 for A's model, job, result, cancel and delete; unknown ids are 404", async () => {
    const modelId = await fitIris();
    const pred = await a.client.post(`/v1/models/${modelId}/predict`, { features: T.slice(0, 3) });
    await waitForJob(a.client, pred.body.job_id);
    const job = pred.body.job_id;
    expect((await b.client.get(`/v1/models/${modelId}`)).status).toBe(403);
    expect((await b.client.post(`/v1/models/${modelId}/predict`, { features: T })).status).toBe(403);
    expect((await b.client.get(`/v1/jobs/${job}`)).status).toBe(403);
    expect((await b.client.get(`/v1/jobs/${job}/result`)).status).toBe(403);
    expect((await b.client.post(`/v1/jobs/${job}/cancel`)).status).toBe(403);
    expect((await b.client.delete(`/v1/models/${modelId}`)).status).toBe(403);
    expect((await b.client.get('/v1/jobs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await a.client.get(`/v1/models/${modelId}`)).status).toBe(200);
    const list = await b.client.get('/v1/jobs');
    expect(list.body.data.map((j: { job_id: string }) => j.job_id)).not.toContain(job);
  });

  it('lists jobs with filters and cursor pagination', async () => {
    const page1 = await a.client.get('/v1/jobs?type=fit&limit=2');
    expect(page1.body.data).toHaveLength(2);
    expect(page1.body.has_more).toBe(true);
    const page2 = await a.client.get(`/v1/jobs?type=fit&limit=2&cursor=${page1.body.next_cursor}`);
    const ids1 = page1.body.data.map((j: { job_id: string }) => j.job_id);
    for (const j of page2.body.data) {
      expect(ids1).not.toContain(j.job_id);
      expect(j.type).toBe('fit');
    }
    expect((await a.client.get('/v1/jobs?cursor=garbage')).status).toBe(422);
  });

  it('deleting a model removes it, its jobs, and the training and test data stored for them', async () => {
    const modelId = await fitIris(a.client, { description: 'to delete' });
    const pred = await a.client.post(`/v1/models/${modelId}/predict`, { features: T.slice(0, 2) });
    expect((await waitForJob(a.client, pred.body.job_id)).status).toBe('succeeded');
    const { rows: used } = await sql.query(
      `SELECT dataset_id AS id FROM models WHERE id = $1 UNION SELECT dataset_id FROM jobs WHERE model_id = $1`,
      [modelId],
    );
    const datasetIds = used.map((r) => r.id as string);
    expect(datasetIds.length).toBeGreaterThanOrEqual(2);
    expect((await a.client.delete(`/v1/models/${modelId}`)).status).toBe(204);
    expect((await a.client.get(`/v1/models/${modelId}`)).status).toBe(404);
    expect((await sql.query('SELECT count(*)::int AS n FROM jobs WHERE model_id = $1', [modelId])).rows[0].n).toBe(0);
    expect((await sql.query('SELECT count(*)::int AS n FROM datasets WHERE id = ANY($1::uuid[])', [datasetIds])).rows[0].n).toBe(0);
  });

  it('no Redis key holds a dataset or a token', async () => {
    const redis = new Redis(stack.redis.url);
    try {
      let cursor = '0';
      let dump = '';
      let keys = 0;
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', `${stack.redis.prefix}*`, 'COUNT', 500);
        cursor = next;
        for (const key of batch) {
          keys++;
          const type = await redis.type(key);
          if (type === 'string') dump += await redis.get(key);
          else if (type === 'hash') dump += JSON.stringify(await redis.hgetall(key));
          else if (type === 'list') dump += JSON.stringify(await redis.lrange(key, 0, -1));
          else if (type === 'set') dump += JSON.stringify(await redis.smembers(key));
          else if (type === 'zset') dump += JSON.stringify(await redis.zrange(key, 0, -1));
          else if (type === 'stream') dump += JSON.stringify(await redis.xrange(key, '-', '+'));
        }
      } while (cursor !== '0');
      expect(keys).toBeGreaterThan(5);
      expect(dump).toContain('jobId');
      for (const secret of [VALID_TOKEN, OTHER_TOKEN, THIRD_TOKEN, a.api_key, b.api_key, 'setosa', 'versicolor', '5.1']) {
        expect(dump).not.toContain(secret);
      }
    } finally {
      redis.disconnect();
    }
  });
});
