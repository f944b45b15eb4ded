import type { z } from 'zod';
import type { baseEnvShape, jobEnvShape } from './config/env.js';
import { parseKeyRing } from './crypto/key-ring.js';
import { createTokenReader } from './crypto/tabpfn-token.js';
import { createPool } from './db/pool.js';
import { type JobEventKind, createJobEventHub } from './jobs/job-events.js';
import { type JobLifecycleDeps, createJobLifecycle } from './jobs/lifecycle.js';
import { closeQueues, createQueues } from './jobs/queues.js';
import type { Logger } from './logger.js';
import { type RedisConnection, type RedisConnectionSettings, createWorkerRedis } from './redis.js';
import { createAccountRepository } from './repositories/account.repository.js';
import { createApiKeyRepository } from './repositories/api-key.repository.js';
import { createDatasetRepository } from './repositories/dataset.repository.js';
import { createIdempotencyRepository } from './repositories/idempotency.repository.js';
import { createJobRepository } from './repositories/job.repository.js';
import { createModelRepository } from './repositories/model.repository.js';
import { createPredictChunkRepository } from './repositories/predict-chunk.repository.js';
import { createPredictRunRepository } from './repositories/predict-run.repository.js';
import { createUserRepository } from './repositories/user.repository.js';
import { createWebhookRepository } from './repositories/webhook.repository.js';
import { createWebhookEmitter } from './webhooks/emitter.js';

/** What both processes read to build the core: the shared base and job settings (config/env.ts). */
export type CoreConfig = z.infer<z.ZodObject<typeof baseEnvShape & typeof jobEnvShape>>;

export interface CoreOptions {
  logger: Logger;
  /** `application_name` of the process's Postgres connections. */
  applicationName: string;
  /** The Redis connection the queue producer uses (the api's fails fast, the worker's waits). */
  queueConnection: RedisConnection;
  /** The connection finish and cancel broadcasts are published on. */
  publisher: RedisConnection;
  /** Where Redis is: the core opens its own subscriber connection there. */
  redis: RedisConnectionSettings;
  /** The webhook outbox's reconciler leaves deliveries alone until they are this overdue. */
  webhookReconcileGraceSeconds?: number;
  onJobFinished?: JobLifecycleDeps['onFinished'];
  /** The broadcasts this process acts on (see `createJobEventHub`). */
  listenFor: readonly JobEventKind[];
}

/**
 * The graph api and worker share, built once per process: the pool, the queues, the key ring, every
 * repository, the webhook outbox, the job lifecycle and the job-event hub. Each composition root
 * (`apps/api/src/context.ts`, `apps/worker/src/context.ts`) extends it with its own parts.
 */
export function createCoreContext(config: CoreConfig, opts: CoreOptions) {
  const { logger } = opts;
  const pool = createPool({
    connectionString: config.DATABASE_URL,
    max: config.DB_POOL_SIZE,
    statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
    preparedStatements: config.DB_PREPARED_STATEMENTS,
    applicationName: opts.applicationName,
    logger,
  });
  const queues = createQueues(opts.queueConnection, config.QUEUE_PREFIX, { jobAttempts: config.JOB_ATTEMPTS });
  const keyRing = parseKeyRing(config.ENCRYPTION_KEYS);
  const repositories = {
    users: createUserRepository(pool),
    apiKeys: createApiKeyRepository(pool),
    accounts: createAccountRepository(pool),
    jobs: createJobRepository(pool),
    models: createModelRepository(pool),
    datasets: createDatasetRepository(pool),
    predictChunks: createPredictChunkRepository(pool),
    predictRuns: createPredictRunRepository(pool),
    idempotency: createIdempotencyRepository(pool),
    webhooks: createWebhookRepository(pool),
  };
  const webhookEmitter = createWebhookEmitter({
    pool,
    queues,
    webhooks: repositories.webhooks,
    maxInlineResultBytes: config.WEBHOOK_MAX_INLINE_BYTES,
    logger,
    reconcileGraceSeconds: opts.webhookReconcileGraceSeconds,
  });
  const lifecycle = createJobLifecycle({
    pool,
    jobs: repositories.jobs,
    models: repositories.models,
    predictRuns: repositories.predictRuns,
    queues,
    publisher: opts.publisher,
    prefix: config.QUEUE_PREFIX,
    outbox: webhookEmitter,
    logger,
    onFinished: opts.onJobFinished,
  });
  // Its own connection: a subscribed Redis connection can do nothing else.
  const events = createJobEventHub(createWorkerRedis(opts.redis, logger), config.QUEUE_PREFIX, opts.listenFor);

  return {
    pool,
    queues,
    keyRing,
    repositories,
    tabpfnToken: createTokenReader({ users: repositories.users, keyRing }),
    webhookEmitter,
    lifecycle,
    events,
    /** Closes what the core opened (the caller closes the connections it passed in). */
    async close(): Promise<void> {
      await events.close();
      await closeQueues(queues).catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}

export type CoreContext = ReturnType<typeof createCoreContext>;
