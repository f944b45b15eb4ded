import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';

declare module 'node:http' {
  interface IncomingMessage {
    /** Set by `requestId` before anything else runs; logs and problem documents carry it. */
    id: string;
  }
}

const VALID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Takes a caller's `x-request-id` when it is sane, otherwise makes one; echoes it on the response. */
export const requestId: RequestHandler = (req, res, next) => {
  const incoming = req.get('x-request-id');
  const id = incoming && VALID.test(incoming) ? incoming : randomUUID();
  req.id = id;
  res.setHeader('x-request-id', id);
  next();
};
