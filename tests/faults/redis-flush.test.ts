import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { type ProcessStack, startProcessStack } from '../helpers/fault-stack.js';
import { submitWorkload } from './workload.js';

let stack: ProcessStack;

beforeAll(async () => {
  stack = await startProcessStack({ workers: 2 });
  await stack.emu('PUT', '/_emulator/latency', { fit: 100, predict: 50 });
});
afterAll(async () => {
  await stack?.close();
});

describe('Redis loses everything', () => {
  it('FLUSHALL in the middle of 200 jobs: all complete, none twice', async () => {
    const { client } = await stack.account();
    const ids = await submitWorkload(client, 20, 9);
    for (let i = 0; i < 200; i++) {
      const { rows } = await stack.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'succeeded'`);
      if (rows[0]!.n >= 30) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const redis = new Redis(stack.srv.redisUrl);
    await redis.flushall();
    redis.disconnect();

    await stack.waitAllFinal(200);
    expect(await stack.statusCounts()).toEqual({ succeeded: 200 });
    const finishes = await stack.waitForFinishLogs(ids);
    expect(ids.filter((id) => (finishes.get(id) ?? 0) !== 1)).toEqual([]);
    const { rows } = await stack.sql.query(`SELECT count(*)::int AS n FROM jobs WHERE type = 'predict' AND result IS NULL`);
    expect(rows[0].n).toBe(0);
  });
});
