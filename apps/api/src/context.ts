import { redisSettings } from '@tabpfn-jobs/shared/config';
import { createCoreContext } from '@tabpfn-jobs/shared/core';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import { createApiRedis, createWorkerRedis } from '@tabpfn-jobs/shared/redis';
import { createWebhookSecretStore } from '@tabpfn-jobs/shared/webhooks';
import { createWebhookService } from './services/webhook.service.js';
import { createIdempotency } from './services/idempotency.js';
import { createJobService } from './services/job.service.js';
import { createSubmitService } from './services/submit.service.js';
import { checkWebhookUrl } from './services/webhook-url.js';
import type { ApiConfig } from './config.js';
import { createAccountService } from './services/account.service.js';
import { createAuthService } from './services/auth.service.js';
import { createKeyCache } from './services/key-cache.js';
import { createReadyModelCache } from './services/ready-model-cache.js';
import { createHealthService, createUpstreamProbe } from './services/health.service.js';
import { createTabPFNFactory } from './services/upstream.js';

/**
 * Everything the API needs, built from config: the core both processes share (shared/src/core.ts)
 * and the api's services. Tests build the same thing against their own database and Redis prefix,
 * so they exercise the real wiring.
 */
export function createApiContext(config: ApiConfig, logger: Logger) {
  // One server or a cluster (REDIS_CLUSTER_NODES): every connection below is built from these settings.
  const redisAt = redisSettings(config);
  // Request-path commands fail fast when Redis is down; the queue producer gets its own connection.
  const redis = createApiRedis(redisAt, logger);
  const queueRedis = createWorkerRedis(redisAt, logger, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  // The api waits for job ends (`Prefer: wait`); it publishes cancels but does not act on them.
  const core = createCoreContext(config, { logger, applicationName: 'tabpfn-jobs-api', queueConnection: queueRedis, publisher: redis, redis: redisAt, listenFor: ['finishes'] });
  const { pool, queues, keyRing, lifecycle, events, webhookEmitter } = core;
  const { users, apiKeys, accounts: accountsRepo, jobs: jobsRepo, models: modelsRepo, datasets: datasetsRepo, webhooks: webhookRepo } = core.repositories;
  // /ready also says whether the upstream the workers call answers (UPSTREAM_PROBE_TTL_MS=0: not checked).
  const upstream = config.UPSTREAM_PROBE_TTL_MS > 0 ? createUpstreamProbe({ url: config.TABPFN_API_URL, ttlMs: config.UPSTREAM_PROBE_TTL_MS, timeoutMs: 1_500 }) : undefined;
  const health = createHealthService({ pool, redis, redisProbeKey: `${config.QUEUE_PREFIX}:ready-probe`, upstream });
  const tabpfnFor = createTabPFNFactory({ baseUrl: config.TABPFN_API_URL, timeoutMs: config.TABPFN_TIMEOUT_MS, logger });
  // The subscriber waits for its connection (the request-path client fails fast instead). Built by the
  // factory, not `redis.duplicate(…)`: a Cluster's duplicate takes seed nodes first and would drop the options.
  const keys = createKeyCache({ ttlMs: config.AUTH_CACHE_TTL_MS, publisher: redis, subscriber: config.AUTH_CACHE_TTL_MS > 0 ? createWorkerRedis(redisAt, logger) : undefined, prefix: config.QUEUE_PREFIX, logger });
  const auth = createAuthService({
    keys,
    pool,
    users,
    apiKeys,
    keyRing,
    tabpfnFor,
    maxApiKeys: config.MAX_API_KEYS,
    onTouchError: (err) => logger.warn({ err: (err as Error).message }, 'could not record key use'),
  });
  const readyModels = createReadyModelCache();
  const submit = createSubmitService({
    jobs: jobsRepo,
    models: modelsRepo,
    datasets: datasetsRepo,
    users,
    idempotency: createIdempotency({ pool, idempotency: core.repositories.idempotency }),
    keyRing,
    tabpfnFor,
    lifecycle,
    maxInflightJobs: config.MAX_INFLIGHT_JOBS,
    maxPredictRows: config.MAX_PREDICT_ROWS,
    predictCacheTtlSeconds: config.PREDICT_CACHE_TTL_SECONDS,
    checkWebhookUrl: (url) => checkWebhookUrl(url, config),
    readyModels,
  });
  const jobs = createJobService({
    pool,
    jobs: jobsRepo,
    models: modelsRepo,
    datasets: datasetsRepo,
    predictChunks: core.repositories.predictChunks,
    lifecycle,
    events,
    readyModels,
  });
  const webhooks = createWebhookService({
    pool,
    jobs: jobsRepo,
    webhooks: webhookRepo,
    secrets: createWebhookSecretStore({ pool, webhooks: webhookRepo, keyRing, overlapSeconds: config.WEBHOOK_SECRET_OVERLAP_HOURS * 3600 }),
    emitter: webhookEmitter,
    logger,
  });
  const accounts = createAccountService({ pool, users, accounts: accountsRepo, keyRing, tabpfnFor, lifecycle, logger, keys });

  // Aborted during shutdown, so requests waiting for a job (Prefer: wait) answer before they are cut off.
  const stopping = new AbortController();

  return {
    stopping: stopping.signal as globalThis.AbortSignal,
    beginShutdown: () => stopping.abort(),
    config,
    logger,
    pool,
    redis,
    queues,
    lifecycle,
    health,
    keyRing,
    tabpfnFor,
    auth,
    accounts,
    submit,
    jobs,
    webhookEmitter,
    webhooks,
    async close(): Promise<void> {
      keys.close();
      await core.close();
      queueRedis.disconnect();
      redis.disconnect();
    },
  };
}

export type ApiContext = ReturnType<typeof createApiContext>;
