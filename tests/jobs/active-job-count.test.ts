import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { jsonCells, loadDataset, split } from '../helpers/datasets.js';
import { OTHER_TOKEN, THIRD_TOKEN, VALID_TOKEN } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { type Stack, startStack, waitForJob } from '../helpers/stack.js';

/**
 * The in-flight cap reads each account's count of queued and running jobs from account_job_counts,
 * kept by a trigger on jobs. These tests move jobs through every way in and out of "active" (submit,
 * run, finish, cancel, model deletion, account deletion, races between them) and check the count
 * against the jobs themselves each time.
 */
const iris = split(loadDataset('iris'));
const X = jsonCells(iris.trainX);
const T = jsonCells(iris.testX);

let stack: Stack;
let idle: TestApi;
let sql: pg.Client;

beforeAll(async () => {
  // Upstream's per-token limits are not what these tests are about (one account runs 75 predicts).
  stack = await startStack({ workerEnv: { RECONCILE_MIN_AGE_SECONDS: '3600', UPSTREAM_LIMITS: 'fit:1000/1m,predict:1000/1m,upload:1000/1m' } });
  // Same database, a queue no worker reads: its jobs stay queued.
  idle = await startTestApi({
    DATABASE_URL: stack.db.url,
    REDIS_URL: stack.redis.url,
    QUEUE_PREFIX: `${stack.redis.prefix}idle`,
    TABPFN_API_URL: stack.emulator.url,
    RATE_LIMIT_PER_MINUTE: '100000',
  });
  sql = new pg.Client({ connectionString: stack.db.url });
  await sql.connect();
});
afterAll(async () => {
  await sql?.end();
  await idle?.close();
  await stack?.close();
});

/** Every account's kept count next to its jobs counted now. */
async function counts(): Promise<{ user_id: string; kept: number; actual: number }[]> {
  const { rows } = await sql.query(
    `SELECT u.id AS user_id, COALESCE(c.active, 0) AS kept,
            (SELECT count(*)::int FROM jobs j WHERE j.user_id = u.id AND j.status IN ('queued', 'running')) AS actual
     FROM users u LEFT JOIN account_job_counts c ON c.user_id = u.id ORDER BY u.id`,
  );
  return rows;
}
async function expectExact(userId: string, active: number): Promise<void> {
  const all = await counts();
  expect(all.filter((r) => r.kept !== r.actual)).toEqual([]);
  expect(all.find((r) => r.user_id === userId)?.actual ?? 0).toBe(active);
}
/** A 500 fails the test; its cause is in the api's log, printed with it. */
function explain500s(statuses: number[], api: TestApi = idle): void {
  if (statuses.includes(500)) console.log(api.logs.lines.filter((l) => /"level":"(error|warn)"/.test(l)).join('\n'));
}
const predictBody = (i: number) => ({ features: [T[i % T.length]!.map((v) => (typeof v === 'number' ? v + i * 1e-6 : v))] });

