import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { registeredToken } from './accounts.js';
import { crc32cBase64 } from './crc32c.js';
import { type RunningEmulator, startEmulator } from './server.js';

// The routes that make the emulator usable as an offline server for tabpfn-client: user data, the
// interactive auth flow, Gen B's async_mode fit, and a v3 cost model that lets large jobs through.
const TOKEN = 'tok';
const USER = { email: 'ada@example.com', password: 'correct-horse', token: 'ada-token' };
let emu: RunningEmulator;

beforeAll(async () => {
  emu = await startEmulator({ port: 0, tokens: [TOKEN], users: [USER], control: true });
});
afterAll(async () => {
  await emu.close();
});
beforeEach(() => {
  emu.state.reset();
});

async function call(method: string, path: string, body?: unknown, token = TOKEN) {
  const res = await fetch(`${emu.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

/** What the client's `to_oauth_request_form` posts. */
async function login(username: string, password: string) {
  const res = await fetch(`${emu.url}/auth/login/`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', username, password }),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

const X = Buffer.from('a,b\n1,x\n2,y\n3,x\n4,y\n');
const Y = Buffer.from('0\nu\nv\nu\nv\n');
const info = (bytes: Buffer) => ({ format: 'csv', hash: crc32cBase64(bytes), size_bytes: bytes.byteLength });

async function uploadTrain(token = TOKEN): Promise<string> {
  const prep = await call(
    'POST',
    '/tabpfn/prepare_train_set_upload',
    { x_train_info: info(X), y_train_info: info(Y), description: 'd' },
    token,
  );
  expect(prep.status).toBe(200);
  const body = prep.json as {
    train_set_upload_id: string;
    x_train_info: { signed_urls: string[] };
    y_train_info: { signed_urls: string[] };
  };
  for (const [bytes, url] of [
    [X, body.x_train_info.signed_urls[0]],
    [Y, body.y_train_info.signed_urls[0]],
  ] as const) {
    const put = await fetch(url as string, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    expect(put.status).toBe(200);
  }
  return body.train_set_upload_id;
}

const fitBody = (id: string, extra: Record<string, unknown> = {}) => ({
  train_set_upload_id: id,
  task: 'classification',
  tabpfn_config: {},
  ...extra,
});

describe('user data routes', () => {
  it('streams all of a token’s data as an attachment named in Content-Disposition', async () => {
    const uploadId = await uploadTrain();
    const fit = await call('POST', '/tabpfn/fit', fitBody(uploadId));
    expect(fit.status).toBe(200);
    const r = await call('GET', '/download_all_data/');
    expect(r.status).toBe(200);
    const disposition = r.headers.get('content-disposition') as string;
    expect(disposition).toMatch(/^attachment; filename=tabpfn_data_\d{8}T\d{6}Z\.json$/);
    // The client names the file after what follows `filename=`: no quotes to strip.
    expect(disposition.split('filename=')[1]).toMatch(/^[\w.-]+$/);
    const body = r.json as { train_sets: { train_set_upload_id: string; files: Record<string, { data_base64: string }> }[] };
    expect(body.train_sets).toHaveLength(1);
    expect(body.train_sets[0]?.train_set_upload_id).toBe(uploadId);
    expect(Buffer.from(body.train_sets[0]?.files.x_train?.data_base64 ?? '', 'base64').equals(X)).toBe(true);
    expect(r.json?.fitted_train_sets).toEqual([expect.objectContaining({ fitted_train_set_id: fit.json?.fitted_train_set_id })]);
    expect(r.json?.test_sets).toEqual([]);
    const other = await call('GET', '/download_all_data/', undefined, USER.token);
    expect(other.json).toMatchObject({ train_sets: [], fitted_train_sets: [], test_sets: [] });
  });

  it('deletes the account: its token is then unknown everywhere and its login fails', async () => {
    const uploadId = await uploadTrain(USER.token);
    expect((await call('DELETE', '/delete_user_account/', undefined, USER.token)).json).toEqual({ message: 'Account deleted' });
    expect(emu.state.uploads.has(uploadId)).toBe(false);
    expect((await call('GET', '/protected/', undefined, USER.token)).status).toBe(401);
    expect((await call('POST', '/get_api_usage/', undefined, USER.token)).status).toBe(401);
    expect((await call('DELETE', '/delete_user_account/', undefined, USER.token)).status).toBe(401);
    expect((await login(USER.email, USER.password)).status).toBe(401);
    // Other tokens are untouched, and a reset brings the configured account back.
    expect((await call('GET', '/protected/')).status).toBe(200);
    emu.state.reset();
    expect((await login(USER.email, USER.password)).status).toBe(200);
  });
});

describe('interactive auth flow', () => {
  it('logs in with a form body: 200 with the token for the right password, 401 otherwise', async () => {
    const ok = await login(USER.email, USER.password);
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ access_token: USER.token });
    expect(ok.headers.get('set-cookie')).toMatch(/^session_id=/);
    expect((await login(USER.email, 'wrong')).json).toEqual({ message: 'Incorrect email or password' });
    expect((await login('nobody@example.com', USER.password)).status).toBe(401);
  });

  it('registers an unverified account that verifies through verify_email', async () => {
    const email = 'new@example.com';
    const policy = await call('GET', '/auth/password_policy/');
    expect(policy.json).toEqual({ requirements: ['Minimum length: 8'] });
    expect((await call('POST', `/auth/validate_email/?email=${email}`)).status).toBe(200);
    expect((await call('POST', '/auth/validate_email/?email=not-an-email')).status).toBe(400);
    const bad = await call('POST', '/auth/register/', { email, password: 'short', password_confirm: 'short' });
    expect(bad).toMatchObject({ status: 400, json: { message: expect.stringContaining('at least 8') } });
    const reg = await call('POST', '/auth/register/', {
      email,
      password: 'long-enough',
      password_confirm: 'long-enough',
      agreed_terms_and_cond: true,
    });
    expect(reg.json).toMatchObject({ token: registeredToken(email) });
    const token = reg.json?.token as string;
    expect((await call('POST', `/auth/validate_email/?email=${email}`)).status).toBe(400);
    expect((await call('GET', '/protected/', undefined, token)).status).toBe(403);
    const unverified = await login(email, 'long-enough');
    expect(unverified.status).toBe(403);
    expect(unverified.headers.get('access_token')).toBe(token);
    expect((await call('POST', '/auth/send_verification_email/', undefined, token)).status).toBe(200);
    expect((await call('GET', `/auth/verify_email/?token=link&access_token=${token}`)).status).toBe(200);
    expect((await call('GET', '/protected/', undefined, token)).status).toBe(200);
    expect((await login(email, 'long-enough')).json).toMatchObject({ access_token: token });
    expect((await call('POST', `/auth/send_reset_password_email/?email=${email}`)).status).toBe(200);
    emu.state.reset();
    expect((await call('GET', '/protected/', undefined, token)).status).toBe(401);
  });

  it('still reads any other body as JSON', async () => {
    const r = await fetch(`${emu.url}/tabpfn/estimate_cost`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ train_rows: 10, test_rows: 10, raw_columns: 2 }),
    });
    expect(r.status).toBe(200);
  });
});

describe('Gen B async_mode fit', () => {
  it('answers pending at once and completes through GET /tabpfn/fit/{id}', async () => {
    emu.state.setLatency({ fit: 600_000 });
    const fit = await call('POST', '/tabpfn/fit', fitBody(await uploadTrain(), { async_mode: true }));
    expect(fit.json).toEqual({ fitted_train_set_id: expect.any(String), status: 'pending' });
    const id = fit.json?.fitted_train_set_id as string;
    expect((await call('GET', `/tabpfn/fit/${id}`)).json).toMatchObject({ status: 'pending', retry_in_secs: 1 });
    // Finish the fit instead of waiting out its latency.
    const fitted = emu.state.fitted.get(id);
    if (fitted) fitted.readyAt = Date.now();
    expect((await call('GET', `/tabpfn/fit/${id}`)).json).toEqual({ fitted_train_set_id: id, status: 'completed' });
    expect(emu.state.counters(TOKEN)).toMatchObject({ asyncFits: 1, syncFits: 0 });
  });
});

describe('v3 cost model', () => {
  const job = { train_rows: 800_000, test_rows: 0, raw_columns: 9 };

  it('by default prices an 800k × 9 job below the daily pool, and linear above it', async () => {
    const sublinear = await call('POST', '/tabpfn/estimate_cost', job);
    expect(sublinear.json?.estimated_cost).toBeLessThan(50_000_000);
    emu.state.configure({ v3CostModel: 'linear' });
    expect((await call('POST', '/tabpfn/estimate_cost', job)).json?.estimated_cost).toBe(57_600_000);
  });

  it('leaves small jobs and v2 prices as they were', async () => {
    expect((await call('POST', '/tabpfn/estimate_cost', { train_rows: 1000, test_rows: 100, raw_columns: 10 })).json?.estimated_cost).toBe(
      88_000,
    );
    const v2 = { ...job, model_version: 'v2.5' };
    expect((await call('POST', '/tabpfn/estimate_cost', v2)).json?.estimated_cost).toBe(57_600_000);
  });
});
