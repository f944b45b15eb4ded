import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ADMIN_BASIC, json, problems } from '../registry.js';
import { health, ready, serviceIndex } from '../schemas/service.js';

const tags = ['Service'];

/** The operations of Service routes (service.routes.ts), the docs, metrics and the operator dashboard. */
const servicePaths: RouteConfig[] = [
  {
    method: 'get',
    path: '/',
    tags,
    summary: 'Service index',
    description: 'Name, version and links to health, docs, the OpenAPI document and metrics.',
    security: [],
    responses: { 200: json('The service index.', serviceIndex) },
  },
  {
    method: 'get',
    path: '/health',
    tags,
    summary: 'Liveness',
    description: 'Answers 200 while the process runs; checks no dependency (use it for liveness probes).',
    security: [],
    responses: { 200: json('Alive.', health) },
  },
  {
    method: 'get',
    path: '/ready',
    tags,
    summary: 'Readiness',
    description:
      'Checks Postgres, Redis, that every migration is applied and that the TabPFN upstream answers (probed at most every UPSTREAM_PROBE_TTL_MS); 503 with the failing checks otherwise (use it for readiness probes).',
    security: [],
    responses: { 200: json('Ready to serve.', ready), ...problems(503) },
  },
  {
    method: 'get',
    path: '/metrics',
    tags,
    summary: 'Prometheus metrics',
    description:
      'Prometheus text format: `http_request_duration_seconds` (by method, route, status), `tabpfn_jobs_finished_total` (by type, status), `tabpfn_jobs_queue_depth` (by queue, state) and process metrics.',
    security: [],
    responses: {
      200: {
        description: 'Metrics in the Prometheus exposition format.',
        content: { 'text/plain': { schema: z.string().meta({ example: 'tabpfn_jobs_queue_depth{queue="fit",state="waiting"} 0\n' }) } },
      },
    },
  },
  {
    method: 'get',
    path: '/openapi.json',
    tags,
    summary: 'OpenAPI document',
    description: 'This document (OpenAPI 3.1), generated from the zod schemas the routes validate with.',
    security: [],
    responses: {
      200: json('The OpenAPI document.', z.record(z.string(), z.unknown()).meta({ example: { openapi: '3.1.0' } })),
    },
  },
  {
    method: 'get',
    path: '/docs',
    tags,
    summary: 'Interactive documentation',
    description: 'Swagger UI for this document, served from this service (no CDN).',
    security: [],
    responses: {
      200: { description: 'An HTML page.', content: { 'text/html': { schema: z.string().meta({ example: '<!doctype html>…' }) } } },
    },
  },
  {
    method: 'get',
    path: '/admin/queues',
    tags: ['Admin'],
    summary: 'Queue dashboard',
    description:
      'bull-board dashboard of the fit, predict, webhook and maintenance queues. Needs the operator login; 404 while `ADMIN_PASSWORD_HASH` is unset.',
    security: ADMIN_BASIC,
    responses: {
      200: { description: 'The dashboard (HTML).', content: { 'text/html': { schema: z.string().meta({ example: '<!doctype html>…' }) } } },
      ...problems(401, 404),
    },
  },
];

export function registerServicePaths(registry: OpenAPIRegistry): void {
  for (const path of servicePaths) registry.registerPath(path);
}
