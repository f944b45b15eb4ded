import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { queueName } from '@tabpfn-jobs/shared/jobs';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { type RedisConnection, createWorkerRedis } from '@tabpfn-jobs/shared/redis';
import { type TestRedis, createTestRedis } from '../../../tests/helpers/redis.js';
import type { HandlerMap } from './handlers/handler.js';
import { type WorkerSet, createWorkerSet } from './worker-set.js';

// The predict queue runs as one-slot Workers (a job starts without waiting for a fetch of the next
// one); its concurrency must be what it was: as many predicts at once as configured, no more.

const SLOTS = 3;
let redis: TestRedis;
let connection: RedisConnection;
let set: WorkerSet;
const running = new Set<string>();
let most = 0;
let release: () => void = () => undefined;
let gate = Promise.resolve();
const started: string[] = [];

beforeAll(async () => {
  redis = createTestRedis();
  connection = createWorkerRedis(redis.settings);
  const idle = async () => undefined;
  const handlers: HandlerMap = {
    fit: idle,
    webhook: idle,
    maintenance: idle,
    predict: async (payload) => {
      started.push(payload.jobId);
      running.add(payload.jobId);
      most = Math.max(most, running.size);
      await gate;
      running.delete(payload.jobId);
    },
  };
  set = createWorkerSet(handlers, {
    connection,
    prefix: redis.prefix,
    logger: createLogger({ name: 'test', level: 'silent' }),
    concurrency: { fit: 2, predict: SLOTS, webhook: 2, maintenance: 1 },
    singleSlot: ['predict'],
  });
  await Promise.all(set.workers.map((w) => w.waitUntilReady()));
});

afterAll(async () => {
  release();
  await set?.close(5_000);
  await redis.cleanup();
  connection?.disconnect();
});

async function until(what: string, ok: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: started ${JSON.stringify(started)}, running ${running.size}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the worker set', () => {
  it('runs the predict queue as one-slot Workers and the others as one Worker each', () => {
    const byQueue = (name: string) => set.workers.filter((w) => w.name === queueName(name as 'predict')).map((w) => w.concurrency);
    expect(byQueue('predict')).toEqual([1, 1, 1]);
    expect(byQueue('fit')).toEqual([2]);
    expect(byQueue('webhook')).toEqual([2]);
  });

  it('runs as many predicts at once as its concurrency, and the rest as slots free up', async () => {
    gate = new Promise((r) => {
      release = r;
    });
    const queue = new Queue(queueName('predict'), { connection, prefix: redis.prefix });
    const ids = Array.from({ length: SLOTS + 2 }, () => randomUUID());
    await queue.addBulk(ids.map((jobId) => ({ name: 'predict', data: { jobId }, opts: { jobId } })));
    await until(`${SLOTS} predicts running`, () => running.size === SLOTS);
    // The two left wait for a slot: a little longer, and they have still not started.
    await new Promise((r) => setTimeout(r, 200));
    expect(started).toHaveLength(SLOTS);
    release();
    await until('every predict done', () => started.length === ids.length && running.size === 0);
    expect(most).toBe(SLOTS);
    expect([...started].sort()).toEqual([...ids].sort());
    await queue.close();
  });
});
