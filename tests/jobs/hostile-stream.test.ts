import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { TEST_ENCRYPTION_KEYS } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { type TestEmulator, VALID_TOKEN, startTestEmulator } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { type AppProcess, alive, spawnApp } from '../helpers/processes.js';
import { createTestRedis } from '../helpers/redis.js';
// A seeded PRNG (mulberry32), so a failing chunking can be replayed from its seed.
import { seededRandom } from '@tabpfn-jobs/tabpfn-emulator';

/**
 * Hostile bodies against a real api PROCESS, arriving the way they do over a network: raw HTTP/1.1
 * requests written chunk by chunk (chunked or with a Content-Length), so the server reads each body
 * over many reads and may answer before it has all of it.
 *  - Hostile CSV files as fit and predict uploads, in 1–16 KB writes with pauses between them: each
 *    is refused with a 422 problem naming the line/column or field, the process lives, /health answers.
 *  - 16 concurrent unauthenticated 44 MB bodies, and a 45 MB POST /health: answered without being
 *    read (401 / 405, Connection: close) while /health stays fast and the api's RSS barely moves.
 * No worker runs: a refused upload never reaches the queue (and the job count says so).
 */

const redis = createTestRedis();
let db: TestDatabase;
let emulator: TestEmulator;
let api: AppProcess;
let base: string;
let port: number;
let apiKey: string;
let modelId: string;
let sql: pg.Client;

const MB = 1024 * 1024;

/** The api's last log lines: every timeout and unexpected answer prints them. */
const apiTail = (n = 40) =>
  `--- api pid ${api?.proc.pid} (exit ${api?.proc.exitCode ?? '-'} / ${api?.proc.signalCode ?? '-'}), last ${n} lines:\n${api?.output.slice(-n).join('\n')}`;

/** Waits on `p` (a condition settling), failing after `ms` with what was waited for and the api's last lines. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}\n${apiTail()}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}


interface RawResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

interface RawResult {
  /** Sent as X-Request-Id: the api logs its answer under it (see `loggedStatus`). */
  requestId: string;
  response: RawResponse | undefined;
  /** Body bytes handed to the socket before writing stopped (all of them, unless the server closed first). */
  bytesSent: number;
  /** The whole body was written. */
  bodyDone: boolean;
  /** EPIPE / ECONNRESET and the like, on the write or the read side after the answer. */
  socketError: string | undefined;
  /** ms from connect to the parsed answer. */
  answeredMs: number | undefined;
  /** Body bytes written when the answer arrived: fewer than the whole body means it was answered unread. */
  sentAtAnswer: number | undefined;
}

/** Reads one HTTP/1.1 response off raw bytes: status line, headers, then a Content-Length or chunked body. */
class ResponseReader {
  private buf: Buffer = Buffer.alloc(0);
  private head: { status: number; headers: Record<string, string>; bodyStart: number } | undefined;
  response: RawResponse | undefined;

  push(data: Buffer): void {
    if (this.response) return;
    this.buf = Buffer.concat([this.buf, data]);
    if (!this.head) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const [statusLine, ...lines] = this.buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      this.head = { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]), headers, bodyStart: end + 4 };
    }
    const body = this.buf.subarray(this.head.bodyStart);
    const length = this.head.headers['content-length'];
    if (length !== undefined) {
      if (body.length >= Number(length)) this.finish(body.subarray(0, Number(length)));
    } else if (this.head.headers['transfer-encoding']?.includes('chunked')) {
      const parts: Buffer[] = [];
      for (let at = 0; ; ) {
        const eol = body.indexOf('\r\n', at);
        if (eol === -1) return;
        const size = Number.parseInt(body.subarray(at, eol).toString('latin1'), 16);
        if (size === 0) {
          this.finish(Buffer.concat(parts));
          return;
        }
        if (body.length < eol + 2 + size + 2) return;
        parts.push(body.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
      }
    }
  }

  /** The connection closed: a response delimited by the close is complete now. */
  closed(): void {
    if (!this.response && this.head && this.head.headers['content-length'] === undefined && !this.head.headers['transfer-encoding']) {
      this.finish(this.buf.subarray(this.head.bodyStart));
    }
  }

  private finish(body: Buffer) {
    this.response = { status: this.head!.status, headers: this.head!.headers, text: body.toString('utf8') };
  }
}

