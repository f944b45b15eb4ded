import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { createKeyBody, keyIdParam, replaceTokenBody, setupBody } from '../../schemas/auth.schemas.js';
import { AUTH_PROBLEMS, BEARER, json, problems } from '../registry.js';
import { apiKey, apiKeyList, createdApiKey, me, setupResponse, usage } from '../schemas/account.js';

const tags = ['Account'];

/** The operations of auth.routes.ts and account.routes.ts. */
const authPaths: RouteConfig[] = [
  {
    method: 'post',
    path: '/v1/auth/setup',
    tags,
    summary: 'Register a TabPFN token',
    description:
      'Verifies the token with TabPFN, creates the account (or finds the one that owns this token) and returns a new API key. The raw key is shown only in this response. Rate limited per client address.',
    security: [],
    request: { body: { required: true, content: { 'application/json': { schema: setupBody } } } },
    responses: { 201: json('Account ready; store `api_key`.', setupResponse), ...problems(400, 409, 422, 429, 502, 503) },
  },
  {
    method: 'get',
    path: '/v1/auth/keys',
    tags,
    summary: 'List API keys',
    description: 'Every key of the account (prefix only), revoked ones included.',
    security: BEARER,
    responses: { 200: json('The keys.', apiKeyList), ...problems(...AUTH_PROBLEMS) },
  },
  {
    method: 'post',
    path: '/v1/auth/keys',
    tags,
    summary: 'Create an API key',
    description: 'A new key for the same account; the raw key is shown only in this response.',
    security: BEARER,
    request: { body: { required: false, content: { 'application/json': { schema: createKeyBody } } } },
    responses: { 201: json('The new key.', createdApiKey), ...problems(...AUTH_PROBLEMS, 409, 422) },
  },
  {
    method: 'delete',
    path: '/v1/auth/keys/{key_id}',
    tags,
    summary: 'Revoke an API key',
    description: 'The key fails from the next request on. Revoking the key of this request is allowed.',
    security: BEARER,
    request: { params: keyIdParam },
    responses: { 200: json('The revoked key.', apiKey), ...problems(...AUTH_PROBLEMS, 403, 404, 422) },
  },
  {
    method: 'put',
    path: '/v1/auth/tabpfn-token',
    tags,
    summary: 'Replace the TabPFN token',
    description: 'Verifies the new token with TabPFN, then stores it (encrypted) in place of the old one.',
    security: BEARER,
    request: { body: { required: true, content: { 'application/json': { schema: replaceTokenBody } } } },
    responses: { 204: { description: 'Replaced.' }, ...problems(...AUTH_PROBLEMS, 409, 422, 502) },
  },
  {
    method: 'get',
    path: '/v1/me',
    tags,
    summary: 'The account',
    description: 'The account and the key used for this request.',
    security: BEARER,
    responses: { 200: json('The account.', me), ...problems(...AUTH_PROBLEMS, 404) },
  },
  {
    method: 'delete',
    path: '/v1/me',
    tags,
    summary: 'Delete the account',
    description: 'Revokes every key, cancels queued jobs, and deletes models, datasets and results.',
    security: BEARER,
    responses: { 204: { description: 'Deleted.' }, ...problems(...AUTH_PROBLEMS, 404) },
  },
  {
    method: 'get',
    path: '/v1/usage',
    tags,
    summary: 'Usage',
    description: "TabPFN's usage report for your token (`POST /get_api_usage/` upstream) plus this service's job and model counts.",
    security: BEARER,
    responses: { 200: json('Usage.', usage), ...problems(...AUTH_PROBLEMS, 502) },
  },
];

export function registerAuthPaths(registry: OpenAPIRegistry): void {
  for (const path of authPaths) registry.registerPath(path);
}
