import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import express from 'express';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { type RunningServer, listen } from './server.js';

// Requests reach the app already carrying its Express prototypes (shared/http-server.ts), so Express's
// per-request prototype change finds nothing to change; its methods work as ever.

const app = express();
const born: boolean[] = [];
let server: RunningServer;

app.get('/echo', (req, res) => {
  res.json({ agent: req.get('x-probe'), accepts: req.accepts(['json']), path: req.path });
});

beforeAll(async () => {
  server = await listen(app, { port: 0, host: '127.0.0.1', logger: createLogger({ name: 'test', level: 'silent' }) });
  // Registered before the app's own listener: sees the request as Node made it.
  server.server.prependListener('request', (req: IncomingMessage) => {
    born.push(Object.getPrototypeOf(req) === app.request);
  });
});

afterAll(async () => {
  await server?.close(1_000);
});

it("serves requests born with the app's request prototype, Express's methods working", async () => {
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${server.url}/echo?x=1`, { headers: { 'x-probe': `p${i}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agent: `p${i}`, accepts: 'json', path: '/echo' });
  }
  expect(born).toEqual([true, true, true]);
});
