import pg from 'pg';
import { TEST_ENCRYPTION_KEYS } from './api.js';
import { createTestDatabase } from './database.js';
import { OTHER_TOKEN, THIRD_TOKEN, VALID_TOKEN } from './emulator.js';
import { type Json, request } from './http.js';
import { startPgBouncer } from './pgbouncer.js';
import { type AppProcess, spawnApp } from './processes.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT, testEnv } from './processes.js';
import { privateServersAvailable, startPrivatePostgres, startPrivateRedis } from './private-servers.js';
import { createTestRedis } from './redis.js';

/**
 * Private servers when the binaries exist (so FLUSHALL and restarts hurt nobody), else the shared ones;
 * `shared` asks for the shared ones (a database cloned for the file, a key prefix): quicker, for tests
 * that break nothing.
 */
async function servers(kind: 'private' | 'shared' = 'private') {
  if (kind === 'shared' || !privateServersAvailable()) {
    const redis = createTestRedis();
    const db = await createTestDatabase();
    return { dbUrl: db.url, redisUrl: redis.url, prefix: redis.prefix, pg: undefined, redisServer: undefined, cleanup: async () => { await redis.cleanup(); await db.drop(); } };
  }
  const pgServer = await startPrivatePostgres();
  const redisServer = await startPrivateRedis();
  const url = new URL(pgServer.url);
  url.pathname = '/tabpfn_faults';
  await promisify(execFile)(process.execPath, ['--conditions=development', '--import', 'tsx', 'scripts/migrate.ts'], {
    cwd: ROOT,
    env: testEnv({ DATABASE_URL: url.toString(), LOG_LEVEL: 'warn' }),
  });
  return {
    dbUrl: url.toString(),
    redisUrl: redisServer.url,
    prefix: '{faults}',
    pg: pgServer,
    redisServer,
    cleanup: async () => {
      await redisServer.stop();
      pgServer.destroy();
    },
  };
}

const urlOf = (line: string) => JSON.parse(line).url as string;

export interface ProcessStackOptions {
  /** Worker processes (default 1). */
  workers?: number;
  /** api processes, all on the same Postgres, Redis and queues (default 1). */
  apis?: number;
  /** See {@link servers}; default private. */
  servers?: 'private' | 'shared';
  /**
   * api and workers query Postgres through a private PgBouncer in transaction mode (`DATABASE_URL`),
   * migrations and the test's own SQL go to Postgres directly (`DATABASE_URL_DIRECT`).
   */
  pgbouncer?: { poolSize?: number };
  /** Given to the api and every worker over the stack's own (say REDIS_CLUSTER_NODES, or another DATABASE_URL). */
  env?: Record<string, string>;
  apiEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
}

/** Where the api and workers find Postgres: directly, or through PgBouncer in front of it. */
async function databaseEnv(dbUrl: string, pgbouncer: ProcessStackOptions['pgbouncer']) {
  const dbName = decodeURIComponent(new URL(dbUrl).pathname.slice(1));
  if (!pgbouncer) return { dbName, env: { DATABASE_URL: dbUrl }, bouncer: undefined };
  const bouncer = await startPgBouncer({ target: dbUrl, poolSize: pgbouncer.poolSize ?? 10, serverStatementTimeoutMs: 15_000 });
  // PgBouncer 1.18 (Debian's) keeps no prepared statements: README's setting for it.
  return { dbName, env: { DATABASE_URL: bouncer.url(dbName), DATABASE_URL_DIRECT: dbUrl, DB_PREPARED_STATEMENTS: 'false' }, bouncer };
}

/**
 * Every part as its own process — emulator, api(s), N workers — on the real Postgres and Redis, so a
 * test can kill, restart and flush them like an operator's bad day would.
 */
