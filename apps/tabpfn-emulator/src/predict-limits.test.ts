import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { crc32cBase64 } from './crc32c.js';
import { EmulatorState } from './emulator-state.js';
import { limitForVersion } from './routes/account.js';
import { type RunningEmulator, startEmulator } from './server.js';

const TOKEN = 'tok';
let emu: RunningEmulator;

beforeAll(async () => {
  emu = await startEmulator({ port: 0, tokens: [TOKEN], control: true });
});
afterAll(async () => {
  await emu.close();
});
beforeEach(() => {
  emu.state.reset();
});

const auth = { authorization: `Bearer ${TOKEN}` };

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${emu.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...auth },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as Record<string, unknown> };
}

async function put(url: string, bytes: Buffer) {
  const r = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  expect(r.status).toBe(200);
}

const info = (bytes: Buffer) => ({ format: 'csv', hash: crc32cBase64(bytes), size_bytes: bytes.byteLength });
const csv = (header: string, rows: unknown[][]) => Buffer.from(`${[header, ...rows.map((r) => r.join(','))].join('\n')}\n`);

type Task = 'classification' | 'regression';

async function fitCsv(x: Buffer, y: Buffer, task: Task): Promise<string> {
  const prep = await call('POST', '/tabpfn/prepare_train_set_upload', { x_train_info: info(x), y_train_info: info(y) });
  const body = prep.json as {
    train_set_upload_id: string;
    x_train_info: { signed_urls: string[] };
    y_train_info: { signed_urls: string[] };
  };
  await put(body.x_train_info.signed_urls[0] as string, x);
  await put(body.y_train_info.signed_urls[0] as string, y);
  const fit = await call('POST', '/tabpfn/fit', {
    train_set_upload_id: body.train_set_upload_id,
    task_config: { task, tabpfn_config: {} },
  });
  expect(fit.status).toBe(200);
  return fit.json.fitted_train_set_id as string;
}

async function predictCsv(
  fittedId: string,
  x: Buffer,
  task: Task,
  params: Record<string, unknown>,
  tabpfnConfig: Record<string, unknown> = {},
) {
  const prep = await call('POST', '/tabpfn/prepare_test_set_upload', { fitted_train_set_id: fittedId, x_test_info: info(x) });
  const tp = prep.json as { test_set_upload_id: string; x_test_info?: { signed_urls: string[] } };
  if (prep.status === 200) await put(tp.x_test_info?.signed_urls[0] as string, x);
  return call('POST', '/tabpfn/predict', {
    test_set_upload_id: tp.test_set_upload_id,
    fitted_train_set_id: fittedId,
    task_config: { task, tabpfn_config: tabpfnConfig, predict_params: params },
  });
}

// 10 train rows × 2 columns, 6 test rows × 2 columns (12 cells).
const X_TRAIN = csv(
  'a,b',
  Array.from({ length: 10 }, (_, i) => [i, i % 3 === 0 ? 'x' : 'y']),
);
const Y_REG = csv(
  'y',
  Array.from({ length: 10 }, (_, i) => [i * 1.5]),
);
const X_TEST = csv(
  'a,b',
  Array.from({ length: 6 }, (_, i) => [i + 0.5, 'x']),
);
const SPLIT = 'Split the test set across multiple calls to reduce the number of rows.';

