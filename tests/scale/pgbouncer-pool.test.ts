import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { createPool, withTransaction } from '@tabpfn-jobs/shared/db';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import type pg from 'pg';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { type PgBouncer, describeWithPgBouncer, startPgBouncer } from '../helpers/pgbouncer.js';

// The statement timeout behind a transaction pooler: the startup parameter is dropped, so the pool
// sets it per transaction and the pooler per server connection (README, "Running on more than one machine").
describeWithPgBouncer('the pool through PgBouncer in transaction mode', () => {
  let db: TestDatabase;
  let bouncer: PgBouncer;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    bouncer = await startPgBouncer({ target: db.url, poolSize: 2, serverStatementTimeoutMs: 1_500 });
    pool = createPool({ connectionString: bouncer.url(db.name), max: 4, statementTimeoutMs: 300 });
  });
  afterAll(async () => {
    await pool?.end();
    await bouncer?.stop();
    await db?.drop();
  });

  it('connects although node-pg sends statement_timeout at startup, and reports its application_name', async () => {
    const { rows } = await pool.query<{ application_name: string }>('SHOW application_name');
    expect(rows[0]!.application_name).toBe('tabpfn-jobs');
  });

  it('a transaction gets the pool timeout, and leaves none behind on the server connection', async () => {
    // 1 s is within the server connection's 1.5 s: only the transaction's own 300 ms cancels it.
    const slow = withTransaction(pool, (tx) => tx.query('SELECT pg_sleep(1)'));
    await expect(slow).rejects.toMatchObject({ code: '57014' });
    // Two server connections only: these reuse the one that ran the transaction.
    const shown = await Promise.all(Array.from({ length: 4 }, () => pool.query<{ statement_timeout: string }>('SHOW statement_timeout')));
    expect(shown.map((r) => r.rows[0]!.statement_timeout)).toEqual(['1500ms', '1500ms', '1500ms', '1500ms']);
  });

  it('a statement outside a transaction is bounded by the timeout the pooler sets on its server connections', async () => {
    await expect(pool.query('SELECT pg_sleep(3)')).rejects.toMatchObject({ code: '57014' });
  });

  it('named prepared statements left on by mistake: lone statements recover, the pool stops naming, and warns once', async () => {
    // One server connection: a second client's Parse of the same name lands where the first one's is.
    const single = await startPgBouncer({ target: db.url, poolSize: 1 });
    const warnings: string[] = [];
    const logger = { warn: (_: object, msg: string) => warnings.push(msg) } as unknown as Logger;
    const prepared = createPool({ connectionString: single.url(db.name), max: 2, preparedStatements: true, logger });
    try {
      const [a, b] = [await prepared.connect(), await prepared.connect()];
      const answers: number[] = [];
      for (let i = 0; i < 6; i++) answers.push((await (i % 2 ? b : a).query<{ n: number }>('SELECT $1::int + 1 AS n', [i])).rows[0]!.n);
      a.release();
      b.release();
      expect(answers).toEqual([1, 2, 3, 4, 5, 6]);
      expect(warnings).toEqual([expect.stringMatching(/DB_PREPARED_STATEMENTS=false/)]);
    } finally {
      await prepared.end();
      await single.stop();
    }
  });

  it('stops: its port closes', async () => {
    const other = await startPgBouncer({ target: db.url });
    await other.kill();
    const orphan = createPool({ connectionString: other.url(db.name), connectionTimeoutMs: 500 });
    await expect(orphan.query('SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    await orphan.end();
  });
});
