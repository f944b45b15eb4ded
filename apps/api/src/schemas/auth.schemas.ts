import { z } from 'zod';

export const tabpfnToken = z
  .string({ error: 'must be a string' })
  .trim()
  .min(1, 'must not be empty')
  .max(4096, 'is too long (max 4096 characters)')
  // It travels in an HTTP header upstream: printable ASCII only.
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
  .meta({ description: 'Your TabPFN API token (from the Prior Labs account page); verified upstream before it is stored, encrypted.', example: 'dev-token' });

export const setupBody = z
  .strictObject({
    tabpfn_token: tabpfnToken,
    key_name: z.string().max(100).optional().meta({ description: 'A label for the first API key.', example: 'laptop' }),
  })
  .meta({ id: 'SetupRequest', description: 'Registers a TabPFN token and returns an API key.', example: { tabpfn_token: 'dev-token', key_name: 'laptop' } });

export const createKeyBody = z
  .strictObject({ name: z.string().max(100).optional().meta({ description: 'A label for the key.', example: 'ci' }) })
  .default({})
  .meta({ id: 'CreateKeyRequest', description: 'Options of a new API key (the body may be omitted).', example: { name: 'ci' } });

export const replaceTokenBody = z
  .strictObject({ tabpfn_token: tabpfnToken })
  .meta({ id: 'ReplaceTokenRequest', description: 'The new TabPFN token.', example: { tabpfn_token: 'dev-token' } });

export const keyIdParam = z.strictObject({
  key_id: z.uuid({ error: 'must be a UUID' }).meta({ description: 'The API key id.', example: '5d3c2b1a-9e8f-4a7b-8c6d-1e2f3a4b5c6d' }),
});
