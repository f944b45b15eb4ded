/** Small JSON helpers for setting up what the scenarios measure (accounts, a fitted model, jobs), and a streamed upload. */
import { createReadStream, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

// biome-ignore lint/suspicious/noExplicitAny: loosely typed JSON answers of the api, read by field name
type Json = any;

export interface Account {
  apiKey: string;
  userId: string;
}

/**
 * One keep-alive `node:http` agent for every JSON call: the client shares the machine's cores with the
 * services it measures, and `fetch` (undici) cost about a millisecond of CPU per call here, enough to
 * delay the worker's side of a sequential submit → succeeded run.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

function call(url: string, init: { method?: string; json?: unknown; key?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: Json }> {
  const body = init.json !== undefined ? JSON.stringify(init.json) : undefined;
  const headers: Record<string, string> = { ...init.headers };
  if (init.key) headers.authorization = `Bearer ${init.key}`;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        } catch (err) {
          reject(new Error(`${init.method ?? 'GET'} ${url} answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)} (${(err as Error).message})`));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function setupAccount(apiUrl: string, token: string): Promise<Account> {
  const res = await call(`${apiUrl}/v1/auth/setup`, { method: 'POST', json: { tabpfn_token: token } });
  if (res.status !== 201) throw new Error(`setup failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { apiKey: res.body.api_key, userId: res.body.user_id };
}

/** A small classification set, enough for the emulator's kNN. */
export function smallTrainSet(rows = 60, cols = 4): { features: number[][]; target: string[] } {
  const features = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => ((i * 7 + j * 13) % 17) / 3));
  const target = Array.from({ length: rows }, (_, i) => ['a', 'b', 'c'][i % 3]!);
  return { features, target };
}

export const SMALL_PREDICT = {
  features: [
    [1.5, 2.5, 0.5, 3.0],
    [0.3, 4.1, 2.2, 1.0],
  ],
};

/** Fits a small model (default: `smallTrainSet()`) and waits (Prefer: wait) until it is ready; needs a worker running. */
export async function fitSmallModel(apiUrl: string, key: string, body: object = smallTrainSet()): Promise<string> {
  const res = await call(`${apiUrl}/v1/models/fit`, { method: 'POST', json: body, key, headers: { prefer: 'wait=60' } });
  if (res.body?.status !== 'succeeded') throw new Error(`fit did not succeed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.model_id;
}

/** `submitPredict`'s request to the bench's reference server (reference-server.ts), with the same client and body. */
export async function submitReferencePredict(refUrl: string, key: string, modelId: string): Promise<{ status: number; body: Json }> {
  return call(`${refUrl}/ref/models/${modelId}/predict`, { method: 'POST', json: SMALL_PREDICT, key });
}

export async function submitPredict(apiUrl: string, key: string, modelId: string, wait = false): Promise<{ status: number; body: Json }> {
  return call(`${apiUrl}/v1/models/${modelId}/predict`, {
    method: 'POST',
    json: SMALL_PREDICT,
    key,
    headers: wait ? { prefer: 'wait=60' } : {},
  });
}

export async function getJob(apiUrl: string, key: string, jobId: string): Promise<Json> {
  return (await call(`${apiUrl}/v1/jobs/${jobId}`, { key })).body;
}

/**
 * POSTs `file` to `url` streamed from disk: as multipart for CSV (the `fields` as form fields, then the
 * file as part `file`), as the raw body for JSON. Resolves with the status, the ms from the first byte
 * sent to the end of the answer, and the answer's text.
 */
export function uploadFile(
  url: string,
  key: string,
  file: string,
  format: 'csv' | 'json',
  fields: Record<string, string> = {},
): Promise<{ status: number; ms: number; body: string }> {
  const size = statSync(file).size;
  const boundary = '----tabpfn-bench-boundary';
  const head =
    format === 'csv'
      ? Buffer.from(
          Object.entries(fields)
            .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
            .join('') +
            `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="data.csv"\r\nContent-Type: text/csv\r\n\r\n`,
        )
      : Buffer.alloc(0);
  const tail = format === 'csv' ? Buffer.from(`\r\n--${boundary}--\r\n`) : Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': format === 'csv' ? `multipart/form-data; boundary=${boundary}` : 'application/json',
        'content-length': String(head.length + size + tail.length),
      },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, body }));
    });
    req.write(head);
    const stream = createReadStream(file);
    stream.on('error', reject);
    stream.pipe(req, { end: false });
    stream.on('end', () => req.end(tail));
  });
}
