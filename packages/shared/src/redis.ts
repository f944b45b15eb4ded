import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { type RedisConnectionSettings, hashTagOf } from './config/redis-env.js';
import type { Logger } from './logger.js';

export type { Cluster, Redis, RedisConnectionSettings };

/** One Redis server or a Redis Cluster: the type code that only sends commands takes. */
export type RedisConnection = Redis | Cluster;

/** How a connection behaves while Redis is unreachable; the per-role defaults are below. */
export interface ConnectionBehaviour {
  /** Commands wait for a connection (true) or fail at once (false). */
  enableOfflineQueue?: boolean;
  /** Reconnects one command survives; null = as many as it takes (what BullMQ workers require). */
  maxRetriesPerRequest?: number | null;
  connectTimeout?: number;
  commandTimeout?: number;
  connectionName?: string;
}

const reconnect = (times: number) => Math.min(200 * 2 ** Math.min(times, 5), 5_000);

/**
 * For BullMQ workers, queue-side blocking commands and subscribers: commands wait for a reconnect
 * instead of failing, which is what BullMQ requires (`maxRetriesPerRequest: null`).
 */
const WAIT: ConnectionBehaviour = { enableOfflineQueue: true, maxRetriesPerRequest: null, connectionName: 'tabpfn-jobs-worker' };

/** For request paths: with Redis down a command fails at once, so a request never hangs on Redis. */
const FAIL_FAST: ConnectionBehaviour = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  commandTimeout: 2_000,
  connectionName: 'tabpfn-jobs-api',
};

/** Whether this is a Redis Cluster connection (by ioredis' own flag: no instanceof across copies). */
export function isCluster(redis: RedisConnection): redis is Cluster {
  return (redis as { isCluster?: boolean }).isCluster === true;
}

function clusterOptions(
  settings: Extract<RedisConnectionSettings, { mode: 'cluster' }>,
  node: RedisOptions,
  enableOfflineQueue: boolean,
): ClusterOptions {
  return {
    // ioredis keeps each node connection's offline queue on and its retryStrategy off (a lost node is
    // found again through the slot map); the cluster-wide equivalents are these two.
    redisOptions: node,
    enableOfflineQueue,
    clusterRetryStrategy: reconnect,
    enableReadyCheck: settings.readyCheck,
    maxRedirections: settings.maxRedirections,
    natMap: settings.natMap,
    // A TLS certificate names hosts: keep the seeds' names rather than resolving them to addresses,
    // or verification fails (ioredis' advice for ElastiCache and similar services).
    ...(settings.tls ? { dnsLookup: (address: string, done: (err: null, address: string) => void) => done(null, address) } : {}),
  };
}

/** The one place a Redis connection is built: one server or a cluster, by `settings.mode`. */
export function createRedis(settings: RedisConnectionSettings, behaviour: ConnectionBehaviour, logger?: Logger): RedisConnection {
  const { enableOfflineQueue = true, ...perCommand } = behaviour;
  const node: RedisOptions = {
    ...perCommand,
    enableReadyCheck: settings.readyCheck,
    username: settings.username,
    password: settings.password,
    ...(settings.tls ? { tls: {} } : {}),
  };
  const redis =
    settings.mode === 'cluster'
      ? new Cluster(settings.nodes, clusterOptions(settings, node, enableOfflineQueue))
      : new Redis(settings.url, { ...node, enableOfflineQueue, retryStrategy: reconnect });
  redis.on('error', (err: Error) => logger?.debug({ err: err.message }, 'redis connection error'));
  return redis;
}

/** A connection that waits for Redis: BullMQ workers, the worker's publisher, subscribers. */
export function createWorkerRedis(
  settings: RedisConnectionSettings,
  logger?: Logger,
  overrides: ConnectionBehaviour = {},
): RedisConnection {
  return createRedis(settings, { ...WAIT, ...overrides }, logger);
}

/** A connection whose commands fail at once while Redis is unreachable: the api's request path. */
export function createApiRedis(settings: RedisConnectionSettings, logger?: Logger, overrides: ConnectionBehaviour = {}): RedisConnection {
  return createRedis(settings, { ...FAIL_FAST, ...overrides }, logger);
}

/**
 * Refuses a key prefix a cluster would scatter: BullMQ's scripts touch several keys of a queue at
 * once, which a cluster allows only within one slot, i.e. when the prefix carries a hash tag. The
 * config refuses such a prefix already (refineRedisEnv); this catches code that builds its own.
 */
export function assertPrefixFitsConnection(redis: RedisConnection, prefix: string): void {
  if (isCluster(redis) && !hashTagOf(prefix)) {
    throw new Error(`key prefix "${prefix}" has no hash tag: on a Redis Cluster it must contain one, e.g. {tabpfn-jobs}`);
  }
}

/**
 * Whether Redis answers. With `probeKey`, a read of that key: on a cluster it reaches the master
 * holding our slot (and fails while that slot is down), where PING would reach any node.
 */
export async function pingRedis(redis: RedisConnection, timeoutMs = 1_000, probeKey?: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probeKey === undefined ? redis.ping() : redis.exists(probeKey),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('redis ping timed out')), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
