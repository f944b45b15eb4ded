import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type AppProcess, ROOT } from '../helpers/processes.js';
import { CLASSIFIER_CONFIG, type Flow, fitRequest, fitted, pollFit, testSet, trainSet, X_TEST, X_TRAIN, Y_CLASS } from './flow.js';
import { fileInfo, send } from './wire.js';
import { startEmulatorProcess } from './process.js';

// Conformance of the emulator PROCESS with every route tabpfn-client uses (docs/tabpfn-protocol.md):
// one row per documented `METHOD /path`, sent with the client's bodies and headers over real HTTP,
// asserting the status and the fields the client's handling reads. The last test fails when the doc
// names a route that is neither a row here nor a documented todo, so a missing one is obvious.
const TOKEN = 'tok';
const ADA = { email: 'ada@example.com', password: 'correct-horse', token: 'ada-token' };
// A user whose email is not verified yet: login answers 403 with the token in a header.
const LIN = { email: 'lin@example.com', password: 'lin-password', token: 'lin-token' };
let emulator: AppProcess;
let base: string;
const flow = (): Flow => ({ base, token: TOKEN });

beforeAll(async () => {
  ({ app: emulator, url: base } = await startEmulatorProcess({
    EMULATOR_CONTROL: 'true',
    EMULATOR_TOKENS: TOKEN,
    EMULATOR_UNVERIFIED_TOKENS: LIN.token,
    EMULATOR_USERS: [ADA, LIN].map((u) => `${u.email}:${u.password}:${u.token}`).join(','),
  }));
});
afterAll(async () => {
  await emulator.stop();
});
// Every row starts from the start state: no data, faults, latency or accounts registered by another row.
afterEach(async () => {
  expect((await send(base, 'POST', '/_emulator/reset')).status).toBe(200);
});

interface Row {
  /** Wire generation (§0); `all` = unchanged since Gen A, `newer` = after bea03a3, `L` = legacy (§12). */
  gen: 'all' | 'A' | 'B' | 'C' | 'L' | 'newer';
  /** As the doc writes it. */
  route: string;
  /** What the client's handling relies on (the doc's last column). */
  relies: string;
  check: () => Promise<void>;
}

const GREETING_AND_ACCOUNT: Row[] = [
  {
    gen: 'all',
    route: 'GET /',
    relies: '200 = reachable',
    check: async () => expect((await send(base, 'GET', '/')).status).toBe(200),
  },
  {
    gen: 'all',
    route: 'GET /protected/',
    relies: '200 valid, 403 unverified, anything else (401) deletes the cached token',
    check: async () => {
      expect((await send(base, 'GET', '/protected/', { token: TOKEN })).status).toBe(200);
      expect((await send(base, 'GET', '/protected/', { token: LIN.token })).status).toBe(403);
      expect((await send(base, 'GET', '/protected/', { token: 'nope' })).status).toBe(401);
    },
  },
  {
    gen: 'all',
    route: 'GET /retrieve_greeting_messages/',
    relies: '200 {messages: [str]}',
    check: async () => {
      const r = await send(base, 'GET', '/retrieve_greeting_messages/', { token: TOKEN });
      expect(r.status).toBe(200);
      expect(Array.isArray(r.json?.messages)).toBe(true);
    },
  },
  {
    gen: 'all',
    route: 'POST /get_api_usage/',
    relies: 'current_usage, usage_limit, reset_time, and the later daily/monthly token fields (§10)',
    check: async () => {
      const r = await send(base, 'POST', '/get_api_usage/', { token: TOKEN });
      expect(r.status).toBe(200);
      for (const k of [
        'current_usage',
        'usage_limit',
        'reset_time',
        'daily_tokens_used',
        'daily_token_limit',
        'monthly_tokens_used',
        'monthly_token_limit',
      ]) {
        expect(r.json).toHaveProperty(k);
      }
    },
  },
];

