import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type JobError,
  type JobProgress,
  type PredictResult,
  TabPFNJobsError,
  WebhookVerificationError,
  createTabPFNJobsClient,
  verifyWebhook,
} from '@tabpfn-jobs/client';
import { VALID_TOKEN } from '../helpers/emulator.js';
import { jsonCells, loadDataset, split, toCsv } from '../helpers/datasets.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { startReceiver, until } from './support.js';

let stack: Stack;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const ds = loadDataset('iris');
const s = split(ds);
const featureHeader = ds.header.filter((_, j) => j !== ds.targetIndex);
const accuracy = (pred: unknown[], truth: string[]) => pred.filter((p, i) => String(p) === truth[i]).length / truth.length;

beforeAll(async () => {
  receiver = await startReceiver();
  stack = await startStack({
    apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' },
    // Batch predicts: upstream's limits read afresh for every predict (the tests lower them), one chunk
    // at a time (progress moves one chunk per step), and results over 100 rows only at links.result.
    workerEnv: { TABPFN_SETTINGS_TTL_MS: '0', PREDICT_CHUNK_CONCURRENCY: '1', PREDICT_INLINE_RESULT_ROWS: '100' },
  });
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

describe('@tabpfn-jobs/client against a running stack', () => {
  it('setup → fit → predict → result, typed end to end', async () => {
    const anonymous = createTabPFNJobsClient({ baseUrl: stack.api.url });
    const account = await anonymous.setup(VALID_TOKEN, 'sdk-test');
    expect(account.api_key).toMatch(/^tpk_/);
    const client = createTabPFNJobsClient({ baseUrl: stack.api.url, apiKey: account.api_key });

    const stages: string[] = [];
    const fit = await client.fit(
      { features: jsonCells(s.trainX), target: s.trainY, feature_names: featureHeader, webhook_url: receiver.url },
      { wait: { onProgress: (job) => stages.push(job.status) } },
    );
    expect(fit.status).toBe('succeeded');
    expect(stages.at(-1)).toBe('succeeded');
    const model = await client.getModel(fit.model_id);
    expect(model).toMatchObject({ status: 'ready', task: 'classification', n_features: 4, classes: ['setosa', 'versicolor', 'virginica'] });

    const submitted = await client.predict(fit.model_id, { features: jsonCells(s.testX), output_type: 'probas' });
    expect(['queued', 'running', 'succeeded']).toContain(submitted.status);
    const done = await client.waitForJob(submitted.job_id, { intervalMs: 50 });
    expect(done.status).toBe('succeeded');
    const result = (await client.result(done.job_id)) as PredictResult;
    expect(result.output_type).toBe('probas');
    expect(result.classes).toEqual(model.classes);
    expect(accuracy(result.predictions as unknown[], s.testY)).toBeGreaterThanOrEqual(0.85);

    // Prefer: wait answers with the finished job; CSV uploads and CSV results work too.
    const viaCsv = await client.predict(fit.model_id, { csv: toCsv(featureHeader, s.testX) }, { preferWaitSeconds: 30 });
    expect(viaCsv.status).toBe('succeeded');
    const csv = await client.resultCsv(viaCsv.job_id);
    expect(csv.trim().split('\n')).toHaveLength(s.testX.length + 1);
    const csvFit = await client.fit({ csv: toCsv(ds.header, s.train), target_column: 'species' }, { wait: true });
    expect(csvFit.status).toBe('succeeded');

    const page = await client.listJobs({ model_id: fit.model_id });
    expect(page.data.map((j) => j.type).sort()).toEqual(['fit', 'predict', 'predict']);
    expect((await client.usage()).service.jobs.total).toBe(4);

    // The webhook of the first fit verifies with the account's secret, and fails with another.
    const { secret } = await client.webhookSecret();
    const hook = await until(async () => receiver.received.find((r) => r.body.includes(fit.job_id)), 'the webhook');
    const event = verifyWebhook(hook.body, hook.headers as Record<string, string>, secret);
    expect(event).toMatchObject({ type: 'job.succeeded', data: { job_id: fit.job_id, status: 'succeeded' } });
    expect(() => verifyWebhook(hook.body, hook.headers as Record<string, string>, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toThrow(
      WebhookVerificationError,
    );
    expect(() => verifyWebhook(hook.body.replace('succeeded', 'failed'), hook.headers as Record<string, string>, secret)).toThrow();
  });

  it('turns problem+json answers into TabPFNJobsError with the stable code', async () => {
    const client = createTabPFNJobsClient({ baseUrl: stack.api.url, apiKey: 'tpk_not-a-real-key' });
    const err = await client.listModels().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TabPFNJobsError);
    expect(err).toMatchObject({ status: 401, code: 'api_key_invalid' });

    const { api_key } = await stack.account();
    const authed = createTabPFNJobsClient({ baseUrl: stack.api.url, apiKey: api_key });
    const invalid = await authed.fit({ features: [[1, 2]], target: [1, 2, 3] }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ status: 422, code: 'validation_failed' });
    expect((invalid as TabPFNJobsError).problem?.errors?.length).toBeGreaterThan(0);
  });
});

const dir = mkdtempSync(join(tmpdir(), 'tabpfn-jobs-sdk-'));
/**
 * `n` rows of iris features (its 150 rows over and over, each cell nudged to be unique): more than one
 * upstream call of 50 takes. Unique cells keep the stored test set over 4 KB: a smaller one comes back
 * from Postgres as a pooled Buffer, which the worker's parquet reader misreads today (toArrayBuffer in
 * packages/tabpfn/src/parquet.ts takes the pool's whole ArrayBuffer).
 */
const batchCsv = (name: string, n: number) => {
  const path = join(dir, name);
  const all = ds.rows.map((r) => r.filter((_, j) => j !== ds.targetIndex));
  const rows = Array.from({ length: n }, (_, i) => all[i % all.length]!.map((c) => (Number(c) + i * 1e-6).toFixed(6)));
  writeFileSync(path, toCsv(featureHeader, rows));
  return path;
};

/** Upstream takes at most 50 test rows a call and answers each after `latencyMs`, for the length of `body`. */
async function withUpstreamLimits<T>(latencyMs: number, body: () => Promise<T>): Promise<T> {
  const control = (path: string, method: string, json: unknown) =>
    fetch(`${stack.emulator.url}/_emulator/${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(json),
    }).then((r) => {
      if (!r.ok) throw new Error(`emulator ${method} ${path}: ${r.status}`);
    });
  await control('limits', 'PUT', { test_set_max_rows: 50 });
  await control('latency', 'PUT', { predict: latencyMs });
  try {
    return await body();
  } finally {
    await control('latency', 'PUT', { predict: 0 });
    await fetch(`${stack.emulator.url}/_emulator/limits`, { method: 'DELETE' });
  }
}

/** A Writable that takes 16 bytes before it asks for a drain, and drains on the next turn (backpressure on every write). */
function slowSink() {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      setImmediate(done);
    },
  });
  return { sink, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('@tabpfn-jobs/client: batch predicts from a CSV file', () => {
  it('streams the file up, reports chunk progress as it changes, and streams the result down in each format', async () => {
    const { api_key } = await stack.account();
    const client = createTabPFNJobsClient({ baseUrl: stack.api.url, apiKey: api_key });
    const fit = await client.fit({ features: jsonCells(s.trainX), target: s.trainY, feature_names: featureHeader }, { wait: true });
    const path = batchCsv('batch.csv', 230);

    const changes: (JobProgress | null)[] = [];
    /** What the client compares (status and progress without `updated_at`), for each change it reported. */
    const keys: string[] = [];
    let polls = 0;
    const job = await withUpstreamLimits(150, () =>
      client.predict(
        fit.model_id,
        { csvPath: path, output_type: 'probas' },
        {
          wait: {
            intervalMs: 20,
            maxIntervalMs: 40,
            onProgress: () => polls++,
            onProgressChange: (p, j) => {
              changes.push(p);
              const { updated_at: _at, ...rest } = p ?? ({} as Partial<JobProgress>);
              keys.push(JSON.stringify([j.status, p ? rest : null]));
            },
          },
        },
      ),
    );
    expect(job).toMatchObject({ status: 'succeeded', n_rows: 230 });

    // Five chunks of at most 50 rows; each change reported once, in order, and only changes.
    const batch = changes.filter((p): p is JobProgress => p?.chunks_total !== undefined);
    expect(batch.length).toBeGreaterThanOrEqual(2);
    expect(batch[0]).toMatchObject({ stage: 'predicting', chunks_total: 5, rows_total: 230 });
    const done = batch.map((p) => p.chunks_done!);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    // The last chunk's count can be seen twice: running, then succeeded with the same progress kept.
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(batch.map((p) => `${p.chunks_done}/${p.rows_done}`)).size).toBeGreaterThanOrEqual(batch.length - 1);
    expect(changes.length).toBeLessThanOrEqual(polls);

    // Too large to inline: no `result` key; `result()` follows links.result (JSON).
    expect('result' in job).toBe(false);
    expect(job.links.result).toBe(`/v1/jobs/${job.job_id}/result`);
    const result = (await client.result(job)) as PredictResult;
    expect(result).toMatchObject({ output_type: 'probas', classes: ['setosa', 'versicolor', 'virginica'] });
    expect(result.predictions as unknown[]).toHaveLength(230);
    expect(result.probabilities).toHaveLength(230);

    // To files: the format from the extension; the rows in input order.
    const csvOut = join(dir, 'batch-result.csv');
    expect(await client.downloadResult(job, csvOut)).toMatchObject({ format: 'csv', bytes: readFileSync(csvOut).length });
    const lines = readFileSync(csvOut, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('prediction,p_setosa,p_versicolor,p_virginica');
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(result.predictions);

    const ndjsonOut = join(dir, 'batch-result.jsonl');
    expect((await client.downloadResult(job.job_id, ndjsonOut)).format).toBe('ndjson');
    const rows = readFileSync(ndjsonOut, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(230);
    expect(rows.map((r) => r.row)).toEqual(Array.from({ length: 230 }, (_, i) => i));
    expect(rows[7]).toEqual({ row: 7, prediction: (result.predictions as unknown[])[7], probabilities: result.probabilities![7] });

    // To a Writable that pushes back on every write: the same JSON document as result().
    const slow = slowSink();
    await client.downloadResult(job, slow.sink, { format: 'json' });
    expect(JSON.parse(slow.text())).toEqual(result);
    expect(slow.sink.writableFinished).toBe(true);
  });

  it('keeps an inline result inline, and sends a file through a caller-supplied fetch too', async () => {
    const { api_key } = await stack.account();
    const requests: string[] = [];
    const client = createTabPFNJobsClient({
      baseUrl: stack.api.url,
      apiKey: api_key,
      fetch: (req) => {
        requests.push(`${(req as Request).method} ${new URL((req as Request).url).pathname}`);
        return fetch(req);
      },
    });
    writeFileSync(join(dir, 'train.csv'), toCsv(ds.header, s.train));
    const model = await client.fit({ csvPath: join(dir, 'train.csv'), target_column: 'species' }, { wait: true });
    expect(model.status).toBe('succeeded');
    writeFileSync(join(dir, 'test.csv'), toCsv(featureHeader, s.testX));
    const job = await client.predict(model.model_id, { csvPath: join(dir, 'test.csv') }, { wait: { intervalMs: 20 } });
    expect(job.status).toBe('succeeded');
    expect(requests.filter((r) => r.startsWith('POST'))).toEqual(['POST /v1/models/fit', `POST /v1/models/${model.model_id}/predict`]);

    const before = requests.length;
    expect(await client.result(job)).toBe(job.result);
    expect(requests).toHaveLength(before);
  });

  it('allow_partial: a failed batch keeps its finished chunks at links.result, the failed chunk names its rows', async () => {
    const { api_key } = await stack.account();
    const client = createTabPFNJobsClient({ baseUrl: stack.api.url, apiKey: api_key });
    const fit = await client.fit({ features: jsonCells(s.trainX), target: s.trainY, feature_names: featureHeader }, { wait: true });
    const path = batchCsv('partial.csv', 230);
    let broken = false;
    // 500 ms a call: the fault is in place well before the last chunk's call, even on a loaded machine.
    const job = await withUpstreamLimits(500, async () => {
      try {
        return await client.predict(
          fit.model_id,
          { csvPath: path, allow_partial: true },
          {
            wait: {
              intervalMs: 20,
              maxIntervalMs: 40,
              // Upstream refuses every call from the moment two chunks are in.
              onProgressChange: (p) => {
                if (!broken && (p?.chunks_done ?? 0) >= 2) {
                  broken = true;
                  stack.emulator.state.addFault({
                    route: 'predict',
                    status: 400,
                    count: 50,
                    message: 'column 3 is cursed',
                    token: VALID_TOKEN,
                  });
                }
              },
            },
          },
        );
      } finally {
        stack.emulator.state.clearFaults();
      }
    });
    expect(job.status).toBe('failed');
    const rows = (job.error as JobError).rows!;
    expect(rows.end - rows.start).toBeLessThanOrEqual(50);

    const result = (await client.result(job)) as PredictResult & { partial?: boolean };
    expect(result.partial).toBe(true);
    const predictions = result.predictions as unknown[];
    expect(predictions).toHaveLength(230);
    expect(predictions.slice(0, 100).every((p) => p !== null)).toBe(true);
    expect(predictions.slice(rows.start, rows.end).every((p) => p === null)).toBe(true);

    const csvOut = join(dir, 'partial.csv.out');
    await client.downloadResult(job, csvOut, { format: 'csv' });
    const lines = readFileSync(csvOut, 'utf8').split('\n');
    expect(lines[0]).toBe('prediction');
    expect(lines[rows.start + 1]).toBe('');
    expect(lines[1]).not.toBe('');
  });
});
