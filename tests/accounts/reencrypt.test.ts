import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { TEST_ENCRYPTION_KEYS, type TestApi, startTestApi } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { type TestEmulator, VALID_TOKEN, startTestEmulator } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { ROOT, testEnv } from '../helpers/processes.js';
import { createTestRedis } from '../helpers/redis.js';

const redis = createTestRedis();
let db: TestDatabase;
let emulator: TestEmulator;
let sql: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  emulator = await startTestEmulator();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});
afterAll(async () => {
  await sql?.end();
  await emulator?.close();
  await redis.cleanup();
  await db?.drop();
});

describe('key rotation', () => {
  it('pnpm reencrypt-tokens moves every token and webhook secret to the first key; the new ring alone then works', async () => {
    const env = { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, TABPFN_API_URL: emulator.url };
    let api: TestApi = await startTestApi(env);
    const setup = await request(api.url).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN });
    const key = setup.body.api_key as string;
    const secret = (await request(api.url, key).get('/v1/webhooks/secret')).body.secret as string;
    await api.close();
    expect((await sql.query('SELECT tabpfn_token_ciphertext AS c FROM users')).rows[0].c).toMatch(/^k1:/);

    const newRing = `k2:${randomBytes(32).toString('base64')},${TEST_ENCRYPTION_KEYS}`;
    await promisify(execFile)(process.execPath, ['--conditions=development', '--import', 'tsx', 'scripts/reencrypt-tokens.ts'], {
      cwd: ROOT,
      env: testEnv({ DATABASE_URL: db.url, ENCRYPTION_KEYS: newRing, LOG_LEVEL: 'warn' }),
    });
    expect((await sql.query('SELECT tabpfn_token_ciphertext AS c FROM users')).rows.every((r) => r.c.startsWith('k2:'))).toBe(true);
    expect((await sql.query('SELECT secret_ciphertext AS c FROM webhook_secrets')).rows.every((r) => r.c.startsWith('k2:'))).toBe(true);

    // Only the new key: the token still decrypts (usage calls upstream with it) and the secret is unchanged.
    api = await startTestApi({ ...env, ENCRYPTION_KEYS: newRing.split(',')[0] });
    try {
      expect((await request(api.url, key).get('/v1/usage')).status).toBe(200);
      expect((await request(api.url, key).get('/v1/webhooks/secret')).body.secret).toBe(secret);
    } finally {
      await api.close();
    }
  });
});