describe('active job count', () => {
  it('follows submit, run, finish, cancel, model deletion and account deletion', async () => {
    const account = await stack.account(VALID_TOKEN);
    const fit = await account.client.post('/v1/models/fit', { features: X, target: iris.trainY });
    expect((await waitForJob(account.client, fit.body.job_id)).status).toBe('succeeded');
    const ran = await account.client.post(`/v1/models/${fit.body.model_id}/predict`, predictBody(0));
    expect((await waitForJob(account.client, ran.body.job_id)).status).toBe('succeeded');
    await expectExact(account.user_id, 0);

    const client = request(idle.url, account.api_key);
    const queued: string[] = [];
    for (let i = 0; i < 6; i++) queued.push((await client.post(`/v1/models/${fit.body.model_id}/predict`, predictBody(i + 1))).body.job_id);
    await expectExact(account.user_id, 6);

    for (const id of queued.slice(0, 2)) expect((await client.post(`/v1/jobs/${id}/cancel`)).body.status).toBe('canceled');
    await expectExact(account.user_id, 4);
    // As the worker moves a job: queued → running (still active), then running → failed.
    await sql.query(`UPDATE jobs SET status = 'running' WHERE id = $1`, [queued[2]]);
    await expectExact(account.user_id, 4);
    await sql.query(`UPDATE jobs SET status = 'failed', finished_at = now() WHERE id = $1`, [queued[2]]);
    await expectExact(account.user_id, 3);

    // Deleting the model takes its queued predicts with it.
    expect((await client.delete(`/v1/models/${fit.body.model_id}`)).status).toBe(204);
    await expectExact(account.user_id, 0);

    const again = await account.client.post('/v1/models/fit', { features: X, target: iris.trainY, config: { random_state: 1 } });
    await client.post(`/v1/models/fit`, { features: X, target: iris.trainY, config: { random_state: 2 } });
    expect((await waitForJob(account.client, again.body.job_id)).status).toBe('succeeded');
    expect((await account.client.delete('/v1/me')).status).toBe(204);
    const { rows } = await sql.query('SELECT * FROM account_job_counts WHERE user_id = $1', [account.user_id]);
    expect(rows).toEqual([]);
    await expectExact(account.user_id, 0);
  });

  it('predicts racing their model\'s deletion get 202 or 404, never 500, and the count stays exact', async () => {
    const account = await stack.account(OTHER_TOKEN);
    const fit = await account.client.post('/v1/models/fit', { features: X, target: iris.trainY, config: { random_state: 3 } });
    expect((await waitForJob(account.client, fit.body.job_id)).status).toBe('succeeded');
    const client = request(idle.url, account.api_key);
    const path = `/v1/models/${fit.body.model_id}/predict`;
    const answers = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => client.post(path, predictBody(i))),
      client.delete(`/v1/models/${fit.body.model_id}`),
      ...Array.from({ length: 20 }, (_, i) => client.post(path, predictBody(20 + i))),
    ]);
    const statuses = answers.map((r) => r.status);
    explain500s(statuses);
    expect(statuses.filter((s) => ![202, 204, 404].includes(s))).toEqual([]);
    expect(statuses).toContain(204);
    await expectExact(account.user_id, 0);
  });

  it('submits racing their account\'s deletion get 202, 401 or 404 (the model went with it), never 500, and leave no count behind', async () => {
    const account = await stack.account(THIRD_TOKEN);
    const fit = await account.client.post('/v1/models/fit', { features: X, target: iris.trainY, config: { random_state: 4 } });
    expect((await waitForJob(account.client, fit.body.job_id)).status).toBe('succeeded');
    const client = request(idle.url, account.api_key);
    const path = `/v1/models/${fit.body.model_id}/predict`;
    const answers = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => client.post(path, predictBody(i))),
      account.client.delete('/v1/me'),
      ...Array.from({ length: 20 }, (_, i) => client.post(path, predictBody(20 + i))),
    ]);
    const statuses = answers.map((r) => r.status);
    explain500s(statuses);
    expect(statuses.filter((s) => ![202, 204, 401, 404].includes(s))).toEqual([]);
    const { rows } = await sql.query('SELECT * FROM account_job_counts WHERE user_id = $1', [account.user_id]);
    expect(rows).toEqual([]);
    expect((await counts()).filter((r) => r.kept !== r.actual)).toEqual([]);
  });

  it('predicts parked on a fit that ends meanwhile all get 202 (the fit\'s end and their submits lock in one order)', async () => {
    const account = await stack.account(VALID_TOKEN);
    for (let round = 0; round < 3; round++) {
      const fit = await account.client.post('/v1/models/fit', { features: X, target: iris.trainY, config: { random_state: 10 + round } });
      expect(fit.status).toBe(202);
      const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => account.client.post(`/v1/models/${fit.body.model_id}/predict`, predictBody(i))));
      const statuses = answers.map((r) => r.status);
      explain500s(statuses, stack.api);
      expect(statuses.filter((s) => s !== 202)).toEqual([]);
      for (const a of answers) expect((await waitForJob(account.client, a.body.job_id)).status).toBe('succeeded');
    }
    await expectExact(account.user_id, 0);
  });
});