const AUTH: Row[] = [
  {
    gen: 'all',
    route: 'POST /auth/login/',
    relies: 'form body; 200 {access_token} + session_id cookie; 403 token in the access_token header; 401 {message}',
    check: async () => {
      const form = (u: typeof ADA, password = u.password) => ({ grant_type: 'password', username: u.email, password });
      const ok = await send(base, 'POST', '/auth/login/', { form: form(ADA) });
      expect([ok.status, ok.json?.access_token]).toEqual([200, ADA.token]);
      expect(ok.headers.get('set-cookie')).toMatch(/^session_id=/);
      const unverified = await send(base, 'POST', '/auth/login/', { form: form(LIN) });
      expect([unverified.status, unverified.headers.get('access_token')]).toEqual([403, LIN.token]);
      const wrong = await send(base, 'POST', '/auth/login/', { form: form(ADA, 'wrong-password') });
      expect([wrong.status, typeof wrong.json?.message]).toEqual([401, 'string']);
    },
  },
  {
    gen: 'all',
    route: 'POST /auth/register/',
    relies: '200 {message, token}; otherwise {message}',
    check: async () => {
      const body = (confirm: string) => ({
        email: 'new@example.com',
        password: 'long-enough',
        password_confirm: confirm,
        validation_link: 'tabpfn-2023',
        company: 'Acme',
        role: 'engineer',
        use_case: 'tests',
        contact_via_email: false,
        agreed_terms_and_cond: true,
        agreed_personally_identifiable_information: true,
      });
      const bad = await send(base, 'POST', '/auth/register/', { json: body('different') });
      expect([bad.status === 200, typeof bad.json?.message]).toEqual([false, 'string']);
      const ok = await send(base, 'POST', '/auth/register/', { json: body('long-enough') });
      expect(ok.status).toBe(200);
      expect(ok.json).toEqual({ message: expect.any(String), token: expect.any(String) });
    },
  },
  {
    gen: 'all',
    route: 'POST /auth/validate_email/',
    relies: '200 ok, else {message}',
    check: async () => {
      expect((await send(base, 'POST', '/auth/validate_email/?email=fresh%40example.com')).status).toBe(200);
      const taken = await send(base, 'POST', `/auth/validate_email/?email=${encodeURIComponent(ADA.email)}`);
      expect([taken.status === 200, typeof taken.json?.message]).toEqual([false, 'string']);
    },
  },
  {
    gen: 'all',
    route: 'GET /auth/password_policy/',
    relies: '{requirements: [str]}',
    check: async () => {
      const r = await send(base, 'GET', '/auth/password_policy/');
      expect(r.json?.requirements).toEqual(expect.arrayContaining([expect.any(String)]));
    },
  },
  {
    gen: 'all',
    route: 'GET /auth/verify_email/',
    relies: '{message}; afterwards the token is verified',
    check: async () => {
      const r = await send(base, 'GET', `/auth/verify_email/?token=link-token&access_token=${LIN.token}`);
      expect([r.status, typeof r.json?.message]).toEqual([200, 'string']);
      expect((await send(base, 'GET', '/protected/', { token: LIN.token })).status).toBe(200);
    },
  },
  {
    gen: 'all',
    route: 'POST /auth/send_verification_email/',
    relies: 'Bearer (unverified too); {message}',
    check: async () => {
      const r = await send(base, 'POST', '/auth/send_verification_email/', { token: LIN.token });
      expect([r.status, typeof r.json?.message]).toEqual([200, 'string']);
    },
  },
  {
    gen: 'all',
    route: 'POST /auth/send_reset_password_email/',
    relies: '{message}',
    check: async () => {
      const r = await send(base, 'POST', `/auth/send_reset_password_email/?email=${encodeURIComponent(ADA.email)}`);
      expect([r.status, typeof r.json?.message]).toEqual([200, 'string']);
    },
  },
];

const MODEL_LIMIT_KEYS = [
  'train_set_max_rows',
  'train_set_max_cells',
  'test_set_max_rows',
  'test_set_max_cells',
  'max_classes',
  'max_cols',
  'test_set_max_rows_w_full_regression_output',
  'predict_row_pairs_budget',
];

