import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { closeQueues, createQueues } from '@tabpfn-jobs/shared/jobs';
import { TEST_ENCRYPTION_KEYS } from '../helpers/api.js';
import { adminQuery } from '../helpers/database.js';
import { ROOT, TSX, spawnApp, testEnv } from '../helpers/processes.js';
import { createTestRedis } from '../helpers/redis.js';

const redis = createTestRedis();
const created: string[] = [];

/** A database name global-teardown drops with the run; not created yet. */
function lateDatabase(): { name: string; url: string } {
  const name = `t_${process.env.TEST_RUN_ID}_late${randomBytes(3).toString('hex')}`;
  const url = new URL(process.env.TEST_PG_ADMIN_URL!);
  url.pathname = `/${name}`;
  created.push(name);
  return { name, url: url.toString() };
}

/** What `pnpm migrate` does: creates the database and applies every migration. */
const migrate = (url: string) =>
  promisify(execFile)(process.execPath, [...TSX, 'scripts/migrate.ts'], { cwd: ROOT, env: testEnv({ DATABASE_URL: url, LOG_LEVEL: 'warn' }) });

afterAll(async () => {
  for (const name of created) await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
  await redis.cleanup();
});

describe('api and worker wait for migrations instead of racing them', () => {
  it('a worker started before its database exists waits, then starts cleanly once it is migrated', async () => {
    const db = lateDatabase();
    const worker = spawnApp('worker', {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      METRICS_PORT: '0',
      LOG_LEVEL: 'debug',
      HEARTBEAT_INTERVAL_MS: '200',
      MAINTENANCE_INTERVAL_MS: '200',
    });
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queues = createQueues(connection, redis.prefix);
    try {
      const waiting = JSON.parse(await worker.waitFor(/waiting for the database and its migrations/));
      expect(waiting.reason).toMatch(/does not exist/);
      // A second, logged retry while still nothing exists: it keeps waiting rather than giving up.
      await worker.waitFor(/"attempt":2\b/);
      expect(worker.output.some((l) => /worker started/.test(l))).toBe(false);

      await migrate(db.url);
      await worker.waitFor(/database is migrated; starting/);
      await worker.waitFor(/worker started/);
      await worker.waitFor(/maintenance tick/);
      // The race this replaces: heartbeats and maintenance jobs run against a missing schema.
      expect(worker.output.filter((l) => /heartbeat failed|does not exist/.test(l) && !/waiting for the database/.test(l))).toEqual([]);
      expect((await queues.maintenance.getJobCounts('failed')).failed).toBe(0);
      expect((await worker.stop('SIGTERM')).code).toBe(0);
    } finally {
      await worker.stop('SIGKILL');
      await closeQueues(queues);
      connection.disconnect();
    }
  });

  it('an api that does not migrate itself (MIGRATE_ON_START=false) listens only once the schema is there', async () => {
    const db = lateDatabase();
    await adminQuery(`CREATE DATABASE "${db.name}"`);
    const api = spawnApp('api', {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      PORT: '0',
      HOST: '127.0.0.1',
      MIGRATE_ON_START: 'false',
    });
    try {
      const waiting = JSON.parse(await api.waitFor(/waiting for the database and its migrations/));
      expect(waiting.reason).toMatch(/migrations not applied/);
      expect(api.output.some((l) => /api listening/.test(l))).toBe(false);
      await migrate(db.url);
      const url = JSON.parse(await api.waitFor(/api listening/)).url as string;
      expect((await fetch(`${url}/health`)).status).toBe(200);
    } finally {
      await api.stop('SIGKILL');
    }
  });
});
