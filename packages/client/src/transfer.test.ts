import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from '@jest/globals';
import { writeBody } from './download.js';
import { postCsvFile } from './upload.js';

const dir = mkdtempSync(join(tmpdir(), 'tabpfn-jobs-transfer-'));
const HERE = dirname(fileURLToPath(import.meta.url));
const TSX = pathToFileURL(join(HERE, '../../../node_modules/tsx/dist/loader.mjs')).href;
const run = promisify(execFile);

/**
 * Uploads a 64 MB file to a server that stops reading twice: after 1 MB (nothing not yet sent may be
 * read ahead) and after 40 MB (nothing already sent may be kept). At each stop: live ArrayBuffer
 * bytes after a full collection. Prints the report as JSON.
 */
const MEMORY_SCRIPT = `
import { closeSync, openSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import { postCsvFile } from 'UPLOAD_MODULE';
const path = process.argv[2];
const fd = openSync(path, 'w');
const block = Buffer.alloc(1 << 20, '1.5,2.5,3.5\\n');
for (let i = 0; i < 64; i++) writeSync(fd, block);
closeSync(fd);
let received = 0;
const pauses = [];
const server = createServer((req, res) => {
  const stops = [1 << 20, 40 << 20];
  req.on('data', (c) => {
    received += c.length;
    if (stops.length && received > stops[0]) {
      stops.shift();
      req.pause();
      pauses.push(() => req.resume());
    }
  });
  req.on('end', () => res.end('{}'));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
// Two collections a turn apart: one alone sometimes leaves freed backing stores counted.
const live = async () => {
  await new Promise((r) => setTimeout(r, 300));
  gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  return process.memoryUsage().arrayBuffers;
};
const report = { before: await live(), stops: [], received: 0 };
const answer = postCsvFile({ url: 'http://127.0.0.1:' + server.address().port, headers: {}, fields: [], path });
for (let stop = 0; stop < 2; stop++) {
  while (pauses.length === 0) await new Promise((r) => setTimeout(r, 5));
  report.stops.push({ received, live: await live() });
  pauses.shift()();
}
await answer;
report.received = received;
server.close();
process.stdout.write(JSON.stringify(report));
`;
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise((r) => s.close(r));
    }),
  );
});

async function serve(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('postCsvFile: a CSV file as a streamed multipart upload', () => {
  it('sends the fields, then the file, with an exact Content-Length, and answers the JSON response', async () => {
    const path = join(dir, 'small "one".csv');
    writeFileSync(path, 'a,b\n1,2\n3,4\n');
    let seen: { headers: IncomingMessage['headers']; raw: Buffer } | undefined;
    const url = await serve(async (req, res) => {
      seen = { headers: req.headers, raw: await body(req) };
      res.writeHead(202, { 'content-type': 'application/json', 'retry-after': '3' }).end('{"job_id":"j1"}');
    });
    const res = await postCsvFile({ url: `${url}/v1/models/m/predict`, headers: { authorization: 'Bearer k' }, fields: [['output_type', 'probas'], ['allow_partial', 'true']], path });
    expect([res.status, await res.json(), res.headers.get('retry-after')]).toEqual([202, { job_id: 'j1' }, '3']);
    expect(seen!.headers).toMatchObject({ authorization: 'Bearer k', 'content-length': String(seen!.raw.length) });
    // What a multipart parser (undici's) makes of it: the fields and the file, named and typed.
    const form = await new Response(seen!.raw, { headers: { 'content-type': seen!.headers['content-type']! } }).formData();
    expect([...form.keys()]).toEqual(['output_type', 'allow_partial', 'file']);
    expect(form.get('allow_partial')).toBe('true');
    const file = form.get('file') as File;
    expect([file.name, file.type, await file.text()]).toEqual(['small "one".csv', 'text/csv', 'a,b\n1,2\n3,4\n']);
  });

  it('reads the file only as fast as the server takes it, and keeps nothing it sent (64 MB file: under 16 MB live)', async () => {
    // In a process of its own: this jest worker also runs other suites (an in-process api) whose buffers come and go.
    const script = join(dir, 'upload-memory.mts');
    writeFileSync(script, MEMORY_SCRIPT.replace('UPLOAD_MODULE', pathToFileURL(join(HERE, 'upload.ts')).href));
    const { stdout } = await run(process.execPath, ['--expose-gc', '--import', TSX, script, join(dir, 'big.csv')]);
    const report = JSON.parse(stdout) as { before: number; stops: { received: number; live: number }[]; received: number };
    expect(report.stops.map((s) => s.received)).toEqual([expect.any(Number), expect.any(Number)]);
    expect(report.stops[1]!.received).toBeGreaterThan(40 << 20);
    // About 0.3 MB over the start at both stops; undici's fetch held ≥ 40 MB at the second (nodejs/undici#4058).
    for (const stop of report.stops) expect(stop.live - report.before).toBeLessThan(16 << 20);
    expect(report.received).toBeGreaterThan(64 << 20);
  });

  it('an answer before the upload ends (a refusal) is the response; the rest of the file is not sent', async () => {
    const path = join(dir, 'refused.csv');
    writeFileSync(path, Buffer.alloc(64 << 20, 'x'));
    let received = 0;
    let ended = false;
    // As the API refuses: answer at once, then drain what still arrives (no reset under the client's feet).
    const url = await serve((req, res) => {
      res.writeHead(401, { 'content-type': 'application/problem+json' }).end('{"code":"api_key_invalid"}');
      req.on('data', (c: Buffer) => (received += c.length)).on('end', () => (ended = true));
    });
    const res = await postCsvFile({ url, headers: {}, fields: [], path });
    expect([res.status, await res.json()]).toEqual([401, { code: 'api_key_invalid' }]);
    await new Promise((r) => setTimeout(r, 100));
    expect(ended).toBe(false);
    expect(received).toBeLessThan(64 << 20);
  });

  it('an API that cannot be reached rejects as fetch does (TypeError "fetch failed" with the cause)', async () => {
    const path = join(dir, 'small.csv');
    writeFileSync(path, 'a\n1\n');
    const err = await postCsvFile({ url: 'http://127.0.0.1:9/', headers: {}, fields: [], path }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(err).toMatchObject({ message: 'fetch failed', cause: { code: 'ECONNREFUSED' } });
  });
});

describe('writeBody: a response body to a file or a Writable', () => {
  const stream = (parts: string[], fail = false) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const p of parts) c.enqueue(new TextEncoder().encode(p));
        if (fail) c.error(new TypeError('terminated'));
        else c.close();
      },
    });

  it('writes a path through a temporary file renamed at the end', async () => {
    const out = join(dir, 'out', '..', 'out.csv');
    expect(await writeBody(stream(['a\n', '1\n']), out)).toBe(4);
    expect(readFileSync(out, 'utf8')).toBe('a\n1\n');
  });

  it('a body cut off midway leaves an earlier file as it was and no temporary file', async () => {
    const sub = mkdtempSync(join(dir, 'cut-'));
    const out = join(sub, 'result.ndjson');
    writeFileSync(out, 'earlier\n');
    await expect(writeBody(stream(['{"row":0}\n'], true), out)).rejects.toThrow('terminated');
    expect(readFileSync(out, 'utf8')).toBe('earlier\n');
    expect(readdirSync(sub)).toEqual(['result.ndjson']);
    expect(existsSync(join(sub, 'result.ndjson.part'))).toBe(false);
  });
});
