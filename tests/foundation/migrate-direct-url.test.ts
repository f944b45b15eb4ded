import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { apiEnvSchema } from '@tabpfn-jobs/api';
import { migrateEnvSchema, migrationDatabaseUrl } from '@tabpfn-jobs/shared/config';
import { migrationNames } from '@tabpfn-jobs/shared/db';
import { TEST_ENCRYPTION_KEYS } from '../helpers/api.js';
import { type TestDatabase, adminQuery, createTestDatabase } from '../helpers/database.js';
import { ROOT, TSX, spawnApp, testEnv } from '../helpers/processes.js';
import { createTestRedis } from '../helpers/redis.js';

/**
 * Migrations connect to DATABASE_URL_DIRECT when it is set (the api and worker may then reach Postgres
 * through a transaction-mode pooler on DATABASE_URL), else to DATABASE_URL. Proven with two distinct
 * databases: whichever one ends up migrated is the URL the migration used. No pooler is needed.
 */

const redis = createTestRedis();
const created: string[] = [];
let clone: TestDatabase | undefined;

/** A database name global-teardown drops with the run; not created yet. */
function lateDatabase(tag: string): string {
  const name = `t_${process.env.TEST_RUN_ID}_${tag}${randomBytes(3).toString('hex')}`;
  created.push(name);
  const url = new URL(process.env.TEST_PG_ADMIN_URL!);
  url.pathname = `/${name}`;
  return url.toString();
}

/** No server listens on port 1: a migration that connected here would fail. */
const NOWHERE = 'postgres://postgres@127.0.0.1:1/not_a_database';

/** The migrations a database has applied; `absent` when the database does not exist. */
async function appliedIn(url: string): Promise<string[] | 'absent'> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (err) {
    if ((err as { code?: string }).code === '3D000') return 'absent';
    throw err;
  }
  try {
    if (!(await client.query(`SELECT to_regclass('public.pgmigrations') AS t`)).rows[0].t) return [];
    return (await client.query<{ name: string }>('SELECT name FROM pgmigrations ORDER BY name')).rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

/** `pnpm migrate`, as global setup runs it, with these variables. */
const migrate = (env: Record<string, string | undefined>) =>
  promisify(execFile)(process.execPath, [...TSX, 'scripts/migrate.ts'], { cwd: ROOT, env: testEnv({ LOG_LEVEL: 'warn', ...env }) });

afterAll(async () => {
  for (const name of created) await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
  await clone?.drop();
  await redis.cleanup();
});

describe('which URL migrations use', () => {
  it('the schemas that migrations read: DATABASE_URL_DIRECT when set, DATABASE_URL when unset or empty', () => {
    const pooled = 'postgres://app@pgbouncer:6432/tabpfn_jobs';
    const direct = 'postgres://app@postgres:5432/tabpfn_jobs';
    for (const schema of [migrateEnvSchema, apiEnvSchema]) {
      const base = { DATABASE_URL: pooled, ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS };
      expect(migrationDatabaseUrl(schema.parse(base))).toBe(pooled);
      expect(migrationDatabaseUrl(schema.parse({ ...base, DATABASE_URL_DIRECT: '' }))).toBe(pooled);
      expect(migrationDatabaseUrl(schema.parse({ ...base, DATABASE_URL_DIRECT: direct }))).toBe(direct);
      expect(schema.safeParse({ ...base, DATABASE_URL_DIRECT: 'not a url' }).success).toBe(false);
    }
  });

  it('pnpm migrate migrates DATABASE_URL_DIRECT and never connects to DATABASE_URL', async () => {
    const direct = lateDatabase('direct');
    await migrate({ DATABASE_URL: NOWHERE, DATABASE_URL_DIRECT: direct });
    expect(await appliedIn(direct)).toEqual(migrationNames());
  });

  it('pnpm migrate falls back to DATABASE_URL when DATABASE_URL_DIRECT is unset or empty', async () => {
    const unset = lateDatabase('unset');
    await migrate({ DATABASE_URL: unset });
    expect(await appliedIn(unset)).toEqual(migrationNames());

    const empty = lateDatabase('empty');
    await migrate({ DATABASE_URL: empty, DATABASE_URL_DIRECT: '' });
    expect(await appliedIn(empty)).toEqual(migrationNames());
  });

  it('the api migrating at start (MIGRATE_ON_START) uses DATABASE_URL_DIRECT, and serves on DATABASE_URL', async () => {
    clone = await createTestDatabase();
    const direct = lateDatabase('apidirect');
    const api = spawnApp('api', {
      DATABASE_URL: clone.url,
      DATABASE_URL_DIRECT: direct,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      PORT: '0',
      HOST: '127.0.0.1',
      MIGRATE_ON_START: 'true',
      UPSTREAM_PROBE_TTL_MS: '0',
    });
    try {
      const base = JSON.parse(await api.waitFor(/api listening/)).url as string;
      expect(await appliedIn(direct)).toEqual(migrationNames());
      expect((await fetch(`${base}/health`)).status).toBe(200);
    } finally {
      await api.stop('SIGKILL');
    }
  });
});