export async function startProcessStack(opts: ProcessStackOptions = {}) {
  const srv = await servers(opts.servers);
  const database = await databaseEnv(srv.dbUrl, opts.pgbouncer);
  const emulator = spawnApp('emulator', {
    EMULATOR_PORT: '0',
    EMULATOR_CONTROL: 'true',
    EMULATOR_TOKENS: [VALID_TOKEN, OTHER_TOKEN, THIRD_TOKEN].join(','),
    LOG_LEVEL: 'info',
  });
  const emulatorUrl = urlOf(await emulator.waitFor(/emulator listening/));
  const common = {
    ...database.env,
    REDIS_URL: srv.redisUrl,
    QUEUE_PREFIX: srv.prefix,
    TABPFN_API_URL: emulatorUrl,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    ...opts.env,
  };
  const apiEnv = {
    ...common,
    PORT: '0',
    HOST: '127.0.0.1',
    MIGRATE_ON_START: 'false',
    SETUP_RATE_LIMIT_PER_MINUTE: '10000',
    RATE_LIMIT_PER_MINUTE: '1000000',
    MAX_INFLIGHT_JOBS: '100000',
    LOG_LEVEL: 'warn',
    ...opts.apiEnv,
  };
  const apis = Array.from({ length: opts.apis ?? 1 }, () => spawnApp('api', { ...apiEnv, LOG_LEVEL: 'info' }));
  const apiUrls = await Promise.all(apis.map(async (a) => urlOf(await a.waitFor(/api listening/))));
  const api = apis[0]!;
  const apiUrl = apiUrls[0]!;
  const workerEnv = {
    ...common,
    JOB_BACKOFF_BASE_MS: '100',
    JOB_BACKOFF_MAX_MS: '1000',
    MAINTENANCE_INTERVAL_MS: '500',
    RECONCILE_MIN_AGE_SECONDS: '2',
    WORKER_LOCK_DURATION_MS: '3000',
    WORKER_CONCURRENCY: '8',
    TABPFN_TIMEOUT_MS: '3000',
    UPSTREAM_LIMITS: 'fit:100000/1m,predict:100000/1m,upload:100000/1m',
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
    ...opts.workerEnv,
  };
  const workers: AppProcess[] = [];
  const allWorkers: AppProcess[] = [];
  const startWorker = async (env: Record<string, string> = {}) => {
    const w = spawnApp('worker', { ...workerEnv, ...env });
    await w.waitFor(/worker started/);
    workers.push(w);
    allWorkers.push(w);
    return w;
  };
  await Promise.all(Array.from({ length: opts.workers ?? 1 }, () => startWorker()));
  let sql = new pg.Client({ connectionString: srv.dbUrl });
  sql.on('error', () => undefined);
  await sql.connect();

  const emu = async (method: string, path: string, body?: unknown): Promise<Json> => {
    const res = await fetch(`${emulatorUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return res.json();
  };

  return {
    srv,
    /** The PgBouncer the api and workers go through, when asked for. */
    pgbouncer: database.bouncer,
    /** The stack's database (on Postgres, and the same name through PgBouncer). */
    dbName: database.dbName,
    /** QUEUE_PREFIX of every process (hash-tagged: on a Redis Cluster all its keys share one slot). */
    prefix: srv.prefix,
    get sql() {
      return sql;
    },
    /** A new SQL connection (after a Postgres restart the old one is gone). */
    async reconnect() {
      await sql.end().catch(() => undefined);
      sql = new pg.Client({ connectionString: srv.dbUrl });
      sql.on('error', () => undefined);
      await sql.connect();
    },
    /** The first api process and its URL; `apis`/`apiUrls` hold every one. */
    api,
    apiUrl,
    apis,
    apiUrls,
    emulatorUrl,
    workers,
    startWorker,
    emu,
    /** Sets up an account through the first api; `client` calls that api, `clients[i]` api i, with its key. */
    async account(token = VALID_TOKEN) {
      const res = await request(apiUrl).post('/v1/auth/setup', { tabpfn_token: token });
      if (res.status !== 201) throw new Error(`setup failed: ${res.status} ${res.text}`);
      const clients = apiUrls.map((url) => request(url, res.body.api_key));
      return { ...res.body, client: clients[0]!, clients } as {
        user_id: string;
        api_key: string;
        client: ReturnType<typeof request>;
        clients: ReturnType<typeof request>[];
      };
    },
    /** How often each job id was logged as finished, across every worker process this stack ran. */
    finishCounts(): Map<string, number> {
      const counts = new Map<string, number>();
      for (const w of allWorkers) {
        for (const line of w.output) {
          if (!line.includes('"job finished"')) continue;
          const id = JSON.parse(line).job_id as string;
          counts.set(id, (counts.get(id) ?? 0) + 1);
        }
      }
      return counts;
    },
    /**
     * A worker commits a job's final state before its log line reaches us through the pipe, so wait
     * (briefly) until every id has been logged before counting how often.
     */
    async waitForFinishLogs(ids: string[], maxMs = 10_000): Promise<Map<string, number>> {
      const start = Date.now();
      for (;;) {
        const counts = this.finishCounts();
        if (ids.every((id) => counts.has(id)) || Date.now() - start > maxMs) return counts;
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    /** Submits a fit and waits until it has succeeded; returns the submit's body. */
    async fitted(client: ReturnType<typeof request>, body: Record<string, unknown>): Promise<{ job_id: string; model_id: string }> {
      const fit = await client.post('/v1/models/fit', body);
      if (fit.status !== 202) throw new Error(`fit submit: ${fit.status} ${fit.text}`);
      await this.until('the fit to succeed', async () => (await client.get(`/v1/jobs/${fit.body.job_id}`)).body.status === 'succeeded', [fit.body.job_id]);
      return fit.body;
    },
    /** Each job's status, stage, attempts and error code — what a failing wait prints. */
    async jobStates(ids: string[]): Promise<unknown[]> {
      const { rows } = await sql.query(
        `SELECT id, status, progress->>'stage' AS stage, attempts, error->>'code' AS error FROM jobs WHERE id = ANY($1) ORDER BY created_at`,
        [ids],
      );
      return rows;
    },
    /**
     * Polls `check` until it holds; past `maxMs` fails naming `what`, with the jobs' states and the
     * workers' last lines, so a failure on a CI machine says why without a rerun.
     */
    async until(what: string, check: () => Promise<boolean>, ids: string[] = [], maxMs = 30_000): Promise<void> {
      const start = Date.now();
      for (;;) {
        if (await check()) return;
        if (Date.now() - start > maxMs) {
          const tail = allWorkers.flatMap((w) => w.output.slice(-30)).join('\n');
          throw new Error(`timed out waiting for ${what}\njobs: ${JSON.stringify(await this.jobStates(ids))}\nworker output:\n${tail}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async statusCounts(): Promise<Record<string, number>> {
      const { rows } = await sql.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM jobs GROUP BY status');
      return Object.fromEntries(rows.map((r) => [r.status, r.n]));
    },
    async waitAllFinal(expected: number, maxMs = Number(process.env.FAULTS_WAIT_MS ?? 180_000)): Promise<void> {
      const start = Date.now();
      for (;;) {
        const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status IN ('succeeded', 'failed', 'canceled')`);
        if (rows[0]!.n >= expected) return;
        if (Date.now() - start > maxMs) {
          const tail = allWorkers.flatMap((w) => w.output.slice(-40)).join('\n');
          throw new Error(`only ${rows[0]!.n}/${expected} jobs final: ${JSON.stringify(await this.statusCounts())}\nworker output:\n${tail}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async close() {
      await sql.end().catch(() => undefined);
      await Promise.all(workers.map((w) => w.stop('SIGKILL')));
      await Promise.all(apis.map((a) => a.stop('SIGTERM')));
      await emulator.stop('SIGTERM');
      await database.bouncer?.stop();
      await srv.cleanup();
    },
  };
}

export type ProcessStack = Awaited<ReturnType<typeof startProcessStack>>;