const SETTINGS: Row[] = [
  {
    gen: 'C',
    route: 'GET /tabpfn/get_settings',
    relies: 'GetSettingsResponse: default_model_version, max_model_limit, model_limits, dataset_max_size_bytes, async_settings',
    check: async () => {
      const r = await send(base, 'GET', '/tabpfn/get_settings', { token: TOKEN });
      expect(r.status).toBe(200);
      expect(Object.keys(r.json?.max_model_limit as object).sort()).toEqual([...MODEL_LIMIT_KEYS].sort());
      expect(r.json?.model_limits).toHaveProperty(r.json?.default_model_version as string);
      expect(r.json).toMatchObject({
        dataset_max_size_bytes: expect.any(Number),
        async_settings: { use_above_trainset_size_bytes: expect.any(Number), poll_timeout_secs: expect.any(Number) },
      });
    },
  },
  {
    gen: 'A',
    route: 'GET /tabpfn/get_model_limits',
    relies: 'the get_settings shape minus async_settings',
    check: async () => {
      const r = await send(base, 'GET', '/tabpfn/get_model_limits', { token: TOKEN });
      expect(r.status).toBe(200);
      expect(r.json).toHaveProperty('max_model_limit');
      expect(r.json).not.toHaveProperty('async_settings');
    },
  },
  {
    gen: 'newer',
    route: 'POST /tabpfn/estimate_cost',
    relies: '{estimated_cost: int, pricing_version, inputs}',
    check: async () => {
      const r = await send(base, 'POST', '/tabpfn/estimate_cost', {
        token: TOKEN,
        json: { train_rows: 1000, test_rows: 100, raw_columns: 10, operation: 'predict' },
      });
      expect(r.json).toEqual({
        estimated_cost: expect.any(Number),
        pricing_version: expect.stringMatching(/^(quota_v3|legacy_v2)$/),
        inputs: expect.any(Object),
      });
    },
  },
];

const UPLOAD: Row[] = [
  {
    gen: 'all',
    route: 'POST /tabpfn/prepare_train_set_upload',
    relies: '200 {train_set_upload_id, x/y_train_info: {signed_urls, expires_at, required_headers}}; 409 with train_set_upload_id',
    check: async () => {
      const id = await trainSet(flow());
      const again = await send(base, 'POST', '/tabpfn/prepare_train_set_upload', {
        token: TOKEN,
        json: { x_train_info: fileInfo(X_TEST), y_train_info: fileInfo(Y_CLASS), force_reupload: false },
      });
      expect(again.json?.x_train_info).toEqual({
        signed_urls: [expect.any(String)],
        expires_at: expect.any(Number),
        required_headers: expect.any(Object),
      });
      const dup = await send(base, 'POST', '/tabpfn/prepare_train_set_upload', {
        token: TOKEN,
        json: { x_train_info: fileInfo(X_TRAIN), y_train_info: fileInfo(Y_CLASS), force_reupload: false },
      });
      expect([dup.status, dup.json?.train_set_upload_id, typeof dup.json?.message]).toEqual([409, id, 'string']);
    },
  },
  {
    gen: 'all',
    route: 'PUT /_upload/<upload_id>/<file>/<chunk>',
    relies: 'exactly 200 per chunk, Authorization ignored; chunks composed in URL order',
    check: async () => {
      // Small chunks, so the file gets several signed URLs and the split of `_upload_to_gcs` matters.
      await send(base, 'PATCH', '/_emulator/config', { json: { uploadChunkBytes: 128 } });
      const id = await trainSet(flow());
      const fit = await send(base, 'POST', '/tabpfn/fit', { token: TOKEN, json: fitRequest(id) });
      expect(fit.json?.status).toBe('completed');
      const uploads = await send(base, 'GET', `/_emulator/counters?token=${TOKEN}`);
      expect(uploads.json?.uploads).toBeGreaterThan(2);
    },
  },
  {
    gen: 'all',
    route: 'POST /tabpfn/prepare_test_set_upload',
    relies: '200 {test_set_upload_id, x_test_info}; 409 with test_set_upload_id; 404 for an unknown fitted id',
    check: async () => {
      const fittedId = await fitted(flow());
      const id = await testSet(flow(), fittedId);
      const prepare = (fid: string) =>
        send(base, 'POST', '/tabpfn/prepare_test_set_upload', {
          token: TOKEN,
          json: { fitted_train_set_id: fid, x_test_info: fileInfo(X_TEST), force_reupload: false },
        });
      const dup = await prepare(fittedId);
      expect([dup.status, dup.json?.test_set_upload_id]).toEqual([409, id]);
      expect((await prepare('00000000-0000-0000-0000-000000000000')).status).toBe(404);
    },
  },
];

