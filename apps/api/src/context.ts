import {
  type Logger,
  type Pool,
  type QueueSet,
  type Redis,
  closeQueues,
  createApiRedis,
  createPool,
  createQueues,
  createWorkerRedis,
} from '@tabpfn-jobs/shared';
import type { ApiConfig } from './config.js';
import { createHealthService } from './services/health.service.js';

/**
 * Everything the API needs, built from config. Tests build the same thing against their own
 * database and Redis prefix, so they exercise the real wiring.
 */
export function createApiContext(config: ApiConfig, logger: Logger) {
  const pool = createPool({
    connectionString: config.DATABASE_URL,
    max: config.DB_POOL_SIZE,
    statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
    applicationName: 'tabpfn-jobs-api',
    logger,
  });
  // Request-path commands fail fast when Redis is down; the queue producer gets its own connection.
  const redis = createApiRedis(config.REDIS_URL, logger);
  const queueRedis = createWorkerRedis(config.REDIS_URL, logger, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const queues: QueueSet = createQueues(queueRedis, config.QUEUE_PREFIX);
  const health = createHealthService({ pool, redis });

  return {
    config,
    logger,
    pool,
    redis,
    queues,
    health,
    async close(): Promise<void> {
      await closeQueues(queues).catch(() => undefined);
      queueRedis.disconnect();
      redis.disconnect();
      await pool.end().catch(() => undefined);
    },
  };
}

export type ApiContext = ReturnType<typeof createApiContext>;
export type { Pool, Redis };
