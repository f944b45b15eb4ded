import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { type TestDatabase, createTestDatabase } from '../../../../tests/helpers/database.js';
import { type PreparedStatements, preparedStatements, preparingClient } from './prepared-statements.js';
import { withTransaction } from './pool.js';

// Against real Postgres: what each connection keeps (pg_prepared_statements is per session, so every
// pool here has one connection), and the recovery when a migration makes a kept plan stale.

let db: TestDatabase;
const pools: pg.Pool[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const setup = new pg.Client({ connectionString: db.url });
  await setup.connect();
  await setup.query('CREATE TABLE prep_t (id int PRIMARY KEY, a text)');
  await setup.query(`INSERT INTO prep_t SELECT g, 'a' || g FROM generate_series(1, 20) g`);
  await setup.end();
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await db?.drop();
});

function onePool(state: PreparedStatements): pg.Pool {
  const pool = new pg.Pool({ connectionString: db.url, max: 1, Client: preparingClient(state) });
  pools.push(pool);
  return pool;
}

interface Kept {
  name: string;
  statement: string;
  runs: number;
}
/** The session's named statements and how often each ran (generic + custom plans: Postgres 14+). */
async function kept(pool: pg.Pool): Promise<Kept[]> {
  const { rows } = await pool.query<Kept>(
    'SELECT name, statement, (generic_plans + custom_plans)::int AS runs FROM pg_prepared_statements WHERE from_sql = false ORDER BY name',
  );
  return rows;
}

describe('named prepared statements', () => {
  it('parses a parameterized statement once per connection and runs it from there, answers unchanged', async () => {
    const pool = onePool(preparedStatements(true));
    const text = 'SELECT id, a FROM prep_t WHERE id = $1';
    for (let id = 1; id <= 12; id++) expect((await pool.query(text, [id])).rows).toEqual([{ id, a: `a${id}` }]);
    // pg.Pool's own query hands the client a callback: that form too.
    const viaCallback = await new Promise<pg.QueryResult>((resolve, reject) =>
      pool.query(text, [3], (err, r) => (err ? reject(err) : resolve(r))),
    );
    expect(viaCallback.rows).toEqual([{ id: 3, a: 'a3' }]);
    const rows = await pool.query({ text, values: [4], rowMode: 'array' });
    expect(rows.rows).toEqual([[4, 'a4']]);
    const [one, ...others] = await kept(pool);
    expect(others).toEqual([]);
    expect(one).toMatchObject({ statement: text, runs: 14 });
    expect(one!.name).toMatch(/^tj_[\w-]{24}$/);
  });

  it('leaves unnamed what has no parameters (multi-statement texts included), and everything when off', async () => {
    const on = onePool(preparedStatements(true));
    await on.query('SELECT count(*) FROM prep_t');
    await withTransaction(on, (tx) => tx.query('SELECT 1; SELECT 2'));
    expect(await kept(on)).toEqual([]);
    const off = onePool(preparedStatements(false));
    expect((await off.query('SELECT a FROM prep_t WHERE id = $1', [2])).rows).toEqual([{ a: 'a2' }]);
    expect(await kept(off)).toEqual([]);
  });

  it('names at most maxNames texts; the rest run unnamed', async () => {
    const state = preparedStatements(true, undefined, 2);
    const pool = onePool(state);
    for (const col of ['id', 'a', 'id, a']) await pool.query(`SELECT ${col} FROM prep_t WHERE id = $1`, [1]);
    expect((await kept(pool)).map((k) => k.statement).sort()).toEqual([
      'SELECT a FROM prep_t WHERE id = $1',
      'SELECT id FROM prep_t WHERE id = $1',
    ]);
    expect(state.names.size).toBe(2);
  });

  it('after a migration changes what `*` means: a lone statement is prepared again and answers with the new column', async () => {
    const pool = onePool(preparedStatements(true));
    const text = 'SELECT * FROM prep_stale WHERE id = $1';
    await pool.query('CREATE TABLE prep_stale (id int PRIMARY KEY)');
    await pool.query('INSERT INTO prep_stale VALUES (1)');
    expect((await pool.query(text, [1])).rows).toEqual([{ id: 1 }]);
    await pool.query('ALTER TABLE prep_stale ADD COLUMN b int DEFAULT 7');
    expect((await pool.query(text, [1])).rows).toEqual([{ id: 1, b: 7 }]);
    expect((await kept(pool)).filter((k) => k.statement === text)).toHaveLength(2);
  });

  it('inside a transaction the stale plan fails that transaction only; the next one runs', async () => {
    const pool = onePool(preparedStatements(true));
    const text = 'SELECT * FROM prep_stale_tx WHERE id = $1';
    await pool.query('CREATE TABLE prep_stale_tx (id int PRIMARY KEY)');
    await pool.query('INSERT INTO prep_stale_tx VALUES (1)');
    await pool.query(text, [1]);
    await pool.query('ALTER TABLE prep_stale_tx ADD COLUMN b int DEFAULT 7');
    await expect(withTransaction(pool, (tx) => tx.query(text, [1]))).rejects.toMatchObject({ code: '0A000' });
    expect((await withTransaction(pool, (tx) => tx.query(text, [1]))).rows).toEqual([{ id: 1, b: 7 }]);
  });

  it('passes other errors through and keeps the connection usable', async () => {
    const pool = onePool(preparedStatements(true));
    await expect(pool.query('SELECT id FROM prep_t WHERE id = $1', ['not a number'])).rejects.toMatchObject({ code: '22P02' });
    await expect(pool.query('SELECT nope FROM prep_t WHERE id = $1', [1])).rejects.toMatchObject({ code: '42703' });
    expect((await pool.query('SELECT id FROM prep_t WHERE id = $1', [5])).rows).toEqual([{ id: 5 }]);
  });
});
