/**
 * Node only, loaded on demand (so the SDK's core still loads where `node:*` does not): a CSV file
 * sent as the multipart `file` part straight from disk.
 *
 * Not through `fetch`: undici (Node 20–24) keeps every byte of a streamed request body in memory
 * until the request ends, whether the body is a ReadableStream (`duplex: 'half'`), a file-backed
 * Blob (`fs.openAsBlob`) or a FormData holding one (nodejs/undici#4058), so a 300 MB file cost
 * 300 MB. `node:http` piping the file holds a few socket buffers, whatever the file's size.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type IncomingMessage, type OutgoingHttpHeaders, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basename } from 'node:path';
import { Readable } from 'node:stream';

export interface FileUpload {
  url: string;
  headers: Record<string, string>;
  /** Form fields, sent before the file (the API reads e.g. `delimiter` before the file part). */
  fields: [string, string][];
  path: string;
  filename?: string;
}

/** A file-backed Blob (not read into memory here) for a caller-supplied `fetch`. */
export async function fileBlob(path: string): Promise<Blob> {
  return openAsBlob(path, { type: 'text/csv' });
}

/** Quoting in a Content-Disposition parameter, as browsers do (WHATWG multipart/form-data encoding). */
const quoted = (s: string) => s.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

/** The multipart body as a stream: the fields, then the file read from disk as it is sent, then the closing boundary. */
async function multipart(up: FileUpload): Promise<{ body: Readable; type: string; length: number }> {
  const boundary = `----tabpfn-jobs-${randomUUID()}`;
  const fields = up.fields.map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(k)}"\r\n\r\n${v}\r\n`).join('');
  const filename = quoted(up.filename ?? basename(up.path));
  const head = Buffer.from(`${fields}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: text/csv\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const { size } = await stat(up.path);
  // Opened now, so a file that cannot be read fails before the request starts.
  const file = createReadStream(up.path);
  await new Promise<void>((resolve, reject) => file.once('open', () => resolve()).once('error', reject));
  async function* parts() {
    yield head;
    yield* file;
    yield tail;
  }
  return { body: Readable.from(parts(), { objectMode: false }), type: `multipart/form-data; boundary=${boundary}`, length: head.length + size + tail.length };
}

function toHeaders(res: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    for (const value of Array.isArray(v) ? v : v === undefined ? [] : [v]) headers.append(k, value);
  }
  return headers;
}

async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * POSTs the file with backpressure (the file is read only as fast as the socket takes it) and
 * answers a `Response` holding the (small, JSON) answer. An answer that arrives before the upload
 * ends (a refusal) stops reading the file. A connection failure rejects the way `fetch` does:
 * `TypeError('fetch failed')` with the cause.
 */
export async function postCsvFile(up: FileUpload): Promise<Response> {
  const { body, type, length } = await multipart(up);
  const url = new URL(up.url);
  const headers: OutgoingHttpHeaders = { accept: 'application/json', ...up.headers, 'content-type': type, 'content-length': length };
  return new Promise<Response>((resolve, reject) => {
    let uploaded = false;
    let answered = false;
    let fileError: Error | undefined;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method: 'POST', headers }, (res) => {
      answered = true;
      if (!uploaded) {
        body.unpipe(req);
        body.destroy();
      }
      readAll(res).then((text) => {
        // The request never finished: its socket cannot be reused.
        if (!uploaded) req.destroy();
        resolve(new Response(text === '' ? null : text, { status: res.statusCode ?? 500, statusText: res.statusMessage ?? '', headers: toHeaders(res) }));
      }, reject);
    });
    req.on('finish', () => {
      uploaded = true;
    });
    req.on('error', (err) => {
      if (!answered) reject(fileError ?? new TypeError('fetch failed', { cause: err }));
    });
    body.on('error', (err) => {
      fileError = err;
      req.destroy(err);
    });
    body.pipe(req);
  });
}
