import { Router } from 'express';
import { AppError } from '@tabpfn-jobs/shared/errors';
import type { HealthService } from '../services/health.service.js';
import { sendProblem } from '../http/problem.js';

export function serviceRoutes(deps: { health: HealthService; version: string }): Router {
  const router = Router();

  router.get('/', (_req, res) => {
    res.json({
      name: 'tabpfn-jobs',
      version: deps.version,
      description: 'Asynchronous job API for TabPFN, the tabular foundation model.',
      links: { health: '/health', ready: '/ready', docs: '/docs', openapi: '/openapi.json', metrics: '/metrics' },
    });
  });

  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/ready', async (req, res) => {
    const report = await deps.health.readiness();
    if (report.ready) {
      res.json({ status: 'ready', checks: report.checks });
      return;
    }
    const failed = Object.entries(report.checks).filter(([, c]) => !c.ok);
    const err = new AppError(503, 'not_ready', 'Service Unavailable', {
      detail: `Not ready: ${failed.map(([name]) => name).join(', ')} unavailable.`,
      errors: failed.map(([name, c]) => ({ field: name, message: c.error ?? 'unavailable' })),
      headers: { 'Retry-After': '5' },
      extra: { checks: report.checks },
    });
    sendProblem(res, err, String(req.id));
  });

  return router;
}
