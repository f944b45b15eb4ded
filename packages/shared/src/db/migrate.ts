import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import type { Logger } from '../logger.js';
import type { Queryable } from './pool.js';

export const MIGRATIONS_TABLE = 'pgmigrations';

/** The repository's `migrations/` folder, found from this file so it works from src and dist alike. */
export function migrationsDir(): string {
  if (process.env.MIGRATIONS_DIR) return process.env.MIGRATIONS_DIR;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'migrations');
    if (existsSync(join(dir, 'pnpm-workspace.yaml')) && existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('migrations directory not found; set MIGRATIONS_DIR');
    dir = parent;
  }
}

/** Migration names as node-pg-migrate records them (file name without extension). */
export function migrationNames(dir = migrationsDir()): string[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_.+\.(sql|ts|js)$/.test(f))
    .map((f) => f.replace(/\.(sql|ts|js)$/, ''))
    .sort();
}

/** Creates the database named in `databaseUrl` when it does not exist (development convenience). */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!name) return false;
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    return true;
  } catch (err) {
    // Another process created it at the same moment.
    if ((err as { code?: string }).code === '42P04') return false;
    throw err;
  } finally {
    await client.end();
  }
}

export async function migrateUp(databaseUrl: string, logger?: Logger): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: migrationsDir(),
    migrationsTable: MIGRATIONS_TABLE,
    direction: 'up',
    checkOrder: true,
    verbose: false,
    logger: logger
      ? { debug: () => undefined, info: (m: string) => logger.debug(m), warn: (m: string) => logger.warn(m), error: (m: string) => logger.error(m) }
      : { debug: () => undefined, info: () => undefined, warn: () => undefined, error: console.error },
  });
  return applied.map((m) => m.name);
}

/** Names of migrations on disk that the database has not applied. */
export async function pendingMigrations(db: Queryable | pg.Client, names = migrationNames()): Promise<string[]> {
  const exists = await db.query(`SELECT to_regclass('public.${MIGRATIONS_TABLE}') AS t`);
  if (!exists.rows[0]?.t) return names;
  const { rows } = await db.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE}`);
  const done = new Set(rows.map((r) => r.name));
  return names.filter((n) => !done.has(n));
}

/**
 * Resolves once the database exists and has every migration on disk applied, retrying every
 * `intervalMs` (the api, or `pnpm migrate`, may still be creating it). Logs the first wait and every
 * tenth after it, so a forgotten migration is visible without flooding the log.
 */
export async function waitForMigrations(databaseUrl: string, logger: Logger, opts: { intervalMs?: number } = {}): Promise<void> {
  const intervalMs = opts.intervalMs ?? 1_000;
  const names = migrationNames();
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3_000 });
    client.on('error', () => undefined);
    let reason: string;
    try {
      await client.connect();
      const pending = await pendingMigrations(client, names);
      if (!pending.length) {
        if (attempt > 0) logger.info({ attempts: attempt + 1 }, 'database is migrated; starting');
        return;
      }
      reason = `${pending.length} of ${names.length} migrations not applied yet`;
    } catch (err) {
      reason = (err as Error).message;
    } finally {
      await client.end().catch(() => undefined);
    }
    const fields = { reason, attempt: attempt + 1, retry_ms: intervalMs };
    if (attempt % 10 === 0) logger.info(fields, 'waiting for the database and its migrations');
    else logger.debug(fields, 'waiting for the database and its migrations');
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
