import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { type TestDatabase, createTestDatabase } from '../../../../tests/helpers/database.js';
import { createDatasetRepository } from './dataset.repository.js';
import { ASYNC_COMMIT, createJobRepository } from './job.repository.js';
import { createPredictRunRepository } from './predict-run.repository.js';

// The one statement that starts a predict and reads its run, against the job as the plain UPDATE
// (`markRunning`) and the plain reads leave it.

let db: TestDatabase;
let pool: pg.Pool;
let userId: string;
let modelId: string;
let datasetId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 3 });
  userId = (
    await pool.query<{ id: string }>(
      `INSERT INTO users (tabpfn_token_ciphertext, tabpfn_token_digest) VALUES ('k1:sealed', $1) RETURNING id`,
      [randomBytes(32)],
    )
  ).rows[0]!.id;
  modelId = (
    await pool.query<{ id: string }>(
      `INSERT INTO models (user_id, task, fit_key, n_samples, n_features, feature_names, feature_types, status, classes, upstream_fitted_train_set_id)
       VALUES ($1, 'classification', $2, 10, 2, '["a","b"]', '["number","number"]', 'ready', '["x","y"]', 'fitted-1') RETURNING id`,
      [userId, randomBytes(8).toString('hex')],
    )
  ).rows[0]!.id;
  const dataset = await createDatasetRepository(pool).insert({
    userId,
    kind: 'test',
    contentHash: 'h',
    x: new Uint8Array([1, 2, 3]),
    y: null,
    nRows: 1,
    nCols: 2,
    columns: [],
    targetType: null,
  });
  datasetId = dataset.id;
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

async function newJob(opts: { status?: string; webhookUrl?: string; attempts?: number } = {}): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO jobs (user_id, type, status, model_id, dataset_id, n_rows, webhook_url, attempts, started_at)
     VALUES ($1, 'predict', $2, $3, $4, 1, $5, $6, CASE WHEN $6 > 0 THEN now() - interval '1 minute' END) RETURNING id`,
    [userId, opts.status ?? 'queued', modelId, datasetId, opts.webhookUrl ?? null, opts.attempts ?? 0],
  );
  return rows[0]!.id;
}

const runs = () => createPredictRunRepository(pool);
const jobs = () => createJobRepository(pool);

describe('starting a predict in one statement', () => {
  it('starts a queued job as markRunning would, and reads its model, test set and sealed token', async () => {
    const [one, two] = [await newJob(), await newJob()];
    const run = await runs().start(one, 'uploading');
    const plain = await jobs().markRunning(two, 'uploading');
    expect(run?.started).toBe(true);
    const { id: _a, created_at: _b, started_at: s1, updated_at: u1, progress: p1, ...rest1 } = run!.job;
    const { id: _c, created_at: _d, started_at: s2, updated_at: u2, progress: p2, ...rest2 } = plain!;
    expect(rest1).toEqual(rest2);
    expect(rest1).toMatchObject({ status: 'running', attempts: 1 });
    expect(s1).toBeInstanceOf(Date);
    expect(u1).toBeInstanceOf(Date);
    expect(p1).toMatchObject({ stage: 'uploading' });
    expect([s2, u2, p2].every(Boolean)).toBe(true);
    expect(await jobs().findById(one)).toEqual(run!.job);
    expect(run!.model).toMatchObject({ id: modelId, upstream_fitted_train_set_id: 'fitted-1' });
    expect(run!.dataset).toMatchObject({ id: datasetId, n_rows: 1 });
    expect(Buffer.from(run!.dataset!.x_bytes!)).toEqual(Buffer.from([1, 2, 3]));
    expect(run!.user).toEqual({ id: userId, tabpfn_token_ciphertext: 'k1:sealed' });
  });

  it('a re-run keeps its first start and counts one more attempt', async () => {
    const id = await newJob({ status: 'running', attempts: 1 });
    const before = (await jobs().findById(id))!;
    const run = await runs().start(id, 'uploading');
    expect(run?.started).toBe(true);
    expect(run!.job.attempts).toBe(2);
    expect(run!.job.started_at).toEqual(before.started_at);
    expect(await jobs().findById(id)).toEqual(run!.job);
  });

  it('a cancel committed while the start waits for the row is in the started job', async () => {
    const id = await newJob();
    const cancel = await pool.connect();
    try {
      await cancel.query('BEGIN');
      await cancel.query('UPDATE jobs SET cancel_requested_at = now() WHERE id = $1', [id]);
      const starting = runs().start(id, 'uploading');
      // The start has its snapshot and waits for the cancel's row lock (read outside the cancel's
      // transaction: pg_stat_activity holds still within one).
      const end = Date.now() + 10_000;
      const waiting = async () =>
        (
          await pool.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'WITH s AS (UPDATE jobs%'`,
          )
        ).rows[0].n;
      while ((await waiting()) === 0) {
        if (Date.now() > end) throw new Error('the start never waited for the cancel to commit');
        await new Promise((r) => setTimeout(r, 10));
      }
      await cancel.query('COMMIT');
      const run = await starting;
      expect(run?.started).toBe(true);
      expect(run!.job.cancel_requested_at).toBeInstanceOf(Date);
      expect(await jobs().findById(id)).toEqual(run!.job);
    } finally {
      cancel.release();
    }
  });

  it('reads, without starting, a job with a webhook or one that has ended; a gone job is undefined', async () => {
    for (const opts of [{ webhookUrl: 'https://example.com/hook' }, { status: 'canceled' }]) {
      const id = await newJob(opts);
      const before = await jobs().findById(id);
      const run = await runs().start(id, 'uploading');
      expect(run?.started).toBe(false);
      expect(run!.job).toEqual(before);
      expect(await jobs().findById(id)).toEqual(before);
      expect(run!.model.id).toBe(modelId);
    }
    expect(await runs().start('00000000-0000-4000-8000-000000000000', 'uploading')).toBeUndefined();
  });
});

