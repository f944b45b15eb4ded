import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { EmulatorState } from './emulator-state.js';
import { EmulatorHttpError, locals, sendError } from './http-helpers.js';
import { plainJsonBody } from './json-body.js';
import { recordStatusOnHead, requestContext } from './middleware.js';
import type { EmulatorLogger, EmulatorOptions } from './options.js';
import { silentLogger } from './options.js';
import { accountRoutes } from './routes/account.js';
import { authRoutes } from './routes/auth.js';
import { controlRoutes } from './routes/control.js';
import { dataRoutes } from './routes/data.js';
import { fitRoutes } from './routes/fit.js';
import { legacyRoutes } from './routes/legacy.js';
import { predictRoutes } from './routes/predict.js';
import { uploadRoutes } from './routes/uploads.js';
import { userDataRoutes } from './routes/user-data.js';

export interface EmulatorApp {
  app: Express;
  state: EmulatorState;
}

function errorHandler(logger: EmulatorLogger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof EmulatorHttpError) {
      if (!res.headersSent) for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      return sendError(res, err.status, err.message, err.errorCode, err.extra);
    }
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.parse.failed') {
      return sendError(res, 422, `Malformed JSON body: ${e.message ?? 'parse error'}`, 'REQUEST_VALIDATION_ERROR', {
        detail: [{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }],
      });
    }
    if (e.type === 'entity.too.large') return sendError(res, 413, 'Request entity too large', 'PAYLOAD_TOO_LARGE');
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500)
      return sendError(res, e.status, e.message ?? 'Bad request', 'GENERAL_ERROR');
    logger.error({ err, path: req.path, traceId: locals(res).traceId }, 'emulator handler failed');
    return sendError(res, 500, 'Internal server error', 'GENERAL_ERROR');
  };
}

/** 10 MiB, as body-parser reads `'10mb'`. */
const JSON_LIMIT_BYTES = 10 * 1024 * 1024;

/** The emulator as an Express app plus the state behind it (no listening socket). */
export function createEmulatorApp(options: EmulatorOptions = {}): EmulatorApp {
  const state = new EmulatorState(options);
  const logger = options.logger ?? silentLogger;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', false);
  recordStatusOnHead(state, app.response);

  app.use(requestContext(state));
  // Any content type is read as JSON, as FastAPI does, except forms (the client's OAuth2 login posts one);
  // upload PUTs take raw bytes instead, and the Gen L multipart bodies are read by their own routes (§12).
  const json = express.json({ type: () => true, limit: JSON_LIMIT_BYTES });
  const plainJson = plainJsonBody(JSON_LIMIT_BYTES, json);
  const form = express.urlencoded({ extended: false, limit: '1mb' });
  app.use((req, res, next) => {
    if (req.path.startsWith('/_upload/')) return next();
    // What every API client sends; `req.is` would parse it only to find it is neither form type.
    if (req.headers['content-type'] === 'application/json') return plainJson(req, res, next);
    // One content-type parse for both questions.
    const type = req.is(['multipart/form-data', 'application/x-www-form-urlencoded']);
    if (type === 'multipart/form-data') return next();
    return type === 'application/x-www-form-urlencoded' ? form(req, res, next) : json(req, res, next);
  });

  // Every route in one router: entering a mounted router costs more than matching a route, and each
  // request used to enter every router mounted before its own. No two routes share a path, so the order
  // only sets how soon a route is found: the ones each job calls come first.
  const routes = express.Router();
  uploadRoutes(state, routes);
  predictRoutes(state, routes);
  fitRoutes(state, routes);
  accountRoutes(state, routes);
  authRoutes(state, routes);
  legacyRoutes(state, routes);
  dataRoutes(state, routes);
  userDataRoutes(state, routes);
  if (options.control) controlRoutes(state, routes);
  app.use(routes);

  app.use((_req, res) => sendError(res, 404, 'Not Found', 'NOT_FOUND', { detail: 'Not Found' }));
  app.use(errorHandler(logger));
  return { app, state };
}
