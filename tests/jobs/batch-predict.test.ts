/**
 * Batch predict (issue: predicts of any size): a predict larger than upstream's per-call limit runs as
 * chunks against the emulator with small limits, with real api and worker processes.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { TEST_ENCRYPTION_KEYS } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { type TestEmulator, VALID_TOKEN, startTestEmulator } from '../helpers/emulator.js';
import { type Json, request } from '../helpers/http.js';
import { type AppProcess, spawnApp } from '../helpers/processes.js';
import { createTestRedis } from '../helpers/redis.js';
import { watchRss } from '../helpers/rss.js';

const N_FEATURES = 20;
const BATCH_ROWS = 200_000;
/** How long a cancel may take to reach a chunk about to start (see the cancel test). */
const CANCEL_PROPAGATION_MS = 250;
const CONCURRENCY = 4;
const header = Array.from({ length: N_FEATURES }, (_, j) => `f${j}`);
/**
 * Deterministic measurements with six decimals (as a CSV export of float data has them, e.g.
 * `-412.083911`), different in every row and column.
 */
const cell = (i: number, j: number) => Number(((((i * 7919 + j * 104_729) % 2_000_003) - 1_000_000) / 997.3).toFixed(6));
const row = (i: number) => Array.from({ length: N_FEATURES }, (_, j) => cell(i, j));
const trainX = Array.from({ length: 60 }, (_, i) => row(i * 37 + 11));
const batchCsv = `${header.join(',')}\n${Array.from({ length: BATCH_ROWS }, (_, i) => row(i).join(',')).join('\n')}\n`;

const redis = createTestRedis();
let db: TestDatabase;
let emulator: TestEmulator;
let sql: pg.Client;
let api: AppProcess;
let worker: AppProcess;
let base: string;
let apiKey: string;
let client: ReturnType<typeof request>;
let classifier: string;
let regressor: string;
let workerEnv: Record<string, string>;
/** The 200k rows' predictions from one upstream call: what every batch of the same rows must equal. */
let reference: unknown[] | undefined;

const tail = (p: AppProcess) => p.output.slice(-30).join('\n');

async function emu(method: string, path: string, body?: unknown): Promise<Json> {
  const res = await fetch(`${emulator.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
}
/** Upstream as the next predict meets it: per-call limits, predict latency, an empty request log. */
async function upstream(limits: Record<string, number>, predictLatencyMs: number): Promise<void> {
  await emu('PUT', '/_emulator/limits', limits);
  await emu('PUT', '/_emulator/latency', { predict: predictLatencyMs });
  await emu('DELETE', '/_emulator/requests');
}
const upstreamRequests = async (route?: string): Promise<{ route: string; atMs: number }[]> =>
  (await emu('GET', `/_emulator/requests?token=${VALID_TOKEN}${route ? `&route=${route}` : ''}`)).requests;

async function startWorker(): Promise<void> {
  worker = spawnApp('worker', workerEnv);
  await worker.waitFor(/worker started/, 30_000);
}

async function uploadCsv(modelId: string, csv: string, fields: Record<string, string> = {}): Promise<{ status: number; body: Json }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([csv], { type: 'text/csv' }), 'batch.csv');
  const res = await fetch(`${base}/v1/models/${modelId}/predict`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` }, body: form });
  return { status: res.status, body: await res.json() };
}

