import express, { type Express } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { ApiContext } from './context.js';
import { errorHandler, notFound } from './http/problem.js';
import { requestId } from './http/request-id.js';
import { serviceRoutes } from './routes/service.routes.js';

export const VERSION = '0.1.0';

export function createApp(ctx: ApiContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', false);

  app.use(requestId);
  app.use(
    pinoHttp({
      logger: ctx.logger,
      genReqId: (req) => (req as express.Request).id,
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'warn' : 'info'),
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    }),
  );
  app.use(helmet());
  app.use(express.json({ limit: ctx.config.JSON_BODY_LIMIT, type: ['application/json', 'application/*+json'] }));

  app.use(serviceRoutes({ health: ctx.health, version: VERSION }));

  app.use(notFound);
  app.use(errorHandler(ctx.logger));
  return app;
}