describe('PUT/DELETE /_emulator/limits', () => {
  it('overrides the given fields in every model version and max_model_limit, visible in get_settings at once', async () => {
    const before = (await call('GET', '/tabpfn/get_settings')).json as { model_limits: Record<string, Record<string, number>> };
    const put = await call('PUT', '/_emulator/limits', { test_set_max_rows: 7, predict_row_pairs_budget: 1000 });
    expect(put.status).toBe(200);
    const limits = put.json as { max_model_limit: Record<string, number>; model_limits: Record<string, Record<string, number>> };
    expect(Object.keys(limits.model_limits).sort()).toEqual(['v2', 'v2.5', 'v2.6', 'v3']);
    for (const l of [limits.max_model_limit, ...Object.values(limits.model_limits)]) {
      expect(l).toMatchObject({ test_set_max_rows: 7, predict_row_pairs_budget: 1000 });
    }
    // Untouched fields keep each version's fixture value.
    expect(limits.model_limits.v2?.test_set_max_rows_w_full_regression_output).toBe(500);
    expect(limits.model_limits.v3?.test_set_max_rows_w_full_regression_output).toBe(2000);

    const settings = (await call('GET', '/tabpfn/get_settings')).json;
    expect(settings).toMatchObject({ max_model_limit: limits.max_model_limit, model_limits: limits.model_limits });
    expect((await call('GET', '/tabpfn/get_model_limits')).json).toMatchObject({ model_limits: limits.model_limits });
    expect((await call('GET', '/_emulator/limits')).json).toEqual(limits);

    // A second PUT merges with the first.
    const merged = (await call('PUT', '/_emulator/limits', { test_set_max_cells: 99 })).json as typeof limits;
    expect(merged.model_limits.v2).toMatchObject({ test_set_max_rows: 7, test_set_max_cells: 99 });

    const restored = await call('DELETE', '/_emulator/limits');
    expect(restored.json.model_limits).toEqual(before.model_limits);
    expect((await call('GET', '/tabpfn/get_settings')).json.model_limits).toEqual(before.model_limits);
  });

  it('rejects unknown fields and non-positive or fractional values like the other control routes', async () => {
    for (const body of [{ nope: 1 }, { test_set_max_rows: 0 }, { test_set_max_rows: -5 }, { max_cols: 1.5 }, { max_classes: '3' }]) {
      const r = await call('PUT', '/_emulator/limits', body);
      expect([body, r.status]).toEqual([body, 422]);
      expect(r.json.error_code).toBe('REQUEST_VALIDATION_ERROR');
    }
    expect(((await call('GET', '/tabpfn/get_settings')).json.max_model_limit as Record<string, number>).test_set_max_rows).toBe(1_000_000);
  });

  it('is undone by POST /_emulator/reset', async () => {
    await call('PUT', '/_emulator/limits', { test_set_max_rows: 3 });
    await call('POST', '/_emulator/reset');
    expect(((await call('GET', '/tabpfn/get_settings')).json.max_model_limit as Record<string, number>).test_set_max_rows).toBe(1_000_000);
  });

  it('takes start-time overrides from the `limits` option, which reset and DELETE return to', () => {
    const state = new EmulatorState({ limits: { test_set_max_rows: 42 } });
    expect(limitForVersion(state, 'v2').test_set_max_rows).toBe(42);
    state.setLimits({ test_set_max_rows: 5, max_cols: 9 });
    expect(limitForVersion(state, 'v2')).toMatchObject({ test_set_max_rows: 5, max_cols: 9 });
    state.clearLimits();
    expect(limitForVersion(state, 'v2')).toMatchObject({ test_set_max_rows: 42, max_cols: 500 });
    state.setLimits({ test_set_max_rows: 5 });
    state.reset();
    expect(limitForVersion(state, 'v3').test_set_max_rows).toBe(42);
  });

  it('resolves a model version to the same or closest lower key, else the default (v3)', () => {
    const state = new EmulatorState();
    const full = (v: string | undefined) => limitForVersion(state, v).test_set_max_rows_w_full_regression_output;
    expect([full(undefined), full('v2'), full('v2.5'), full('v2.6'), full('v2.7'), full('v3'), full('v4'), full('v1')]).toEqual([
      2000, 500, 1000, 1000, 1000, 2000, 2000, 2000,
    ]);
  });
});

