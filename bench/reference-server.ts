/**
 * The same-run reference of the HTTP scenario: what poll and submit minimally need on this design
 * (Express 5, pg, ioredis, BullMQ), against the bench's database, rows and Redis prefix, with the
 * api's client settings (`createPool`, `createApiRedis`, the queue connection the api uses). Started
 * by the bench as its own process, like the api. No global middleware, no logging, no metrics.
 *
 * - `GET /ref/jobs/:id`: the bearer key's SHA-256 digest (as the api stores keys) joined to the job by
 *   id and owner in ONE indexed query (`api_keys.digest` unique index, `jobs` primary key), ONE Redis
 *   INCR (a fixed-window rate-limit counter per key), then the job as the api's JSON resource.
 * - `POST /ref/models/:id/predict`: ONE read (key digest joined to the owner's model), ONE statement
 *   that inserts the test set (a `datasets` row holding the rows as JSON, where the api stores parquet)
 *   and the queued job row referring to it (one implicit transaction, one commit), ONE BullMQ add to a
 *   queue no worker consumes (`REF_QUEUE`, with the api's predict job options); 202 with the job.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { isWellFormedApiKey, sha256, sha256Hex } from '@tabpfn-jobs/shared/crypto';
import { createPool } from '@tabpfn-jobs/shared/db';
import { jobOptions } from '@tabpfn-jobs/shared/jobs';
import { toJobResource } from '@tabpfn-jobs/shared/mappers';
import { redisSettings } from '@tabpfn-jobs/shared/config';
import { createApiRedis, createWorkerRedis } from '@tabpfn-jobs/shared/redis';
import type { JobRow } from '@tabpfn-jobs/shared/repositories';

/** The few Express 5 surfaces used here (the bench has no `@types/express` of its own). */
interface Req {
  params: Record<string, string>;
  body: unknown;
  get(name: string): string | undefined;
}
interface Res {
  status(code: number): Res;
  setHeader(name: string, value: string): Res;
  json(body: unknown): Res;
}
type Handler = (req: Req, res: Res, next: (err?: unknown) => void) => unknown;
interface App {
  get(path: string, ...handlers: Handler[]): App;
  post(path: string, ...handlers: Handler[]): App;
  listen(port: number, host: string, cb: () => void): Server;
}
type Express = (() => App) & { json(opts: { limit: string }): Handler };

// The bench has no package.json: Express is the api's dependency, resolved from there, so the
// reference runs the very Express the api runs.
const API_PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '..', 'apps', 'api', 'package.json');
const express = createRequire(API_PACKAGE)('express') as Express;

const env = (name: string, fallback?: string): string => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const prefix = env('QUEUE_PREFIX');
const rateLimit = Number(env('RATE_LIMIT_PER_MINUTE', '600'));

const pool = createPool({ connectionString: env('DATABASE_URL'), applicationName: 'tabpfn-jobs-bench-reference' });
const redisAt = redisSettings({ REDIS_URL: env('REDIS_URL') });
const redis = createApiRedis(redisAt);
const queueRedis = createWorkerRedis(redisAt, undefined, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
const queue = new Queue(env('REF_QUEUE'), { connection: queueRedis, prefix, defaultJobOptions: jobOptions('predict') });

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const problem = (res: Res, status: number, code: string) => void res.status(status).json({ status, code });

function bearer(req: Req): string | undefined {
  const key = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '')?.[1];
  return key && isWellFormedApiKey(key) ? key : undefined;
}

/** Key and job in one query: no row = the key is unknown or revoked; a row without `id` = no such job of this account. */
const POLL_SQL = `SELECT k.id AS key_id, j.*
  FROM api_keys k LEFT JOIN jobs j ON j.id = $2 AND j.user_id = k.user_id
  WHERE k.digest = $1 AND k.revoked_at IS NULL`;

