import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { openTabPFNToken } from '@tabpfn-jobs/shared/crypto';
import { redisSettings } from '@tabpfn-jobs/shared/config';
import { createCoreContext } from '@tabpfn-jobs/shared/core';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import { createWorkerRedis } from '@tabpfn-jobs/shared/redis';
import { createWebhookSecretStore } from '@tabpfn-jobs/shared/webhooks';
import { SettingsCache, TabPFNClient, createTabPFNAgent } from '@tabpfn-jobs/tabpfn';
import { createUpstreamBackoff } from './backoff.js';
import type { WorkerConfig } from './config.js';
import { createFitHandler } from './handlers/fit.handler.js';
import { createTrainSetCellsEncoder } from './handlers/train-set-cells.js';
import type { HandlerMap } from './handlers/handler.js';
import { createCancelRegistry } from './handlers/cancel-registry.js';
import { createJobRunner, returnRunningJobs } from './handlers/job-runner.js';
import { createMaintenanceHandler } from './handlers/maintenance.handler.js';
import { createPredictHandler } from './handlers/predict.handler.js';
import { createWebhookHandler } from './handlers/webhook.handler.js';
import { createWebhookSender } from './webhooks/webhook-sender.js';
import { startHeartbeat } from './heartbeat.js';
import { createReconciler, createRetention } from './reconcile.js';
import { createBreaker } from './upstream/breaker.js';
import { createTokenLimiter, parseLimitRules } from './upstream/token-limiter.js';
import { createWorkerSet } from './worker-set.js';
import { createWorkerMetrics, instrumentTabPFN, instrumentWebhookSender, startMetricsServer } from './metrics.js';