describe('POST /tabpfn/predict enforces the per-call test-set limits', () => {
  async function refused(r: { status: number; json: Record<string, unknown> }, message: string) {
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error_code: 'USER_ERROR', message, trace_id: expect.any(String) });
  }

  it('refuses too many test rows (test_set_max_rows), uncounted and uncharged', async () => {
    const fitted = await fitCsv(X_TRAIN, Y_REG, 'regression');
    await call('PUT', '/_emulator/limits', { test_set_max_rows: 5 });
    const usageBefore = emu.state.usage.report(TOKEN);
    await refused(
      await predictCsv(fitted, X_TEST, 'regression', { output_type: 'mean' }),
      `The number of test rows (6) exceeds the maximum of 5. ${SPLIT}`,
    );
    expect(emu.state.countersFor(TOKEN).predicts).toBe(0);
    expect(emu.state.usage.report(TOKEN)).toEqual(usageBefore);

    await call('PUT', '/_emulator/limits', { test_set_max_rows: 6 });
    const ok = await predictCsv(fitted, X_TEST, 'regression', { output_type: 'mean' });
    expect(ok.status).toBe(200);
    expect(ok.json.prediction).toHaveLength(6);
    expect(emu.state.countersFor(TOKEN).predicts).toBe(1);
  });

  it('caps rows at predict_row_pairs_budget // train rows', async () => {
    const fitted = await fitCsv(X_TRAIN, Y_REG, 'regression');
    await call('PUT', '/_emulator/limits', { predict_row_pairs_budget: 59 });
    await refused(
      await predictCsv(fitted, X_TEST, 'regression', { output_type: 'mean' }),
      `The number of test rows (6) exceeds the maximum of 5. ${SPLIT}`,
    );
    await call('PUT', '/_emulator/limits', { predict_row_pairs_budget: 60 });
    expect((await predictCsv(fitted, X_TEST, 'regression', { output_type: 'mean' })).status).toBe(200);
  });

  it('caps full regression output at test_set_max_rows_w_full_regression_output, and only full output', async () => {
    const fitted = await fitCsv(X_TRAIN, Y_REG, 'regression');
    await call('PUT', '/_emulator/limits', { test_set_max_rows_w_full_regression_output: 4 });
    await refused(
      await predictCsv(fitted, X_TEST, 'regression', { output_type: 'full' }),
      `The number of test rows (6) exceeds the maximum of 4 for full regression output. ${SPLIT}`,
    );
    for (const outputType of ['mean', 'main', 'quantiles']) {
      expect((await predictCsv(fitted, X_TEST, 'regression', { output_type: outputType })).status).toBe(200);
    }
  });

  it('refuses too many test cells (rows × columns)', async () => {
    const fitted = await fitCsv(X_TRAIN, Y_REG, 'regression');
    await call('PUT', '/_emulator/limits', { test_set_max_cells: 11 });
    await refused(
      await predictCsv(fitted, X_TEST, 'regression', { output_type: 'mean' }),
      'The number of test cells (12) exceeds the maximum of 11.',
    );
    await call('PUT', '/_emulator/limits', { test_set_max_cells: 12 });
    expect((await predictCsv(fitted, X_TEST, 'regression', { output_type: 'mean' })).status).toBe(200);
  });

  it('uses the limits of the model version model_path names (fixtures: v2 full output ≤ 500, v3 ≤ 2000)', async () => {
    const fitted = await fitCsv(X_TRAIN, Y_REG, 'regression');
    const big = csv(
      'a,b',
      Array.from({ length: 600 }, (_, i) => [i / 60, 'y']),
    );
    const v2 = await predictCsv(fitted, big, 'regression', { output_type: 'full' }, { model_path: 'tabpfn-v2-regressor-v2_default.ckpt' });
    await refused(v2, `The number of test rows (600) exceeds the maximum of 500 for full regression output. ${SPLIT}`);
    expect((await predictCsv(fitted, big, 'regression', { output_type: 'full' })).status).toBe(200);
    const v25 = { model_path: 'tabpfn-v2.5-regressor-v2.5_default.ckpt' };
    expect((await predictCsv(fitted, big, 'regression', { output_type: 'full' }, v25)).status).toBe(200);
  });

  it('records every predict with its arrival time (atMs) and route, refused ones with status 400', async () => {
    const fitted = await fitCsv(X_TRAIN, Y_REG, 'regression');
    const t0 = Date.now();
    await call('PUT', '/_emulator/limits', { test_set_max_rows: 5 });
    await predictCsv(fitted, X_TEST, 'regression', { output_type: 'mean' });
    await call('DELETE', '/_emulator/limits');
    await predictCsv(fitted, X_TEST, 'regression', { output_type: 'mean' });
    const t1 = Date.now();
    const { requests } = (await call('GET', '/_emulator/requests?route=predict')).json as {
      requests: { at: string; atMs: number; route: string; status: number }[];
    };
    expect(requests.map((r) => [r.route, r.status])).toEqual([
      ['predict', 400],
      ['predict', 200],
    ]);
    for (const r of requests) {
      expect(r.atMs).toBeGreaterThanOrEqual(t0);
      expect(r.atMs).toBeLessThanOrEqual(t1);
      expect(Date.parse(r.at)).toBe(r.atMs);
    }
    expect(emu.state.countersFor(TOKEN).predicts).toBe(1);
  });

  it('applies to the Gen L predict too (SSE error event)', async () => {
    const fitted = await fitCsv(X_TRAIN, Y_REG, 'regression');
    await call('PUT', '/_emulator/limits', { test_set_max_rows: 5 });
    const form = new FormData();
    form.append('x_file', new Blob([X_TEST]), 'x_test.csv');
    const r = await fetch(`${emu.url}/predict/?train_set_uid=${fitted}&task=regression`, { method: 'POST', headers: auth, body: form });
    const sse = await r.text();
    expect(sse).toContain(`The number of test rows (6) exceeds the maximum of 5. ${SPLIT}`);
    expect(sse).not.toContain('"result"');
    expect(emu.state.countersFor(TOKEN).predicts).toBe(0);
  });
});