async function poll(req: Req, res: Res): Promise<void> {
  const key = bearer(req);
  if (!key) return problem(res, 401, 'api_key_invalid');
  const id = req.params.id ?? '';
  const { rows } = await pool.query<JobRow & { key_id: string }>(POLL_SQL, [sha256(key), UUID_RE.test(id) ? id : null]);
  const row = rows[0];
  if (!row) return problem(res, 401, 'api_key_invalid');
  // A fixed window per key and minute. (A real limiter also sets the window's expiry in the same round trip.)
  const used = await redis.incr(`${prefix}:ref-rate:${row.key_id}:${Math.floor(Date.now() / 60_000)}`);
  if (used > rateLimit) return problem(res, 429, 'rate_limited');
  if (!row.id) return problem(res, 404, 'job_not_found');
  res.json(toJobResource(row));
}

/** Key and model in one query, as for poll. */
const AUTH_MODEL_SQL = `SELECT k.user_id, m.id AS model_id, m.status, m.n_features
  FROM api_keys k LEFT JOIN models m ON m.id = $2 AND m.user_id = k.user_id
  WHERE k.digest = $1 AND k.revoked_at IS NULL`;

/** The test set and the job that uses it, in one statement (so one commit). */
const INSERT_SQL = `WITH d AS (
    INSERT INTO datasets (user_id, kind, content_hash, format, x_bytes, n_rows, n_cols, columns, size_bytes)
    VALUES ($1, 'test', $3, 'json', $4, $5, $6, '[]', $7) RETURNING id)
  INSERT INTO jobs (user_id, type, model_id, dataset_id, n_rows, progress)
  SELECT $1::uuid, 'predict', $2::uuid, d.id, $5::int, $8::jsonb FROM d RETURNING *`;

/** The rows, if the body is `{features: number[][]}` with the model's column count. */
function featuresOf(body: unknown, nFeatures: number): number[][] | undefined {
  const features = (body as { features?: unknown } | undefined)?.features;
  if (!Array.isArray(features) || features.length === 0) return undefined;
  for (const row of features) {
    if (!Array.isArray(row) || row.length !== nFeatures || !row.every((x) => typeof x === 'number' && Number.isFinite(x))) return undefined;
  }
  return features as number[][];
}

async function submit(req: Req, res: Res): Promise<void> {
  const key = bearer(req);
  if (!key) return problem(res, 401, 'api_key_invalid');
  const id = req.params.id ?? '';
  const { rows } = await pool.query<{ user_id: string; model_id: string | null; status: string; n_features: number }>(AUTH_MODEL_SQL, [
    sha256(key),
    UUID_RE.test(id) ? id : null,
  ]);
  const owner = rows[0];
  if (!owner) return problem(res, 401, 'api_key_invalid');
  if (!owner.model_id) return problem(res, 404, 'model_not_found');
  if (owner.status !== 'ready') return problem(res, 422, 'model_not_ready');
  const features = featuresOf(req.body, owner.n_features);
  if (!features) return problem(res, 422, 'invalid_features');
  const bytes = Buffer.from(JSON.stringify(features));
  const progress = JSON.stringify({ stage: 'queued', updated_at: new Date().toISOString() });
  const inserted = await pool.query<JobRow>(INSERT_SQL, [
    owner.user_id,
    owner.model_id,
    sha256Hex(bytes),
    bytes,
    features.length,
    owner.n_features,
    bytes.length,
    progress,
  ]);
  const job = inserted.rows[0]!;
  await queue.add('predict', { jobId: job.id }, { jobId: job.id });
  res.status(202).setHeader('Location', `/v1/jobs/${job.id}`).json(toJobResource(job));
}

const app = express();
app.get('/ref/jobs/:id', poll);
app.post('/ref/models/:id/predict', express.json({ limit: env('JSON_BODY_LIMIT', '1mb') }), submit);

await queue.waitUntilReady();
const server = app.listen(Number(env('PORT')), env('HOST', '127.0.0.1'), () => {
  process.stdout.write(`reference listening on ${env('HOST', '127.0.0.1')}:${env('PORT')}\n`);
});

const stop = async () => {
  server.close();
  server.closeAllConnections();
  await queue.close();
  await pool.end();
  redis.disconnect();
  queueRedis.disconnect();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
