import { z } from 'zod';

/**
 * Field types for environment schemas, in a module of their own so that the schemas split out of
 * env.ts (redis-env.ts) can use them without importing env.ts, which imports those schemas.
 */

export const truthy = new Set(['1', 'true', 'yes', 'on']);
export const falsy = new Set(['0', 'false', 'no', 'off', '']);

/** A boolean environment variable: accepts true/false/1/0/yes/no/on/off. */
export const envBool = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return fallback;
      const s = v.trim().toLowerCase();
      if (truthy.has(s)) return true;
      if (falsy.has(s)) return false;
      ctx.addIssue({ code: 'custom', message: `expected true or false, got "${v}"` });
      return z.NEVER;
    });

/** An optional variable where empty (or blank) counts as unset: compose passes `${X:-}` as "". */
export const unsetIfEmpty = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.optional());

export const envInt = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

export const envNumber = (fallback: number, min = 0) => z.coerce.number().min(min).default(fallback);
