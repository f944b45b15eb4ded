import type { RequestHandler } from 'express';
import { UnsupportedMediaTypeError } from '@tabpfn-jobs/shared';

const ACCEPTED = ['application/json', 'application/*+json', 'multipart/form-data'];

/** A body in a format no route reads is refused up front instead of being ignored. */
export const requireKnownMediaType: RequestHandler = (req, _res, next) => {
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (hasBody && ['POST', 'PUT', 'PATCH'].includes(req.method) && !req.is(ACCEPTED)) {
    throw new UnsupportedMediaTypeError(`Content-Type ${req.get('content-type') ?? '(none)'} is not supported; send application/json or multipart/form-data.`);
  }
  next();
};
