import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ProcessStack, startProcessStack } from '../helpers/fault-stack.js';
import { X, Y } from './workload.js';

let stack: ProcessStack;

beforeAll(async () => {
  stack = await startProcessStack({ workers: 1 });
});
afterAll(async () => {
  await stack?.close();
});

describe('Redis down', () => {
  it('the API still accepts jobs (Postgres holds them) and the reconciler runs them once Redis is back', async () => {
    if (!stack.srv.redisServer) {
      console.warn('skipped: needs a private redis-server');
      return;
    }
    const { client } = await stack.account();
    await stack.srv.redisServer.stop();
    const accepted: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await client.post('/v1/models/fit', { features: X, target: Y, config: { random_state: 100 + i } });
      expect(res.status).toBe(202);
      expect(res.body.status).toBe('queued');
      accepted.push(res.body.job_id);
    }
    expect((await client.get(`/v1/jobs/${accepted[0]}`)).status).toBe(200);
    await stack.srv.redisServer.start();
    await stack.waitAllFinal(3);
    const { rows } = await stack.sql.query(`SELECT status, count(*)::int AS n FROM jobs WHERE id = ANY($1) GROUP BY status`, [accepted]);
    expect(rows).toEqual([{ status: 'succeeded', n: 3 }]);
  });
});
