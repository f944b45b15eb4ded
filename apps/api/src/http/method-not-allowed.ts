import type { RequestHandler } from 'express';
import { AppError } from '@tabpfn-jobs/shared/errors';
import type { OpenApiDocument } from '../openapi/document.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

export class MethodNotAllowedError extends AppError {
  constructor(method: string, path: string, allowed: string[]) {
    super(405, 'method_not_allowed', 'Method Not Allowed', {
      detail: `${path} does not take ${method}; it takes ${allowed.join(', ')}.`,
      headers: { Allow: allowed.join(', ') },
    });
  }
}

/**
 * A known path with the wrong method is a 405 with `Allow`, not a 404 that suggests a typo in the
 * path. The routes are read from the OpenAPI document, which a test keeps equal to what is served.
 */
export function methodNotAllowed(document: () => OpenApiDocument): RequestHandler {
  let routes: { re: RegExp; methods: string[] }[] | undefined;
  const table = () =>
    (routes ??= Object.entries(document().paths ?? {}).map(([template, ops]) => ({
      re: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}/?$`),
      methods: Object.keys(ops ?? {})
        .filter((m) => METHODS.includes(m))
        .map((m) => m.toUpperCase()),
    })));
  return (req, _res, next) => {
    const route = table().find((r) => r.re.test(req.path));
    if (!route || route.methods.includes(req.method) || (req.method === 'HEAD' && route.methods.includes('GET'))) return next();
    next(new MethodNotAllowedError(req.method, req.path, route.methods));
  };
}
