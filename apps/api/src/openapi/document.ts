import { OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { registerAuthPaths } from './paths/auth.paths.js';
import { registerJobPaths } from './paths/job.paths.js';
import { registerModelPaths } from './paths/model.paths.js';
import { registerServicePaths } from './paths/service.paths.js';
import { registerWebhookPaths } from './paths/webhook.paths.js';
import { createRegistry } from './registry.js';

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

const DESCRIPTION = `Asynchronous job API in front of [TabPFN](https://priorlabs.ai), the tabular foundation model.

1. \`POST /v1/auth/setup\` with your TabPFN token → an API key (\`tpk_…\`).
2. \`POST /v1/models/fit\` with a table and a target → a fit job and a model id.
3. \`POST /v1/models/{model_id}/predict\` → a predict job; poll \`GET /v1/jobs/{job_id}\`, send \`Prefer: wait=30\`, or receive a signed webhook.

Errors are \`application/problem+json\` (RFC 9457) with a stable \`code\`. Every response carries \`x-request-id\`.`;

/** Builds the OpenAPI 3.1 document from the zod schemas (once per version: it never changes at run time). */
export function buildOpenApiDocument(version: string): OpenApiDocument {
  const registry = createRegistry();
  registerServicePaths(registry);
  registerAuthPaths(registry);
  registerModelPaths(registry);
  registerJobPaths(registry);
  registerWebhookPaths(registry);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'tabpfn-jobs',
      version,
      description: DESCRIPTION,
      license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [{ url: '/', description: 'This server' }],
    security: [{ bearerAuth: [] }],
    tags: [
      { name: 'Service', description: 'Health, readiness, metrics and documentation.' },
      { name: 'Account', description: 'Setup, API keys, the TabPFN token, usage.' },
      { name: 'Models', description: 'Fit models and queue predictions.' },
      { name: 'Jobs', description: 'Follow, cancel and read the results of jobs.' },
      { name: 'Webhooks', description: 'Signed job events (Standard Webhooks).' },
      { name: 'Admin', description: 'Operator tools behind the admin login.' },
    ],
  });
}
