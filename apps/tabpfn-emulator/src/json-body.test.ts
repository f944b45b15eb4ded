import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express, { type Request, type Response } from 'express';
import type { Handler } from './http-helpers.js';
import { plainJsonBody } from './json-body.js';

const LIMIT = 1024;
const bodyParser = express.json({ type: () => true, limit: LIMIT });
const fallback: Handler = (req, _res, next) => {
  req.body = 'fallback';
  next();
};
const plain = plainJsonBody(LIMIT, fallback);

/** What the next handler sees: the body, or the error fields the app's error handler reads. */
function outcome(req: Request, res: Response, err?: unknown): void {
  const e = err as { status?: number; type?: string; message?: string } | undefined;
  res.end(JSON.stringify(e ? { status: e.status, type: e.type, message: e.message } : { body: req.body ?? null }));
}

let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    const parse = (req.headers['x-parser'] === 'plain' ? plain : bodyParser) as unknown as Handler;
    parse(req as Request, res as Response, (err?: unknown) => outcome(req as Request, res as Response, err));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function post(parser: 'plain' | 'body-parser', bytes: Buffer, headers: Record<string, string> = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        port,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(bytes.byteLength), 'x-parser': parser, ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      },
    );
    req.on('error', reject);
    req.end(bytes);
  });
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');

const BODIES: [string, Buffer][] = [
  ['object', utf8('{"a":1,"b":[true,null,"x"]}')],
  ['array', utf8('[1,2]')],
  ['empty', Buffer.alloc(0)],
  ['leading whitespace', utf8(' \t\r\n{"a":1}')],
  ['byte order mark', utf8('\ufeff{"a":1}')],
  ['byte order mark only', utf8('\ufeff')],
  ['__proto__ key', utf8('{"__proto__":{"x":1}}')],
  ['non-ASCII', utf8('{"a":"äöü ✓ 😀"}')],
  ['invalid UTF-8', Buffer.concat([utf8('{"a":"'), Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80]), utf8('"}')])],
  ['truncated UTF-8 at the end', Buffer.concat([utf8('{"a":"x"}'), Buffer.from([0xe2, 0x82])])],
  ['strict: true', utf8('true')],
  ['strict: string', utf8('"text"')],
  ['strict: number after whitespace', utf8('  12')],
  ['strict: only whitespace', utf8('   ')],
  ['strict: word', utf8('hello world')],
  ['malformed object', utf8('{"a":')],
  ['trailing garbage', utf8('{"a":1} x')],
  ['at the limit', utf8(`{"a":"${'x'.repeat(LIMIT - 8)}"}`)],
];

describe('plainJsonBody', () => {
  it.each(BODIES)('reads %s as body-parser does', async (_name, bytes) => {
    const expected = await post('body-parser', bytes);
    expect(await post('plain', bytes)).toEqual(expected);
  });

  it('leaves bodies over the limit, encoded bodies and chunked bodies to the fallback', async () => {
    expect(await post('plain', utf8(`{"a":"${'x'.repeat(LIMIT)}"}`))).toEqual({ body: 'fallback' });
    expect(await post('plain', utf8('{"a":1}'), { 'content-encoding': 'identity' })).toEqual({ body: 'fallback' });
    const chunked = await new Promise((resolve) => {
      const req = request({ port, method: 'POST', headers: { 'content-type': 'application/json', 'x-parser': 'plain' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      });
      req.write('{"a":');
      req.end('1}');
    });
    expect(chunked).toEqual({ body: 'fallback' });
  });
});
