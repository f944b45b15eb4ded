import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import {
  DEAD_UPSTREAM,
  OTHER_TOKEN,
  type TestEmulator,
  THIRD_TOKEN,
  UNVERIFIED_TOKEN,
  VALID_TOKEN,
  startTestEmulator,
} from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { createTestRedis } from '../helpers/redis.js';

const redis = createTestRedis();
let db: TestDatabase;
let emulator: TestEmulator;
let api: TestApi;
let deadApi: TestApi;
let sql: pg.Client;
const RATE_LIMIT = 25;

beforeAll(async () => {
  db = await createTestDatabase();
  emulator = await startTestEmulator();
  const env = { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, SETUP_RATE_LIMIT_PER_MINUTE: '1000' };
  api = await startTestApi({ ...env, TABPFN_API_URL: emulator.url, RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT) });
  deadApi = await startTestApi({ ...env, TABPFN_API_URL: DEAD_UPSTREAM, TABPFN_TIMEOUT_MS: '2000' });
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
  await api?.close();
  await deadApi?.close();
  await emulator?.close();
  await redis.cleanup();
  await db?.drop();
});

const anon = () => request(api.url);
const as = (key: string) => request(api.url, key);
const userCount = async () => (await sql.query('SELECT count(*)::int AS n FROM users')).rows[0].n as number;
const issuedKeys: string[] = [];

async function setup(token: string) {
  const res = await anon().post('/v1/auth/setup', { tabpfn_token: token });
  expect(res.status).toBe(201);
  issuedKeys.push(res.body.api_key);
  return res.body as { user_id: string; api_key: string; api_key_id: string };
}