// The worker's coalesced progress writes (job-runner.ts): several jobs' stages in one statement.
describe('job progress of several jobs at once', () => {
  it('writes each job its own progress, only while queued or running, and leaves ended jobs alone', async () => {
    const [queued, running, ended] = [await newJob(), await newJob({ status: 'running' }), await newJob({ status: 'succeeded' })];
    const before = await jobs().findById(ended);
    await jobs().setProgress([
      { id: running, progress: { stage: 'predicting' } },
      { id: ended, progress: { stage: 'predicting' } },
      { id: queued, progress: { stage: 'queued', message: "waiting for this token's TabPFN rate limit", retry_in_seconds: 3 } },
    ]);
    const row = async (id: string) => (await jobs().findById(id))!;
    expect((await row(running)).progress).toMatchObject({ stage: 'predicting' });
    expect((await row(queued)).progress).toMatchObject({ stage: 'queued', retry_in_seconds: 3 });
    expect(typeof (await row(queued)).progress!.updated_at).toBe('string');
    expect(await row(ended)).toEqual(before);
    await expect(jobs().setProgress([])).resolves.toBeUndefined();
  });
});

describe('commits that do not wait for the WAL flush', () => {
  it('turns synchronous_commit off for its own statement only: the connection keeps it on for the next one', async () => {
    const client = await pool.connect();
    try {
      const inside = await client.query<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s FROM ${ASYNC_COMMIT}`);
      expect(inside.rows).toEqual([{ s: 'off' }]);
      expect((await client.query('SHOW synchronous_commit')).rows).toEqual([{ synchronous_commit: 'on' }]);
      const id = await newJob();
      expect((await createPredictRunRepository(client).start(id, 'uploading'))?.started).toBe(true);
      await createJobRepository(client).setProgress([{ id, progress: { stage: 'predicting' } }]);
      expect((await client.query('SHOW synchronous_commit')).rows).toEqual([{ synchronous_commit: 'on' }]);
      expect((await jobs().findById(id))!.progress).toMatchObject({ stage: 'predicting' });
    } finally {
      client.release();
    }
  });
});
