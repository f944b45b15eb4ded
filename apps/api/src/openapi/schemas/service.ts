import { z } from 'zod';

/** Response shapes of the service routes (service.routes.ts). */

export const serviceIndex = z
  .object({
    name: z.literal('tabpfn-jobs'),
    version: z.string().meta({ example: '0.1.0' }),
    description: z.string(),
    links: z.record(z.string(), z.string()).meta({ example: { docs: '/docs', openapi: '/openapi.json' } }),
  })
  .meta({ id: 'ServiceIndex', description: 'Name, version and links of the service.' });

export const health = z.object({ status: z.literal('ok') }).meta({ id: 'Health', description: 'The process is alive.', example: { status: 'ok' } });

const check = z.object({ ok: z.boolean(), error: z.string().optional() });

export const ready = z
  .object({
    status: z.literal('ready'),
    checks: z.record(z.string(), check).meta({ description: 'One entry per dependency.', example: { postgres: { ok: true }, redis: { ok: true }, migrations: { ok: true }, upstream: { ok: true } } }),
  })
  .meta({ id: 'Ready', description: 'Postgres, Redis and migrations are fine, and the TabPFN upstream answers.' });
