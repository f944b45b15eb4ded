import { describe } from '@jest/globals';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, waitForPort } from './private-servers.js';
import { type AppProcess, spawnLeashed, testEnv } from './processes.js';

/**
 * A private PgBouncer in transaction pooling mode in front of a Postgres server, configured the way
 * README's "Running on more than one machine" tells operators to, so tests prove the api and worker
 * work through one. Needs the `pgbouncer` binary (Debian package `pgbouncer`, installed by .ci/run).
 */

/** The pgbouncer binary: Debian puts it in /usr/sbin, which a non-root PATH may lack. */
export function pgbouncerBinary(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin'];
  return dirs.map((dir) => join(dir, 'pgbouncer')).find((path) => existsSync(path));
}

export interface PgBouncerOptions {
  /** Any URL of the Postgres server to pool (its host, port, user and password; the database is ignored). */
  target: string;
  /** Server connections per database and user, shared by every client. */
  poolSize?: number;
  /**
   * statement_timeout set on each server connection as it opens (PgBouncer's `connect_query`): the
   * bound for statements outside a transaction, which the apps' startup parameter cannot give.
   */
  serverStatementTimeoutMs?: number;
}

export interface PgBouncer {
  port: number;
  /** PgBouncer's address for `dbName` on the server behind it (any database name passes through). */
  url(dbName: string): string;
  /** pgbouncer's log lines so far. */
  output: string[];
  /** Transactions PgBouncer has run on `dbName` so far (SHOW STATS): proof that clients went through it. */
  transactions(dbName: string): Promise<number>;
  /** SIGTERM (PgBouncer's immediate shutdown): open client connections are dropped. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
}

function configFile(o: { dir: string; port: number; target: URL; poolSize: number; serverStatementTimeoutMs?: number }): string {
  const server = [
    `host=${o.target.hostname}`,
    `port=${o.target.port || 5432}`,
    `user=${decodeURIComponent(o.target.username || 'postgres')}`,
  ];
  if (o.target.password) server.push(`password=${decodeURIComponent(o.target.password)}`);
  if (o.serverStatementTimeoutMs) server.push(`connect_query='SET statement_timeout = ${Math.trunc(o.serverStatementTimeoutMs)}'`);
  return [
    '[databases]',
    // `*`: a client's database name is pooled onto the server's database of that name.
    `* = ${server.join(' ')}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${o.port}`,
    `unix_socket_dir = ${o.dir}`,
    // Trust, as the Postgres it fronts: the user must still be listed in auth_file.
    'auth_type = trust',
    `auth_file = ${join(o.dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${o.poolSize}`,
    'max_client_conn = 1000',
    // node-pg sends DB_STATEMENT_TIMEOUT_MS as this startup parameter; PgBouncer refuses a connection
    // with a parameter it neither tracks nor ignores (application_name it tracks).
    'ignore_startup_parameters = statement_timeout',
    // Its console (database `pgbouncer`): tests read SHOW STATS there.
    `admin_users = ${decodeURIComponent(o.target.username || 'postgres')}`,
    '',
  ].join('\n');
}

/** The command line: PgBouncer refuses to run as root, so as root it runs as `postgres` (as the private Postgres does). */
function commandLine(bin: string, ini: string): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', bin, ini]] : [bin, [ini]];
}

/** Resolves once a query through PgBouncer reaches Postgres; fails with pgbouncer's log and the last error otherwise. */
async function waitUntilServing(url: string, proc: AppProcess, maxMs = 20_000): Promise<void> {
  const start = Date.now();
  let lastError = '';
  for (;;) {
    if (proc.proc.exitCode !== null || proc.proc.signalCode !== null) {
      throw new Error(`pgbouncer exited (${proc.proc.exitCode ?? proc.proc.signalCode}):\n${proc.output.join('\n')}`);
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (err) {
      lastError = (err as Error).message;
    } finally {
      await client.end().catch(() => undefined);
    }
    if (Date.now() - start > maxMs)
      throw new Error(`pgbouncer at ${url} not serving after ${maxMs} ms (${lastError}):\n${proc.output.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `total_xact_count` of `dbName` from PgBouncer's console (simple queries only: no parameters). */
async function transactionCount(consoleUrl: string, dbName: string): Promise<number> {
  const client = new pg.Client({ connectionString: consoleUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ database: string; total_xact_count: string }>('SHOW STATS');
    return Number(rows.find((r) => r.database === dbName)?.total_xact_count ?? 0);
  } finally {
    await client.end();
  }
}

/** Starts PgBouncer on a free loopback port; it dies with the test file (process-reaper.ts) or the jest worker (leash.js). */
export async function startPgBouncer(opts: PgBouncerOptions): Promise<PgBouncer> {
  const bin = pgbouncerBinary();
  if (!bin) throw new Error('pgbouncer not found (Debian: apt-get install -y pgbouncer)');
  const target = new URL(opts.target);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tabpfn-pgbouncer-'));
  // The `postgres` user (when we are root) creates its unix socket here.
  chmodSync(dir, 0o777);
  const user = decodeURIComponent(target.username || 'postgres');
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" ""\n`);
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(
    ini,
    configFile({ dir, port, target, poolSize: opts.poolSize ?? 10, serverStatementTimeoutMs: opts.serverStatementTimeoutMs }),
  );
  const [command, args] = commandLine(bin, ini);
  const proc = spawnLeashed('pgbouncer', command, args, { env: testEnv() });
  const url = (dbName: string) => `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(dbName)}`;
  await waitUntilServing(url('postgres'), proc);
  const end = async (signal: NodeJS.Signals) => {
    try {
      // The whole group: the leash, runuser and pgbouncer.
      if (proc.proc.pid !== undefined) process.kill(-proc.proc.pid, signal);
    } catch {
      // gone already
    }
    await proc.exited;
    await waitForPort(port, false, 10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    port,
    url,
    output: proc.output,
    transactions: (dbName) => transactionCount(url('pgbouncer'), dbName),
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
  };
}

/**
 * `describe`, or `describe.skip` with a warning when the binary is missing (a machine without the
 * Debian package); .ci/run installs it, so CI runs these.
 */
export function describeWithPgBouncer(name: string, fn: () => void): void {
  if (pgbouncerBinary()) {
    describe(name, fn);
    return;
  }
  process.stderr.write(`skipping "${name}": pgbouncer not installed (apt-get install -y pgbouncer)\n`);
  describe.skip(name, fn);
}