/** Deterministic pseudo-random numbers, so the data is the same every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('predictions do not depend on how the test set is split across calls', () => {
  // Column c is categorical in the train set ("x" makes it so) but spelled like numbers ("1.0", "2.0"): a test
  // chunk without an "x" reads it as numbers, which must not change the rows' predictions.
  const rand = lcg(7);
  const cats = ['1.0', '2.0', 'x'];
  const trainRows = Array.from({ length: 60 }, (_, i) => [(rand() * 10).toFixed(3), (rand() * 5 - 2).toFixed(3), cats[i % 3]]);
  const X = csv('a,b,c', trainRows);
  const yClass = csv(
    'y',
    trainRows.map((r) => [Number(r[0]) + (r[2] === 'x' ? 3 : 0) > 6 ? 'hi' : 'lo']),
  );
  const yReg = csv(
    'y',
    trainRows.map((r) => [(Number(r[0]) * 2 - Number(r[1]) + (r[2] === '2.0' ? 4 : 0)).toFixed(3)]),
  );
  // 23 rows; the first chunk of 5 has no "x" in column c.
  const testRows = Array.from({ length: 23 }, (_, i) => [
    (rand() * 10).toFixed(3),
    (rand() * 5 - 2).toFixed(3),
    i < 5 ? cats[i % 2] : cats[i % 3],
  ]);
  const chunks = [0, 5, 10, 15, 20].map((start) => testRows.slice(start, start + 5));

  async function whole<T>(fitted: string, task: Task, params: Record<string, unknown>): Promise<T> {
    const r = await predictCsv(fitted, csv('a,b,c', testRows), task, params);
    expect(r.status).toBe(200);
    return r.json.prediction as T;
  }
  async function split<T>(fitted: string, task: Task, params: Record<string, unknown>): Promise<T[]> {
    const out: T[] = [];
    for (const rows of chunks) {
      const r = await predictCsv(fitted, csv('a,b,c', rows), task, params);
      expect(r.status).toBe(200);
      out.push(r.json.prediction as T);
    }
    return out;
  }

  it('classification: preds and probas, row for row', async () => {
    const fitted = await fitCsv(X, yClass, 'classification');
    for (const outputType of ['preds', 'probas']) {
      const one = await whole<unknown[]>(fitted, 'classification', { output_type: outputType });
      const parts = await split<unknown[]>(fitted, 'classification', { output_type: outputType });
      expect(one).toHaveLength(23);
      expect(parts.flat()).toEqual(one);
    }
  });

  it('regression: mean, quantiles (n_quantiles × n_rows) and full (per-row arrays concatenate, borders identical)', async () => {
    const fitted = await fitCsv(X, yReg, 'regression');
    const mean = await whole<number[]>(fitted, 'regression', { output_type: 'mean' });
    expect((await split<number[]>(fitted, 'regression', { output_type: 'mean' })).flat()).toEqual(mean);

    const quantiles = [0.1, 0.5, 0.9];
    const q = await whole<number[][]>(fitted, 'regression', { output_type: 'quantiles', quantiles });
    const qParts = await split<number[][]>(fitted, 'regression', { output_type: 'quantiles', quantiles });
    expect(q).toHaveLength(3);
    expect(quantiles.map((_, qi) => qParts.flatMap((p) => p[qi] as number[]))).toEqual(q);

    type Full = { mean: number[]; median: number[]; mode: number[]; quantiles: number[][]; logits: number[][]; borders: number[] };
    const full = await whole<Full>(fitted, 'regression', { output_type: 'full' });
    const fullParts = await split<Full>(fitted, 'regression', { output_type: 'full' });
    for (const key of ['mean', 'median', 'mode', 'logits'] as const) {
      expect(fullParts.flatMap((p) => p[key] as unknown[])).toEqual(full[key]);
    }
    expect(full.quantiles).toHaveLength(9);
    expect(full.quantiles.map((_, qi) => fullParts.flatMap((p) => p.quantiles[qi] as number[]))).toEqual(full.quantiles);
    for (const p of fullParts) expect(p.borders).toEqual(full.borders);
  });
});
