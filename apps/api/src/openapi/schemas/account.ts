import { z } from 'zod';
import { EXAMPLE_IDS, nullableTimestamp, timestamp, uuid } from './common.js';

/** Response shapes of auth and account routes (`toApiKey`, account.routes.ts). */

export const apiKey = z
  .object({
    id: uuid('The key id.', EXAMPLE_IDS.key),
    prefix: z.string().meta({ description: 'The first characters of the key, to recognise it.', example: 'tpk_3fA9' }),
    name: z.string().nullable().meta({ example: 'laptop' }),
    created_at: timestamp,
    last_used_at: nullableTimestamp,
    revoked_at: nullableTimestamp,
  })
  .meta({ id: 'ApiKey', description: 'An API key (never the key itself, except once at creation).' });

export const createdApiKey = apiKey
  .extend({ api_key: z.string().meta({ description: 'The raw key: shown only now, store it.', example: 'tpk_3fA9c2…' }) })
  .meta({ id: 'CreatedApiKey', description: 'A new API key, with the raw key.' });

export const apiKeyList = z.object({ data: z.array(apiKey) }).meta({ id: 'ApiKeyList', description: 'The account\'s API keys, revoked ones included.' });

export const setupResponse = z
  .object({
    user_id: uuid('The account.', EXAMPLE_IDS.user),
    api_key: z.string().meta({ description: 'The raw API key: shown only here. Send it as `Authorization: Bearer <api_key>`.', example: 'tpk_3fA9c2…' }),
    api_key_id: uuid('Id of the new key.', EXAMPLE_IDS.key),
    created: z.boolean().meta({ description: 'False when the token already had an account (a new key was added to it).', example: true }),
  })
  .meta({ id: 'SetupResponse', description: 'The account and its new API key.' });

export const me = z
  .object({
    user_id: uuid('The account.', EXAMPLE_IDS.user),
    api_key_id: uuid('The key used for this request.', EXAMPLE_IDS.key),
    created_at: timestamp,
  })
  .meta({ id: 'Account', description: 'The account behind the API key.' });

const nullableCount = (description: string, example: number | null) => z.number().nullable().meta({ description, example });

export const usage = z
  .object({
    upstream: z
      .object({
        current_usage: nullableCount('Tokens used in the current period.', 1200),
        usage_limit: nullableCount('Limit for the period; null = unlimited.', null),
        reset_time: z.string().nullable().meta({ description: 'When the period resets.', example: '2025-01-16T00:00:00.000Z' }),
        daily_tokens_used: nullableCount('Tokens used today.', 1200),
        daily_token_limit: nullableCount('Daily limit; null = unlimited.', null),
        monthly_tokens_used: nullableCount('Tokens used this month.', 54000),
        monthly_token_limit: nullableCount('Monthly limit; null = unlimited.', null),
      })
      .meta({ description: 'TabPFN\'s own usage report for your token.' }),
    service: z
      .object({
        jobs: z.object({
          total: z.int().meta({ example: 3 }),
          by_type: z
            .record(z.string(), z.record(z.string(), z.int()))
            .meta({ description: 'Job counts by type, then status.', example: { fit: { succeeded: 1 }, predict: { succeeded: 2 } } }),
          rows: z.object({ fit: z.int().meta({ example: 120 }), predict: z.int().meta({ example: 60 }) }).meta({ description: 'Rows sent, by job type.' }),
        }),
        models: z.int().meta({ description: 'Models stored.', example: 1 }),
      })
      .meta({ description: 'This service\'s counts for the account.' }),
  })
  .meta({ id: 'Usage', description: 'Upstream usage plus this service\'s own counts.' });