const WRITE_SIDE_ERRORS = ['EPIPE', 'ECONNRESET', 'ECONNABORTED'];
let requests = 0;

/**
 * An answer could be lost on the client's side of a TCP race: had the api closed the socket at once
 * after answering a body it will not read, the client's bytes still arriving would make the api's
 * kernel send a reset, and a client write meeting that reset before its event loop read the answer
 * destroys the socket and the answer with it. The api's close lingers (RFC 9112 §9.6, see
 * `closeIfBodyUnread`), so this should not happen; the anonymous burst asserts it does not, and the
 * CSV cases (where the api may answer mid-body) still tell a lost answer apart from a missing one:
 * `loggedStatus` reads the api's answer from its request log (http/request-log.ts, under the X-Request-Id).
 */
const lostToReset = (r: RawResult) => r.response === undefined && r.socketError !== undefined && WRITE_SIDE_ERRORS.includes(r.socketError);
async function loggedStatus(requestId: string): Promise<number> {
  const line = await api.waitFor(new RegExp(`"id":"${requestId}".*"msg":"request (completed|aborted)"`), 10_000);
  return JSON.parse(line).res.statusCode as number;
}
let answersLost = 0;

/**
 * Sends with `send` until the answer is read here, for a test that asserts on the answer itself:
 * each time the reset race eats it, the api's log must show `status` for that request, and the
 * same request is sent again (at most twice more).
 */
async function sendAndRead(send: () => Promise<RawResult>, status: number): Promise<RawResult> {
  let r = await send();
  for (let again = 0; lostToReset(r) && again < 2; again++) {
    answersLost++;
    expect({ lost: r.requestId, status: await loggedStatus(r.requestId) }).toEqual({ lost: r.requestId, status });
    expectApiAlive();
    r = await send();
  }
  return r;
}
/** What each CSV case was answered (first attempt), printed at the end. */
const answered: string[] = [];

/**
 * One raw HTTP/1.1 request over its own TCP connection. The body comes from `chunks` and is written
 * one chunk at a time (chunked framing or a Content-Length), awaiting `pause` after each write and
 * the socket's drain when it pushes back. The server may answer at any moment and close: writing
 * stops at the close (EPIPE/ECONNRESET are recorded, not thrown). Resolves once the body is written
 * or cut off, and the answer has arrived or the connection has closed.
 */
function rawRequest(opts: {
  method: string;
  path: string;
  headers: Record<string, string>;
  chunks: Iterable<Buffer>;
  /** Content-Length to declare; omitted → Transfer-Encoding: chunked. */
  contentLength?: number;
  /** Awaited after each write. Without one, chunks go out back to back, paced only by the socket's drain (a fast uploader). */
  pause?: (i: number) => Promise<void>;
}): Promise<RawResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const reader = new ResponseReader();
    const socket = net.connect({ host: '127.0.0.1', port });
    const requestId = `hostile-stream-${++requests}-${Date.now()}`;
    const result: RawResult = {
      requestId,
      response: undefined,
      bytesSent: 0,
      bodyDone: false,
      socketError: undefined,
      answeredMs: undefined,
      sentAtAnswer: undefined,
    };
    let writing = true;
    let closed = false;
    let connected = false;
    const settle = () => {
      if (writing || !(reader.response || closed)) return;
      socket.destroy();
      result.response = reader.response;
      resolve(result);
    };
    socket.on('data', (d) => {
      reader.push(d);
      if (reader.response && result.answeredMs === undefined) {
        result.answeredMs = Date.now() - started;
        result.sentAtAnswer = result.bytesSent;
      }
      settle();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      result.socketError ??= err.code ?? err.message;
    });
    socket.on('close', () => {
      closed = true;
      // Never connected (the api is gone): nothing will be written, settle with no answer.
      if (!connected) writing = false;
      reader.closed();
      if (reader.response && result.answeredMs === undefined) {
        result.answeredMs = Date.now() - started;
        result.sentAtAnswer = result.bytesSent;
      }
      settle();
    });
    const chunked = opts.contentLength === undefined;
    const head = [
      `${opts.method} ${opts.path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      `X-Request-Id: ${requestId}`,
      ...Object.entries(opts.headers).map(([k, v]) => `${k}: ${v}`),
      chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${opts.contentLength}`,
      '',
      '',
    ].join('\r\n');
    const gone = () => closed || socket.destroyed || !socket.writable;
    // Resolves true when the socket can take more, false when it closed meanwhile.
    const drained = () =>
      new Promise<boolean>((res) => {
        const done = (ok: boolean) => {
          socket.off('drain', onDrain);
          socket.off('close', onClose);
          res(ok);
        };
        const onDrain = () => done(true);
        const onClose = () => done(false);
        socket.on('drain', onDrain);
        socket.on('close', onClose);
      });
    socket.once('connect', async () => {
      connected = true;
      try {
        if (!socket.write(head) && !(await drained())) return;
        let i = 0;
        for (const chunk of opts.chunks) {
          if (gone()) return;
          const frame = chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk;
          const more = socket.write(frame);
          result.bytesSent += chunk.length;
          if (!more && !(await drained())) return;
          if (opts.pause) await opts.pause(i++);
        }
        if (chunked && !gone()) socket.write('0\r\n\r\n');
        result.bodyDone = !gone();
      } finally {
        writing = false;
        settle();
      }
    });
  });
}

