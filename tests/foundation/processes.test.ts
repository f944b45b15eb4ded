import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { TEST_ENCRYPTION_KEYS } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { json } from '../helpers/http.js';
import { spawnApp } from '../helpers/processes.js';
import { createTestRedis } from '../helpers/redis.js';
import { type TestEmulator, startTestEmulator } from '../helpers/emulator.js';

const redis = createTestRedis();
let db: TestDatabase;
let emulator: TestEmulator;

beforeAll(async () => {
  db = await createTestDatabase();
  emulator = await startTestEmulator();
});
afterAll(async () => {
  await emulator?.close();
  await redis.cleanup();
  await db?.drop();
});

describe('configuration', () => {
  it.each(['api', 'worker'] as const)('%s stops at once with one line naming a missing secret', async (app) => {
    const p = spawnApp(app, { DATABASE_URL: db.url, REDIS_URL: redis.url, ENCRYPTION_KEYS: undefined });
    const { code } = await p.exited;
    expect(code).not.toBe(0);
    const lines = p.output.filter((l) => l.trim());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('ENCRYPTION_KEYS');
  });
});

describe('api process', () => {
  it('migrates a new database on start, answers /ready, and drains on SIGTERM', async () => {
    const freshName = `${db.name}_fresh`;
    const url = new URL(db.url);
    url.pathname = `/${freshName}`;
    const api = spawnApp('api', {
      DATABASE_URL: url.toString(),
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      PORT: '0',
      HOST: '127.0.0.1',
      MIGRATE_ON_START: 'true',
      TABPFN_API_URL: emulator.url,
    });
    try {
      const line = await api.waitFor(/api listening/);
      const base = JSON.parse(line).url as string;
      let ready = 0;
      for (let i = 0; i < 50 && ready !== 200; i++) {
        ready = (await fetch(`${base}/ready`)).status;
        if (ready !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ready).toBe(200);
      expect((await json(await fetch(`${base}/ready`))).checks.migrations.ok).toBe(true);
      const { code } = await api.stop('SIGTERM');
      expect(code).toBe(0);
    } finally {
      await api.stop('SIGKILL');
      const admin = new pg.Client({ connectionString: process.env.TEST_PG_ADMIN_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${freshName}" WITH (FORCE)`);
      await admin.end();
    }
  });
});

describe('worker process', () => {
  it('writes a heartbeat, runs the maintenance tick, and exits cleanly on SIGTERM', async () => {
    const worker = spawnApp('worker', {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      LOG_LEVEL: 'debug',
      HEARTBEAT_INTERVAL_MS: '200',
      MAINTENANCE_INTERVAL_MS: '200',
    });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await worker.waitFor(/worker started/);
      await worker.waitFor(/maintenance tick/);
      let pids: number[] = [];
      for (let i = 0; i < 50 && pids.length === 0; i++) {
        pids = (await client.query('SELECT pid FROM worker_heartbeats')).rows.map((r) => r.pid);
        if (!pids.length) await new Promise((r) => setTimeout(r, 100));
      }
      expect(pids).toEqual([worker.proc.pid]);
      const { code } = await worker.stop('SIGTERM');
      expect(code).toBe(0);
      const after = await client.query('SELECT count(*)::int AS n FROM worker_heartbeats');
      expect(after.rows[0].n).toBe(0);
    } finally {
      await worker.stop('SIGKILL');
      await client.end();
    }
  });
});
