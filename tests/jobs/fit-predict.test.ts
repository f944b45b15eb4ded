import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jsonCells, loadDataset, split, toCsv } from '../helpers/datasets.js';
import type { Json } from '../helpers/http.js';
import { type Stack, startStack, waitForJob } from '../helpers/stack.js';

let stack: Stack;
let client: Awaited<ReturnType<Stack['account']>>['client'];
let apiKey: string;

beforeAll(async () => {
  stack = await startStack();
  const acct = await stack.account();
  client = acct.client;
  apiKey = acct.api_key;
});
afterAll(async () => {
  await stack?.close();
});

async function postCsv(path: string, csv: string, fields: Record<string, string>): Promise<{ status: number; body: Json }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([csv], { type: 'text/csv' }), 'data.csv');
  const res = await fetch(`${stack.api.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` }, body: form });
  return { status: res.status, body: await res.json() };
}

const accuracy = (pred: unknown[], truth: string[]) => pred.filter((p, i) => String(p) === truth[i]).length / truth.length;

describe.each(['iris', 'wine', 'breast_cancer'])('%s classification end to end', (name) => {
  const ds = loadDataset(name);
  const s = split(ds);
  const featureHeader = ds.header.filter((_, j) => j !== ds.targetIndex);

  it('JSON: fit on 80 %, predict labels and probabilities for the rest', async () => {
    const fit = await client.post('/v1/models/fit', { features: jsonCells(s.trainX), target: s.trainY, feature_names: featureHeader });
    expect(fit.status).toBe(202);
    expect(fit.headers.get('location')).toBe(`/v1/jobs/${fit.body.job_id}`);
    const fitted = await waitForJob(client, fit.body.job_id);
    expect(fitted.status).toBe('succeeded');
    const model = await client.get(`/v1/models/${fit.body.model_id}`);
    expect(model.body).toMatchObject({ status: 'ready', task: 'classification', n_samples: s.trainX.length, n_features: featureHeader.length });
    expect(model.body.classes).toEqual([...new Set(s.trainY)].sort());

    const preds = await client.post(`/v1/models/${fit.body.model_id}/predict`, { features: jsonCells(s.testX) });
    expect(preds.status).toBe(202);
    const done = await waitForJob(client, preds.body.job_id);
    expect(done.status).toBe('succeeded');
    expect(done.result.output_type).toBe('preds');
    expect(done.result.predictions).toHaveLength(s.testY.length);
    expect(accuracy(done.result.predictions, s.testY)).toBeGreaterThanOrEqual(0.85);

    const probas = await client.post(`/v1/models/${fit.body.model_id}/predict`, { features: jsonCells(s.testX), output_type: 'probas' });
    const pdone = await waitForJob(client, probas.body.job_id);
    expect(pdone.status).toBe('succeeded');
    const { classes, probabilities } = pdone.result;
    expect(classes).toEqual(model.body.classes);
    expect(probabilities).toHaveLength(s.testY.length);
    for (const row of probabilities as number[][]) {
      expect(row).toHaveLength(classes.length);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    }
    const argmax = (probabilities as number[][]).map((row) => classes[row.indexOf(Math.max(...row))]);
    expect(accuracy(argmax, s.testY)).toBeGreaterThanOrEqual(0.85);
  });

  it('CSV: the same through multipart upload', async () => {
    const fit = await postCsv('/v1/models/fit', toCsv(ds.header, s.train), { target_column: ds.header[ds.targetIndex]! });
    expect(fit.status).toBe(202);
    expect((await waitForJob(client, fit.body.job_id)).status).toBe('succeeded');
    const testCsv = toCsv(featureHeader, s.testX);
    const pred = await postCsv(`/v1/models/${fit.body.model_id}/predict`, testCsv, {});
    expect(pred.status).toBe(202);
    const done = await waitForJob(client, pred.body.job_id);
    expect(done.status).toBe('succeeded');
    expect(accuracy(done.result.predictions, s.testY)).toBeGreaterThanOrEqual(0.85);
    const csv = await fetch(`${stack.api.url}/v1/jobs/${pred.body.job_id}/result`, { headers: { authorization: `Bearer ${apiKey}`, accept: 'text/csv' } });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trim().split('\n');
    expect(lines[0]).toBe('prediction');
    expect(lines).toHaveLength(s.testY.length + 1);
  });
});

describe('diabetes regression', () => {
  const ds = loadDataset('diabetes');
  const s = split(ds);
  let modelId: string;

  beforeAll(async () => {
    const fit = await client.post('/v1/models/fit', { features: jsonCells(s.trainX), target: s.trainY.map(Number) });
    modelId = fit.body.model_id;
    expect((await waitForJob(client, fit.body.job_id)).status).toBe('succeeded');
  });

  it('mean: one number per row; task inferred as regression', async () => {
    expect((await client.get(`/v1/models/${modelId}`)).body.task).toBe('regression');
    const res = await client.post(`/v1/models/${modelId}/predict`, { features: jsonCells(s.testX), output_type: 'mean' });
    const done = await waitForJob(client, res.body.job_id);
    expect(done.result.output_type).toBe('mean');
    expect(done.result.predictions).toHaveLength(s.testX.length);
    for (const p of done.result.predictions) expect(typeof p).toBe('number');
  });

  it('quantiles: one list per quantile, each one value per row', async () => {
    const res = await client.post(`/v1/models/${modelId}/predict`, { features: jsonCells(s.testX), output_type: 'quantiles', quantiles: [0.1, 0.5, 0.9] });
    const done = await waitForJob(client, res.body.job_id);
    expect(done.status).toBe('succeeded');
    expect(done.result.quantiles).toEqual([0.1, 0.5, 0.9]);
    expect(done.result.predictions).toHaveLength(3);
    for (const q of done.result.predictions) expect(q).toHaveLength(s.testX.length);
    const [lo, mid, hi] = done.result.predictions as number[][];
    expect(lo!.every((v, i) => v <= mid![i]! && mid![i]! <= hi![i]!)).toBe(true);
  });
});

describe('penguins: strings and missing values', () => {
  it('goes through end to end as JSON and CSV', async () => {
    const ds = loadDataset('penguins', 'species');
    const s = split(ds);
    const fit = await client.post('/v1/models/fit', { features: jsonCells(s.trainX), target: s.trainY });
    expect(fit.status).toBe(202);
    expect((await waitForJob(client, fit.body.job_id)).status).toBe('succeeded');
    const model = await client.get(`/v1/models/${fit.body.model_id}`);
    expect(model.body.feature_types).toContain('string');
    const pred = await client.post(`/v1/models/${fit.body.model_id}/predict`, { features: jsonCells(s.testX) });
    const done = await waitForJob(client, pred.body.job_id);
    expect(done.status).toBe('succeeded');
    expect(accuracy(done.result.predictions, s.testY)).toBeGreaterThanOrEqual(0.85);

    const csvFit = await postCsv('/v1/models/fit', toCsv(ds.header, s.train), { target_column: 'species' });
    expect((await waitForJob(client, csvFit.body.job_id)).status).toBe('succeeded');
  });
});