/** Splits a body into chunks of 1–16 KB (seeded). */
function* smallChunks(body: Buffer, rnd: () => number): Generator<Buffer> {
  for (let at = 0; at < body.length; ) {
    const n = 1024 + Math.floor(rnd() * 15 * 1024);
    yield body.subarray(at, at + n);
    at += n;
  }
}

/** A pause after every write; every 8th one a timer turn, so the server's reads interleave with the writes. */
const smallPause = (i: number) => new Promise<void>((r) => (i % 8 === 7 ? setTimeout(r, 1) : setImmediate(r)));

/** GET /health: its status and how long it took. */
async function health(): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - t0 };
}

interface HealthSample {
  /** When it was sent (epoch ms). */
  at: number;
  ms: number;
  status: number;
}
interface Samples {
  health: HealthSample[];
  /** The api's resident memory (bytes): at the start, the peak seen (VmRSS, or VmHWM when that rose meanwhile), at the end. */
  rss: { before: number; peak: number; after: number; samples: number };
}

/**
 * Watches the api from a worker thread, so the numbers are the api's and not this thread's (busy
 * writing the bodies): VmRSS of its process every 5 ms, and GET /health open loop, one request every
 * 20 ms whether or not the last one has answered (at most 10 outstanding), so a slow answer does
 * not hide the ones it delays. `ready` resolves once the first RSS sample is taken; `stopAfter(n)`
 * waits for n more /health answers and returns everything.
 */
