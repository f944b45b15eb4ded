import { afterAll, describe, expect, it } from '@jest/globals';
import { createTestRedis } from '../../../../tests/helpers/redis.js';
import { createWorkerRedis } from '../redis.js';
import { cancelChannel, createJobEventHub, jobEventsChannel, publishCancel, publishJobFinished } from './job-events.js';

const redis = createTestRedis();
const publisher = createWorkerRedis(redis.settings);

afterAll(async () => {
  publisher.disconnect();
  await redis.cleanup();
});

/** How many connections are subscribed to each channel (PUBSUB NUMSUB). */
async function subscribers(...channels: string[]): Promise<number[]> {
  const reply = (await publisher.call('PUBSUB', 'NUMSUB', ...channels)) as (string | number)[];
  return channels.map((_, i) => Number(reply[2 * i + 1]));
}

describe('job event hub', () => {
  it('subscribes only to the kinds its process acts on, and still delivers those', async () => {
    const [ends, cancels] = [jobEventsChannel(redis.prefix), cancelChannel(redis.prefix)];
    const api = createJobEventHub(createWorkerRedis(redis.settings), redis.prefix, ['finishes']);
    const worker = createJobEventHub(createWorkerRedis(redis.settings), redis.prefix, ['cancels']);
    try {
      await Promise.all([api.ready, worker.ready]);
      expect(await subscribers(ends, cancels)).toEqual([1, 1]);

      const canceled: string[] = [];
      worker.onCancel((id) => canceled.push(id));
      const waiting = api.waitForFinish('job-1', 10_000);
      await publishCancel(publisher, redis.prefix, 'job-1');
      await publishJobFinished(publisher, redis.prefix, 'job-1', 'canceled');
      expect(await waiting.promise).toBe('canceled');
      // Redis delivers one connection's messages in order, but each hub has its own connection.
      const deadline = Date.now() + 10_000;
      while (!canceled.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(canceled).toEqual(['job-1']);
    } finally {
      await Promise.all([api.close(), worker.close()]);
    }
  });
});
