import { randomBytes } from 'node:crypto';
import { type RedisConnectionSettings, redisSettings } from '@tabpfn-jobs/shared/config';
import { type RedisConnection, createApiRedis, isCluster } from '@tabpfn-jobs/shared/redis';

export interface TestRedis {
  url: string;
  /** What the connection factory takes (`createWorkerRedis(redis.settings)`). */
  settings: RedisConnectionSettings;
  /** Key prefix owned by this test file; BullMQ queues and rate limits live under it. */
  prefix: string;
  /** Deletes every key under the prefix. */
  cleanup(): Promise<void>;
}

export function testRedisUrl(): string {
  return process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** A fresh hash-tagged prefix, so it is valid on a Redis Cluster too. */
export function testPrefix(): string {
  return `{t${randomBytes(4).toString('hex')}}`;
}

/**
 * SCANs for `prefix*` and UNLINKs what it finds. SCAN walks one server's keys, so on a cluster every
 * master is scanned; keys are unlinked one per command, since a multi-key UNLINK must stay in one slot.
 */
export async function deleteKeysWithPrefix(redis: RedisConnection, prefix: string): Promise<number> {
  // A cluster knows its masters once it has read the slot map.
  if (isCluster(redis) && redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  const servers = isCluster(redis) ? redis.nodes('master') : [redis];
  let deleted = 0;
  for (const server of servers) {
    let cursor = '0';
    do {
      const [next, keys] = await server.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      await Promise.all(keys.map((k) => redis.unlink(k)));
      deleted += keys.length;
    } while (cursor !== '0');
  }
  return deleted;
}

/** A prefix of its own on the shared Redis (or `settings`', e.g. a test's Redis Cluster). */
export function createTestRedis(settings: RedisConnectionSettings = redisSettings({ REDIS_URL: testRedisUrl() })): TestRedis {
  const prefix = testPrefix();
  return {
    url: settings.mode === 'single' ? settings.url : '',
    settings,
    prefix,
    async cleanup() {
      const r = createApiRedis(settings, undefined, { enableOfflineQueue: true });
      try {
        await deleteKeysWithPrefix(r, prefix);
      } finally {
        r.disconnect();
      }
    },
  };
}