function startSampler(pid: number) {
  // String.raw: the worker's source is kept as written (its regular expression's backslashes).
  const worker = new Worker(
    String.raw`const { parentPort, workerData } = require('node:worker_threads');
    const { readFileSync } = require('node:fs');
    const memory = () => {
      const status = readFileSync('/proc/' + workerData.pid + '/status', 'utf8');
      const kb = (field) => Number(new RegExp(field + ':\\s+(\\d+) kB').exec(status)?.[1] ?? 0) * 1024;
      return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
    };
    const start = memory();
    const rss = { before: start.rss, peak: start.rss, after: start.rss, samples: 1 };
    const takeRss = () => {
      try {
        rss.peak = Math.max(rss.peak, memory().rss);
        rss.samples++;
      } catch {}
    };
    const rssTimer = setInterval(takeRss, 5);
    const health = [];
    let outstanding = 0;
    let stopAt = Infinity;
    const finish = () => {
      clearInterval(timer);
      clearInterval(rssTimer);
      takeRss();
      const end = memory();
      // VmHWM only moves when a new peak is reached: if it rose meanwhile, the peak was at least that.
      if (end.hwm > start.hwm) rss.peak = Math.max(rss.peak, end.hwm);
      rss.after = end.rss;
      parentPort.postMessage({ health, rss });
    };
    const one = async () => {
      outstanding++;
      const at = Date.now();
      const t0 = performance.now();
      let status = 0;
      try {
        const res = await fetch(workerData.url, { signal: AbortSignal.timeout(10000) });
        await res.arrayBuffer();
        status = res.status;
      } catch {}
      health.push({ at, ms: performance.now() - t0, status });
      outstanding--;
      if (health.length >= stopAt && outstanding === 0) finish();
    };
    const timer = setInterval(() => {
      if (outstanding < 10 && health.length + outstanding < stopAt) void one();
    }, 20);
    void one();
    parentPort.on('message', (n) => { stopAt = health.length + outstanding + n; });
    parentPort.postMessage('ready');`,
    { eval: true, workerData: { url: `${base}/health`, pid } },
  );
  const failed = new Promise<never>((_, reject) => worker.once('error', reject));
  failed.catch(() => undefined);
  const ready = new Promise<void>((resolve) => worker.once('message', () => resolve()));
  return {
    ready: Promise.race([ready, failed]),
    async stopAfter(n: number): Promise<Samples> {
      try {
        const done = new Promise<Samples>((resolve) => worker.once('message', resolve));
        worker.postMessage(n);
        return await Promise.race([done, failed]);
      } finally {
        await worker.terminate();
      }
    },
  };
}

function expectApiAlive(): void {
  if (api.proc.exitCode !== null || api.proc.signalCode !== null || !alive(api.proc.pid!)) {
    throw new Error(`the api process is gone\n${apiTail()}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The hostile files. The model is fitted on columns a, b (target y): a predict CSV carries a, b
// (and may carry y, which is dropped). Each case says what the API answers for a fit and a predict.

const rowsOf = (n: number, from = 0) => {
  const out: string[] = [];
  for (let i = from; i < from + n; i++) out.push(`${i % 97}.5,${(i * 7) % 13},${i % 2 ? 'x' : 'z'}`);
  return out.join('\n');
};
const garbage = (() => {
  const rnd = seededRandom(0xbad);
  const b = Buffer.alloc(300 * 1024);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
  return b;
})();

interface Expect {
  status: number;
  field: string;
  message: RegExp;
}
interface HostileCase {
  name: string;
  fit: { file: Buffer | string; expect: Expect };
  predict: { file: Buffer | string; expect: Expect };
}

const notCsv = (line: number, what: RegExp) => new RegExp(`^line ${line}: not valid CSV: ${what.source}`);
const semicolons = (() => {
  const rows: string[] = [];
  for (let i = 0; i < 3000; i++) rows.push(`${i % 9},5;2,${(i % 4) + 1}5;${i % 2 ? 'x' : 'z'}`);
  return `a;b;y\n${rows.join('\n')}\n`;
})();

const CASES: HostileCase[] = [
  (() => {
    const file = `a,a,y\n${rowsOf(200)}\n`;
    const want = { status: 422, field: 'file', message: /^line 1: header names column "a" twice \(columns 1 and 2\)/ };
    return { name: 'duplicate header name', fit: { file, expect: want }, predict: { file, expect: want } };
  })(),
  (() => {
    const file = `a,b,y\n1,2,x\n3,4\n${rowsOf(2000)}\n`;
    const want = { status: 422, field: 'file', message: notCsv(3, /Invalid Record Length: expect 3, got 2/) };
    return { name: 'ragged row early (line 3)', fit: { file, expect: want }, predict: { file, expect: want } };
  })(),
  (() => {
    const file = `a,b,y\n${rowsOf(30_000)}\n1,2,x,9\n${rowsOf(100)}\n`;
    const want = { status: 422, field: 'file', message: notCsv(30_002, /Invalid Record Length: expect 3, got 4/) };
    return { name: 'ragged row after 30,000 good rows (line 30,002)', fit: { file, expect: want }, predict: { file, expect: want } };
  })(),
  (() => {
    const file = `a,b,y\n${rowsOf(500)}\n"5,6,x\n`;
    const want = { status: 422, field: 'file', message: notCsv(502, /Quote Not Closed/) };
    return { name: 'unclosed quote at the end (line 502)', fit: { file, expect: want }, predict: { file, expect: want } };
  })(),
  (() => {
    const file = `a,b,y\n${rowsOf(20_000)}\n1\u00002,3,x\n${rowsOf(100)}\n`;
    const want = { status: 422, field: 'file', message: /^line 20002, column "a": contains a NUL character/ };
    return { name: 'NUL byte after 20,000 rows (line 20,002)', fit: { file, expect: want }, predict: { file, expect: want } };
  })(),
  (() => {
    const want = { status: 422, field: 'file', message: /^line \d+: is not valid UTF-8/ };
    return { name: 'binary garbage (300 KB random bytes)', fit: { file: garbage, expect: want }, predict: { file: garbage, expect: want } };
  })(),
  {
    // A fit names its target column; a predict has none, and what it can miss is a column the model was fitted on.
    name: 'missing target column (30,000 rows) / missing feature column',
    fit: {
      file: `a,b,c\n${rowsOf(30_000)}\n`,
      expect: { status: 422, field: 'target_column', message: /^no column "y" in the CSV header/ },
    },
    predict: {
      file: `a,c,y\n${rowsOf(30_000)}\n`,
      expect: { status: 422, field: 'file', message: /^missing columns the model was fitted on: b$/ },
    },
  },
  (() => {
    // The delimiter is detected from the header line (";"); "0,5" is then a decimal comma, which is refused by name.
    const want = {
      status: 422,
      field: 'file',
      message: /^line 2, column "a": "0,5" has a decimal comma; decimal commas are not supported/,
    };
    return {
      name: 'semicolon-delimited with decimal commas (3,000 rows)',
      fit: { file: semicolons, expect: want },
      predict: { file: semicolons, expect: want },
    };
  })(),
];

