import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { T, X, Y } from '../faults/workload.js';
import { OTHER_TOKEN, THIRD_TOKEN, VALID_TOKEN } from '../helpers/emulator.js';
import { type ProcessStack, type ProcessStackOptions, startProcessStack } from '../helpers/fault-stack.js';
import { pgbouncerBinary } from '../helpers/pgbouncer.js';

// Two api processes on one Postgres and one Redis, one account's requests alternating between them:
// what the api promises per account or per key must hold across processes, not per process. Each
// setup runs on Postgres directly and through PgBouncer in transaction mode (where installed).

const setups: [string, ProcessStackOptions][] = [['on Postgres directly', {}]];
if (pgbouncerBinary()) setups.push(['through PgBouncer (transaction mode, pool size 10)', { pgbouncer: { poolSize: 10 } }]);
else process.stderr.write('skipping the PgBouncer setups of several-apis: pgbouncer not installed\n');

const RATE_LIMIT = 30;
const row = (i: number) => [T[i % T.length]!.map((v) => (typeof v === 'number' ? v + i * 1e-6 : v))];

describe.each(setups)('two apis, one worker, %s', (_name, setup) => {
  let stack: ProcessStack;
  beforeAll(async () => {
    stack = await startProcessStack({
      servers: 'shared',
      apis: 2,
      workers: 1,
      apiEnv: { RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT) },
      ...setup,
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('one Idempotency-Key sent to both apis at once makes one job, and both get its answer', async () => {
    const { clients, user_id } = await stack.account(VALID_TOKEN);
    const body = { features: X, target: Y, description: 'idempotent' };
    const both = await Promise.all(clients.map((c) => c.post('/v1/models/fit', body, { 'idempotency-key': 'same-key' })));
    expect(both.map((r) => r.status)).toEqual([202, 202]);
    expect(both[1]!.body.job_id).toBe(both[0]!.body.job_id);
    const again = await clients[1]!.post('/v1/models/fit', body, { 'idempotency-key': 'same-key' });
    expect(again.body.job_id).toBe(both[0]!.body.job_id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const reused = await clients[0]!.post('/v1/models/fit', { ...body, description: 'another body' }, { 'idempotency-key': 'same-key' });
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe('idempotency_key_reused');
    const { rows } = await stack.sql.query('SELECT count(*)::int AS n FROM jobs WHERE user_id = $1', [user_id]);
    expect(rows[0].n).toBe(1);
  });

  it("a key's rate limit is one budget across both apis", async () => {
    const { clients } = await stack.account(OTHER_TOKEN);
    const answers = [];
    for (let i = 0; i < RATE_LIMIT + 6; i++) answers.push(await clients[i % 2]!.get('/v1/jobs'));
    expect(answers.map((r) => r.status)).toEqual([...Array(RATE_LIMIT).fill(200), ...Array(6).fill(429)]);
    // Each answer's remaining budget counts the other api's requests too.
    const remaining = answers.slice(0, RATE_LIMIT).map((r) => Number(/r=(\d+)/.exec(r.headers.get('ratelimit') ?? '')?.[1]));
    expect(remaining).toEqual(Array.from({ length: RATE_LIMIT }, (_, i) => RATE_LIMIT - 1 - i));
    expect(answers.at(-1)!.body.code).toBe('rate_limited');
  });

  it('Prefer: wait on one api answers with the job finished, on a model the other api took the fit for', async () => {
    const { clients } = await stack.account(THIRD_TOKEN);
    const fit = await clients[0]!.post('/v1/models/fit', { features: X, target: Y, config: { random_state: 3 } });
    expect(fit.status).toBe(202);
    // Parked on the fit until the worker finishes it; only a broadcast through Redis tells api 1.
    const waited = await clients[1]!.post(`/v1/models/${fit.body.model_id}/predict`, { features: row(1) }, { prefer: 'wait=30' });
    expect(waited.status).toBe(200);
    expect(waited.headers.get('preference-applied')).toBe('wait=30');
    expect(waited.body.status).toBe('succeeded');
    expect(waited.body.result).toBeDefined();
    const { rows } = await stack.sql.query(`SELECT status FROM jobs WHERE id = $1`, [fit.body.job_id]);
    expect(rows[0].status).toBe('succeeded');
  });
});

// The in-flight cap, with no worker to drain it.
describe.each(setups)('two apis, no worker, %s', (_name, setup) => {
  let stack: ProcessStack;
  beforeAll(async () => {
    stack = await startProcessStack({ servers: 'shared', apis: 2, workers: 0, apiEnv: { MAX_INFLIGHT_JOBS: '100' }, ...setup });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('200 concurrent submits of one account, alternating between them: exactly 100 accepted', async () => {
    const { clients, user_id } = await stack.account(VALID_TOKEN);
    // All 200 at once: each its own socket (fetch opens as many connections per origin as requests).
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        clients[i % 2]!.post('/v1/models/fit', { features: X, target: Y, config: { random_state: i } }),
      ),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(100);
    const refused = answers.filter((r) => r.status === 429);
    expect(refused).toHaveLength(100);
    expect(new Set(refused.map((r) => r.body.code))).toEqual(new Set(['too_many_inflight_jobs']));
    expect(
      refused.every((r) => r.headers.get('content-type')?.startsWith('application/problem+json') && r.headers.get('retry-after')),
    ).toBe(true);
    const { rows } = await stack.sql.query(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'queued')::int AS queued FROM jobs WHERE user_id = $1`,
      [user_id],
    );
    expect(rows[0]).toEqual({ n: 100, queued: 100 });
    if (stack.pgbouncer) expect(await stack.pgbouncer.transactions(stack.dbName)).toBeGreaterThan(100);
  });
});
