import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { generateApiKey } from '@tabpfn-jobs/shared/crypto';
import { type TestApi, startTestApi } from '../../../../tests/helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../../../../tests/helpers/database.js';
import { DEAD_UPSTREAM } from '../../../../tests/helpers/emulator.js';
import { request } from '../../../../tests/helpers/http.js';
import { type TestRedis, createTestRedis } from '../../../../tests/helpers/redis.js';

// GET /v1/jobs/{id}/result against the real api and Postgres; jobs and chunks are written in SQL as
// the worker leaves them (no worker, no upstream).

let db: TestDatabase;
let redis: TestRedis;
let api: TestApi;
let sql: pg.Client;
let userId: string;
let modelId: string;
let apiKey: string;
let client: ReturnType<typeof request>;

beforeAll(async () => {
  redis = createTestRedis();
  db = await createTestDatabase();
  api = await startTestApi({ DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, TABPFN_API_URL: DEAD_UPSTREAM });
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  userId = (
    await sql.query<{ id: string }>(
      `INSERT INTO users (tabpfn_token_ciphertext, tabpfn_token_digest) VALUES ('k1:unused', $1) RETURNING id`,
      [randomBytes(32)],
    )
  ).rows[0]!.id;
  const key = generateApiKey();
  await sql.query('INSERT INTO api_keys (user_id, digest, prefix) VALUES ($1, $2, $3)', [userId, key.digest, key.prefix]);
  modelId = (
    await sql.query<{ id: string }>(
      `INSERT INTO models (user_id, task, fit_key, n_samples, n_features, feature_names, feature_types, status, classes)
       VALUES ($1, 'classification', $2, 10, 2, '["a","b"]', '["number","number"]', 'ready', '["x","y"]') RETURNING id`,
      [userId, randomBytes(8).toString('hex')],
    )
  ).rows[0]!.id;
  apiKey = key.key;
  client = request(api.url, apiKey);
});

afterAll(async () => {
  await sql?.end();
  await api?.close();
  await redis?.cleanup();
  await db?.drop();
});

interface JobFixture {
  type?: 'fit' | 'predict';
  status: 'succeeded' | 'failed' | 'canceled';
  result?: unknown;
  chunked?: boolean;
  nRows: number;
  removed?: boolean;
  chunks?: [number, number, unknown][];
}

async function insertJob(f: JobFixture): Promise<string> {
  const { rows } = await sql.query<{ id: string }>(
    `INSERT INTO jobs (user_id, type, status, model_id, result, result_chunked, n_rows, error, started_at, finished_at, result_removed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), now(), CASE WHEN $9 THEN now() END) RETURNING id`,
    [
      userId,
      f.type ?? 'predict',
      f.status,
      modelId,
      f.result === undefined ? null : JSON.stringify(f.result),
      f.chunked ?? false,
      f.nRows,
      f.status === 'succeeded' ? null : JSON.stringify({ code: 'upstream_error', message: 'rows 2–3 failed', retryable: false }),
      f.removed ?? false,
    ],
  );
  const id = rows[0]!.id;
  for (const [start, end, prediction] of f.chunks ?? []) {
    await sql.query('INSERT INTO predict_chunks (job_id, row_start, row_end, prediction) VALUES ($1, $2, $3, $4)', [
      id,
      start,
      end,
      JSON.stringify(prediction),
    ]);
  }
  return id;
}

