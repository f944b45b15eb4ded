import pg from 'pg';
import type { Logger } from '../logger.js';
import { preparedStatements, preparingClient } from './prepared-statements.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Anything a repository can run a query on: the pool or a client inside a transaction. */
export type Queryable = pg.Pool | pg.PoolClient;

// bigint counts (COUNT(*), SUM) come back as strings by default; our counts fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

export interface PoolOptions {
  connectionString: string;
  max?: number;
  statementTimeoutMs?: number;
  /** How long to wait for a connection before failing; keeps requests from hanging when Postgres is down. */
  connectionTimeoutMs?: number;
  applicationName?: string;
  /** Named prepared statements for parameterized queries (see prepared-statements.ts); off behind a pooler that does not keep them. */
  preparedStatements?: boolean;
  logger?: Logger;
}

/**
 * Each pool's statement timeout, applied again inside every transaction it runs ({@link withTransaction}).
 * The connection-level one (a startup parameter) is all a direct connection needs, but a pooler in
 * transaction mode hands each transaction to any of its server connections and drops startup
 * parameters it is told to ignore (PgBouncer's `ignore_startup_parameters = statement_timeout`), so
 * there it never reaches Postgres.
 */
const transactionTimeouts = new WeakMap<pg.Pool, number>();

export function createPool(opts: PoolOptions): pg.Pool {
  const statementTimeoutMs = opts.statementTimeoutMs ?? 15_000;
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 3_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + 2_000,
    application_name: opts.applicationName ?? 'tabpfn-jobs',
    keepAlive: true,
    Client: preparingClient(preparedStatements(opts.preparedStatements ?? false, opts.logger)),
  });
  // A client losing its connection (Postgres restart) must not crash the process: the pool only
  // listens on idle clients, so every client also gets its own listener for while it is checked out.
  pool.on('error', (err) => opts.logger?.warn({ err: err.message }, 'postgres idle client error'));
  pool.on('connect', (client) => {
    client.on('error', (err) => opts.logger?.warn({ err: err.message }, 'postgres client error'));
  });
  transactionTimeouts.set(pool, Math.trunc(statementTimeoutMs));
  return pool;
}

/**
 * The statement that opens a transaction. With a timeout, `SET LOCAL` rides in the same simple query
 * as `BEGIN` (one round trip, as before): it lasts exactly as long as the transaction, on whichever
 * server connection a pooler picked, and leaves no session state behind for the next client.
 */
function beginStatement(pool: pg.Pool): string {
  const timeoutMs = transactionTimeouts.get(pool);
  return timeoutMs ? `BEGIN; SET LOCAL statement_timeout = ${timeoutMs}` : 'BEGIN';
}

/** Runs `fn` in one transaction; rolls back on any throw. */
export async function withTransaction<T>(pool: pg.Pool, fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(beginStatement(pool));
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * `withTransaction`, run again (up to `attempts` times) when Postgres chose it as a deadlock victim.
 * For wide transactions that race workers row by row (deleting an account cascades through jobs the
 * workers are updating); `fn` must be safe to repeat, as a rolled-back transaction is.
 */
export async function withTransactionRetry<T>(pool: pg.Pool, fn: (tx: pg.PoolClient) => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTransaction(pool, fn);
    } catch (err) {
      if ((err as { code?: string }).code !== '40P01' || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 20 * attempt + Math.random() * 30));
    }
  }
}

/** Postgres is reachable and answers. */
export async function pingPostgres(db: Queryable): Promise<void> {
  await db.query('SELECT 1');
}

/** True for errors that mean "the database is unreachable", as opposed to a bad query. */
export function isConnectionError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: string; message?: string };
  const codes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '08006', '08001', '08003', '08004']);
  if (e.code && codes.has(e.code)) return true;
  const msg = e.message ?? '';
  return /timeout exceeded when trying to connect|Connection terminated|connection timeout|Client has encountered a connection error|the database system is (starting|shutting) up/i.test(msg);
}
