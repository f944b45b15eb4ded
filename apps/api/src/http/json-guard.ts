import type { RequestHandler } from 'express';
import { ValidationError } from '@tabpfn-jobs/shared/errors';

/** Deeper than any request this API reads (rows are 3 levels, configs a few more). */
export const MAX_JSON_DEPTH = 32;

/**
 * Postgres text and jsonb cannot hold NUL, and a lone UTF-16 surrogate is not text at all. Not a
 * string is not storable text either: parsers pass on what the wire gave them (busboy names a form
 * part whose Content-Disposition has no plain `name` parameter `undefined`), and a throw here, inside
 * a parser's event, would be an uncaught exception that stops the process.
 */
export function isStorableString(s: string): boolean {
  return typeof s === 'string' && !s.includes('\u0000') && s.isWellFormed();
}

function ok(v: unknown, depth: number): boolean {
  if (typeof v === 'string') return isStorableString(v);
  if (v === null || typeof v !== 'object') return true;
  if (depth >= MAX_JSON_DEPTH) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!ok(v[i], depth + 1)) return false;
    return true;
  }
  for (const k in v) if (!isStorableString(k) || !ok((v as Record<string, unknown>)[k], depth + 1)) return false;
  return true;
}

/** The first offending place, as a field path (`config.inference_config.k`, `features[3][1]`). */
function locate(v: unknown, depth: number, path: string): { field: string; message: string } | undefined {
  if (typeof v === 'string')
    return isStorableString(v) ? undefined : { field: path, message: 'contains a NUL character or invalid Unicode' };
  if (v === null || typeof v !== 'object') return undefined;
  if (depth >= MAX_JSON_DEPTH) return { field: path, message: `is nested deeper than ${MAX_JSON_DEPTH} levels` };
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const found = locate(v[i], depth + 1, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  for (const k in v) {
    const at = path ? `${path}.${k}` : k;
    if (!isStorableString(k)) return { field: path || 'body', message: 'has a key with a NUL character or invalid Unicode' };
    const found = locate((v as Record<string, unknown>)[k], depth + 1, at);
    if (found) return found;
  }
  return undefined;
}

/** Throws a 422 naming the field when `value` holds a string Postgres cannot store or nests too deep. */
export function assertStorableJson(value: unknown, path = ''): void {
  // The fast pass walks a 5-million-cell body in tens of milliseconds; the path is built only on failure.
  if (ok(value, 0)) return;
  const found = locate(value, 0, path);
  if (found) throw new ValidationError([{ field: found.field || 'body', message: found.message }]);
}

/** Applies `assertStorableJson` to every parsed JSON body. */
export const storableJsonBody: RequestHandler = (req, _res, next) => {
  if (req.body !== undefined && typeof req.body === 'object') assertStorableJson(req.body);
  next();
};
