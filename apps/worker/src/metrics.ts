import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import type { JobRow } from '@tabpfn-jobs/shared/repositories';
import { TabPFNError, type TabPFNClient } from '@tabpfn-jobs/tabpfn';
import type { SendOutcome, WebhookSender } from './webhooks/webhook-sender.js';

/**
 * The worker's Prometheus metrics. Each worker process counts what it did itself, so sum them
 * across workers in queries. Served on `METRICS_PORT` (see `startMetricsServer`).
 */
/** The worker's metric definitions, registered on `registry`. */
function defineMetrics(registry: Registry) {
  const jobDuration = new Histogram({
    name: 'tabpfn_jobs_job_duration_seconds',
    help: 'Time from a job starting (or being queued, if it never started) to its final state, by type and outcome.',
    labelNames: ['type', 'outcome'] as const,
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [registry],
  });
  const jobsFinished = new Counter({
    name: 'tabpfn_jobs_finished_total',
    help: 'Jobs this worker brought to a final status, by type and status.',
    labelNames: ['type', 'status'] as const,
    registers: [registry],
  });
  const jobRetries = new Counter({
    name: 'tabpfn_jobs_attempt_retries_total',
    help: 'Job attempts that failed with a retryable error and were handed back for a retry, by type.',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const upstreamDuration = new Histogram({
    name: 'tabpfn_jobs_upstream_duration_seconds',
    help: 'Latency of TabPFN calls (fit: upload + fit; predict: upload + predict + polling), by operation and outcome.',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: 'tabpfn_jobs_upstream_errors_total',
    help: 'Failed TabPFN calls by operation and error code.',
    labelNames: ['operation', 'code'] as const,
    registers: [registry],
  });
  const webhookAttempts = new Counter({
    name: 'tabpfn_jobs_webhook_attempts_total',
    help: 'Webhook delivery attempts by outcome (delivered, retry, gone, refused).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const webhookDuration = new Histogram({
    name: 'tabpfn_jobs_webhook_attempt_duration_seconds',
    help: 'Duration of webhook delivery attempts.',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return { jobDuration, jobsFinished, jobRetries, upstreamDuration, upstreamErrors, webhookAttempts, webhookDuration };
}

export function createWorkerMetrics() {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'worker' });
  collectDefaultMetrics({ register: registry });
  const { jobDuration, jobsFinished, jobRetries, upstreamDuration, upstreamErrors, webhookAttempts, webhookDuration } = defineMetrics(registry);

  return {
    registry,

    /** Called once per job when the runner writes its final status. */
    jobFinalized(row: Pick<JobRow, 'type' | 'status' | 'created_at' | 'started_at' | 'finished_at'>): void {
      const from = row.started_at ?? row.created_at;
      const to = row.finished_at ?? new Date();
      jobDuration.observe({ type: row.type, outcome: row.status }, Math.max(0, (to.getTime() - from.getTime()) / 1000));
      jobsFinished.inc({ type: row.type, status: row.status });
    },

    jobRetry(type: string): void {
      jobRetries.inc({ type });
    },

    upstreamCall(operation: string, seconds: number, err?: unknown): void {
      upstreamDuration.observe({ operation, outcome: err === undefined ? 'ok' : 'error' }, seconds);
      if (err !== undefined) {
        const code = err instanceof TabPFNError ? err.code : (err as Error)?.name === 'AbortError' ? 'aborted' : 'internal_error';
        upstreamErrors.inc({ operation, code });
      }
    },

    /** One webhook attempt; the webhook handler's sender is wrapped with `instrumentWebhookSender`. */
    webhookAttempt(outcome: SendOutcome['kind'], durationMs: number): void {
      webhookAttempts.inc({ outcome });
      webhookDuration.observe({ outcome }, durationMs / 1000);
    },
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** Times a client's `fit` and `predict` (the calls that carry a job) without changing them. */
export function instrumentTabPFN(client: TabPFNClient, metrics: WorkerMetrics): TabPFNClient {
  for (const operation of ['fit', 'predict'] as const) {
    const original = client[operation].bind(client) as (...args: unknown[]) => Promise<unknown>;
    const timed = async (...args: unknown[]) => {
      const start = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - start) / 1e9;
      try {
        const out = await original(...args);
        metrics.upstreamCall(operation, seconds());
        return out;
      } catch (err) {
        metrics.upstreamCall(operation, seconds(), err);
        throw err;
      }
    };
    Object.defineProperty(client, operation, { value: timed, configurable: true });
  }
  return client;
}

/** Counts every webhook attempt the sender makes. */
export function instrumentWebhookSender(sender: WebhookSender, metrics: WorkerMetrics): WebhookSender {
  return {
    ...sender,
    async send(...args: Parameters<WebhookSender['send']>) {
      const outcome = await sender.send(...args);
      metrics.webhookAttempt(outcome.kind, outcome.durationMs);
      return outcome;
    },
  };
}

/** Serves `GET /metrics` on its own port; `port` 0 turns it off (returns undefined). */
export async function startMetricsServer(
  metrics: WorkerMetrics,
  opts: { port: number; host: string; logger: Logger },
): Promise<{ server: Server; port: number; close(): Promise<void> } | undefined> {
  if (!opts.port) return undefined;
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => resolve());
    });
  } catch (err) {
    // Several workers on one host (no containers) share the default port: the first one serves,
    // the others work on without an endpoint instead of refusing to start.
    opts.logger.warn({ port: opts.port, err: (err as Error).message }, 'worker metrics endpoint not started');
    return undefined;
  }
  const port = (server.address() as AddressInfo).port;
  opts.logger.info({ port }, 'worker metrics listening');
  return {
    server,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
