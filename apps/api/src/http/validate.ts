import type { z } from 'zod';
import { type FieldError, ValidationError } from '@tabpfn-jobs/shared/errors';

function fieldName(base: string, path: PropertyKey[]): string {
  let out = base;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || 'body';
}

export function zodToFieldErrors(error: z.ZodError, base = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ field: fieldName(base, [...issue.path, key]), message: 'unknown field' });
      continue;
    }
    const input = (issue as { input?: unknown }).input;
    const message = issue.code === 'invalid_type' && input === undefined ? 'is required' : issue.message;
    out.push({ field: fieldName(base, issue.path), message });
  }
  return out;
}

/** Parses `input` with `schema` or throws a 422 naming every offending field. */
export function parse<S extends z.ZodType>(schema: S, input: unknown, base = ''): z.infer<S> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  throw new ValidationError(zodToFieldErrors(result.error, base));
}
