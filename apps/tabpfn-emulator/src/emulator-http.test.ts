import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { crc32cBase64 } from './crc32c.js';
import { type RunningEmulator, startEmulator } from './server.js';

const TOKEN = 'tok';
let emu: RunningEmulator;

beforeAll(async () => {
  emu = await startEmulator({ port: 0, tokens: [TOKEN], unverifiedTokens: ['unverified'], control: true });
});
afterAll(async () => {
  await emu.close();
});
beforeEach(() => {
  emu.state.reset();
});

const auth = { authorization: `Bearer ${TOKEN}` };

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = auth) {
  const res = await fetch(`${emu.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

function put(url: string, bytes: Uint8Array | string) {
  return fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: bytes });
}

const info = (bytes: Buffer, format = 'csv') => ({ format, hash: crc32cBase64(bytes), size_bytes: bytes.byteLength });

/** Prepares and uploads a train set; CSV keeps this test independent of any parquet writer. */
async function uploadTrain(x: Buffer, y: Buffer, format = 'csv') {
  const prep = await call('POST', '/tabpfn/prepare_train_set_upload', { x_train_info: info(x, format), y_train_info: info(y, format) });
  expect(prep.status).toBe(200);
  const body = prep.json as {
    train_set_upload_id: string;
    x_train_info: { signed_urls: string[] };
    y_train_info: { signed_urls: string[] };
  };
  for (const [bytes, urls] of [
    [x, body.x_train_info.signed_urls],
    [y, body.y_train_info.signed_urls],
  ] as const) {
    expect(urls).toHaveLength(1);
    expect((await put(urls[0] as string, bytes)).status).toBe(200);
  }
  return body.train_set_upload_id;
}

const X = Buffer.from('a,b\n1,x\n2,y\n3,x\n4,y\n');
const Y = Buffer.from('0\nu\nv\nu\nv\n');
const fitBody = (id: string) => ({ train_set_upload_id: id, task_config: { task: 'classification', tabpfn_config: {} } });

function expectErrorBody(r: { json?: Record<string, unknown> | undefined }, code: string) {
  expect(r.json).toMatchObject({ message: expect.any(String), error_code: code, trace_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
}

describe('emulator robustness', () => {
  it('answers malformed JSON with 422 and keeps serving', async () => {
    const r = await call('POST', '/tabpfn/fit', '{"train_set_upload_id": ');
    expect(r.status).toBe(422);
    expectErrorBody(r, 'REQUEST_VALIDATION_ERROR');
    const wrongShape = await call('POST', '/tabpfn/prepare_train_set_upload', { x_train_info: { size_bytes: 'big' } });
    expect(wrongShape.status).toBe(422);
    expect(wrongShape.json?.detail).toEqual(expect.arrayContaining([expect.objectContaining({ loc: expect.arrayContaining(['body']) })]));
    expect((await call('GET', '/')).status).toBe(200);
  });

  it('answers unknown ids with 404 NOT_FOUND', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const [path, body] of [
      ['/tabpfn/fit', fitBody(unknown)],
      ['/tabpfn/submit_fit_job', fitBody(unknown)],
      ['/tabpfn/get_fit_status', { fitted_train_set_id: unknown }],
      ['/tabpfn/prepare_test_set_upload', { fitted_train_set_id: unknown, x_test_info: { format: 'csv', size_bytes: 3 } }],
      [
        '/tabpfn/predict',
        {
          test_set_upload_id: unknown,
          fitted_train_set_id: unknown,
          task_config: { task: 'regression', predict_params: { output_type: 'mean' } },
        },
      ],
    ] as const) {
      const r = await call('POST', path, body);
      expect([path, r.status]).toEqual([path, 404]);
      expectErrorBody(r, 'NOT_FOUND');
    }
    expect((await call('GET', `/tabpfn/fit/${unknown}`)).status).toBe(404);
    expect((await call('DELETE', `/delete_dataset/?dataset_uid=${unknown}`)).status).toBe(404);
    const route = await call('GET', '/no/such/route');
    expect(route.status).toBe(404);
    expectErrorBody(route, 'NOT_FOUND');
  });

  it('rejects a PUT to an expired URL with GCS XML, and a tampered signature with 403', async () => {
    emu.state.configure({ uploadUrlTtlMs: -1 });
    const prep = await call('POST', '/tabpfn/prepare_train_set_upload', { x_train_info: info(X), y_train_info: info(Y) });
    const url = (prep.json as { x_train_info: { signed_urls: string[] } }).x_train_info.signed_urls[0] as string;
    const expired = await put(url, X);
    expect(expired.status).toBe(400);
    expect(await expired.text()).toContain('<Code>ExpiredToken</Code>');
    const tampered = await put(url.replace(/signature=[0-9a-f]/, 'signature=z'), X);
    expect(tampered.status).toBe(403);
    expect(await tampered.text()).toContain('SignatureDoesNotMatch');
    expect((await call('GET', '/')).status).toBe(200);
  });

  it('requires the signed Content-Type header on the PUT and ignores Authorization', async () => {
    const prep = await call('POST', '/tabpfn/prepare_train_set_upload', { x_train_info: info(X), y_train_info: info(Y) });
    const url = (prep.json as { x_train_info: { signed_urls: string[] } }).x_train_info.signed_urls[0] as string;
    const noType = await fetch(url, { method: 'PUT', body: X, headers: { 'content-type': 'text/plain' } });
    expect(noType.status).toBe(403);
    const ok = await fetch(url, {
      method: 'PUT',
      body: X,
      headers: { 'content-type': 'application/octet-stream', authorization: 'Bearer whatever' },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-goog-hash')).toBe(`crc32c=${crc32cBase64(X)}`);
  });

  it('answers a corrupt parquet file with 400 USER_ERROR on fit', async () => {
    const garbage = Buffer.from('PAR1 this is not parquet at all PAR1');
    const id = await uploadTrain(garbage, garbage, 'parquet');
    const r = await call('POST', '/tabpfn/fit', fitBody(id));
    expect(r.status).toBe(400);
    expectErrorBody(r, 'USER_ERROR');
    expect(r.json?.message).toMatch(/Could not read x_train as parquet/);
    expect((await call('GET', '/')).status).toBe(200);
  });

  it('rejects a fit of an incomplete or hash-mismatched upload', async () => {
    const prep = await call('POST', '/tabpfn/prepare_train_set_upload', { x_train_info: info(X), y_train_info: info(Y) });
    const id = (prep.json as { train_set_upload_id: string }).train_set_upload_id;
    const incomplete = await call('POST', '/tabpfn/fit', fitBody(id));
    expect(incomplete.status).toBe(400);
    expectErrorBody(incomplete, 'UPLOAD_INCOMPLETE');
    const body = prep.json as { x_train_info: { signed_urls: string[] }; y_train_info: { signed_urls: string[] } };
    await put(body.x_train_info.signed_urls[0] as string, X);
    await put(body.y_train_info.signed_urls[0] as string, Buffer.from('0\nu\nv\nu\nw\n'));
    const mismatch = await call('POST', '/tabpfn/fit', fitBody(id));
    expect(mismatch.status).toBe(400);
    expectErrorBody(mismatch, 'UPLOAD_HASH_MISMATCH');
  });

  it('fits and predicts from CSV uploads, accepting the flat Gen A body too', async () => {
    const id = await uploadTrain(X, Y);
    const fit = await call('POST', '/tabpfn/fit', { train_set_upload_id: id, task: 'classification', tabpfn_config: {} });
    expect(fit.json).toEqual({ fitted_train_set_id: expect.any(String), status: 'completed' });
    const fittedId = fit.json?.fitted_train_set_id as string;
    const xTest = Buffer.from('a,b\n1.2,x\n');
    const prep = await call('POST', '/tabpfn/prepare_test_set_upload', { fitted_train_set_id: fittedId, x_test_info: info(xTest) });
    const tp = prep.json as { test_set_upload_id: string; x_test_info: { signed_urls: string[] } };
    await put(tp.x_test_info.signed_urls[0] as string, xTest);
    const pred = await call('POST', '/tabpfn/predict', {
      test_set_upload_id: tp.test_set_upload_id,
      fitted_train_set_id: fittedId,
      task: 'classification',
      predict_params: { output_type: 'probas' },
    });
    expect(pred.status).toBe(200);
    expect((pred.json as { prediction: number[][] }).prediction[0]).toHaveLength(2);
    const badType = await call('POST', '/tabpfn/predict', {
      test_set_upload_id: tp.test_set_upload_id,
      fitted_train_set_id: fittedId,
      task_config: { task: 'classification', predict_params: { output_type: 'quantiles' } },
    });
    expect(badType.status).toBe(422);
    const status = await call('GET', `/tabpfn/fit/${fittedId}`);
    expect(status.json).toEqual({ fitted_train_set_id: fittedId, status: 'completed' });
  });

  it('answers 401 for unknown tokens and 403 for unverified ones', async () => {
    const bad = await call('POST', '/tabpfn/prepare_train_set_upload', {}, { authorization: 'Bearer nope' });
    expect(bad.status).toBe(401);
    expectErrorBody(bad, 'UNAUTHORIZED');
    expect((await call('GET', '/protected/', undefined, {})).status).toBe(401);
    expect((await call('GET', '/protected/', undefined, { authorization: 'Bearer unverified' })).status).toBe(403);
    expect((await call('POST', '/tabpfn/fit', fitBody('x'), { authorization: 'Bearer unverified' })).status).toBe(403);
  });

  it('serves settings, model limits, greetings, usage and cost estimates', async () => {
    const settings = await call('GET', '/tabpfn/get_settings', undefined, {});
    expect(settings.json).toMatchObject({
      default_model_version: 'v3',
      async_settings: { use_above_trainset_size_bytes: 52_428_800, poll_timeout_secs: 7200 },
    });
    const limits = await call('GET', '/tabpfn/get_model_limits');
    expect(limits.json).toHaveProperty('model_limits.v2');
    expect(limits.json).not.toHaveProperty('async_settings');
    expect((await call('GET', '/retrieve_greeting_messages/')).json).toEqual({ messages: [] });
    expect((await call('POST', '/get_api_usage/')).json).toMatchObject({
      current_usage: 0,
      usage_limit: 50_000_000,
      daily_tokens_used: 0,
      monthly_token_limit: 200_000_000,
    });
    const v2 = await call('POST', '/tabpfn/estimate_cost', {
      train_rows: 1000,
      test_rows: 100,
      raw_columns: 10,
      operation: 'predict',
      model_version: 'v2.5',
    });
    expect(v2.json).toMatchObject({ estimated_cost: 88_000, pricing_version: 'legacy_v2' });
    const v3 = await call('POST', '/tabpfn/estimate_cost', { train_rows: 10, test_rows: 1, raw_columns: 2, operation: 'predict' });
    expect(v3.json).toMatchObject({ estimated_cost: 10_000, pricing_version: 'quota_v3' });
  });
});

describe('control endpoints', () => {
  it('inject faults, set latency, forget fits, read counters and reset over HTTP', async () => {
    const fault = await call('POST', '/_emulator/faults', { route: 'protected', status: 503, count: 2 });
    expect(fault.status).toBe(201);
    expect((await call('GET', '/protected/')).status).toBe(503);
    expect((await call('GET', '/protected/')).status).toBe(503);
    expect((await call('GET', '/protected/')).status).toBe(200);
    await call('POST', '/_emulator/faults', { route: 'protected', status: 429, retryAfter: 9 });
    const limited = await call('GET', '/protected/');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('9');
    expect((await call('POST', '/_emulator/faults', { route: 'nope' })).status).toBe(422);

    const id = await uploadTrain(X, Y);
    const fitted = (await call('POST', '/tabpfn/fit', fitBody(id))).json?.fitted_train_set_id as string;
    expect((await call('POST', '/_emulator/forget', { fitted_train_set_id: fitted })).json).toEqual({ forgotten: 1 });
    expect((await call('POST', '/tabpfn/get_fit_status', { fitted_train_set_id: fitted })).status).toBe(404);

    const counters = (await call('GET', `/_emulator/counters?token=${TOKEN}`)).json;
    expect(counters).toMatchObject({ uploads: 2, fits: 1, prepares: 1, responses429: 1, statusPolls: 1 });
    expect((await call('PUT', '/_emulator/latency', { fit: 5, predict: 7 })).json).toEqual({ fit: 5, predict: 7 });
    expect((await call('PUT', '/_emulator/rate-limits', { predict: 60 })).json).toEqual({ predict: 60 });
    expect((await call('PATCH', '/_emulator/config', { retryInSecs: 0.5 })).json).toMatchObject({ retryInSecs: 0.5 });
    const recorded = (await call('GET', '/_emulator/requests?route=fit')).json?.requests as unknown[];
    expect(recorded).toHaveLength(1);

    expect((await call('POST', '/_emulator/reset')).json).toEqual({ reset: true, seed: 42 });
    expect((await call('GET', `/_emulator/counters?token=${TOKEN}`)).json).toMatchObject({ uploads: 0, fits: 0 });
    expect((await call('GET', '/_emulator/state')).json).toMatchObject({ uploads: 0, fittedTrainSets: 0, config: { fitLatencyMs: 0 } });
  });

  it('counts a request whose client disconnects during latency as aborted, ending the wait early', async () => {
    const id = await uploadTrain(X, Y);
    emu.state.setLatency({ fit: 60_000 });
    // No early 200 + keepalive whitespace, so the fetch is still waiting for headers when it aborts.
    emu.state.configure({ keepaliveIntervalMs: 0 });
    const controller = new AbortController();
    const pending = fetch(`${emu.url}/tabpfn/fit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify(fitBody(id)),
      signal: controller.signal,
    });
    while (emu.state.counters(TOKEN).fits === 0) await new Promise((r) => setTimeout(r, 2));
    controller.abort();
    await expect(pending).rejects.toThrow();
    while (emu.state.counters(TOKEN).aborted === 0) await new Promise((r) => setTimeout(r, 2));
    expect(emu.state.requests.find((r) => r.route === 'fit')?.aborted).toBe(true);
  });

  it('are absent unless enabled', async () => {
    const plain = await startEmulator({ port: 0 });
    try {
      const r = await fetch(`${plain.url}/_emulator/state`);
      expect(r.status).toBe(404);
      const ok = await fetch(`${plain.url}/protected/`, { headers: { authorization: 'Bearer dev-token' } });
      expect(ok.status).toBe(200);
    } finally {
      await plain.close();
    }
  });
});