const FIT: Row[] = [
  {
    gen: 'C',
    route: 'POST /tabpfn/fit',
    relies:
      'nested task_config (C) and flat task/tabpfn_config (A): 200 {fitted_train_set_id, status: "completed"}; B async_mode → "pending"',
    check: async () => {
      const id = await trainSet(flow());
      const nested = await send(base, 'POST', '/tabpfn/fit', { token: TOKEN, json: fitRequest(id) });
      expect(nested.json).toEqual({ fitted_train_set_id: expect.any(String), status: 'completed' });
      const flat = {
        train_set_upload_id: id,
        task: 'classification',
        tabpfn_config: CLASSIFIER_CONFIG,
        tabpfn_systems: ['preprocessing', 'text'],
      };
      const genA = await send(base, 'POST', '/tabpfn/fit', { token: TOKEN, json: flat });
      expect([genA.status, typeof genA.json?.fitted_train_set_id]).toEqual([200, 'string']);
      await send(base, 'PUT', '/_emulator/latency', { json: { fit: 200 } });
      const genB = await send(base, 'POST', '/tabpfn/fit', { token: TOKEN, json: { ...flat, async_mode: true } });
      expect(genB.json).toEqual({ fitted_train_set_id: expect.any(String), status: 'pending' });
    },
  },
  {
    gen: 'B',
    route: 'GET /tabpfn/fit/{id}',
    relies: 'Gen B poll: pending (+retry_in_secs) until completed; 404 for an unknown id',
    check: async () => {
      await send(base, 'PUT', '/_emulator/latency', { json: { fit: 200 } });
      const id = await trainSet(flow());
      const body = { train_set_upload_id: id, task: 'classification', tabpfn_config: CLASSIFIER_CONFIG, async_mode: true };
      const fit = await send(base, 'POST', '/tabpfn/fit', { token: TOKEN, json: body });
      const seen = await pollFit(() => send(base, 'GET', `/tabpfn/fit/${fit.json?.fitted_train_set_id}`, { token: TOKEN }));
      expect(seen[0]?.json).toMatchObject({ status: 'pending', retry_in_secs: expect.any(Number) });
      expect(seen.at(-1)?.json).toMatchObject({ fitted_train_set_id: fit.json?.fitted_train_set_id, status: 'completed' });
      expect((await send(base, 'GET', '/tabpfn/fit/unknown-id', { token: TOKEN })).status).toBe(404);
    },
  },
  {
    gen: 'C',
    route: 'POST /tabpfn/submit_fit_job',
    relies: '200 {fitted_train_set_id}; every call a new job',
    check: async () => {
      const id = await trainSet(flow());
      const a = await send(base, 'POST', '/tabpfn/submit_fit_job', { token: TOKEN, json: fitRequest(id) });
      const b = await send(base, 'POST', '/tabpfn/submit_fit_job', { token: TOKEN, json: fitRequest(id) });
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(a.json?.fitted_train_set_id).not.toEqual(b.json?.fitted_train_set_id);
    },
  },
  {
    gen: 'C',
    route: 'POST /tabpfn/get_fit_status',
    relies: 'pending (+retry_in_secs) → completed; a failed fit is 200 status "failed" with error; unknown id → 404',
    check: async () => {
      await send(base, 'PUT', '/_emulator/latency', { json: { fit: 200 } });
      const id = await trainSet(flow());
      const job = await send(base, 'POST', '/tabpfn/submit_fit_job', { token: TOKEN, json: fitRequest(id) });
      const status = (fid: unknown) => send(base, 'POST', '/tabpfn/get_fit_status', { token: TOKEN, json: { fitted_train_set_id: fid } });
      const seen = await pollFit(() => status(job.json?.fitted_train_set_id));
      expect(seen[0]?.json).toMatchObject({ status: 'pending', retry_in_secs: expect.any(Number) });
      expect(seen.at(-1)?.json).toMatchObject({ status: 'completed' });
      await send(base, 'POST', '/_emulator/faults', { json: { route: 'submit_fit_job', kind: 'fit_failed', message: 'boom' } });
      const failing = await send(base, 'POST', '/tabpfn/submit_fit_job', { token: TOKEN, json: fitRequest(id) });
      const failed = await pollFit(() => status(failing.json?.fitted_train_set_id));
      expect([failed.at(-1)?.status, failed.at(-1)?.json?.status, failed.at(-1)?.json?.error]).toEqual([200, 'failed', 'boom']);
      expect((await status('00000000-0000-0000-0000-000000000000')).status).toBe(404);
    },
  },
];

