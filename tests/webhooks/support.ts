/**
 * Webhook test support: a real HTTP receiver on loopback that records every request and answers
 * per path from a script, and fixtures that create jobs with SQL and record their events through
 * the real emitter (no dependency on the fit/predict pipeline).
 */
import { randomBytes } from 'node:crypto';
import { type IncomingHttpHeaders, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { withTransaction } from '@tabpfn-jobs/shared/db';
import type { WebhookEvent } from '@tabpfn-jobs/shared/domain';
import type { JobRow } from '@tabpfn-jobs/shared/repositories';
import type { WebhookEmitter } from '@tabpfn-jobs/shared/webhooks';

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What the receiver does with the n-th request (1-based) to a path. `hang` never answers. */
export type Reply = { status: number; headers?: Record<string, string>; body?: string; delayMs?: number } | 'hang';

export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  /** Scripts the answers for `path` (default: 200). */
  on(path: string, reply: (n: number) => Reply): void;
  forPath(path: string): ReceivedRequest[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const scripts = new Map<string, (n: number) => Reply>();
  const counts = new Map<string, number>();
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      requests.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const n = (counts.get(path) ?? 0) + 1;
      counts.set(path, n);
      const reply = scripts.get(path)?.(n) ?? { status: 200 };
      if (reply === 'hang') {
        hanging.push(res);
        return;
      }
      const send = () => {
        res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
        res.end(reply.body ?? '');
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    on: (path, reply) => scripts.set(path, reply),
    forPath: (path) => requests.filter((r) => r.path === path),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The three Standard Webhooks headers of a received request, as the library expects them. */
export function webhookHeaders(r: ReceivedRequest): Record<string, string> {
  return {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  };
}

/** Verifies with the standardwebhooks library (not the project's code); returns the parsed body. */
export function verify(secret: string, r: ReceivedRequest): unknown {
  return new Webhook(secret).verify(r.body, webhookHeaders(r));
}

export function verifies(secret: string, body: string, headers: Record<string, string>): boolean {
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch {
    return false;
  }
}

/** A TCP port on loopback where nothing listens. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls until `check` returns a truthy value; the jest test timeout bounds the wait. */
export async function waitFor<T>(check: () => Promise<T | undefined | null | false>, intervalMs = 25): Promise<T> {
  for (;;) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A user row straight in SQL (token columns hold arbitrary bytes: no upstream involved). */
export async function insertUser(sql: pg.Client): Promise<string> {
  const { rows } = await sql.query<{ id: string }>(
    `INSERT INTO users (tabpfn_token_ciphertext, tabpfn_token_digest) VALUES ('k1:unused', $1) RETURNING id`,
    [randomBytes(32)],
  );
  return rows[0]!.id;
}

export interface JobFixture {
  userId: string;
  webhookUrl: string | null;
  webhookEvents?: WebhookEvent[] | null;
  type?: 'fit' | 'predict';
  status?: 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
  result?: unknown;
}

/** A model and a job for `userId`, inserted directly; returns the job row. */
export async function insertJob(sql: pg.Client, f: JobFixture): Promise<JobRow> {
  const model = await sql.query<{ id: string }>(
    `INSERT INTO models (user_id, task, fit_key, n_samples, n_features, feature_names, feature_types, status)
     VALUES ($1, 'classification', $2, 10, 2, '["a","b"]', '["number","number"]', 'ready') RETURNING id`,
    [f.userId, randomBytes(8).toString('hex')],
  );
  const status = f.status ?? 'succeeded';
  const final = status === 'succeeded' || status === 'failed' || status === 'canceled';
  const { rows } = await sql.query<JobRow>(
    `INSERT INTO jobs (user_id, type, status, model_id, webhook_url, webhook_events, result, n_rows, started_at, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 3, now(), CASE WHEN $8 THEN now() END) RETURNING *`,
    [
      f.userId,
      f.type ?? 'predict',
      status,
      model.rows[0]!.id,
      f.webhookUrl,
      f.webhookEvents === undefined ? null : f.webhookEvents,
      status === 'succeeded' ? JSON.stringify(f.result ?? { preds: [0, 1, 1] }) : null,
      final,
    ],
  );
  return rows[0]!;
}

/** Records `event` for `job` the way a job handler does (inside a transaction), then enqueues it. */
export async function emit(
  pool: pg.Pool,
  emitter: WebhookEmitter,
  job: JobRow,
  event: WebhookEvent = 'job.succeeded',
  opts: { enqueue?: boolean } = {},
): Promise<string> {
  const id = await withTransaction(pool, (tx) => emitter.record(tx, job, event));
  if (!id) throw new Error(`no delivery recorded for ${event}`);
  if (opts.enqueue !== false) await emitter.enqueue([id]);
  return id;
}

export interface DeliveryState {
  id: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
}

export async function deliveryState(sql: pg.Client, id: string): Promise<DeliveryState> {
  const { rows } = await sql.query<DeliveryState>(
    'SELECT id, status, attempts, last_status_code, last_error FROM webhook_deliveries WHERE id = $1',
    [id],
  );
  return rows[0]!;
}

export async function attemptLog(sql: pg.Client, id: string) {
  const { rows } = await sql.query<{
    attempt: number;
    status_code: number | null;
    duration_ms: number;
    error: string | null;
    created_at: Date;
  }>('SELECT attempt, status_code, duration_ms, error, created_at FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt', [id]);
  return rows;
}

/** Waits until the delivery leaves `pending`. */
export function settled(sql: pg.Client, id: string): Promise<DeliveryState> {
  return waitFor(async () => {
    const d = await deliveryState(sql, id);
    return d.status !== 'pending' ? d : undefined;
  });
}
