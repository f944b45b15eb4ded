import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { jsonCells, loadDataset, split, toCsv } from '../helpers/datasets.js';
import { VALID_TOKEN } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { type Stack, startStack, waitForJob } from '../helpers/stack.js';

// Inputs found by probing the running API: each used to crash it, stall it, or answer 500.
const iris = split(loadDataset('iris'));
const irisHeader = loadDataset('iris').header;
const X = jsonCells(iris.trainX);
const Y = iris.trainY;
const T = jsonCells(iris.testX);

let stack: Stack;
let sql: pg.Client;
let a: Awaited<ReturnType<Stack['account']>>;
let modelId: string;
let fitJobId: string;
let predictJobId: string;

const jobCount = async () => (await sql.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n as number;
const raw = (path: string, body: string | Buffer, contentType: string, headers: Record<string, string> = {}) =>
  fetch(`${stack.api.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${a.api_key}`, 'content-type': contentType, ...headers }, body });
const multipart = (parts: string) => raw('/v1/models/fit', parts, 'multipart/form-data; boundary=XX');

beforeAll(async () => {
  stack = await startStack();
  sql = new pg.Client({ connectionString: stack.db.url });
  await sql.connect();
  a = await stack.account(VALID_TOKEN);
  const fit = await a.client.post('/v1/models/fit', { features: X, target: Y });
  fitJobId = fit.body.job_id;
  modelId = fit.body.model_id;
  expect((await waitForJob(a.client, fitJobId)).status).toBe('succeeded');
  predictJobId = (await a.client.post(`/v1/models/${modelId}/predict`, { features: T.slice(0, 3) })).body.job_id;
  expect((await waitForJob(a.client, predictJobId)).status).toBe('succeeded');
});
afterAll(async () => {
  await sql?.end();
  await stack?.close();
});

