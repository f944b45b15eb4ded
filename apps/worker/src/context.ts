import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type Logger,
  closeQueues,
  createPool,
  createQueues,
  createWorkerRedis,
} from '@tabpfn-jobs/shared';
import type { WorkerConfig } from './config.js';
import type { HandlerMap } from './handlers/handler.js';
import { createMaintenanceHandler } from './handlers/maintenance.handler.js';
import { startHeartbeat } from './heartbeat.js';
import { createWorkerSet } from './worker-set.js';

/** Builds and starts the worker process's parts; `stop()` shuts them down in order. */
export async function startWorkerProcess(config: WorkerConfig, logger: Logger) {
  const workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const pool = createPool({
    connectionString: config.DATABASE_URL,
    max: config.DB_POOL_SIZE,
    statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
    applicationName: 'tabpfn-jobs-worker',
    logger,
  });
  const connection = createWorkerRedis(config.REDIS_URL, logger);
  const queues = createQueues(connection, config.QUEUE_PREFIX);

  const handlers: HandlerMap = {
    fit: async () => {
      throw new Error('fit handler not implemented');
    },
    predict: async () => {
      throw new Error('predict handler not implemented');
    },
    webhook: async () => {
      throw new Error('webhook handler not implemented');
    },
    maintenance: createMaintenanceHandler({ logger }),
  };

  const workerSet = createWorkerSet(handlers, {
    connection,
    prefix: config.QUEUE_PREFIX,
    logger,
    concurrency: { fit: config.WORKER_CONCURRENCY, predict: config.WORKER_CONCURRENCY, webhook: config.WEBHOOK_CONCURRENCY, maintenance: 1 },
  });
  // One scheduler entry however many workers run: upsert is idempotent by id.
  await queues.maintenance.upsertJobScheduler(
    'maintenance-heartbeat',
    { every: config.MAINTENANCE_INTERVAL_MS },
    { name: 'maintenance', data: { task: 'heartbeat' } },
  );
  const heartbeat = startHeartbeat({ db: pool, logger, workerId, intervalMs: config.HEARTBEAT_INTERVAL_MS });

  return {
    workerId,
    pool,
    queues,
    workerSet,
    async stop(graceMs = config.SHUTDOWN_GRACE_MS): Promise<void> {
      await workerSet.close(graceMs);
      await heartbeat.stop();
      await closeQueues(queues);
      connection.disconnect();
      await pool.end().catch(() => undefined);
    },
  };
}

export type WorkerProcess = Awaited<ReturnType<typeof startWorkerProcess>>;
