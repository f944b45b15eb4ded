import { Router } from 'express';
import type { ApiMetrics } from '../http/metrics.js';

/** `GET /metrics` (Prometheus). Keep it off the public ingress: it is unauthenticated. */
export function metricsRoutes(deps: { metrics: ApiMetrics }): Router {
  const router = Router();
  router.get('/metrics', deps.metrics.expose);
  return router;
}
