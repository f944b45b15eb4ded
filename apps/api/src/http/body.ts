import bytes from 'bytes';
import express, { type Request, type RequestHandler } from 'express';
import { AppError, PayloadTooLargeError, ServiceUnavailableError, UnsupportedMediaTypeError } from '@tabpfn-jobs/shared/errors';
import { storableJsonBody } from './json-guard.js';
import { sendProblem } from './problem.js';

/**
 * Request bodies are read per route, after authentication and the rate limit (so an anonymous or
 * throttled caller costs no body), within a per-route limit, while a per-process admission limit
 * bounds how many large ones are in memory at once, and an idle timer cuts off a client that stops
 * sending. Routes that take no body never read one.
 */

const JSON_TYPES = ['application/json', 'application/*+json'];
const UPLOAD_TYPES = [...JSON_TYPES, 'multipart/form-data'];
/** Setup, keys, token replacement, secret rotation, redelivery: a few fields each. */
export const SMALL_JSON_LIMIT_BYTES = 16 * 1024;
/** Form fields and multipart framing around the CSV file. */
const MULTIPART_OVERHEAD_BYTES = 4 * 1024 * 1024;

export interface BodyPolicyOptions {
  jsonLimit: string;
  csvLimitBytes: number;
  largeBodyBytes: number;
  maxLargeBodiesInFlight: number;
  idleTimeoutMs: number;
}

/** Content-Length, or `Infinity` for a chunked body (its length is unknown until it ends); 0 without a body. */
export function declaredLength(req: Request): number {
  if (req.headers['transfer-encoding'] !== undefined) return Number.POSITIVE_INFINITY;
  const n = Number(req.headers['content-length'] ?? 0);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

export const hasBody = (req: Request): boolean => declaredLength(req) > 0;

function acceptTypes(types: string[], what: string): RequestHandler {
  return (req, _res, next) => {
    if (hasBody(req) && !req.is(types)) {
      throw new UnsupportedMediaTypeError(`Content-Type ${req.get('content-type') ?? '(none)'} is not supported here; send ${what}.`);
    }
    next();
  };
}

/** Refuses a body whose declared length is over the limit without reading any of it. */
function declaredAtMost(limit: number, what: string): RequestHandler {
  return (req, _res, next) => {
    const n = declaredLength(req);
    if (n !== Number.POSITIVE_INFINITY && n > limit) throw new PayloadTooLargeError(`${what} is larger than ${bytes.format(limit)}.`);
    next();
  };
}

/** Routes that take no body answer 413 to one, before reading a byte of it. */
export const noBody: RequestHandler = (req, _res, next) => {
  if (hasBody(req)) throw new PayloadTooLargeError(`${req.method} ${req.path} takes no request body.`);
  next();
};

/** GET, HEAD, DELETE and OPTIONS never take a body, whatever the route (also unknown ones). */
export const noBodyOnBodilessMethods: RequestHandler = (req, res, next) => {
  if (['GET', 'HEAD', 'DELETE', 'OPTIONS'].includes(req.method)) return noBody(req, res, next);
  next();
};

/**
 * Cuts off a body that sends nothing for `ms`: 408 problem+json, then the connection is closed.
 * The socket's idle timer is what Node's own server timeouts use; it is disarmed once the body has
 * arrived (a request waiting for its job afterwards is not idle).
 */
function idleBodyTimeout(ms: number): RequestHandler {
  return (req, res, next) => {
    if (ms <= 0 || !hasBody(req) || req.complete) return next();
    const onIdle = () => {
      req.off('timeout', onIdle);
      const err = new AppError(408, 'body_timeout', 'Request Timeout', {
        detail: `No part of the request body arrived for ${ms} ms; the request was cut off.`,
        headers: { Connection: 'close' },
      });
      if (res.headersSent) req.socket.destroy();
      else sendProblem(res, err, String(req.id));
    };
    // A listener on the request tells Node's server not to destroy the socket itself on the timeout.
    req.on('timeout', onIdle);
    req.socket.setTimeout(ms);
    req.once('end', () => {
      req.off('timeout', onIdle);
      req.socket?.setTimeout(0);
    });
    // After the answer Node sets its own keep-alive timer on the socket: only drop the listener.
    res.once('close', () => req.off('timeout', onIdle));
    next();
  };
}

/** At most `max` large bodies are read and held per process; the next one answers 503 without being read. */
function admitLargeBodies(max: number, largeBytes: number): RequestHandler {
  let inFlight = 0;
  return (req, res, next) => {
    if (declaredLength(req) <= largeBytes) return next();
    if (inFlight >= max) {
      throw new ServiceUnavailableError('too_many_large_bodies', `This server is already reading ${max} large request bodies; retry shortly.`, 2);
    }
    inFlight++;
    // The parsed body lives until the answer: the slot is freed when the response closes.
    res.once('close', () => inFlight--);
    next();
  };
}

export interface BodyPolicy {
  /** Small JSON bodies (kilobytes): setup, keys, token, rotation, redelivery. */
  smallJson: RequestHandler[];
  /** Fit and predict: JSON within JSON_BODY_LIMIT or a multipart CSV upload, admitted when large. */
  upload: RequestHandler[];
}

export function createBodyPolicy(opts: BodyPolicyOptions): BodyPolicy {
  const jsonLimit = bytes.parse(opts.jsonLimit) ?? SMALL_JSON_LIMIT_BYTES;
  const smallLimit = Math.min(SMALL_JSON_LIMIT_BYTES, jsonLimit);
  const idle = idleBodyTimeout(opts.idleTimeoutMs);
  const json = (limit: number) => [express.json({ limit, type: JSON_TYPES }), storableJsonBody];
  const uploadLimit: RequestHandler = (req, res, next) =>
    req.is('multipart/form-data')
      ? declaredAtMost(opts.csvLimitBytes + MULTIPART_OVERHEAD_BYTES, 'The upload')(req, res, next)
      : declaredAtMost(jsonLimit, 'The JSON body')(req, res, next);
  return {
    smallJson: [acceptTypes(JSON_TYPES, 'application/json'), declaredAtMost(smallLimit, 'The JSON body'), idle, ...json(smallLimit)],
    upload: [
      acceptTypes(UPLOAD_TYPES, 'application/json or multipart/form-data'),
      uploadLimit,
      admitLargeBodies(opts.maxLargeBodiesInFlight, opts.largeBodyBytes),
      idle,
      ...json(jsonLimit),
    ],
  };
}
