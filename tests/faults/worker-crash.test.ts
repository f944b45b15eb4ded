import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ProcessStack, type ProcessStackOptions, startProcessStack } from '../helpers/fault-stack.js';
import { pgbouncerBinary } from '../helpers/pgbouncer.js';
import { submitWorkload } from './workload.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The same scenario with api and worker on Postgres directly, and through PgBouncer in transaction
// mode (skipped, with a line saying so, where pgbouncer is not installed; .ci/run installs it).
const setups: [string, ProcessStackOptions][] = [['worker crashes', {}]];
if (pgbouncerBinary()) setups.push(['worker crashes, api and worker through PgBouncer (transaction mode, pool size 10)', { pgbouncer: { poolSize: 10 } }]);
else process.stderr.write('skipping the PgBouncer worker-crash scenario: pgbouncer not installed\n');

describe.each(setups)('%s', (_name, setup) => {
  let stack: ProcessStack;

  beforeAll(async () => {
    stack = await startProcessStack({ workers: 1, ...setup });
    await stack.emu('PUT', '/_emulator/latency', { fit: 150, predict: 60 });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('200 jobs survive two SIGKILLs of the worker: all final, one result each, no duplicates', async () => {
    const { client } = await stack.account();
    const ids = await submitWorkload(client, 20, 9);
    expect(ids).toHaveLength(200);

    for (let kill = 0; kill < 2; kill++) {
      // Kill while jobs are in flight, then start a replacement.
      for (let i = 0; i < 100; i++) {
        const { rows } = await stack.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'running'`);
        if (rows[0]!.n > 0) break;
        await sleep(50);
      }
      const victim = stack.workers.shift()!;
      await victim.stop('SIGKILL');
      await sleep(300);
      await stack.startWorker();
    }

    await stack.waitAllFinal(200);
    expect(await stack.statusCounts()).toEqual({ succeeded: 200 });
    const { rows: results } = await stack.sql.query(`SELECT count(*)::int AS n FROM jobs WHERE type = 'predict' AND result IS NOT NULL`);
    expect(results[0].n).toBe(180);
    const { rows: models } = await stack.sql.query(`SELECT count(*)::int AS n, count(DISTINCT fit_key)::int AS keys FROM models WHERE status = 'ready'`);
    expect(models[0]).toEqual({ n: 20, keys: 20 });
    const finishes = stack.finishCounts();
    for (const id of ids) expect(finishes.get(id) ?? 0).toBeLessThanOrEqual(1);
    // Through PgBouncer, it was PgBouncer that ran the processes' transactions.
    if (stack.pgbouncer) expect(await stack.pgbouncer.transactions(stack.dbName)).toBeGreaterThan(1_000);
  });
});
