import type { z } from 'zod';
import { EmulatorHttpError } from '../http-helpers.js';

/** FastAPI-style 422 with a `detail` list naming each bad field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const detail = result.error.issues.map((i) => ({ loc: ['body', ...i.path.map(String)], msg: i.message, type: i.code }));
  const first = detail[0];
  const message = first ? `Invalid request: ${first.loc.slice(1).join('.') || 'body'}: ${first.msg}` : 'Invalid request';
  throw new EmulatorHttpError(422, message, 'REQUEST_VALIDATION_ERROR', { detail });
}
