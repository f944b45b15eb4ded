import type { Request, RequestHandler } from 'express';
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Pool } from '@tabpfn-jobs/shared/db';
import type { QueueSet } from '@tabpfn-jobs/shared/jobs';
import type { Logger } from '@tabpfn-jobs/shared/logger';

const QUEUE_DEPTH_TIMEOUT_MS = 2_000;

/** BullMQ states reported as queue depth. */
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed'] as const;

/** Scrapes closer together than this reuse the last database count (several Prometheus replicas). */
const JOB_COUNT_CACHE_MS = 5_000;

/**
 * A route label with bounded cardinality: the route pattern (`/v1/jobs/:job_id`), never the raw
 * URL, so ids do not each make a new series.
 */
export function routeLabel(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  if (route && typeof route.path === 'string') {
    return req.originalUrl.startsWith('/admin/queues') ? '/admin/queues/*' : route.path;
  }
  if (req.originalUrl.startsWith('/admin/queues')) return '/admin/queues/*';
  if (req.originalUrl.startsWith('/docs/assets/')) return '/docs/assets/*';
  return 'unmatched';
}

/**
 * The API's Prometheus metrics, on a registry of its own (tests run several apps in one process).
 * Job counts and queue depth are read at scrape time from Postgres and BullMQ, so every api
 * replica reports the same, global numbers; `max by (…)` them in queries rather than summing.
 */
export interface ApiMetrics {
  registry: Registry;
  /** Times every request; registered before the routes. */
  observe: RequestHandler;
  /** `GET /metrics` in the Prometheus text format. */
  expose: RequestHandler;
}

export function createApiMetrics(deps: { pool: Pool; queues: QueueSet; logger: Logger }): ApiMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'api' });
  collectDefaultMetrics({ register: registry });

  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });

  let jobCounts: { at: number; rows: { type: string; status: string; n: number }[] } | undefined;
  new Gauge({
    name: 'tabpfn_jobs_jobs',
    help: 'Jobs in the database by type and status (queued, running, succeeded, failed, canceled).',
    labelNames: ['type', 'status'] as const,
    registers: [registry],
    async collect() {
      try {
        if (!jobCounts || Date.now() - jobCounts.at > JOB_COUNT_CACHE_MS) {
          const { rows } = await deps.pool.query<{ type: string; status: string; n: number }>(
            'SELECT type, status, count(*)::int AS n FROM jobs GROUP BY type, status',
          );
          jobCounts = { at: Date.now(), rows };
        }
        this.reset();
        for (const r of jobCounts.rows) this.set({ type: r.type, status: r.status }, r.n);
      } catch (err) {
        deps.logger.warn({ err: (err as Error).message }, 'metrics: could not count jobs');
      }
    },
  });

  new Gauge({
    name: 'tabpfn_jobs_queue_depth',
    help: 'BullMQ jobs per queue and state, read at scrape time.',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      // A stalled Redis must not hang the scrape, and its last numbers must not pass for current:
      // past the timeout the depths are left out of this scrape.
      this.reset();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), QUEUE_DEPTH_TIMEOUT_MS);
      });
      const read = Promise.all(
        Object.entries(deps.queues).map(async ([name, queue]) => ({ name, counts: await queue.getJobCounts(...QUEUE_STATES) })),
      );
      try {
        const out = await Promise.race([read, timeout]);
        if (out === 'timeout') throw new Error(`no answer from Redis within ${QUEUE_DEPTH_TIMEOUT_MS} ms`);
        for (const { name, counts } of out) for (const state of QUEUE_STATES) this.set({ queue: name, state }, counts[state] ?? 0);
      } catch (err) {
        read.catch(() => undefined);
        deps.logger.warn({ err: (err as Error).message }, 'metrics: could not read queue depth');
      } finally {
        clearTimeout(timer);
      }
    },
  });

  /** Times every request; registered before the routes. */
  const observe: RequestHandler = (req, res, next) => {
    const end = httpDuration.startTimer();
    res.once('finish', () => end({ method: req.method, route: routeLabel(req), status: String(res.statusCode) }));
    next();
  };

  /** `GET /metrics` in the Prometheus text format. */
  const expose: RequestHandler = async (_req, res) => {
    const body = await registry.metrics();
    res.type(registry.contentType).send(body);
  };

  return { registry, observe, expose };
}
