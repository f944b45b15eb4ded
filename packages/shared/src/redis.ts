import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';

export type { Redis };

const reconnect = (times: number) => Math.min(200 * 2 ** Math.min(times, 5), 5_000);

/**
 * For BullMQ workers and queue-side blocking commands: commands wait for a reconnect instead of
 * failing, which is what BullMQ requires (`maxRetriesPerRequest: null`).
 */
export function createWorkerRedis(url: string, logger?: Logger, extra: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: reconnect,
    connectionName: 'tabpfn-jobs-worker',
    ...extra,
  });
  redis.on('error', (err) => logger?.debug({ err: err.message }, 'redis connection error'));
  return redis;
}

/**
 * For request paths: with Redis down a command fails at once rather than queueing offline,
 * so a request never hangs on Redis.
 */
export function createApiRedis(url: string, logger?: Logger, extra: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    retryStrategy: reconnect,
    connectionName: 'tabpfn-jobs-api',
    ...extra,
  });
  redis.on('error', (err) => logger?.debug({ err: err.message }, 'redis connection error'));
  return redis;
}

export async function pingRedis(redis: Redis, timeoutMs = 1_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('redis ping timed out')), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
