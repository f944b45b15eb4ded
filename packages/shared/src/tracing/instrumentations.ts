import type { IncomingMessage } from 'node:http';
import { ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { scrubQuery, scrubUrl } from './url-scrub.js';

/** Probes and scrapes: a span per health check would bury the requests that matter. */
const UNTRACED_PATHS = new Set(['/health', '/ready', '/metrics']);

const pathOf = (url: string | undefined) => (url ?? '/').split('?')[0] ?? '/';

/**
 * The instrumentations both processes load (loaded only when tracing is on). What each records was
 * chosen so no span carries a secret or a dataset value:
 * - http (server side): the query is scrubbed (tokens, signatures, anything shaped like an API key);
 *   headers are never recorded (Authorization holds the API key).
 * - express: route names for the server spans (`POST /v1/models/:model_id/predict`); no span per
 *   layer (every router the app mounts would be one on every request).
 * - pg: the statement text only, which is parameterized everywhere (values are never recorded).
 * - ioredis: the command name only. Its default keeps arguments, and a rate limiter's key names the
 *   API key's digest, BullMQ's scripts carry job data.
 * - undici (upstream TabPFN calls, webhooks): the URL without its query's secrets (signed upload URLs).
 * Client-side spans need a parent (a request, a job attempt): background polling makes no traces.
 */
export function createInstrumentations() {
  return [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has(pathOf(req.url)),
      startIncomingSpanHook: (req: IncomingMessage) => {
        const query = (req.url ?? '').split('?')[1];
        return query ? { 'url.query': scrubQuery(query) } : {};
      },
      requireParentforOutgoingSpans: true,
    }),
    new ExpressInstrumentation({
      ignoreLayersType: [ExpressLayerType.ROUTER, ExpressLayerType.MIDDLEWARE, ExpressLayerType.REQUEST_HANDLER],
    }),
    new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
    new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
    new UndiciInstrumentation({
      requireParentforSpans: true,
      startSpanHook: (request) => {
        const url = new URL(request.path, request.origin);
        return { 'url.full': scrubUrl(url), 'url.query': scrubQuery(url.search) };
      },
    }),
  ];
}