describe('setup and API keys', () => {
  it('setup → key works; same token again → same account, another key; revoke one → only it fails', async () => {
    const first = await setup(VALID_TOKEN);
    expect(first.api_key).toMatch(/^tpk_[A-Za-z0-9_-]{43}$/);
    const me = await as(first.api_key).get('/v1/me');
    expect(me.status).toBe(200);
    expect(me.body.user_id).toBe(first.user_id);

    const second = await setup(VALID_TOKEN);
    expect(second.user_id).toBe(first.user_id);
    expect(second.api_key).not.toBe(first.api_key);
    expect((await as(first.api_key).get('/v1/me')).status).toBe(200);
    expect((await as(second.api_key).get('/v1/me')).status).toBe(200);

    const list = await as(first.api_key).get('/v1/auth/keys');
    expect(list.body.data.map((k: { id: string }) => k.id).sort()).toEqual([first.api_key_id, second.api_key_id].sort());
    expect(JSON.stringify(list.body)).not.toContain(first.api_key);

    const revoked = await as(second.api_key).delete(`/v1/auth/keys/${first.api_key_id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    const denied = await as(first.api_key).get('/v1/me');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer');
    expect(denied.body.code).toBe('api_key_revoked');
    expect((await as(second.api_key).get('/v1/me')).status).toBe(200);
  });

  it('POST /v1/auth/keys issues a working key shown once', async () => {
    const { api_key } = await setup(VALID_TOKEN);
    const created = await as(api_key).post('/v1/auth/keys', { name: 'ci' });
    expect(created.status).toBe(201);
    expect(created.body.name).toBe('ci');
    issuedKeys.push(created.body.api_key);
    expect((await as(created.body.api_key).get('/v1/me')).status).toBe(200);
  });

  it('another account cannot revoke my key (403); an unknown key id is 404', async () => {
    const mine = await setup(VALID_TOKEN);
    const theirs = await setup(OTHER_TOKEN);
    expect((await as(theirs.api_key).delete(`/v1/auth/keys/${mine.api_key_id}`)).status).toBe(403);
    expect((await as(theirs.api_key).delete('/v1/auth/keys/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await as(mine.api_key).get('/v1/me')).status).toBe(200);
  });

  it.each([
    ['missing', undefined, 'api_key_missing'],
    ['another scheme', 'Basic abc', 'authorization_malformed'],
    ['malformed', 'Bearer tpk_short', 'api_key_invalid'],
    ['unknown', `Bearer tpk_${'A'.repeat(43)}`, 'api_key_invalid'],
  ])('%s key → 401 problem+json with WWW-Authenticate', async (_name, header, code) => {
    const res = await request(api.url).get('/v1/me', header ? { authorization: header } : {});
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(res.body.code).toBe(code);
  });
});

describe('rejected tokens store nothing', () => {
  it('invalid → 422 tabpfn_token_invalid', async () => {
    const before = await userCount();
    const res = await anon().post('/v1/auth/setup', { tabpfn_token: 'not-a-real-token' });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('tabpfn_token_invalid');
    expect(await userCount()).toBe(before);
  });

  it('unverified email → 422 tabpfn_email_unverified', async () => {
    const before = await userCount();
    const res = await anon().post('/v1/auth/setup', { tabpfn_token: UNVERIFIED_TOKEN });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('tabpfn_email_unverified');
    expect(await userCount()).toBe(before);
  });

  it('upstream unreachable → 503 tabpfn_unavailable with Retry-After', async () => {
    const before = await userCount();
    const res = await request(deadApi.url).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN });
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('tabpfn_unavailable');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await userCount()).toBe(before);
  });
});

describe('malformed setup bodies', () => {
  it.each([
    ['no token', {}, 422, 'tabpfn_token'],
    ['a number', { tabpfn_token: 42 }, 422, 'tabpfn_token'],
    ['an empty string', { tabpfn_token: '  ' }, 422, 'tabpfn_token'],
    ['a 10 KB string', { tabpfn_token: 'x'.repeat(10 * 1024) }, 422, 'tabpfn_token'],
    ['unknown fields', { tabpfn_token: VALID_TOKEN, admin: true }, 422, 'admin'],
  ])('%s → 4xx problem+json naming the field', async (_name, body, status, field) => {
    const res = await anon().post('/v1/auth/setup', body);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('a 10 MB body → 413 (setup reads kilobytes), answered without reading it', async () => {
    const res = await anon().post('/v1/auth/setup', { tabpfn_token: 'x'.repeat(10 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('payload_too_large');
  });

  it('not JSON → 400 malformed_json; wrong media type → 4xx problem', async () => {
    const res = await anon().post('/v1/auth/setup', '{tabpfn_token: nope', { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('malformed_json');
    const text = await anon().post('/v1/auth/setup', 'tabpfn_token=abc', { 'content-type': 'text/plain' });
    expect(text.status).toBeGreaterThanOrEqual(400);
    expect(text.status).toBeLessThan(500);
    expect(text.headers.get('content-type')).toContain('application/problem+json');
  });
});

describe('TabPFN token replacement, usage', () => {
  it('PUT /v1/auth/tabpfn-token verifies first and keeps the account', async () => {
    const acct = await setup(THIRD_TOKEN);
    const bad = await as(acct.api_key).put('/v1/auth/tabpfn-token', { tabpfn_token: 'nope-nope' });
    expect(bad.status).toBe(422);
    const other = await as(acct.api_key).put('/v1/auth/tabpfn-token', { tabpfn_token: VALID_TOKEN });
    expect(other.status).toBe(409);
    const cipherBefore = (await sql.query('SELECT tabpfn_token_ciphertext AS c FROM users WHERE id = $1', [acct.user_id])).rows[0].c;
    // same token again is accepted and re-encrypted (fresh IV)
    const ok = await as(acct.api_key).put('/v1/auth/tabpfn-token', { tabpfn_token: THIRD_TOKEN });
    expect(ok.status).toBe(204);
    const cipherAfter = (await sql.query('SELECT tabpfn_token_ciphertext AS c FROM users WHERE id = $1', [acct.user_id])).rows[0].c;
    expect(cipherAfter).not.toBe(cipherBefore);
  });

  it('GET /v1/usage reports upstream usage and own counts', async () => {
    const acct = await setup(VALID_TOKEN);
    const res = await as(acct.api_key).get('/v1/usage');
    expect(res.status).toBe(200);
    expect(res.body.upstream).toHaveProperty('daily_tokens_used');
    expect(res.body.upstream).toHaveProperty('current_usage');
    expect(res.body.service.jobs.total).toBe(0);
  });

  it('GET /v1/usage while upstream rate-limits us → 503 passing on upstream\'s Retry-After', async () => {
    const acct = await setup(VALID_TOKEN);
    emulator.state.addFault({ route: 'get_api_usage', status: 429, retryAfter: 7, count: 1, token: VALID_TOKEN });
    const res = await as(acct.api_key).get('/v1/usage');
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('tabpfn_rate_limited');
    expect(res.headers.get('retry-after')).toBe('7');
  });
});

describe('keys only in Authorization: Bearer', () => {
  it('a key in the query string → 400 naming the parameter, and the request log shows it redacted', async () => {
    const { api_key } = await setup(VALID_TOKEN);
    for (const name of ['api_key', 'token', 'access_token']) {
      const res = await fetch(`${api.url}/v1/jobs?limit=5&${name}=${api_key}`, { headers: { authorization: `Bearer ${api_key}` } });
      expect(res.status).toBe(400);
      const problem = (await res.json()) as { code: string; detail: string; errors: { field: string }[] };
      expect(problem.code).toBe('credentials_in_query');
      expect(problem.errors[0]!.field).toBe(`query.${name}`);
      expect(problem.detail).toContain('Authorization: Bearer');
      expect(problem.detail).not.toContain(api_key);
    }
    // Under a name that is not refused, the request is served but the key is still kept out of the log.
    expect((await fetch(`${api.url}/health?x=${api_key}&signature=abc123`)).status).toBe(200);
    const logged = api.logs.lines.filter((l) => l.includes('"url":"/v1/jobs?limit=5&') || l.includes('"url":"/health?x='));
    expect(logged.length).toBeGreaterThanOrEqual(4);
    for (const line of logged) expect(line).not.toContain(api_key.slice(4));
    expect(logged.join('\n')).toContain('api_key=[redacted]');
    expect(logged.join('\n')).toContain('signature=[redacted]');
  });

  it('a bare key, or another scheme, → 401 that says to use Bearer and never echoes the header', async () => {
    const { api_key } = await setup(VALID_TOKEN);
    const bare = await fetch(`${api.url}/v1/me`, { headers: { authorization: api_key } });
    expect(bare.status).toBe(401);
    const bareProblem = (await bare.json()) as { code: string; detail: string };
    expect(bareProblem.code).toBe('authorization_malformed');
    expect(bareProblem.detail).toContain('bare API key');
    expect(bareProblem.detail).toContain('Bearer');
    expect(bareProblem.detail).not.toContain(api_key);
    const basic = await fetch(`${api.url}/v1/me`, { headers: { authorization: `Basic ${Buffer.from(`x:${api_key}`).toString('base64')}` } });
    expect(basic.status).toBe(401);
    expect(((await basic.json()) as { detail: string }).detail).toMatch(/must be "Bearer <API key>", not the Basic scheme/);
    expect((await fetch(`${api.url}/v1/me`, { headers: { authorization: `bearer   ${api_key}` } })).status).toBe(200);
  });
});

describe('secrets at rest and in logs', () => {
  it('no raw API key or TabPFN token in any table or in the logs', async () => {
    const { rows: tables } = await sql.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    let dump = '';
    for (const { table_name } of tables) {
      const { rows } = await sql.query(`SELECT row_to_json(t)::text AS j FROM "${table_name}" t`);
      dump += rows.map((r) => r.j).join('\n');
    }
    expect(dump.length).toBeGreaterThan(100);
    const logs = api.logs.text() + deadApi.logs.text();
    expect(logs.length).toBeGreaterThan(100);
    for (const secret of [...issuedKeys, VALID_TOKEN, OTHER_TOKEN, THIRD_TOKEN, UNVERIFIED_TOKEN]) {
      expect(dump).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
  });

  it('the key lookup is an index scan', async () => {
    const { rows } = await sql.query('SELECT id FROM users LIMIT 1');
    await sql.query(
      `INSERT INTO api_keys (user_id, digest, prefix) SELECT $1, sha256(('k' || g)::bytea), 'tpk_x' FROM generate_series(1, 5000) g`,
      [rows[0].id],
    );
    await sql.query('ANALYZE api_keys');
    const plan = await sql.query(
      `EXPLAIN SELECT id, user_id, prefix, name, created_at, last_used_at, revoked_at FROM api_keys WHERE digest = sha256('k42'::bytea)`,
    );
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/Index Scan using api_keys_digest_key/);
  });
});

describe('rate limits', () => {
  it('traffic under the per-key limit never gets 429; a burst over it does, with Retry-After and RateLimit headers', async () => {
    const { api_key } = await setup(OTHER_TOKEN);
    for (let i = 0; i < RATE_LIMIT - 1; i++) {
      const res = await as(api_key).get('/v1/me');
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe(`"per-key";q=${RATE_LIMIT};w=60`);
    }
    const burst = await Promise.all(Array.from({ length: 5 }, () => as(api_key).get('/v1/me')));
    const limited = burst.filter((r) => r.status === 429);
    expect(limited.length).toBe(4);
    const r = limited[0]!;
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(r.headers.get('ratelimit')).toMatch(/^"per-key";r=0;t=\d+$/);
    expect(r.body.code).toBe('rate_limited');
  });
});

describe('account deletion', () => {
  it('revokes every key at once, removes the rows, and a new setup makes a fresh account', async () => {
    const a = await setup(THIRD_TOKEN);
    const b = await setup(THIRD_TOKEN);
    expect(b.user_id).toBe(a.user_id);
    const del = await as(a.api_key).delete('/v1/me');
    expect(del.status).toBe(204);
    expect((await as(a.api_key).get('/v1/me')).status).toBe(401);
    expect((await as(b.api_key).get('/v1/me')).status).toBe(401);
    expect((await sql.query('SELECT count(*)::int AS n FROM users WHERE id = $1', [a.user_id])).rows[0].n).toBe(0);
    expect((await sql.query('SELECT count(*)::int AS n FROM api_keys WHERE user_id = $1', [a.user_id])).rows[0].n).toBe(0);
    const fresh = await setup(THIRD_TOKEN);
    expect(fresh.user_id).not.toBe(a.user_id);
  });
});