describe('multipart bodies that end early or carry too much', () => {
  it('a file part that never reaches its closing boundary → 422 on body, and the API keeps serving', async () => {
    const res = await multipart('--XX\r\nContent-Disposition: form-data; name="file"; filename="s.csv"\r\n\r\na,b,y\n1,2,x\n');
    expect(res.status).toBe(422);
    expect(((await res.json()) as { errors: { field: string }[] }).errors[0]!.field).toBe('body');
    expect((await fetch(`${stack.api.url}/health`)).status).toBe(200);
  });

  it('a second file part, a duplicated CSV column, or a NUL in a header → 422 on file', async () => {
    const part = (name: string, body: string) => `--XX\r\nContent-Disposition: form-data; name="${name}"; filename="x.csv"\r\n\r\n${body}\r\n`;
    const field = (name: string, value: string) => `--XX\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    const csv = toCsv(irisHeader, iris.train);
    const before = await jobCount();
    for (const body of [
      `${field('target_column', 'species')}${part('file', csv)}${part('file', csv)}--XX--\r\n`,
      `${field('target_column', 'y')}${part('file', 'a,a,y\n1,2,x\n3,4,z\n')}--XX--\r\n`,
      `${field('target_column', 'y')}${part('file', 'a\u0000,b,y\n1,2,x\n3,4,z\n')}--XX--\r\n`,
    ]) {
      const res = await multipart(body);
      expect(res.status).toBe(422);
      expect(((await res.json()) as { errors: { field: string }[] }).errors[0]!.field).toBe('file');
    }
    expect(await jobCount()).toBe(before);
  });
});

describe('strings Postgres cannot store, and nesting without end', () => {
  it.each([
    ['NUL in a feature name', '/v1/models/fit', { features: [[1, 2], [3, 4], [5, 6]], target: ['a', 'b', 'a'], feature_names: ['x\u0000', 'y'] }, 'feature_names[0]'],
    ['NUL in the description', '/v1/models/fit', { features: X, target: Y, description: 'd\u0000' }, 'description'],
    ['NUL in a class label', '/v1/models/fit', { features: [[1], [2], [3]], target: ['a\u0000', 'b', 'a'] }, 'target[0]'],
    ['a lone surrogate in a class label', '/v1/models/fit', { features: [[1], [2], [3]], target: ['\ud800', 'b', 'b'] }, 'target[0]'],
    ['NUL inside inference_config', '/v1/models/fit', { features: X, target: Y, config: { inference_config: { k: '\u0000' } } }, 'config.inference_config.k'],
    ['NUL in an API key name', '/v1/auth/keys', { name: 'a\u0000b' }, 'name'],
  ])('%s → 422 naming it, no job row', async (_name, path, body, field) => {
    const before = await jobCount();
    const res = await a.client.post(path, body);
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe(field);
    expect(await jobCount()).toBe(before);
  });

  it('config nested thousands of levels deep → 422 naming the path (no stack overflow)', async () => {
    const deep = `{"features":[[1,2],[3,4],[5,6]],"target":["a","b","a"],"config":{"inference_config":{"k":${'['.repeat(3000)}${']'.repeat(3000)}}}}`;
    const res = await raw('/v1/models/fit', deep, 'application/json');
    expect(res.status).toBe(422);
    const body = (await res.json()) as { errors: { field: string; message: string }[] };
    expect(body.errors[0]!.field).toMatch(/^config\.inference_config\.k/);
    expect(body.errors[0]!.message).toContain('deeper');
  });

  it('the same checks hold in multipart form fields', async () => {
    const csv = toCsv(irisHeader, iris.train);
    const body = `--XX\r\nContent-Disposition: form-data; name="target_column"\r\n\r\nspecies\r\n--XX\r\nContent-Disposition: form-data; name="config"\r\n\r\n{"inference_config":{"k":"\\u0000"}}\r\n--XX\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n${csv}\r\n--XX--\r\n`;
    const res = await multipart(body);
    expect(res.status).toBe(422);
    expect(((await res.json()) as { errors: { field: string }[] }).errors[0]!.field).toBe('config.inference_config.k');
  });

  it('a token with characters no HTTP header can carry → 422 on tabpfn_token, not 503', async () => {
    const res = await request(stack.api.url).post('/v1/auth/setup', { tabpfn_token: 'tök€n' });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe('tabpfn_token');
  });
});

describe('shapes and formats', () => {
  it('a fit with 200,000 columns is refused quickly on its shape, before encoding', async () => {
    const row = Array(200_000).fill(1);
    const before = await jobCount();
    const res = await a.client.post('/v1/models/fit', { features: [row, row, row], target: ['a', 'b', 'a'] });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe('features');
    expect(res.body.errors[0].message).toContain('columns');
    expect(await jobCount()).toBe(before);
  });

  it('cursors this API never issued → 422 on cursor', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    for (const cursor of [b64(`2026-01-01T00:00:00.000Z|${'-'.repeat(36)}`), b64('-271821-04-20T00:00:00.000Z|00000000-0000-0000-0000-000000000000'), 'garbage']) {
      const res = await a.client.get(`/v1/jobs?cursor=${cursor}`);
      expect(res.status).toBe(422);
      expect(res.body.errors[0].field).toBe('cursor');
    }
  });

  it('a fit result as CSV, or any result as XML → 406; a text/csv request body → 415', async () => {
    expect((await a.client.get(`/v1/jobs/${fitJobId}/result`, { accept: 'text/csv' })).status).toBe(406);
    expect((await a.client.get(`/v1/jobs/${predictJobId}/result`, { accept: 'application/xml' })).status).toBe(406);
    const csv = await a.client.get(`/v1/jobs/${predictJobId}/result`, { accept: 'text/csv' });
    expect(csv.status).toBe(200);
    expect(csv.text.trim().split('\n')).toHaveLength(4);
    expect((await raw('/v1/models/fit', 'a,b\n1,2\n', 'text/csv')).status).toBe(415);
  });

  it('a known path with the wrong method → 405 with Allow; an unknown path stays 404', async () => {
    const res = await fetch(`${stack.api.url}/v1/jobs/${fitJobId}`, { method: 'DELETE', headers: { authorization: `Bearer ${a.api_key}` } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expect(((await res.json()) as { code: string }).code).toBe('method_not_allowed');
    expect((await fetch(`${stack.api.url}/v1/nope`, { method: 'DELETE' })).status).toBe(404);
  });

  it('options that do not exist are refused; messages do not repeat the field', async () => {
    const rotate = await a.client.post('/v1/webhooks/secret/rotate', { keep_old: false });
    expect(rotate.status).toBe(422);
    expect(rotate.body.errors[0].field).toBe('keep_old');
    const model = await a.client.post('/v1/models/fit', { features: X, target: Y, model: 'v9_nonexistent' });
    expect(model.body.errors[0]).toEqual({ field: 'model', message: expect.stringMatching(/^Invalid model name/) });
  });

  it('multipart categorical_features by index ("0") or by name', async () => {
    const csv = 'color,size,y\nred,1,a\nblue,2,b\nred,3,a\nblue,4,b\n';
    for (const cat of ['0', 'color']) {
      const body = `--XX\r\nContent-Disposition: form-data; name="target_column"\r\n\r\ny\r\n--XX\r\nContent-Disposition: form-data; name="categorical_features"\r\n\r\n${cat}\r\n--XX\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n${csv}\r\n--XX--\r\n`;
      const res = await multipart(body);
      expect(res.status).toBe(202);
      const job = (await res.json()) as { params: { categorical_features: number[] } };
      expect(job.params.categorical_features).toEqual([0]);
    }
  });

  it('numerals that overflow to ±Infinity are refused in JSON and CSV cells, naming the cell; NaN/NA cells are missing values', async () => {
    const before = await jobCount();
    for (const spelling of ['1e999', '-1e999', 'Infinity', '-inf']) {
      const features = X.slice(0, 6).map((r) => [...r]);
      features[4]![2] = spelling;
      const json = await a.client.post('/v1/models/fit', { features, target: Y.slice(0, 6) });
      expect(json.status).toBe(422);
      expect(json.body.errors).toEqual([{ field: 'features[4][2]', message: 'infinite values are not supported' }]);

      const predict = await a.client.post(`/v1/models/${modelId}/predict`, { features });
      expect(predict.status).toBe(422);
      expect(predict.body.errors[0].field).toBe('features[4][2]');

      // CSV: line 6 is the fifth data row (line 1 is the header).
      const rows = iris.train.slice(0, 6).map((r) => [...r]);
      rows[4]![2] = spelling;
      const csv = await multipart(`--XX\r\nContent-Disposition: form-data; name="target_column"\r\n\r\nspecies\r\n--XX\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n${toCsv(irisHeader, rows)}\r\n--XX--\r\n`);
      expect(csv.status).toBe(422);
      const problem = (await csv.json()) as { errors: { field: string; message: string }[] };
      expect(problem.errors[0]).toEqual({ field: 'file', message: `line 6, column "${irisHeader[2]}": infinite values are not supported` });
    }
    expect(await jobCount()).toBe(before);

    // The same NA spellings are missing values whether they arrive as JSON strings or as CSV cells.
    // Rows spread over the train set, so that every class is present.
    const pick = <T>(all: T[]) => all.filter((_, i) => i % Math.floor(all.length / 12) === 0);
    const rows = pick(iris.train).map((r) => [...r]);
    rows[1]![0] = 'NaN';
    rows[2]![1] = 'NA';
    const viaCsv = await multipart(`--XX\r\nContent-Disposition: form-data; name="target_column"\r\n\r\nspecies\r\n--XX\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n${toCsv(irisHeader, rows)}\r\n--XX--\r\n`);
    const features = pick(X).map((r) => [...r]);
    features[1]![0] = 'NaN';
    features[2]![1] = 'NA';
    const viaJson = await a.client.post('/v1/models/fit', { features, target: pick(Y), feature_names: irisHeader.slice(0, 4) });
    expect([viaCsv.status, viaCsv.status === 202 ? "" : await viaCsv.clone().text()]).toEqual([202, ""]);
    expect(viaJson.status).toBe(202);
    const datasets = await sql.query('SELECT d.content_hash FROM models m JOIN datasets d ON d.id = m.dataset_id WHERE m.id = ANY($1)', [
      [((await viaCsv.json()) as { model_id: string }).model_id, viaJson.body.model_id],
    ]);
    expect(datasets.rows).toHaveLength(2);
    expect(datasets.rows[0].content_hash).toBe(datasets.rows[1].content_hash);
  });

  it('paging one job at a time visits every job, also when they were created within one millisecond', async () => {
    await sql.query(
      `UPDATE jobs j SET created_at = timestamptz '2026-01-01 00:00:00.000+00' + make_interval(secs => n.i * 0.000001)
       FROM (SELECT id, row_number() OVER (ORDER BY id) AS i FROM jobs WHERE user_id = $1) n WHERE j.id = n.id`,
      [a.user_id],
    );
    const all = (await sql.query('SELECT id FROM jobs WHERE user_id = $1', [a.user_id])).rows.map((r) => r.id as string);
    expect(all.length).toBeGreaterThan(2);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof a.client.get>> = await a.client.get(`/v1/jobs?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.data.map((j: { job_id: string }) => j.job_id));
      cursor = page.body.next_cursor;
    } while (cursor && seen.length <= all.length);
    expect(seen.sort()).toEqual(all.sort());
  });
});