/** Polls the job until `done(job)` (default: final); every progress seen is kept. */
async function waitFor(jobId: string, done: (job: Json) => boolean = (j) => ['succeeded', 'failed', 'canceled'].includes(j.status), maxMs = 120_000) {
  const seen: Json[] = [];
  const start = Date.now();
  for (;;) {
    const res = await client.get(`/v1/jobs/${jobId}`);
    if (res.body?.progress) seen.push(res.body.progress);
    if (done(res.body)) return { job: res.body as Json, seen };
    if (Date.now() - start > maxMs)
      throw new Error(`job ${jobId} not there after ${maxMs} ms: ${res.text}\nworker:\n${tail(worker)}\napi:\n${tail(api)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const chunksDone = (n: number) => (j: Json) => (j.progress?.chunks_done ?? 0) >= n || ['succeeded', 'failed', 'canceled'].includes(j.status);

/** The result as NDJSON, one object per input row. */
async function ndjson(jobId: string): Promise<Json[]> {
  const res = await fetch(`${base}/v1/jobs/${jobId}/result`, { headers: { authorization: `Bearer ${apiKey}`, accept: 'application/x-ndjson' } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('application/x-ndjson');
  return (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
}

async function fitted(body: Json): Promise<string> {
  const fit = await client.post('/v1/models/fit', body);
  if (fit.status !== 202) throw new Error(`fit: ${fit.status} ${fit.text}`);
  const { job } = await waitFor(fit.body.job_id);
  if (job.status !== 'succeeded') throw new Error(`fit ended ${job.status}: ${JSON.stringify(job.error)}\n${tail(worker)}`);
  return fit.body.model_id;
}

beforeAll(async () => {
  db = await createTestDatabase();
  emulator = await startTestEmulator();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const common = { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, TABPFN_API_URL: emulator.url, ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS };
  api = spawnApp('api', {
    ...common,
    PORT: '0',
    HOST: '127.0.0.1',
    MIGRATE_ON_START: 'false',
    SETUP_RATE_LIMIT_PER_MINUTE: '10000',
    RATE_LIMIT_PER_MINUTE: '100000',
    // The same rows are predicted more than once on purpose.
    PREDICT_CACHE_TTL_SECONDS: '0',
    LOG_LEVEL: 'info',
  });
  base = JSON.parse(await api.waitFor(/api listening/, 30_000)).url as string;
  workerEnv = {
    ...common,
    JOB_BACKOFF_BASE_MS: '50',
    JOB_BACKOFF_MAX_MS: '500',
    MAINTENANCE_INTERVAL_MS: '500',
    RECONCILE_MIN_AGE_SECONDS: '2',
    WORKER_LOCK_DURATION_MS: '5000',
    PREDICT_CHUNK_CONCURRENCY: String(CONCURRENCY),
    // The tests change upstream's limits between predicts: read them for every predict.
    TABPFN_SETTINGS_TTL_MS: '0',
    UPSTREAM_LIMITS: 'fit:100000/1m,predict:100000/1m,upload:100000/1m',
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
  };
  await startWorker();
  const setup = await request(base).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN });
  if (setup.status !== 201) throw new Error(`setup: ${setup.status} ${setup.text}\n${tail(api)}`);
  apiKey = setup.body.api_key;
  client = request(base, apiKey);
  classifier = await fitted({ features: trainX, target: trainX.map((r) => (r[0]! < -300 ? 'a' : r[0]! < 300 ? 'b' : 'c')), feature_names: header });
  regressor = await fitted({ features: trainX, target: trainX.map((r) => r[0]! * 2 + r[1]!), feature_names: header });
  // These tests predict millions of rows in all: the emulator's daily token quota must not end them.
  await emu('PATCH', '/_emulator/config', { dailyTokenLimit: 1e15, monthlyTokenLimit: 1e15 });
  // Warm-up: the first streamed upload and the first batch load code both processes keep; memory
  // growth is measured on what a predict costs, not on a process's first use of its modules.
  const warm = await uploadCsv(classifier, batchCsv.slice(0, batchCsv.indexOf('\n', 15_000 * 250)));
  if (warm.status !== 202 || (await waitFor(warm.body.job_id)).job.status !== 'succeeded') throw new Error(`warm-up: ${JSON.stringify(warm.body)}`);
}, 120_000);

afterAll(async () => {
  await worker?.stop('SIGTERM');
  await api?.stop('SIGTERM');
  await sql?.end();
  await emulator?.close();
  await redis.cleanup();
  await db?.drop();
});

describe('batch predict', () => {
  it('200,000 CSV rows at 10,000 rows a call: exactly 20 upstream predicts, the same predictions as one call, bounded memory', async () => {
    await upstream({ test_set_max_rows: 10_000 }, 50);

    const apiRss = watchRss(api.proc.pid!);
    const submitted = await uploadCsv(classifier, batchCsv);
    const upload = apiRss.stop();
    expect(submitted.status).toBe(202);
    const workerRss = watchRss(worker.proc.pid!);
    const { job, seen } = await waitFor(submitted.body.job_id);
    const assembly = workerRss.stop();
    expect({ status: job.status, error: job.error }).toEqual({ status: 'succeeded', error: null });
    expect(job.n_rows).toBe(BATCH_ROWS);
    expect(job.progress).toMatchObject({ chunks_done: 20, chunks_total: 20, rows_done: BATCH_ROWS, rows_total: BATCH_ROWS });
    // Long work shows progress: the counters moved while it ran.
    expect(seen.some((p) => p.chunks_done > 0 && p.chunks_done < 20)).toBe(true);
    expect(job).not.toHaveProperty('result');
    expect(job.links.result).toBe(`/v1/jobs/${job.job_id}/result`);
    expect(await upstreamRequests('predict')).toHaveLength(20);

    const downloadRss = watchRss(api.proc.pid!);
    const rows = await ndjson(job.job_id);
    const download = downloadRss.stop();
    expect(rows).toHaveLength(BATCH_ROWS);
    expect(rows.every((r, i) => r.row === i)).toBe(true);

    // The same rows in one call (the limit raised): row for row the same predictions.
    await emu('PUT', '/_emulator/limits', { test_set_max_rows: 1_000_000 });
    await emu('DELETE', '/_emulator/requests');
    const once = await uploadCsv(classifier, batchCsv);
    expect(once.status).toBe(202);
    expect((await waitFor(once.body.job_id)).job.status).toBe('succeeded');
    expect(await upstreamRequests('predict')).toHaveLength(1);
    reference = (await ndjson(once.body.job_id)).map((r) => r.prediction);
    const mismatch = rows.findIndex((r, i) => r.prediction !== reference![i]);
    expect(mismatch).toBe(-1);

    const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;
    console.log(
      `CSV ${mb(batchCsv.length)}; api RSS growth during upload ${mb(upload.growth)}, worker ${mb(assembly.growth)} while running, api ${mb(download.growth)} during the download`,
    );
    expect(upload.growth).toBeLessThan(3 * batchCsv.length);
    expect(assembly.growth).toBeLessThan(3 * batchCsv.length);
    expect(download.growth).toBeLessThan(50 * 2 ** 20);
  }, 300_000);

  it('survives its worker being SIGKILLed twice: every row once, calls ≤ 20 + the chunks in flight at each kill', async () => {
    expect(reference).toBeDefined();
    await upstream({ test_set_max_rows: 10_000 }, 300);
    const submitted = await uploadCsv(classifier, batchCsv);
    expect(submitted.status).toBe(202);
    const id = submitted.body.job_id;

    for (const after of [4, 12]) {
      const { job } = await waitFor(id, chunksDone(after));
      expect(job.status).toBe('running');
      await worker.stop('SIGKILL');
      await startWorker();
    }
    const { job } = await waitFor(id);
    expect(job.status).toBe('succeeded');
    const calls = (await upstreamRequests('predict')).length;
    expect(calls).toBeGreaterThanOrEqual(20);
    expect(calls).toBeLessThanOrEqual(20 + 2 * CONCURRENCY);

    const stored = (await sql.query('SELECT row_start, row_end FROM predict_chunks WHERE job_id = $1 ORDER BY row_start', [id])).rows;
    let at = 0;
    for (const c of stored) {
      expect(c.row_start).toBe(at);
      at = c.row_end;
    }
    expect(at).toBe(BATCH_ROWS);
    const rows = await ndjson(id);
    expect(rows).toHaveLength(BATCH_ROWS);
    expect(rows.findIndex((r, i) => r.row !== i || r.prediction !== reference![i])).toBe(-1);
  }, 300_000);

  it('full regression output on 5,000 rows at 400 rows a call: 13 calls, rows in input order', async () => {
    const features = Array.from({ length: 5_000 }, (_, i) => row(i * 3 + 1));
    await upstream({ test_set_max_rows: 10_000, test_set_max_rows_w_full_regression_output: 400 }, 0);
    const batched = await client.post(`/v1/models/${regressor}/predict`, { features, output_type: 'full' });
    expect(batched.status).toBe(202);
    const { job } = await waitFor(batched.body.job_id);
    expect({ status: job.status, error: job.error }).toEqual({ status: 'succeeded', error: null });
    expect(await upstreamRequests('predict')).toHaveLength(13);

    await emu('PUT', '/_emulator/limits', { test_set_max_rows_w_full_regression_output: 10_000 });
    await emu('DELETE', '/_emulator/requests');
    const once = await client.post(`/v1/models/${regressor}/predict`, { features, output_type: 'full' });
    const single = (await waitFor(once.body.job_id)).job;
    expect(await upstreamRequests('predict')).toHaveLength(1);
    expect(job.result.predictions.mean).toHaveLength(5_000);
    expect(job.result).toEqual(single.result);
  }, 120_000);

  /**
   * The cancel is written before the api answers; the worker learns it from the broadcast, and a chunk
   * about to start also reads it from the job's row. A chunk that read the row an instant before the
   * cancel was written can still reach upstream just after the answer: calls may start within
   * CANCEL_PROPAGATION_MS of it (milliseconds in practice; this is ten times that and more). A runner that
   * did not stop would go on starting chunks for over a second (18 left, 4 at a time, 300 ms each).
   */
  it('cancel mid-batch: no upstream call starts once the cancel has reached the worker, none after the job ends; finished rows are counted', async () => {
    await upstream({ test_set_max_rows: 10_000 }, 300);
    const submitted = await uploadCsv(classifier, batchCsv);
    const id = submitted.body.job_id;
    await waitFor(id, chunksDone(2));
    const cancel = await client.post(`/v1/jobs/${id}/cancel`);
    const acknowledged = Date.now();
    expect(cancel.status).toBe(200);
    const { job } = await waitFor(id);
    expect(job.status).toBe('canceled');
    expect(job.progress.rows_done).toBeGreaterThanOrEqual(20_000);
    expect(job.progress.rows_done).toBeLessThan(BATCH_ROWS);
    const requests = await upstreamRequests();
    expect(requests.filter((r) => r.atMs > acknowledged + CANCEL_PROPAGATION_MS)).toEqual([]);
    const ended = Date.parse(job.finished_at);
    expect(ended).toBeGreaterThan(acknowledged - 60_000);
    expect(requests.filter((r) => r.atMs > ended)).toEqual([]);
  }, 120_000);

  it('a chunk that fails for good fails the job naming its rows; with allow_partial the finished chunks stay readable', async () => {
    expect(reference).toBeDefined();
    await upstream({ test_set_max_rows: 10_000 }, 300);
    const submitted = await uploadCsv(classifier, batchCsv, { allow_partial: 'true' });
    expect(submitted.status).toBe(202);
    const id = submitted.body.job_id;
    await waitFor(id, chunksDone(3));
    // The next predict call upstream is refused as the caller's fault: not retryable.
    await emu('POST', '/_emulator/faults', { route: 'predict', kind: 'status', status: 400, errorCode: 'USER_ERROR', message: 'this chunk is refused', count: 1 });
    const { job } = await waitFor(id);
    expect(job.status).toBe('failed');
    expect(job.error.message).toMatch(/^Rows \d+–\d+ failed: .*this chunk is refused/);
    const { start, end } = job.error.rows;
    expect(end - start).toBe(10_000);
    expect(job.links.result).toBe(`/v1/jobs/${id}/result`);

    const rows = await ndjson(id);
    expect(rows).toHaveLength(BATCH_ROWS);
    for (let i = 0; i < BATCH_ROWS; i++) {
      const r = rows[i]!;
      if (i >= start && i < end) expect(r.prediction).toBeNull();
      else if (r.prediction !== null) expect(r.prediction).toBe(reference![i]);
    }
    const json = (await (await fetch(`${base}/v1/jobs/${id}/result`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as Json;
    expect(json.partial).toBe(true);
    expect(json.predictions).toHaveLength(BATCH_ROWS);
  }, 120_000);

  it('a train set upstream forgot mid-batch is re-fitted once for the batch, not once per chunk', async () => {
    await upstream({ test_set_max_rows: 10_000 }, 200);
    const submitted = await uploadCsv(classifier, batchCsv);
    const id = submitted.body.job_id;
    await waitFor(id, chunksDone(2));
    await emu('POST', '/_emulator/forget', { all: true });
    const { job } = await waitFor(id);
    expect({ status: job.status, error: job.error }).toEqual({ status: 'succeeded', error: null });
    expect(await upstreamRequests('fit')).toHaveLength(1);
    const rows = await ndjson(id);
    expect(rows.findIndex((r, i) => r.prediction !== reference![i])).toBe(-1);
  }, 120_000);
});