/** Builds and starts the worker process's parts; `stop()` shuts them down in order. */
export async function startWorkerProcess(config: WorkerConfig, logger: Logger) {
  const workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  // One server or a cluster (REDIS_CLUSTER_NODES); BullMQ duplicates `connection` for its blocking reads.
  const redisAt = redisSettings(config);
  const connection = createWorkerRedis(redisAt, logger);
  const publisher = createWorkerRedis(redisAt, logger);
  const metrics = createWorkerMetrics();
  const core = createCoreContext(config, {
    logger,
    applicationName: 'tabpfn-jobs-worker',
    queueConnection: connection,
    publisher,
    redis: redisAt,
    webhookReconcileGraceSeconds: config.RECONCILE_MIN_AGE_SECONDS,
    onJobFinished: (row) => metrics.jobFinalized(row),
    // A worker stops a running job on its cancel; it publishes job ends but nothing here waits for one.
    listenFor: ['cancels'],
  });
  const { pool, queues, keyRing, lifecycle, events: hub, webhookEmitter } = core;
  const { jobs, models, datasets, webhooks: webhookRepo } = core.repositories;
  const dispatcher = createTabPFNAgent();
  const settingsCache = new SettingsCache(config.TABPFN_SETTINGS_TTL_MS);
  const tabpfnFor = (token: string) =>
    instrumentTabPFN(
      new TabPFNClient({ token, baseUrl: config.TABPFN_API_URL, timeoutMs: config.TABPFN_TIMEOUT_MS, dispatcher, logger, settingsCache }),
      metrics,
    );

  const running = new Map<string, AbortController>();
  const cancels = createCancelRegistry(running);
  hub.onCancel((jobId) => cancels.onBroadcast(jobId));

  const webhookSender = createWebhookSender({ allowPrivate: config.WEBHOOK_ALLOW_PRIVATE, timeoutMs: config.WEBHOOK_TIMEOUT_MS });
  const runner = createJobRunner({
    jobs,
    lifecycle,
    tabpfnToken: core.tabpfnToken,
    tabpfnFor,
    logger,
    running,
    cancels,
    jobAttempts: config.JOB_ATTEMPTS,
    limiter: createTokenLimiter({ redis: publisher, prefix: config.QUEUE_PREFIX, rules: parseLimitRules(config.UPSTREAM_LIMITS) }),
    breaker: createBreaker({ threshold: config.BREAKER_THRESHOLD, cooldownMs: config.BREAKER_COOLDOWN_MS }),
    onRetry: (type) => metrics.jobRetry(type),
  });
  const reconcile = createReconciler({ jobs, lifecycle, logger, minAgeSeconds: config.RECONCILE_MIN_AGE_SECONDS });
  const retention = createRetention({
    jobs,
    webhooks: webhookRepo,
    datasets,
    idempotency: core.repositories.idempotency,
    resultRetentionSeconds: config.RESULT_RETENTION_SECONDS,
    datasetRetentionSeconds: config.DATASET_RETENTION_SECONDS,
  });

  const upstreamBackoff = createUpstreamBackoff({ baseMs: config.JOB_BACKOFF_BASE_MS, maxMs: config.JOB_BACKOFF_MAX_MS });
  const handlers: HandlerMap = {
    fit: createFitHandler({
      runner,
      lifecycle,
      jobs,
      models,
      datasets,
      logger,
      reuseFits: config.FIT_REUSE,
      encodeStoredCells: createTrainSetCellsEncoder({ pool, datasets, models }),
    }),
    predict: createPredictHandler({
      runner,
      pool,
      jobs,
      models,
      datasets,
      chunks: core.repositories.predictChunks,
      openToken: (user) => openTabPFNToken(keyRing, user),
      logger,
      batch: {
        concurrency: config.PREDICT_CHUNK_CONCURRENCY,
        inlineRows: config.PREDICT_INLINE_RESULT_ROWS,
        attempts: config.JOB_ATTEMPTS,
        backoff: upstreamBackoff,
      },
    }),
    webhook: createWebhookHandler({
      pool,
      queues,
      webhooks: webhookRepo,
      secrets: createWebhookSecretStore({ pool, webhooks: webhookRepo, keyRing }),
      sender: instrumentWebhookSender(webhookSender, metrics),
      retry: { schedule: config.WEBHOOK_RETRY_SCHEDULE, retryAfterMaxMs: config.WEBHOOK_RETRY_AFTER_MAX },
      logger,
    }),
    maintenance: createMaintenanceHandler({
      logger,
      tasks: {
        // Both halves run even when one throws, so a jobs-side problem cannot strand webhooks.
        reconcile: async () => {
          const [jobsOut, webhooksOut] = await Promise.allSettled([reconcile(), webhookEmitter.reconcile()]);
          if (jobsOut.status === 'rejected') throw jobsOut.reason;
          if (webhooksOut.status === 'rejected') throw webhooksOut.reason;
          return { jobs: jobsOut.value, webhooks: webhooksOut.value };
        },
        retention,
      },
    }),
  };

  const workerSet = createWorkerSet(handlers, {
    connection,
    prefix: config.QUEUE_PREFIX,
    logger,
    concurrency: { fit: config.WORKER_CONCURRENCY, predict: config.WORKER_CONCURRENCY, webhook: config.WEBHOOK_CONCURRENCY, maintenance: 1 },
    singleSlot: ['predict'],
    lockDurationMs: config.WORKER_LOCK_DURATION_MS,
    backoff: upstreamBackoff,
  });
  // One scheduler entry per task however many workers run: upsert is idempotent by id. Re-asserted
  // on a timer because a Redis flush or failover loses schedulers, and the reconciler must survive that.
  const ensureSchedulers = async () => {
    for (const task of ['heartbeat', 'reconcile', 'retention'] as const) {
      await queues.maintenance.upsertJobScheduler(
        `maintenance-${task}`,
        { every: config.MAINTENANCE_INTERVAL_MS },
        { name: 'maintenance', data: { task } },
      );
    }
  };
  await ensureSchedulers();
  const schedulerTimer = setInterval(() => {
    ensureSchedulers().catch((err) => logger.warn({ err: (err as Error).message }, 'could not re-assert maintenance schedulers'));
  }, Math.max(1_000, config.MAINTENANCE_INTERVAL_MS * 2));
  schedulerTimer.unref();
  const heartbeat = startHeartbeat({ db: pool, logger, workerId, intervalMs: config.HEARTBEAT_INTERVAL_MS });
  const metricsServer = await startMetricsServer(metrics, { port: config.METRICS_PORT, host: config.METRICS_HOST, logger });

  return {
    workerId,
    pool,
    queues,
    workerSet,
    reconcile,
    metrics,
    metricsPort: metricsServer?.port,
    async stop(graceMs = config.SHUTDOWN_GRACE_MS): Promise<void> {
      clearInterval(schedulerTimer);
      await workerSet.close(graceMs, () => returnRunningJobs(running));
      await heartbeat.stop();
      await metricsServer?.close();
      await webhookSender.close().catch(() => undefined);
      await core.close();
      publisher.disconnect();
      connection.disconnect();
    },
  };
}

export type WorkerProcess = Awaited<ReturnType<typeof startWorkerProcess>>;
