import { z } from 'zod';

export const tabpfnToken = z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(4096, 'is too long (max 4096 characters)');

export const setupBody = z.strictObject({
  tabpfn_token: tabpfnToken,
  key_name: z.string().max(100).optional(),
});

export const createKeyBody = z.strictObject({ name: z.string().max(100).optional() }).default({});

export const replaceTokenBody = z.strictObject({ tabpfn_token: tabpfnToken });

export const keyIdParam = z.strictObject({ key_id: z.uuid({ error: 'must be a UUID' }) });
