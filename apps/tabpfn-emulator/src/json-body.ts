import { StringDecoder } from 'node:string_decoder';
import type { Handler } from './http-helpers.js';

/**
 * `express.json()` (body-parser 2, strict, default charset utf-8) for the body every API client sends: a
 * Content-Length within the limit, no Content-Encoding or Transfer-Encoding. body-parser spends more per
 * request on its machinery (content-type parsing, a decoder chain, an async resource, five stream listeners)
 * than on the JSON; this reads the bytes and decodes and parses them as it does, to the same `req.body`, and
 * answers failures with the same errors (status, `type`, message). Any other request goes to `fallback`.
 */
export function plainJsonBody(limit: number, fallback: Handler): Handler {
  return (req, res, next) => {
    const contentLength = req.headers['content-length'];
    if (
      contentLength === undefined ||
      !DECIMAL.test(contentLength) ||
      Number(contentLength) > limit ||
      req.headers['transfer-encoding'] !== undefined ||
      req.headers['content-encoding'] !== undefined ||
      // body-parser's and raw-body's own early exits (a request already read, a stream set to decode).
      req.complete ||
      (req as { upgrade?: boolean }).upgrade ||
      !req.readable ||
      !req.socket?.readable ||
      req.readableEncoding !== null
    ) {
      return fallback(req, res, next);
    }
    if (!('body' in (req as object))) req.body = undefined;
    readBody(req, Number(contentLength), (err, text) => {
      if (err) return next(err);
      try {
        req.body = parseJson(text as string);
      } catch (e) {
        return next(httpError(400, (e as Error).message, 'entity.parse.failed'));
      }
      next();
    });
  };
}

const DECIMAL = /^\d{1,15}$/;

type Request = Parameters<Handler>[0];

/** raw-body's read: the bytes, then utf-8 text (a leading BOM dropped, as iconv-lite does), or its errors. */
function readBody(req: Request, length: number, done: (err: Error | undefined, text?: string) => void): void {
  const chunks: Buffer[] = [];
  let received = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.length;
  };
  const onEnd = () => {
    cleanup();
    if (received !== length) return done(httpError(400, 'request size did not match content length', 'request.size.invalid'));
    done(undefined, decode(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
  };
  const onAborted = () => {
    cleanup();
    done(httpError(400, 'request aborted', 'request.aborted'));
  };
  const cleanup = () => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('aborted', onAborted);
    req.off('close', cleanup);
  };
  req.on('aborted', onAborted);
  req.on('close', cleanup);
  req.on('data', onData);
  req.on('end', onEnd);
}

// Shared: `end()` resets it, and a decode runs start to end without yielding.
const decoder = new StringDecoder('utf8');

function decode(bytes: Buffer): string {
  const text = decoder.write(bytes);
  return (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) + decoder.end();
}

const FIRST_NON_WHITESPACE = /^[ \t\n\r]*([^ \t\n\r]|$)/;

/** body-parser's strict parse: an empty body is `{}`, and only an object or array is accepted. */
function parseJson(text: string): unknown {
  if (text.length === 0) return {};
  if (text[0] !== '{' && text[0] !== '[') {
    const first = FIRST_NON_WHITESPACE.exec(text)?.[1] || undefined;
    if (first !== '{' && first !== '[') throw strictSyntaxError(text, first);
  }
  return JSON.parse(text);
}

/** The message JSON.parse gives for the text with everything from `char` on masked, then unmasked. */
function strictSyntaxError(text: string, char: string | undefined): Error {
  const index = text.indexOf(String(char));
  const partial = index === -1 ? '' : text.substring(0, index) + '#'.repeat(text.length - index);
  try {
    JSON.parse(partial);
  } catch (e) {
    return new SyntaxError((e as Error).message.replace(/#+/g, (placeholder) => text.substring(index, index + placeholder.length)));
  }
  return new SyntaxError('strict violation');
}

/** The fields of an http-errors error that the app's error handler reads. */
function httpError(status: number, message: string, type: string): Error {
  return Object.assign(new Error(message), { status, statusCode: status, expose: true, type });
}