const PREDICT: Row[] = [
  {
    gen: 'all',
    route: 'POST /tabpfn/predict',
    relies: '200 {prediction, metadata}: labels for preds, rows of probabilities for probas, n_quantiles × n_rows for quantiles',
    check: async () => {
      const predict = async (fid: string, task: 'classification' | 'regression', params: Record<string, unknown>) => {
        const test = await testSet(flow(), fid);
        const tabpfn_config = fitRequest('', task).task_config.tabpfn_config;
        const json = { test_set_upload_id: test, fitted_train_set_id: fid, task_config: { task, tabpfn_config, predict_params: params } };
        return send(base, 'POST', '/tabpfn/predict', { token: TOKEN, json });
      };
      const cls = await fitted(flow());
      const preds = await predict(cls, 'classification', { output_type: 'preds' });
      expect(preds.json).toMatchObject({
        prediction: ['a', 'b'],
        metadata: { task: 'classification', test_set_num_rows: 2, test_set_num_cols: 2 },
      });
      const probas = (await predict(cls, 'classification', { output_type: 'probas' })).json?.prediction as number[][];
      expect(probas.map((row) => row.length)).toEqual([2, 2]);
      const reg = await fitted(flow(), 'regression');
      const q = (await predict(reg, 'regression', { output_type: 'quantiles', quantiles: [0.1, 0.5, 0.9] })).json?.prediction as number[][];
      expect(q.map((row) => row.length)).toEqual([2, 2, 2]);
    },
  },
];

