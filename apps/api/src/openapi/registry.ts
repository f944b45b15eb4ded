import { OpenAPIRegistry, type ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { problem } from './schemas/common.js';

/** Security requirement objects for `registerPath({ security })`. */
export const BEARER = [{ bearerAuth: [] }];
export const ADMIN_BASIC = [{ adminBasic: [] }];

export function createRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'tpk_…',
    description: 'An API key from `POST /v1/auth/setup` or `POST /v1/auth/keys`: `Authorization: Bearer tpk_…`.',
  });
  registry.registerComponent('securitySchemes', 'adminBasic', {
    type: 'http',
    scheme: 'basic',
    description: 'Operator login: user `admin`, the password whose bcrypt hash is `ADMIN_PASSWORD_HASH`.',
  });
  return registry;
}

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed request (e.g. invalid JSON).',
  401: 'Missing, unknown or revoked API key.',
  403: 'The resource belongs to another account.',
  404: 'No such resource.',
  406: 'The result is not available in the format `Accept` asks for (a fit result is JSON only).',
  409: 'The resource is in a state that does not allow this.',
  413: 'The body is larger than the limit.',
  415: 'Unsupported `Content-Type`.',
  422: 'Validation failed; `errors` lists each field.',
  429: 'Rate limit or in-flight job cap reached; see `Retry-After`.',
  502: 'TabPFN answered with an error.',
  503: 'A dependency (database, queue, TabPFN) is unavailable; see `Retry-After`.',
};

/** problem+json responses for the given statuses. */
export function problems(...statuses: number[]): Record<number, ResponseConfig> {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: PROBLEM_DESCRIPTIONS[status] ?? 'Error.',
        content: { 'application/problem+json': { schema: problem } },
      } satisfies ResponseConfig,
    ]),
  );
}

/** A JSON response with a schema. */
export function json(description: string, schema: z.ZodType, headers?: ResponseConfig['headers']): ResponseConfig {
  return { description, content: { 'application/json': { schema } }, ...(headers ? { headers } : {}) };
}

/** Headers of a request that may be idempotent (every POST). */
export const idempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .max(255)
    .optional()
    .meta({ description: 'Same key + same body within 24 h → the first response is replayed; same key + another body → 422.', example: 'a1b2c3d4-retry-1' }),
});

/** Problems every authenticated route can answer. */
export const AUTH_PROBLEMS = [401, 429, 503] as const;