const BOUNDARY = '----hostile-stream-7d1c3a9e5b2f4068';
function multipart(fields: Record<string, string>, file: Buffer | string): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  }
  parts.push(
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="data.csv"\r\nContent-Type: text/csv\r\n\r\n`),
  );
  parts.push(typeof file === 'string' ? Buffer.from(file) : file);
  parts.push(Buffer.from(`\r\n--${BOUNDARY}--\r\n`));
  return Buffer.concat(parts);
}

const jobCount = async () => (await sql.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n as number;

beforeAll(async () => {
  db = await createTestDatabase();
  emulator = await startTestEmulator();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  api = spawnApp('api', {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    TABPFN_API_URL: emulator.url,
    PORT: '0',
    HOST: '127.0.0.1',
    MIGRATE_ON_START: 'false',
    SETUP_RATE_LIMIT_PER_MINUTE: '10000',
    RATE_LIMIT_PER_MINUTE: '100000',
    LOG_LEVEL: 'info',
  });
  base = JSON.parse(await api.waitFor(/api listening/, 30_000)).url as string;
  port = Number(new URL(base).port);
  const setup = await request(base).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN });
  if (setup.status !== 201) throw new Error(`setup: ${setup.status} ${setup.text}\n${apiTail()}`);
  apiKey = setup.body.api_key;
  // A model fitted on a, b → y. No worker runs, so it stays queued: a predict on it is still accepted
  // (and parked), and its feature names are known; the uploads below are all refused before that.
  const features = Array.from({ length: 20 }, (_, i) => [i % 7, (i * 3) % 5]);
  const target = features.map((_, i) => (i % 2 ? 'x' : 'z'));
  const fit = await request(base, apiKey).post('/v1/models/fit', { features, target, feature_names: ['a', 'b'] });
  if (fit.status !== 202) throw new Error(`fit: ${fit.status} ${fit.text}\n${apiTail()}`);
  modelId = fit.body.model_id;
}, 60_000);

afterAll(async () => {
  console.log(
    [
      `hostile-stream: ${requests} raw requests; ${answersLost} CSV-upload answers lost to the client-side reset race and re-sent`,
      'answers to the hostile CSV uploads:',
      ...answered,
    ].join('\n'),
  );
  await api?.stop('SIGKILL');
  await sql?.end();
  await emulator?.close();
  await redis.cleanup();
  await db?.drop();
});

describe('hostile CSV uploads, streamed in small chunks with pauses, to a real api process', () => {
  const table = CASES.flatMap((c) => (['fit', 'predict'] as const).map((kind) => [c.name, kind, c] as const));

  it.each(table)('%s, as a %s upload (×3) → 4xx problem naming it; the process lives and /health answers', async (_name, kind, c) => {
    const jobsBefore = await jobCount();
    const { file, expect: want } = c[kind];
    const path = kind === 'fit' ? '/v1/models/fit' : `/v1/models/${modelId}/predict`;
    const body = multipart(kind === 'fit' ? { target_column: 'y' } : {}, file);
    for (let attempt = 0; attempt < 3; attempt++) {
      const seed = 1000 * CASES.indexOf(c) + 10 * attempt + (kind === 'fit' ? 0 : 1);
      // Chunked, then a Content-Length, then chunked again: both ways a body is framed.
      const chunked = attempt !== 1;
      const send = () =>
        within(
          rawRequest({
            method: 'POST',
            path,
            headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` },
            chunks: smallChunks(body, seededRandom(seed)),
            contentLength: chunked ? undefined : body.length,
            pause: smallPause,
          }),
          30_000,
          `${kind} "${c.name}" attempt ${attempt + 1} (seed ${seed}, ${chunked ? 'chunked' : 'Content-Length'})`,
        );
      // The answer's body is what is asserted here: re-sent when the reset race eats it.
      const res = await sendAndRead(send, want.status);
      const where = `${kind} "${c.name}" attempt ${attempt + 1} (seed ${seed}, ${chunked ? 'chunked' : 'Content-Length'}, ${res.bytesSent}/${body.length} body bytes sent, socket ${res.socketError ?? 'ok'})`;
      if (!res.response) throw new Error(`no answer: ${where}\n${apiTail()}`);
      if (res.socketError && !WRITE_SIDE_ERRORS.includes(res.socketError)) throw new Error(`socket error ${res.socketError}: ${where}`);
      const problem = (() => {
        try {
          return JSON.parse(res.response.text);
        } catch {
          throw new Error(`not JSON (${res.response.status}): ${res.response.text.slice(0, 500)}\n${where}\n${apiTail()}`);
        }
      })();
      const got = {
        status: res.response.status,
        type: res.response.headers['content-type'],
        errors: problem.errors,
        detail: problem.detail,
      };
      expect({ where, ...got }).toEqual({
        where,
        status: want.status,
        type: expect.stringMatching(/^application\/problem\+json/),
        errors: [{ field: want.field, message: expect.stringMatching(want.message) }],
        detail: expect.any(String),
      });
      if (attempt === 0) answered.push(`  ${kind.padEnd(7)} ${c.name}: ${got.status} ${want.field}: ${problem.errors?.[0]?.message}`);
      expectApiAlive();
      const h = await within(health(), 15_000, `GET /health after ${where}`);
      expect(h.status).toBe(200);
    }
    // A refused upload never becomes a job.
    expect(await jobCount()).toBe(jobsBefore);
  });
});

