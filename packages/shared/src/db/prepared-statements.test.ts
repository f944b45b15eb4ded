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

/** One connection, opened: the first statement on a new connection goes as node-pg connects, unnamed. */
async function onePool(state: PreparedStatements): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: db.url, max: 1, Client: preparingClient(state) });
  pools.push(pool);
  await pool.query('SELECT 1');
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
    const pool = await onePool(preparedStatements(true));
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
    const on = await onePool(preparedStatements(true));
    await on.query('SELECT count(*) FROM prep_t');
    await withTransaction(on, (tx) => tx.query('SELECT 1; SELECT 2'));
    expect(await kept(on)).toEqual([]);
    const off = await onePool(preparedStatements(false));
    expect((await off.query('SELECT a FROM prep_t WHERE id = $1', [2])).rows).toEqual([{ a: 'a2' }]);
    expect(await kept(off)).toEqual([]);
  });

  it('names at most maxNames texts; the rest run unnamed', async () => {
    const state = preparedStatements(true, undefined, 2);
    const pool = await onePool(state);
    for (const col of ['id', 'a', 'id, a']) await pool.query(`SELECT ${col} FROM prep_t WHERE id = $1`, [1]);
    expect((await kept(pool)).map((k) => k.statement).sort()).toEqual([
      'SELECT a FROM prep_t WHERE id = $1',
      'SELECT id FROM prep_t WHERE id = $1',
    ]);
    expect(state.names.size).toBe(2);
  });

  it('after a migration changes what `*` means: the statement is prepared again, in the whole pool, and answers with the new column', async () => {
    const state = preparedStatements(true);
    const pool = new pg.Pool({ connectionString: db.url, max: 2, Client: preparingClient(state) });
    pools.push(pool);
    const [a, b] = [await pool.connect(), await pool.connect()];
    try {
      const text = 'SELECT * FROM prep_stale WHERE id = $1';
      await a.query('CREATE TABLE prep_stale (id int PRIMARY KEY)');
      await a.query('INSERT INTO prep_stale VALUES (1)');
      for (const c of [a, b]) expect((await c.query(text, [1])).rows).toEqual([{ id: 1 }]);
      const before = state.names.get(text);
      await a.query('ALTER TABLE prep_stale ADD COLUMN b int DEFAULT 7');
      expect((await a.query(text, [1])).rows).toEqual([{ id: 1, b: 7 }]);
      expect(state.names.get(text)).not.toBe(before);
      // The other connection takes the new name at once: prepared afresh, no failed attempt first.
      expect((await b.query(text, [1])).rows).toEqual([{ id: 1, b: 7 }]);
      const names = async (c: pg.PoolClient) =>
        (await c.query<{ name: string }>('SELECT name FROM pg_prepared_statements WHERE statement = $1', [text])).rows.map((r) => r.name);
      expect((await names(b)).sort()).toEqual([before, state.names.get(text)].sort());
      expect(state.enabled).toBe(true);
    } finally {
      a.release();
      b.release();
    }
  });

  it('inside a transaction, and behind a statement still in flight, statements run unnamed', async () => {
    const pool = await onePool(preparedStatements(true));
    const text = 'SELECT a FROM prep_t WHERE id = $1';
    const rows = await withTransaction(pool, async (tx) => (await tx.query(text, [6])).rows);
    expect(rows).toEqual([{ a: 'a6' }]);
    expect(await kept(pool)).toEqual([]);
    const client = await pool.connect();
    try {
      const both = await Promise.all([client.query(text, [7]), client.query(text, [8])]);
      expect(both.map((r) => r.rows[0])).toEqual([{ a: 'a7' }, { a: 'a8' }]);
    } finally {
      client.release();
    }
    // The first was sent alone and named; the second, queued behind it, was not.
    expect(await kept(pool)).toEqual([expect.objectContaining({ statement: text, runs: 1 })]);
  });

  it('a value that fails to convert fails its statement only; the text is prepared again after it', async () => {
    const state = preparedStatements(true);
    const pool = await onePool(state);
    const text = 'SELECT a FROM prep_t WHERE id = $1';
    const broken = {
      toPostgres() {
        throw new Error('cannot convert');
      },
    };
    await expect(pool.query(text, [broken])).rejects.toThrow('cannot convert');
    expect((await pool.query(text, [9])).rows).toEqual([{ a: 'a9' }]);
    expect((await pool.query(text, [10])).rows).toEqual([{ a: 'a10' }]);
    expect(state.enabled).toBe(true);
  });

  it('passes other errors through and keeps the connection usable', async () => {
    const pool = await onePool(preparedStatements(true));
    await expect(pool.query('SELECT id FROM prep_t WHERE id = $1', ['not a number'])).rejects.toMatchObject({ code: '22P02' });
    await expect(pool.query('SELECT nope FROM prep_t WHERE id = $1', [1])).rejects.toMatchObject({ code: '42703' });
    expect((await pool.query('SELECT id FROM prep_t WHERE id = $1', [5])).rows).toEqual([{ id: 5 }]);
  });
});
