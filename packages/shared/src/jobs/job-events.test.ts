import { afterAll, describe, expect, it } from '@jest/globals';
import { createTestRedis } from '../../../../tests/helpers/redis.js';
import { createWorkerRedis } from '../redis.js';
import { cancelChannel, createJobEventHub, jobEventsChannel, publishCancel, publishJobFinished } from './job-events.js';

const redis = createTestRedis();
const publisher = createWorkerRedis(redis.settings);
const hubs: { close(): Promise<void> }[] = [];
afterAll(async () => {
  await Promise.all(hubs.map((h) => h.close()));
  await redis.cleanup();
  publisher.disconnect();
});

function hub(prefix: string, lingerMs: number) {
  const h = createJobEventHub(createWorkerRedis(redis.settings), prefix, { lingerMs });
  hubs.push(h);
  return h;
}

async function subscribers(channel: string): Promise<number> {
  const [, n] = (await publisher.pubsub('NUMSUB', channel)) as [string, number];
  return Number(n);
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('job event hub', () => {
  it('subscribes to job ends only while someone waits, once for many waiters, and leaves after the linger', async () => {
    const prefix = `${redis.prefix}:a`;
    const h = hub(prefix, 2_000);
    // A hub nobody waits on (a worker, an idle api) receives no job's end.
    expect(await subscribers(jobEventsChannel(prefix))).toBe(0);

    const waiters = ['j1', 'j2', 'j3'].map((id) => h.waitForFinish(id, 5_000));
    await Promise.all(waiters.map((w) => w.armed));
    expect(await subscribers(jobEventsChannel(prefix))).toBe(1);
    for (const id of ['j2', 'j1', 'j3']) await publishJobFinished(publisher, prefix, id, 'succeeded');
    expect(await Promise.all(waiters.map((w) => w.promise))).toEqual(['succeeded', 'succeeded', 'succeeded']);

    // Still subscribed during the linger: the next waiter needs no new subscription and sees its job end.
    expect(await subscribers(jobEventsChannel(prefix))).toBe(1);
    const next = h.waitForFinish('j4', 5_000);
    await next.armed;
    await publishJobFinished(publisher, prefix, 'j4', 'failed');
    expect(await next.promise).toBe('failed');

    await until('the channel to be left after the linger', async () => (await subscribers(jobEventsChannel(prefix))) === 0);
    // And subscribed again for a later waiter.
    const later = h.waitForFinish('j5', 5_000);
    await later.armed;
    await publishJobFinished(publisher, prefix, 'j5', 'canceled');
    expect(await later.promise).toBe('canceled');
  });

  it('a waiter that times out or is aborted lets go of the subscription too', async () => {
    const prefix = `${redis.prefix}:b`;
    const h = hub(prefix, 0);
    const timedOut = h.waitForFinish('j1', 50);
    await timedOut.armed;
    expect(await timedOut.promise).toBeUndefined();
    const stop = new AbortController();
    const aborted = h.waitForFinish('j2', 5_000, stop.signal);
    await aborted.armed;
    stop.abort();
    expect(await aborted.promise).toBeUndefined();
    await until('both waiters to let go', async () => (await subscribers(jobEventsChannel(prefix))) === 0);
  });

  it('listens for cancels only once asked, and stops when the last listener leaves', async () => {
    const prefix = `${redis.prefix}:c`;
    const h = hub(prefix, 0);
    expect(await subscribers(cancelChannel(prefix))).toBe(0);
    const seen: string[] = [];
    const stop = h.onCancel((id) => seen.push(id));
    await h.ready;
    expect(await subscribers(cancelChannel(prefix))).toBe(1);
    expect(await subscribers(jobEventsChannel(prefix))).toBe(0);
    await publishCancel(publisher, prefix, 'job-x');
    await until('the cancel to arrive', async () => seen.includes('job-x'));
    stop();
    await until('the cancel channel to be left', async () => (await subscribers(cancelChannel(prefix))) === 0);
  });
});
