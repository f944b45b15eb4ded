import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { jsonCells, loadDataset, split } from '../helpers/datasets.js';
import { OTHER_TOKEN, THIRD_TOKEN, VALID_TOKEN } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { type Stack, startStack, waitForJob } from '../helpers/stack.js';

const iris = split(loadDataset('iris'));
const X = jsonCells(iris.trainX);
const T = jsonCells(iris.testX);

let stack: Stack;
let capped: TestApi;
let sql: pg.Client;

beforeAll(async () => {
  // The worker's reconciler would otherwise move the idle queue's jobs to its own and run them.
  stack = await startStack({ workerEnv: { RECONCILE_MIN_AGE_SECONDS: '3600' } });
  // Same database, but a queue no worker reads: accepted jobs stay queued, i.e. in flight.
  capped = await startTestApi({
    DATABASE_URL: stack.db.url,
    REDIS_URL: stack.redis.url,
    QUEUE_PREFIX: `${stack.redis.prefix}idle`,
    TABPFN_API_URL: stack.emulator.url,
    MAX_INFLIGHT_JOBS: '5',
    RATE_LIMIT_PER_MINUTE: '100000',
  });
  sql = new pg.Client({ connectionString: stack.db.url });
  await sql.connect();
});
afterAll(async () => {
  await sql?.end();
  await capped?.close();
  await stack?.close();
});

describe('in-flight job cap', () => {
  it('a burst of concurrent submits is held to the cap exactly, the rest get 429 naming it', async () => {
    const account = await stack.account(THIRD_TOKEN);
    const fit = await account.client.post('/v1/models/fit', { features: X, target: iris.trainY });
    expect((await waitForJob(account.client, fit.body.job_id)).status).toBe('succeeded');

    const client = request(capped.url, account.api_key);
    const burst = await Promise.all(
      Array.from({ length: 24 }, (_, i) => client.post(`/v1/models/${fit.body.model_id}/predict`, { features: [T[i % T.length]!.map((v) => (typeof v === 'number' ? v + i * 1e-6 : v))] })),
    );
    const other = burst.filter((r) => r.status !== 202 && r.status !== 429).map((r) => r.text);
    expect(other).toEqual([]);
    expect(burst.filter((r) => r.status === 202).length).toBe(5);
    const refused = burst.filter((r) => r.status === 429);
    expect(refused.length).toBe(19);
    expect(refused[0]!.body.code).toBe('too_many_inflight_jobs');
    expect(refused[0]!.headers.get('retry-after')).toBeTruthy();

    const fits = await Promise.all(Array.from({ length: 4 }, (_, i) => client.post('/v1/models/fit', { features: X, target: iris.trainY, config: { random_state: i } })));
    expect(fits.map((r) => r.status)).toEqual([429, 429, 429, 429]);

    const { rows } = await sql.query(`SELECT count(*)::int AS n FROM jobs WHERE user_id = $1 AND status IN ('queued', 'running')`, [account.user_id]);
    expect(rows[0].n).toBe(5);
  });

  it('a retry with the same Idempotency-Key gets its first answer even once the cap is full (JSON and CSV)', async () => {
    const account = await stack.account(VALID_TOKEN);
    const fit = await account.client.post('/v1/models/fit', { features: X, target: iris.trainY, config: { random_state: 5 } });
    expect((await waitForJob(account.client, fit.body.job_id)).status).toBe('succeeded');
    const client = request(capped.url, account.api_key);
    const body = (i: number) => ({ features: [T[i]!] });
    // A CSV upload's body is read after the checks a new request meets (the cap): a repeat must still replay.
    const upload = async (key: string) => {
      const form = new FormData();
      form.append('file', new Blob([`0,1,2,3\n${T[0]!.join(',')}\n`], { type: 'text/csv' }), 'x.csv');
      const res = await fetch(`${capped.url}/v1/models/${fit.body.model_id}/predict`, {
        method: 'POST',
        headers: { authorization: `Bearer ${account.api_key}`, 'idempotency-key': key },
        body: form,
      });
      return { status: res.status, replayed: res.headers.get('idempotent-replayed'), body: (await res.json()) as { job_id: string } };
    };
    const csvFirst = await upload('k0');
    expect(csvFirst.status).toBe(202);
    const first: string[] = [csvFirst.body.job_id];
    for (let i = 1; i < 5; i++) {
      const res = await client.post(`/v1/models/${fit.body.model_id}/predict`, body(i), { 'idempotency-key': `k${i}` });
      expect(res.status).toBe(202);
      first.push(res.body.job_id);
    }
    expect((await client.post(`/v1/models/${fit.body.model_id}/predict`, body(5), { 'idempotency-key': 'k5' })).status).toBe(429);
    expect((await upload('k6')).status).toBe(429);
    const retry = await client.post(`/v1/models/${fit.body.model_id}/predict`, body(1), { 'idempotency-key': 'k1' });
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body.job_id).toBe(first[1]);
    expect(await upload('k0')).toMatchObject({ status: 202, replayed: 'true', body: { job_id: first[0] } });
  });

  it('a burst far larger than the cap, starting from none in flight, still stops at the cap', async () => {
    const wide = await startTestApi({
      DATABASE_URL: stack.db.url,
      REDIS_URL: stack.redis.url,
      QUEUE_PREFIX: `${stack.redis.prefix}idle`,
      TABPFN_API_URL: stack.emulator.url,
      MAX_INFLIGHT_JOBS: '70',
      RATE_LIMIT_PER_MINUTE: '100000',
    });
    try {
      const account = await stack.account(OTHER_TOKEN);
      const fit = await account.client.post('/v1/models/fit', { features: X, target: iris.trainY, config: { random_state: 6 } });
      expect((await waitForJob(account.client, fit.body.job_id)).status).toBe('succeeded');
      const client = request(wide.url, account.api_key);
      const burst = await Promise.all(
        Array.from({ length: 110 }, (_, i) => client.post(`/v1/models/${fit.body.model_id}/predict`, { features: [T[i % T.length]!.map((v) => (typeof v === 'number' ? v + i * 1e-6 : v))] })),
      );
      const statuses: Record<number, number> = {};
      for (const r of burst) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      expect({ statuses, other: burst.filter((r) => r.status !== 202 && r.status !== 429).map((r) => r.text) }).toEqual({ statuses: { 202: 70, 429: 40 }, other: [] });
    } finally {
      await wide.close();
    }
  });
});
