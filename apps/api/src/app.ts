import express, { type Express } from 'express';
import helmet from 'helmet';
import type { ApiContext } from './context.js';
import { errorHandler, notFound } from './http/problem.js';
import { requestId } from './http/request-id.js';
import { requestLog } from './http/request-log.js';
import { createBodyPolicy, noBodyOnBodilessMethods } from './http/body.js';
import { requireAdmin } from './http/admin-auth.js';
import { requireAuth } from './http/auth.js';
import { refuseCredentialsInQuery } from './http/url-secrets.js';
import { rateLimit } from './http/rate-limit.js';
import { accountRoutes } from './routes/account.routes.js';
import { authRoutes } from './routes/auth.routes.js';
import { jobRoutes } from './routes/job.routes.js';
import { modelRoutes } from './routes/model.routes.js';
import { serviceRoutes } from './routes/service.routes.js';
import { webhookRoutes } from './routes/webhook.routes.js';
import { principal } from './http/auth.js';
import { createApiMetrics } from './http/metrics.js';
import { QUEUE_DASHBOARD_PATH, createQueueDashboard } from './http/queue-dashboard.js';
import { docsRoutes } from './routes/docs.routes.js';
import { type OpenApiDocument, buildOpenApiDocument } from './openapi/document.js';
import { methodNotAllowed } from './http/method-not-allowed.js';
import { metricsRoutes } from './routes/metrics.routes.js';

export const VERSION = '0.1.0';

export function createApp(ctx: ApiContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', ctx.config.TRUST_PROXY);

  // Benchmark baselines (BENCH_HELLO): bare Express, and Express behind the global middleware below.
  if (ctx.config.BENCH_HELLO) app.get('/_bench/hello', (_req, res) => void res.json({ hello: 'world' }));
  app.use(requestId);
  const metrics = createApiMetrics({ pool: ctx.pool, queues: ctx.queues, logger: ctx.logger });
  app.use(metrics.observe);
  app.use(requestLog(ctx.logger));
  app.use(helmet());
  // No body is read here: each route reads its own, after authentication (see http/body.ts).
  app.use(noBodyOnBodilessMethods);
  app.use(refuseCredentialsInQuery);
  const body = createBodyPolicy({
    jsonLimit: ctx.config.JSON_BODY_LIMIT,
    csvLimitBytes: ctx.config.CSV_UPLOAD_LIMIT_BYTES,
    largeBodyBytes: ctx.config.LARGE_BODY_BYTES,
    maxLargeBodiesInFlight: ctx.config.MAX_LARGE_BODIES_IN_FLIGHT,
    idleTimeoutMs: ctx.config.BODY_IDLE_TIMEOUT_MS,
  });
  if (ctx.config.BENCH_HELLO) app.get('/_bench/hello-stack', (_req, res) => void res.json({ hello: 'world' }));

  app.use(serviceRoutes({ health: ctx.health, version: VERSION }));
  app.use(metricsRoutes({ metrics }));
  // Built once, on first use: served at /openapi.json and read for 405s.
  let document: OpenApiDocument | undefined;
  const openApi = () => (document ??= buildOpenApiDocument(VERSION));
  app.use(docsRoutes({ document: openApi }));

  const perKeyLimit = rateLimit({
    redis: ctx.redis,
    keyPrefix: `${ctx.config.QUEUE_PREFIX}:rl:key`,
    policyName: 'per-key',
    points: ctx.config.RATE_LIMIT_PER_MINUTE,
    durationSeconds: 60,
    key: (_req, res) => principal(res).keyId,
  });
  const setupLimit = rateLimit({
    redis: ctx.redis,
    keyPrefix: `${ctx.config.QUEUE_PREFIX}:rl:setup`,
    policyName: 'setup',
    points: ctx.config.SETUP_RATE_LIMIT_PER_MINUTE,
    durationSeconds: 60,
    key: (req) => req.ip ?? req.socket.remoteAddress ?? 'unknown',
  });
  const authenticated = [requireAuth(ctx.auth), perKeyLimit];
  app.use(authRoutes({ auth: ctx.auth, authenticated, setupLimit, body }));
  app.use(accountRoutes({ accounts: ctx.accounts, authenticated }));
  app.use(modelRoutes({ submit: ctx.submit, jobs: ctx.jobs, authenticated, body, csvMaxBytes: ctx.config.CSV_UPLOAD_LIMIT_BYTES, stopping: ctx.stopping }));
  app.use(jobRoutes({ jobs: ctx.jobs, authenticated }));
  app.use(webhookRoutes({ webhooks: ctx.webhooks, authenticated, body }));

  app.use(
    '/admin',
    requireAdmin({
      passwordHash: ctx.config.ADMIN_PASSWORD_HASH,
      redis: ctx.redis,
      keyPrefix: `${ctx.config.QUEUE_PREFIX}:rl:admin`,
      maxFailures: ctx.config.ADMIN_LOGIN_MAX_FAILURES,
      failureWindowSeconds: ctx.config.ADMIN_LOGIN_WINDOW_SECONDS,
    }),
  );
  app.use(QUEUE_DASHBOARD_PATH, createQueueDashboard(ctx.queues));

  app.use(methodNotAllowed(openApi));
  app.use(notFound);
  app.use(errorHandler(ctx.logger));
  return app;
}
