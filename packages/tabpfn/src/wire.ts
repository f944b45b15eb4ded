import { errorFromResponse, type HttpResponse, parseBody } from './http.js';
import type { Task } from './models.js';

/** pydantic `model_dump(exclude_none=True)`: null/undefined fields are omitted, at every depth. */
export function dropNulls<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => dropNulls(v)) as T;
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== null && v !== undefined) out[k] = dropNulls(v);
    }
    return out as T;
  }
  return value;
}

/** What the python estimators send when the user sets nothing (`_get_tabpfn_config`). */
export function defaultTabpfnConfig(task: Task): Record<string, unknown> {
  return task === 'classification'
    ? { balance_probabilities: false, ignore_pretraining_limits: false, random_state: 0 }
    : { ignore_pretraining_limits: false, random_state: 0 };
}

export function tabpfnConfigFor(
  task: Task,
  config: Record<string, unknown> | undefined,
  modelPath: string | undefined,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...defaultTabpfnConfig(task), ...config };
  if (modelPath !== undefined) merged.model_path = modelPath;
  return dropNulls(merged);
}

/** A 409 dedup hit carries the existing upload id; a body that does not parse falls back to a generic error. */
export function errorFromConflict(res: HttpResponse, idField: string, operation: string): string {
  try {
    const body = parseBody(res.text) as Record<string, unknown> | undefined;
    const id = body?.[idField];
    if (typeof id === 'string' && id !== '') return id;
  } catch {
    // fall through
  }
  throw errorFromResponse(res, operation);
}