const DATA: Row[] = [
  {
    gen: 'all',
    route: 'GET /get_data_summary/',
    relies: 'arbitrary JSON',
    check: async () => {
      await fitted(flow());
      const r = await send(base, 'GET', '/get_data_summary/', { token: TOKEN });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ train_sets: [expect.any(Object)], fitted_train_sets: [expect.any(Object)] });
    },
  },
  {
    gen: 'all',
    route: 'GET /download_all_data/',
    relies: 'a streamed file named by Content-Disposition filename=',
    check: async () => {
      await fitted(flow());
      const r = await send(base, 'GET', '/download_all_data/', { token: TOKEN });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-disposition')).toMatch(/filename=[\w.-]+/);
      expect(r.json).toMatchObject({ fitted_train_sets: [expect.any(Object)] });
    },
  },
  {
    gen: 'all',
    route: 'DELETE /delete_dataset/',
    relies: '?dataset_uid= → {deleted_dataset_uids}; a train set takes its test sets along',
    check: async () => {
      const fid = await fitted(flow());
      const test = await testSet(flow(), fid);
      const summary = await send(base, 'GET', '/get_data_summary/', { token: TOKEN });
      const trains = (summary.json?.train_sets ?? []) as { train_set_upload_id: string }[];
      const trainId = trains[0]?.train_set_upload_id;
      const r = await send(base, 'DELETE', `/delete_dataset/?dataset_uid=${trainId}`, { token: TOKEN });
      expect(r.status).toBe(200);
      expect(r.json?.deleted_dataset_uids).toEqual(expect.arrayContaining([trainId, test]));
    },
  },
  {
    gen: 'all',
    route: 'DELETE /delete_all_datasets/',
    relies: '{deleted_dataset_uids}',
    check: async () => {
      const fid = await fitted(flow());
      const r = await send(base, 'DELETE', '/delete_all_datasets/', { token: TOKEN });
      expect(r.json?.deleted_dataset_uids).toEqual(expect.arrayContaining([fid]));
    },
  },
  {
    gen: 'all',
    route: 'DELETE /delete_user_account/',
    relies: 'no parameters; 200, then the token is unknown (401) so the client drops it',
    check: async () => {
      const r = await send(base, 'DELETE', '/delete_user_account/', { token: ADA.token });
      expect(r.status).toBe(200);
      expect((await send(base, 'GET', '/protected/', { token: ADA.token })).status).toBe(401);
    },
  },
];

// Gen L, as docs/tabpfn-protocol.md §12 (the source for these rows) describes `client.py@e6b16eb`:
// CSV with a header row (`to_csv(index=False)`) as multipart files, JSON strings in the query string.
const X_TRAIN_CSV = '0,1\n1,0\n2,1\n3,0\n10,5\n11,6\n12,5\n';
const Y_TRAIN_CSV = '0\na\na\na\nb\nb\nb\n';
const X_TEST_CSV = '0,1\n2,1\n11,5\n';

function legacyQuery(params: Record<string, unknown>): string {
  const q = Object.entries(params).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)]);
  return new URLSearchParams(q).toString();
}