describe('large bodies from callers who may not send them', () => {
  /** One 64 KB buffer, reused for every chunk of every body: the test never holds a whole body. */
  const CHUNK = Buffer.alloc(64 * 1024, '[1.25,2.5,3.75,4.5,5.0,6.25,7.5],');
  function* jsonBody(total: number): Generator<Buffer> {
    const head = Buffer.from('{"features":[');
    const tail = Buffer.from('[0]],"target":[0]}');
    yield head;
    let left = total - head.length - tail.length;
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      yield n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n);
      left -= n;
    }
    yield tail;
  }

  /**
   * Declares `size` bytes, sends the head and one 64 KB chunk, then stops and waits: the answer has
   * to come without the body (a server waiting for it would time out here), and with no write left
   * to fail, this client reads it whatever the server does with the connection afterwards.
   */
  const firstChunkOnly = (path: string, size: number) =>
    within(
      rawRequest({ method: 'POST', path, headers: { 'Content-Type': 'application/json' }, chunks: [CHUNK], contentLength: size }),
      30_000,
      `POST ${path} declaring ${size} bytes, sending 64 KB, waiting for the answer`,
    );

  /** The status this client read, or, when the reset race ate it, the one the api logged for the request. */
  async function answeredStatus(r: RawResult, where: string): Promise<number> {
    if (r.socketError && !WRITE_SIDE_ERRORS.includes(r.socketError)) throw new Error(`socket error ${r.socketError}: ${where}`);
    if (r.response) return r.response.status;
    if (lostToReset(r)) return loggedStatus(r.requestId);
    throw new Error(`no answer: ${where}\n${apiTail()}`);
  }

  it('16 concurrent unauthenticated 44 MB fits → 401 each, unread; /health stays fast; RSS barely moves', async () => {
    const pid = api.proc.pid!;
    const SIZE = 44 * MB;
    // Warm: the first request of a kind costs some one-off allocation (the rate limiter, route tables).
    expect((await health()).status).toBe(200);
    const sampler = startSampler(pid);
    await within(sampler.ready, 10_000, 'the sampler thread to start');
    const t0 = performance.now();
    const burstStart = Date.now();
    const results = await within(
      Promise.all(
        Array.from({ length: 16 }, () =>
          rawRequest({
            method: 'POST',
            path: '/v1/models/fit',
            headers: { 'Content-Type': 'application/json' },
            chunks: jsonBody(SIZE),
            contentLength: SIZE,
          }).then((r) => ({ ...r, overMs: performance.now() - t0 })),
        ),
      ),
      60_000,
      '16 unauthenticated 44 MB bodies to be answered',
    );
    const burstEnd = Date.now();
    // A little after the burst too (at least 10 more samples): a late read or a slow GC would show.
    const { health: samples, rss: mem } = await within(sampler.stopAfter(10), 30_000, 'the sampler thread to finish');
    const growth = mem.peak - mem.before;
    // A sample was "during" the burst when it was in flight at any time while the burst ran.
    const during = samples.filter((x) => x.at <= burstEnd && x.at + x.ms >= burstStart);
    const maxMs = Math.max(...samples.map((x) => x.ms));
    const sent = results.map((r) => r.bytesSent);
    const read401 = results.filter((r) => r.response?.status === 401).map((r) => r.answeredMs!);
    const lost = results.filter(lostToReset);
    console.log(
      [
        '16 × 44 MB unauthenticated POST /v1/models/fit (Content-Length, 64 KB writes, one shared buffer):',
        `  answers read by the clients: ${results.map((r) => r.response?.status ?? 'lost').join(',')}`,
        `  answers lost to the client-side reset race (status read from the api log instead): ${lost.length}`,
        `  time to the last 401 read: ${read401.length ? Math.max(...read401) : '-'} ms; all 16 connections over after ${Math.max(...results.map((r) => r.overMs)).toFixed(0)} ms`,
        `  GET /health: max ${maxMs.toFixed(1)} ms over ${samples.length} samples, ${during.length} in flight while the burst ran (max ${during.length ? Math.max(...during.map((x) => x.ms)).toFixed(1) : '-'} ms)`,
        `  api RSS: before ${(mem.before / MB).toFixed(1)} MB, peak ${(mem.peak / MB).toFixed(1)} MB, after ${(mem.after / MB).toFixed(1)} MB, growth ${(growth / MB).toFixed(1)} MB (${mem.samples} samples)`,
        `  body bytes the clients got out before the close: max ${(Math.max(...sent) / MB).toFixed(2)} MB, total ${(sent.reduce((x, y) => x + y, 0) / MB).toFixed(2)} MB of ${(16 * SIZE) / MB} MB`,
        `  client-side socket errors: ${results.map((r) => r.socketError ?? '-').join(',')}`,
      ].join('\n'),
    );
    for (const [i, r] of results.entries()) {
      const where = `body ${i}: ${r.bytesSent} bytes sent, socket ${r.socketError ?? 'ok'}`;
      expect({ where, status: await answeredStatus(r, where) }).toEqual({ where, status: 401 });
      // The server answered without waiting for the body: the answer came while most of it was unsent.
      // (What the client writes after the answer the server's lingering close drains into the void.)
      if (r.response) expect({ where, sentAtAnswer: r.sentAtAnswer! < SIZE / 2 }).toEqual({ where, sentAtAnswer: true });
      if (r.response) {
        expect({ where, type: r.response.headers['content-type'], connection: r.response.headers.connection }).toEqual({
          where,
          type: expect.stringMatching(/^application\/problem\+json/),
          connection: 'close',
        });
      }
    }
    // The api's close lingers (it drains what the client still sends for a moment), so no client loses its answer to a reset.
    expect(lost.map((r) => r.requestId)).toEqual([]);
    // The answer itself: 401 problem+json, and the connection closed.
    const probe = await firstChunkOnly('/v1/models/fit', SIZE);
    if (!probe.response) throw new Error(`no answer to the probe (socket ${probe.socketError})\n${apiTail()}`);
    expect({
      status: probe.response.status,
      type: probe.response.headers['content-type'],
      connection: probe.response.headers.connection,
      code: JSON.parse(probe.response.text).code,
    }).toEqual({ status: 401, type: expect.stringMatching(/^application\/problem\+json/), connection: 'close', code: 'api_key_missing' });
    expect(samples.filter((x) => x.status !== 200)).toEqual([]);
    expect(during.length).toBeGreaterThan(0);
    expect(maxMs).toBeLessThan(1_000);
    expect(mem.before).toBeGreaterThan(10 * MB); // the sampler read the api's memory at all
    expect(growth).toBeLessThan(150 * MB);
    expectApiAlive();
  });

  it('POST /health with a 45 MB body → 405 (GET only) without reading it, the connection closed; RSS barely moves', async () => {
    const pid = api.proc.pid!;
    const SIZE = 45 * MB;
    const sampler = startSampler(pid);
    await within(sampler.ready, 10_000, 'the sampler thread to start');
    const t0 = performance.now();
    const r = await within(
      rawRequest({
        method: 'POST',
        path: '/health',
        headers: { 'Content-Type': 'application/json' },
        chunks: jsonBody(SIZE),
        contentLength: SIZE,
      }),
      30_000,
      'POST /health with 45 MB',
    );
    const ms = performance.now() - t0;
    const probe = await firstChunkOnly('/health', SIZE);
    const { health: samples, rss: mem } = await within(sampler.stopAfter(5), 30_000, 'the sampler thread to finish');
    const growth = mem.peak - mem.before;
    console.log(
      [
        'POST /health with a 45 MB body:',
        `  answer: ${r.response?.status ?? 'lost (read from the api log)'} after ${r.answeredMs ?? '-'} ms (connection over after ${ms.toFixed(0)} ms)`,
        `  body bytes the client got out before the close: ${(r.bytesSent / MB).toFixed(2)} MB of 45 MB, socket ${r.socketError ?? 'ok'}`,
        `  api RSS: before ${(mem.before / MB).toFixed(1)} MB, peak ${(mem.peak / MB).toFixed(1)} MB, after ${(mem.after / MB).toFixed(1)} MB, growth ${(growth / MB).toFixed(1)} MB (${mem.samples} samples)`,
        `  GET /health meanwhile: max ${Math.max(...samples.map((x) => x.ms)).toFixed(1)} ms over ${samples.length} samples`,
      ].join('\n'),
    );
    expect(await answeredStatus(r, 'POST /health with 45 MB')).toBe(405);
    if (r.response) expect(r.sentAtAnswer!).toBeLessThan(SIZE / 2);
    if (!probe.response) throw new Error(`no answer to the probe (socket ${probe.socketError})\n${apiTail()}`);
    expect({
      status: probe.response.status,
      type: probe.response.headers['content-type'],
      allow: probe.response.headers.allow,
      connection: probe.response.headers.connection,
    }).toEqual({ status: 405, type: expect.stringMatching(/^application\/problem\+json/), allow: 'GET', connection: 'close' });
    expect(samples.filter((x) => x.status !== 200)).toEqual([]);
    expect(mem.before).toBeGreaterThan(10 * MB); // the sampler read the api's memory at all
    expect(growth).toBeLessThan(150 * MB);
    expectApiAlive();
  });
});