const ndjson = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('GET /v1/jobs/{id}/result', () => {
  const probas = {
    output_type: 'probas',
    classes: ['x', 'y'],
    probabilities: [
      [0.9, 0.1],
      [0.2, 0.8],
      [0.6, 0.4],
    ],
    predictions: ['x', 'y', 'x'],
  };

  it('an inline result: JSON as stored, NDJSON and CSV rows, Content-Type per format; other types → 406 naming the three', async () => {
    const id = await insertJob({ status: 'succeeded', result: probas, nRows: 3 });
    const asJson = await client.get(`/v1/jobs/${id}/result`);
    expect(asJson.status).toBe(200);
    expect(asJson.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(asJson.body).toEqual(probas);

    const lines = await client.get(`/v1/jobs/${id}/result`, { accept: 'application/x-ndjson' });
    expect(lines.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect(ndjson(lines.text)).toEqual([
      { row: 0, prediction: 'x', probabilities: [0.9, 0.1] },
      { row: 1, prediction: 'y', probabilities: [0.2, 0.8] },
      { row: 2, prediction: 'x', probabilities: [0.6, 0.4] },
    ]);

    const csv = await client.get(`/v1/jobs/${id}/result`, { accept: 'text/csv' });
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.text).toBe('prediction,p_x,p_y\nx,0.9,0.1\ny,0.2,0.8\nx,0.6,0.4\n');

    const head = await fetch(`${api.url}/v1/jobs/${id}/result`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${apiKey}`, accept: 'text/csv' },
    });
    expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([200, 'text/csv; charset=utf-8', '']);

    const refused = await client.get(`/v1/jobs/${id}/result`, { accept: 'application/xml' });
    expect(refused.status).toBe(406);
    expect(refused.body.detail).toBe('A predict result is available as application/json, application/x-ndjson, text/csv.');
  });

  it('a chunked result streams from its chunks; the job resource has no result key, only links.result', async () => {
    const id = await insertJob({
      status: 'succeeded',
      chunked: true,
      result: { output_type: 'quantiles', quantiles: [0.1, 0.9] },
      nRows: 5,
      chunks: [
        [
          0,
          2,
          [
            [1, 2],
            [11, 12],
          ],
        ],
        [
          2,
          5,
          [
            [3, 4, 5],
            [13, 14, 15],
          ],
        ],
      ],
    });
    expect((await client.get(`/v1/jobs/${id}/result`)).body).toEqual({
      output_type: 'quantiles',
      quantiles: [0.1, 0.9],
      predictions: [
        [1, 2, 3, 4, 5],
        [11, 12, 13, 14, 15],
      ],
    });
    expect(ndjson((await client.get(`/v1/jobs/${id}/result`, { accept: 'application/x-ndjson' })).text)[3]).toEqual({
      row: 3,
      quantiles: [4, 14],
    });
    expect((await client.get(`/v1/jobs/${id}/result`, { accept: 'text/csv' })).text).toBe('q_0.1,q_0.9\n1,11\n2,12\n3,13\n4,14\n5,15\n');

    const job = (await client.get(`/v1/jobs/${id}`)).body;
    expect(job.status).toBe('succeeded');
    expect('result' in job).toBe(false);
    expect(job.links.result).toBe(`/v1/jobs/${id}/result`);
  });

  it('a failed batch with a partial result: 200, "partial": true, nulls for the rows it lacks', async () => {
    const id = await insertJob({
      status: 'failed',
      chunked: true,
      result: { output_type: 'preds', partial: true },
      nRows: 5,
      chunks: [
        [0, 2, ['x', 'y']],
        [4, 5, ['y']],
      ],
    });
    const res = await client.get(`/v1/jobs/${id}/result`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ output_type: 'preds', partial: true, predictions: ['x', 'y', null, null, 'y'] });
    expect(ndjson((await client.get(`/v1/jobs/${id}/result`, { accept: 'application/x-ndjson' })).text)).toEqual([
      { row: 0, prediction: 'x' },
      { row: 1, prediction: 'y' },
      { row: 2, prediction: null },
      { row: 3, prediction: null },
      { row: 4, prediction: 'y' },
    ]);
    expect((await client.get(`/v1/jobs/${id}/result`, { accept: 'text/csv' })).text).toBe('prediction\nx\ny\n\n\ny\n');
    const job = (await client.get(`/v1/jobs/${id}`)).body;
    expect('result' in job).toBe(false);
    expect(job.links.result).toBe(`/v1/jobs/${id}/result`);
  });

  it('failed or canceled without results → 409 as before; a removed result → data_removed', async () => {
    for (const status of ['failed', 'canceled'] as const) {
      const res = await client.get(`/v1/jobs/${await insertJob({ status, nRows: 3 })}/result`);
      expect([status, res.status, res.body.code]).toEqual([status, 409, 'result_not_ready']);
    }
    // Marked chunked, but no chunk was kept.
    const empty = await insertJob({ status: 'failed', chunked: true, result: { output_type: 'preds', partial: true }, nRows: 3 });
    expect((await client.get(`/v1/jobs/${empty}/result`)).status).toBe(409);

    for (const chunked of [false, true]) {
      const id = await insertJob({ status: 'succeeded', chunked, removed: true, nRows: 3 });
      const res = await client.get(`/v1/jobs/${id}/result`, { accept: 'text/csv' });
      expect(res.body).toEqual({ job_id: id, data_removed: true, result: null });
    }
  });

  it('a fit result is JSON only', async () => {
    const id = await insertJob({ type: 'fit', status: 'succeeded', result: { model_id: modelId, reused_fit: false }, nRows: 10 });
    expect((await client.get(`/v1/jobs/${id}/result`)).body).toEqual({ model_id: modelId, reused_fit: false });
    const refused = await client.get(`/v1/jobs/${id}/result`, { accept: 'application/x-ndjson' });
    expect(refused.status).toBe(406);
    expect(refused.body.detail).toBe('A fit result is available as application/json only.');
  });

  it('an error before the first byte is a problem+json; one mid-stream cuts the response', async () => {
    // Rows 2–3 of a "complete" result are gone: the writer refuses to fill them with nulls.
    const early = await insertJob({
      status: 'succeeded',
      chunked: true,
      result: { output_type: 'mean' },
      nRows: 5,
      chunks: [
        [0, 2, [1, 2]],
        [4, 5, [5]],
      ],
    });
    const res = await client.get(`/v1/jobs/${early}/result`);
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toContain('application/problem+json');

    // The first chunk alone fills more than one flush: the answer has started when the gap shows.
    const rows = 50_000;
    const late = await insertJob({
      status: 'succeeded',
      chunked: true,
      result: { output_type: 'mean' },
      nRows: rows + 10,
      chunks: [
        [0, rows, Array.from({ length: rows }, (_, i) => i / 7)],
        [rows + 5, rows + 10, [1, 2, 3, 4, 5]],
      ],
    });
    const cut = await fetch(`${api.url}/v1/jobs/${late}/result`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(cut.status).toBe(200);
    await expect(cut.text()).rejects.toThrow();
  });
});
