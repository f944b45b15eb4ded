import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from '@jest/globals';
import express from 'express';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { requestId } from './request-id.js';
import { requestLog } from './request-log.js';

const servers: import('node:http').Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** An app behind `requestLog` at `level`, and the lines its logger wrote. */
async function serve(level: string) {
  const out = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  out.on('data', (chunk: Buffer) => {
    for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l));
  });
  const app = express();
  app.use(requestId, requestLog(createLogger({ name: 'api', level, destination: out })));
  app.get('/ok', (_req, res) => void res.json({ ok: true }));
  app.get('/boom', (_req, res) => void res.status(503).json({}));
  let hung: () => void = () => undefined;
  const hanging = new Promise<void>((r) => {
    hung = r;
  });
  app.get('/hang', () => hung());
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, lines, hanging };
}
/** The lines once there are `n` (a line is written when the response closes, after the client has its answer). */
const waitFor = async (lines: unknown[], n: number) => {
  for (let i = 0; i < 500 && lines.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  if (lines.length < n) throw new Error(`expected ${n} log lines, got ${JSON.stringify(lines)}`);
  return lines;
};

describe('requestLog', () => {
  it('writes one line per request with its id, method, redacted URL, status and time', async () => {
    const { url, lines } = await serve('info');
    await fetch(`${url}/ok?api_key=tpk_secret`, { headers: { 'x-request-id': 'req-1' } });
    expect(await waitFor(lines, 1)).toEqual([
      expect.objectContaining({
        level: 'info',
        msg: 'request completed',
        req: { id: 'req-1', method: 'GET', url: '/ok?api_key=[redacted]' },
        res: { statusCode: 200 },
        responseTime: expect.any(Number),
      }),
    ]);
  });

  it('at warn writes only answers from 500 and requests the client abandoned', async () => {
    const { url, lines, hanging: arrived } = await serve('warn');
    await fetch(`${url}/ok`);
    await fetch(`${url}/boom`);
    const gone = new AbortController();
    const hanging = fetch(`${url}/hang`, { signal: gone.signal }).catch(() => undefined);
    await arrived;
    gone.abort();
    await hanging;
    await waitFor(lines, 2);
    expect(lines.map((l) => [l.level, l.msg, (l.res as { statusCode: number }).statusCode])).toEqual([
      ['warn', 'request completed', 503],
      ['warn', 'request aborted', 200],
    ]);
  });
});
