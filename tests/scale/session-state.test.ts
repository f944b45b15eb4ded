import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ROOT } from '../helpers/processes.js';

// Behind a pooler in transaction mode each transaction (or lone statement) may run on another server
// connection, so api and worker must keep no state in a Postgres session. The runtime tests prove the
// paths they exercise; this guards every path, including ones added later.

/** What would live in a session, and why it breaks under transaction pooling (SQL keywords in capitals, as this code writes them). */
const SESSION_STATE: [RegExp, string][] = [
  [
    /pg_(try_)?advisory_lock(_shared)?\s*\(/i,
    'session advisory lock (released with the session, not the transaction): use pg_advisory_xact_lock',
  ],
  [/['"`;]\s*(LISTEN|UNLISTEN|NOTIFY)\s/, 'LISTEN/NOTIFY: the listening session is not ours after the transaction'],
  [/pg_notify\s*\(/i, 'NOTIFY: use the Redis broadcasts (jobs/job-events.ts)'],
  [/['"`;]\s*SET\s+(SESSION\s+)?(?!LOCAL\b)\w+\s*(=|TO\b)/, 'SET outside a transaction leaks to the next client: use SET LOCAL in one'],
  [/set_config\s*\([^)]*,\s*false\s*\)/i, 'set_config(..., false) is session-wide: pass true, in a transaction'],
  [/['"`;]\s*(RESET|DISCARD)\s/, 'RESET/DISCARD acts on a session'],
  [/CREATE\s+(GLOBAL\s+|LOCAL\s+)?TEMP(ORARY)?\s+TABLE/, 'temp tables live in a session'],
  [/WITH\s+HOLD|DECLARE\s+\w+[^;'"`]*CURSOR/, 'cursors outside a transaction live in a session'],
  [/['"`;]\s*PREPARE\s+\w+/, 'a prepared statement lives in a session'],
  [
    /\.query\(\s*\{[^}]*\bname\s*:/,
    "node-pg's named prepared statements live in a session: only db/prepared-statements.ts names statements, which DB_PREPARED_STATEMENTS turns off behind a pooler",
  ],
  [/options\s*:\s*['"`]-c/, 'startup options: PgBouncer refuses them unless told to ignore them (and then they are lost)'],
];

function findSessionState(source: string): string[] {
  // Comments may name what they must not do; strip them (a `//` after `:` is a URL, not a comment).
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
  return SESSION_STATE.filter(([re]) => re.test(code)).map(([, why]) => why);
}

// Migrations hold one session on purpose, on DATABASE_URL_DIRECT (config/env.ts).
const EXEMPT = new Set(['packages/shared/src/db/migrate.ts']);

function sources(): string[] {
  return ['apps/api/src', 'apps/worker/src', 'packages/shared/src'].flatMap((dir) =>
    (readdirSync(join(ROOT, dir), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => `${dir}/${f}`)
      .filter((f) => !EXEMPT.has(f)),
  );
}

describe('no session state in the api and worker (PgBouncer transaction mode)', () => {
  it('finds each kind in a sample, and nothing in what is allowed', () => {
    const bad = [
      "db.query('SELECT pg_advisory_lock($1)', [k])",
      "db.query('LISTEN jobs')",
      'db.query(`SET statement_timeout = 5000`)',
      "db.query(\"SELECT set_config('x.y', '1', false)\")",
      "db.query('CREATE TEMP TABLE t (a int)')",
      "db.query('DECLARE c CURSOR WITH HOLD FOR SELECT 1')",
      "db.query({ name: 'by-id', text: 'SELECT 1' })",
      "new pg.Pool({ options: '-c search_path=x' })",
    ];
    expect(bad.filter((s) => findSessionState(s).length === 0)).toEqual([]);
    const fine = [
      "tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))', [id])",
      "client.query('BEGIN; SET LOCAL statement_timeout = 15000')",
      "db.query(`UPDATE jobs SET status = 'running' WHERE id = $1`, [id])",
      "tx.query(\"SELECT set_config('x.y', '1', true)\")",
      "// never SET statement_timeout = 1 here\ndb.query('SELECT 1')",
      "logger.info('reset the breaker')",
      "queue.add({ name: 'fit', data })",
    ];
    expect(fine.filter((s) => findSessionState(s).length > 0)).toEqual([]);
  });

  it('none in apps/api, apps/worker or packages/shared', () => {
    const files = sources();
    expect(files.length).toBeGreaterThan(50);
    const found = files.flatMap((f) => findSessionState(readFileSync(join(ROOT, f), 'utf8')).map((why) => `${f}: ${why}`));
    expect(found).toEqual([]);
  });
});