async function legacyPost(
  path: string,
  query: Record<string, unknown>,
  form?: FormData,
): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(`${base}${path}?${legacyQuery(query)}`, {
    method: 'POST',
    headers: { 'client-version': '0.2.9', authorization: `Bearer ${TOKEN}` },
    ...(form ? { body: form } : {}),
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** `ServiceClient.fit@e6b16eb`: reads NDJSON lines until one is complete (or carries train_set_uid) or an error. */
async function legacyFit(path: string, y = Y_TRAIN_CSV): Promise<Record<string, unknown>[]> {
  const form = new FormData();
  form.append('x_file', new Blob([X_TRAIN_CSV], { type: 'text/csv' }), 'x_train_filename');
  form.append('y_file', new Blob([y], { type: 'text/csv' }), 'y_train_filename');
  form.append('desc', 'conformance');
  if (path.startsWith('/beta/')) form.append('tabpfnr_params', JSON.stringify({ effort: 'medium' }));
  const systems = path.startsWith('/beta/') ? ['preprocessing', 'text', 'thinking'] : ['preprocessing', 'text'];
  const r = await legacyPost(path, { tabpfn_systems: systems, tabpfn_config: CLASSIFIER_CONFIG, task: 'classification' }, form);
  expect([r.status, r.type]).toEqual([200, expect.stringContaining('application/x-ndjson')]);
  return r.text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** `ServiceClient.predict@e6b16eb`: the SSE events' `data` JSON, in order. */
async function legacyPredict(path: string, query: Record<string, unknown>, xCsv?: string): Promise<Record<string, unknown>[]> {
  const form = xCsv === undefined ? undefined : new FormData();
  form?.append('x_file', new Blob([xCsv ?? ''], { type: 'text/csv' }), 'x_test_filename');
  const full = {
    task: 'classification',
    predict_params: { output_type: 'preds' },
    tabpfn_systems: ['preprocessing', 'text'],
    tabpfn_config: CLASSIFIER_CONFIG,
    ...query,
  };
  const r = await legacyPost(path, full, form);
  expect([r.status, r.type]).toEqual([200, expect.stringContaining('text/event-stream')]);
  return r.text
    .split('\n\n')
    .map((e) => e.trim())
    .filter((e) => e.startsWith('data:'))
    .map((e) => JSON.parse(e.slice('data:'.length)) as Record<string, unknown>);
}

function legacyFitRow(route: string): Row {
  const path = route.split(' ')[1] as string;
  return {
    gen: 'L',
    route,
    relies: 'streamed NDJSON: in_progress lines, then {status: complete, train_set_uid}; bad input → {status: error, message}',
    check: async () => {
      const lines = await legacyFit(path);
      expect(lines.slice(0, -1).every((l) => l.status === 'in_progress' && typeof l.current_step === 'number')).toBe(true);
      expect(lines.length).toBeGreaterThan(1);
      expect(lines.at(-1)).toEqual({ status: 'complete', train_set_uid: expect.any(String) });
      const bad = await legacyFit(path, '0\na\n');
      expect(bad.at(-1)).toEqual({ status: 'error', message: expect.stringMatching(/same number of samples/) });
    },
  };
}

function legacyPredictRow(route: string): Row {
  const path = route.split(' ')[1] as string;
  const fitPath = path.replace('/predict/', '/fit/');
  return {
    gen: 'L',
    route,
    relies:
      'SSE events {event: message|estimated_time_to_answer|result|error}; result data {<task>, test_set_uid}; unknown uid → "Invalid train or test set uid"',
    check: async () => {
      const uid = (await legacyFit(fitPath)).at(-1)?.train_set_uid as string;
      const events = await legacyPredict(path, { train_set_uid: uid }, X_TEST_CSV);
      expect(events.map((e) => e.event)).toEqual(['message', 'estimated_time_to_answer', 'result']);
      const result = events.at(-1)?.data as Record<string, unknown>;
      expect(result).toEqual({ classification: ['a', 'b'], test_set_uid: expect.any(String) });
      // A cached test set: only its uid, no file.
      const cached = await legacyPredict(path, { train_set_uid: uid, test_set_uid: result.test_set_uid });
      expect(cached.at(-1)).toMatchObject({ event: 'result', data: { classification: ['a', 'b'] } });
      const unknown = await legacyPredict(path, { train_set_uid: '00000000-0000-0000-0000-000000000000' }, X_TEST_CSV);
      expect(unknown).toEqual([
        { event: 'error', error_class: expect.any(String), detail: expect.stringContaining('Invalid train or test set uid') },
      ]);
    },
  };
}

const LEGACY: Row[] = [
  legacyFitRow('POST /fit/'),
  legacyFitRow('POST /beta/tabpfn-r/fit/'),
  legacyPredictRow('POST /predict/'),
  legacyPredictRow('POST /beta/tabpfn-r/predict/'),
];

const ROWS = [...GREETING_AND_ACCOUNT, ...AUTH, ...SETTINGS, ...UPLOAD, ...FIT, ...PREDICT, ...DATA, ...LEGACY];

/** Documented routes the emulator does not serve, and why. */
const TODO: Record<string, string> = {};

describe('emulator process conformance with tabpfn-client (docs/tabpfn-protocol.md)', () => {
  for (const row of ROWS) it(`${row.route} [${row.gen}]: ${row.relies}`, row.check);
  for (const [route, why] of Object.entries(TODO)) it.todo(`${route}: ${why}`);
  it.todo('browser login: served by the GUI ({gui_url}/login), not by the API');

  it('covers every METHOD /path the protocol notes name, as a row or a todo', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'tabpfn-protocol.md'), 'utf8');
    const named = new Set([...doc.matchAll(/\b(GET|POST|PUT|DELETE|PATCH) (\/[\w/{}.<>-]*)/g)].map((m) => `${m[1]} ${m[2]}`));
    const covered = new Set([...ROWS.map((r) => r.route), ...Object.keys(TODO)]);
    expect([...named].filter((r) => !covered.has(r))).toEqual([]);
  });
});
