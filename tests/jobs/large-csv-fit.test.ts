import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import type { Json } from '../helpers/http.js';
import { type Stack, startStack, waitForJob } from '../helpers/stack.js';
// Deterministic pseudo-random numbers (mulberry32), the emulator's own.
import { seededRandom } from '@tabpfn-jobs/tabpfn-emulator';

// A CSV fit larger than the api's part size (1 MiB of cells) is stored as its validated cells while
// it streams in, and the worker encodes it before the fit. What it becomes must be exactly what the
// same data sent as JSON becomes: the same model, the same stored parquet, the same fit key (so one
// reuses the other's upstream fit), the same predictions.

let stack: Stack;
let sql: pg.Client;
let client: Awaited<ReturnType<Stack['account']>>['client'];
let apiKey: string;

beforeAll(async () => {
  stack = await startStack();
  sql = new pg.Client({ connectionString: stack.db.url });
  await sql.connect();
  const acct = await stack.account();
  client = acct.client;
  apiKey = acct.api_key;
});
afterAll(async () => {
  await sql?.end();
  await stack?.close();
});

const N_ROWS = 20_000;
const header = ['f0', 'f1', 'f2', 'label', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8'];
const features = header.filter((h) => h !== 'label');
// f2 has missing cells; f6 looks numeric for 19,000 rows, then a word makes it a text column (whose
// cells stay the text they are: "1.50", not 1.5). Few distinct f6 values keep the emulator's model small.
const rows: string[][] = (() => {
  const next = seededRandom(11);
  return Array.from({ length: N_ROWS }, (_, i) =>
    header.map((h, j) => {
      if (h === 'label') return ['setosa', 'versicolor', 'virginica'][i % 3]!;
      if (h === 'f2' && i % 97 === 0) return 'NA';
      if (h === 'f6') return i === 19_000 ? 'low' : ['1.50', '2.5', '-3'][i % 3]!;
      // (JSON has no -0: "-0.000" would be a CSV cell no JSON body can send.)
      return ((next() - 0.5) * 200 + j).toFixed(3).replace(/^-0\.000$/, '0.000');
    }),
  );
})();
const csv = `${header.join(',')}\n${rows.map((r) => r.join(',')).join('\n')}\n`;
const targetIndex = header.indexOf('label');
/** The same cells as a JSON body: numbers as numbers (NA as null), the text column's cells as the text they are. */
const json = {
  features: rows.map((r) => r.flatMap((c, j) => (j === targetIndex ? [] : [c === 'NA' ? null : header[j] === 'f6' ? c : Number(c)]))),
  target: rows.map((r) => r[targetIndex]!),
  feature_names: features,
};
const testRows = json.features.slice(0, 40);

async function postCsv(body: string): Promise<{ status: number; body: Json }> {
  const form = new FormData();
  form.append('target_column', 'label');
  form.append('file', new Blob([body], { type: 'text/csv' }), 'train.csv');
  const res = await fetch(`${stack.api.url}/v1/models/fit`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` }, body: form });
  return { status: res.status, body: await res.json() };
}

const datasetOf = async (modelId: string) =>
  (
    await sql.query(
      `SELECT d.id, d.format, d.content_hash, d.n_rows, d.n_cols, d.n_parts, d.columns, d.target_type, d.target_column, d.complete,
              md5(d.x_bytes) AS x_md5, md5(d.y_bytes) AS y_md5, (SELECT count(*)::int FROM dataset_parts p WHERE p.dataset_id = d.id) AS parts,
              m.fit_key
       FROM models m JOIN datasets d ON d.id = m.dataset_id WHERE m.id = $1`,
      [modelId],
    )
  ).rows[0];

describe('a CSV fit larger than one part', () => {
  let csvModel: string;

  it('is answered 202 once its cells are validated and stored; the worker encodes them before the fit', async () => {
    expect(csv.length).toBeGreaterThan(1.25 * 1024 * 1024);
    await stack.worker.stop('SIGTERM');
    const fit = await postCsv(csv);
    expect(fit.status).toBe(202);
    csvModel = fit.body.model_id;
    const stored = await datasetOf(csvModel);
    expect(stored).toMatchObject({ format: 'csv-cells', complete: true, n_rows: N_ROWS, n_cols: features.length, target_column: targetIndex, target_type: 'string', x_md5: null });
    expect(stored.parts).toBe(stored.n_parts);
    expect(stored.parts).toBeGreaterThanOrEqual(2);
    expect(stored.fit_key).toMatch(/^cells:csv-cells:\d+:[0-9a-f]{8}$/);
    const model = (await client.get(`/v1/models/${csvModel}`)).body;
    expect(model).toMatchObject({ status: 'pending', task: 'classification', n_samples: N_ROWS, n_features: features.length, classes: ['setosa', 'versicolor', 'virginica'] });
    expect(model.feature_types).toEqual(features.map((f) => (f === 'f6' ? 'string' : 'number')));

    await stack.restartWorker();
    expect((await waitForJob(client, fit.body.job_id)).status).toBe('succeeded');
    const encoded = await datasetOf(csvModel);
    expect(encoded).toMatchObject({ format: 'parquet', n_parts: 0, parts: 0, target_column: null });
    expect(encoded.x_md5).toMatch(/^[0-9a-f]{32}$/);
    expect(encoded.fit_key).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ends as exactly what the same data as JSON makes: model, stored parquet, fit key (the JSON fit reuses it), predictions', async () => {
    const fit = await client.post('/v1/models/fit', json);
    expect(fit.status).toBe(202);
    const done = await waitForJob(client, fit.body.job_id);
    expect(done.result).toEqual({ model_id: fit.body.model_id, reused_fit: true });

    const [a, b] = [await datasetOf(csvModel), await datasetOf(fit.body.model_id)];
    const same = (d: typeof a) => ({ format: d.format, content_hash: d.content_hash, x: d.x_md5, y: d.y_md5, columns: d.columns, fit_key: d.fit_key });
    expect(same(a)).toEqual(same(b));
    const pick = (m: Json) => ({ task: m.task, classes: m.classes, feature_names: m.feature_names, feature_types: m.feature_types, n_samples: m.n_samples });
    expect(pick((await client.get(`/v1/models/${csvModel}`)).body)).toEqual(pick((await client.get(`/v1/models/${fit.body.model_id}`)).body));

    const predict = async (modelId: string) => {
      const res = await client.post(`/v1/models/${modelId}/predict`, { features: testRows, output_type: 'probas' });
      const job = await waitForJob(client, res.body.job_id);
      expect(job.status).toBe('succeeded');
      return job.result;
    };
    expect(await predict(csvModel)).toEqual(await predict(fit.body.model_id));
  });

  it('a bad cell far into the file is a 422 naming its line and column, and leaves nothing stored', async () => {
    const before = (await sql.query('SELECT count(*)::int AS n FROM datasets')).rows[0].n;
    const bad = rows.map((r) => [...r]);
    bad[15_000]![1] = '-1e999';
    const res = await postCsv(`${header.join(',')}\n${bad.map((r) => r.join(',')).join('\n')}\n`);
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ field: 'file', message: 'line 15002, column "f1": infinite values are not supported' }]);
    expect((await sql.query('SELECT count(*)::int AS n FROM datasets')).rows[0].n).toBe(before);
    expect((await sql.query('SELECT count(*)::int AS n FROM dataset_parts')).rows[0].n).toBe(0);
  });
});
