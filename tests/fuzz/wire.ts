import net from 'node:net';

/**
 * A deliberately small HTTP/1.1 client over a raw socket: the fuzzer must be able to send what no
 * well-behaved client would (bytes that are not UTF-8, a `..` path segment, a body that stops early,
 * a body trickled in pieces), and to tell an answer from a connection that was just dropped.
 */

export type Delivery =
  /** Content-Length and the whole body in one write. */
  | { mode: 'whole' }
  /** The body in `pieces` writes, `delayMs` apart: chunked (no length known up front) or with a Content-Length. */
  | { mode: 'slow'; framing: 'chunked' | 'length'; pieces: number; delayMs: number }
  /** Content-Length of the whole body, only its first `keep` bytes, then the client half-closes. */
  | { mode: 'early-eof'; keep: number }
  /** `raw` bytes exactly as given (request line, headers and all). */
  | { mode: 'raw' };

export interface WireRequest {
  method: string;
  target: string;
  headers: [string, string][];
  body?: Buffer;
  delivery: Delivery;
  raw?: Buffer;
}

export interface WireResponse {
  /** 0: the connection ended without a status line. */
  status: number;
  headers: Record<string, string>;
  text: string;
  /** Set when the socket failed (a reset while we were still sending, say). */
  error?: string;
  timedOut: boolean;
  ms: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends one request on a fresh connection (`Connection: close`) and reads until the server closes it. */
export function sendWire(host: string, port: number, req: WireRequest, timeoutMs = 20_000): Promise<WireResponse> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let timedOut = false;
    let closed = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, timeoutMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      // A keep-alive answer (a raw request without `Connection: close`) is over when its body is.
      if (isComplete(Buffer.concat(chunks), req.method)) socket.destroy();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error ??= err.code ?? err.message;
    });
    socket.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ ...parseResponse(Buffer.concat(chunks), req.method), error, timedOut, ms: Date.now() - started });
    });
    const write = (b: Buffer | string) =>
      new Promise<void>((done) => {
        if (closed || socket.destroyed) return done();
        socket.write(b, () => done());
      });
    socket.once('connect', async () => {
      try {
        if (req.delivery.mode === 'raw') {
          await write(req.raw ?? Buffer.alloc(0));
          return;
        }
        const body = req.body;
        const d = req.delivery;
        const head = [
          `${req.method} ${req.target} HTTP/1.1`,
          `Host: ${host}:${port}`,
          'Connection: close',
          ...req.headers.map(([k, v]) => `${k}: ${v}`),
        ];
        const chunked = d.mode === 'slow' && d.framing === 'chunked' && body !== undefined;
        if (body !== undefined) head.push(chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`);
        const headBytes = Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1');
        if (body === undefined || d.mode === 'whole') {
          await write(body ? Buffer.concat([headBytes, body]) : headBytes);
        } else if (d.mode === 'early-eof') {
          await write(Buffer.concat([headBytes, body.subarray(0, d.keep)]));
          socket.end();
        } else {
          await write(headBytes);
          const size = Math.max(1, Math.ceil(body.length / d.pieces));
          for (let at = 0; at < body.length; at += size) {
            // An answer that came before the body ended (401, 413, 415…) ends the sending too.
            if (chunks.length || closed) return;
            const piece = body.subarray(at, at + size);
            await write(chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece);
            await pause(d.delayMs);
          }
          if (chunked) await write('0\r\n\r\n');
        }
      } catch (err) {
        error ??= (err as Error).message;
      }
    });
  });
}

function parseResponse(all: Buffer, method: string): { status: number; headers: Record<string, string>; text: string } {
  let buf = all;
  // Interim answers (100 Continue) come before the real one.
  while (/^HTTP\/1\.[01] 1\d\d /.test(buf.subarray(0, 16).toString('latin1')) && buf.indexOf('\r\n\r\n') >= 0)
    buf = buf.subarray(buf.indexOf('\r\n\r\n') + 4);
  const end = buf.indexOf('\r\n\r\n');
  const headText = buf.subarray(0, end < 0 ? buf.length : end).toString('latin1');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(headText);
  if (!m) return { status: 0, headers: {}, text: buf.toString('utf8').slice(0, 2000) };
  const headers: Record<string, string> = {};
  for (const line of headText.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = end < 0 || method === 'HEAD' ? Buffer.alloc(0) : buf.subarray(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  return { status: Number(m[1]), headers, text: body.toString('utf8') };
}

function dechunk(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = Number.parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size <= 0) break;
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** Whether `buf` holds a whole final answer: head, and the body its Content-Length or chunked framing announces. */
function isComplete(buf: Buffer, method: string): boolean {
  let at = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) return false;
    const head = buf.subarray(at, end).toString('latin1');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    if (!status) return false;
    if (status < 200) {
      at = end + 4;
      continue;
    }
    if (method === 'HEAD' || status === 204 || status === 304) return true;
    const body = buf.subarray(end + 4);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (length) return body.length >= Number(length[1]);
    if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head))
      return body.includes('\r\n0\r\n\r\n') || body.subarray(0, 5).toString('latin1') === '0\r\n\r\n';
    return false;
  }
}
