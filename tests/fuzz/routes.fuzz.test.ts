import { appendFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import bcrypt from 'bcryptjs';
import fc from 'fast-check';
import pg from 'pg';
import { VERSION, buildOpenApiDocument } from '@tabpfn-jobs/api';
import { TEST_ENCRYPTION_KEYS } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { OTHER_TOKEN, THIRD_TOKEN, type TestEmulator, VALID_TOKEN, startTestEmulator } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { type AppProcess, spawnApp } from '../helpers/processes.js';
import { type TestRedis, createTestRedis } from '../helpers/redis.js';
import { waitForJob } from '../helpers/stack.js';
import {
  type AuthMode,
  type FuzzRequest,
  type GeneratorContext,
  type Operation,
  RAW_CASES,
  mutatedRequestArb,
  operationsOf,
  schemaRequestArb,
  slowRequestArb,
} from './requests.js';
import type { JsonSchema } from './schema-arbitrary.js';
import { type WireResponse, sendWire } from './wire.js';

/**
 * A bounded fuzz of the whole HTTP surface, against a real api process (so a crash shows as an
 * exit): for every operation of the OpenAPI document (built from the zod schemas the api validates
 * with), requests generated from its schemas, the same requests broken in one way (truncated, types
 * swapped, extreme numbers, bad Unicode and UTF-8, duplicate keys, deep nesting, long strings, wrong
 * content types and encodings, bad path and query parameters, every kind of Authorization), some sent
 * as slow streams, some all at once, and a set of protocol-level oddities written byte for byte.
 * Properties: every answer is < 500 and comes within the timeout; the process never exits and logs
 * no error; a request that is not answered 2xx adds no row to jobs, models or datasets, and a 2xx at
 * most what its route creates (for concurrent requests: the rows added are at most what the 2xx
 * answers among them create).
 *
 * No worker runs during the fuzz (one fits a model first and stops): accepted jobs stay queued.
 *
 * FUZZ_SEED=<n> replays a run (the seed is printed first); FUZZ_RUNS=<factor> scales the run counts;
 * FUZZ_SHRINK=1 lets fast-check shrink a failure instead of stopping at the first one.
 */

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20_260_101;
const SCALE = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 1;
if (!Number.isSafeInteger(SEED)) throw new Error(`FUZZ_SEED must be an integer, not ${process.env.FUZZ_SEED}`);
if (!(SCALE > 0)) throw new Error(`FUZZ_RUNS must be a positive factor, not ${process.env.FUZZ_RUNS}`);
const SHRINK = !!process.env.FUZZ_SHRINK;
/** A file that gets one line per request (status, time, request, answer). */
const LOG = process.env.FUZZ_LOG;
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
const ADMIN_PASSWORD = 'fuzz-admin-password';
const NIL = '00000000-0000-4000-8000-000000000000';
const SEED_COLUMNS = ['a', 'b', 'c'];

const doc = buildOpenApiDocument(VERSION) as unknown as Parameters<typeof operationsOf>[0];
const operations = operationsOf(doc);
const withBody = operations.filter((op) => op.body);

let redis: TestRedis;
let db: TestDatabase;
let emulator: TestEmulator;
let api: AppProcess;
let host = '127.0.0.1';
let port = 0;
let sql: pg.Client;
let mainKey = '';
let throwaway: string | undefined;
let seededModel = '';
const pools: Record<string, string[]> = { model: [], 'model-deletable': [], job: [], key: [], cursor: [], delivery: [] };
const started = Date.now();
const stats = {
  requests: 0,
  byStatus: new Map<string, number>(),
  accepted: 0,
  createdRows: { jobs: 0, models: 0, datasets: 0 },
  slowest: [] as { ms: number; what: string }[],
};

// ---------------------------------------------------------------------------------------------
// What the generators know about this API beyond the schemas: coherent tables, CSV files.

const quoteCsv = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const csvCell = fc.oneof(
  fc.integer({ min: -50, max: 50 }).map(String),
  fc.double({ min: -100, max: 100, noNaN: true }).map((v) => v.toFixed(2)),
  fc.constantFrom('p', 'q', 'red', 'NA', '', 'x y'),
  fc.string({ maxLength: 6 }).map(quoteCsv),
);
const csvArb = fc
  .record({
    header: fc.oneof(
      fc.constant([...SEED_COLUMNS, 'y']),
      fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/), { minLength: 1, maxLength: 5 }),
    ),
    nRows: fc.integer({ min: 0, max: 10 }),
    eol: fc.constantFrom('\n', '\r\n'),
    trailing: fc.boolean(),
  })
  .chain(({ header, nRows, eol, trailing }) =>
    fc
      .array(fc.array(csvCell, { minLength: header.length, maxLength: header.length }), { minLength: nRows, maxLength: nRows })
      .map((rows) => [header.join(','), ...rows.map((r) => r.join(','))].join(eol) + (trailing ? eol : '')),
  );

const numberCell = fc.oneof(
  { weight: 8, arbitrary: fc.double({ min: -1e3, max: 1e3, noNaN: true }) },
  { weight: 1, arbitrary: fc.constant(null) },
);
const stringCell = fc.oneof(fc.constantFrom('red', 'green', 'blue', 'p'), fc.constant(null), fc.string({ maxLength: 5 }));
/** Rows that agree with each other: one type per column. */
const tableArb = (nCols: fc.Arbitrary<('number' | 'string')[]>, rows: { min: number; max: number }) =>
  fc
    .tuple(nCols, fc.integer(rows))
    .chain(([types, n]) =>
      fc
        .array(fc.tuple(...types.map((t) => (t === 'number' ? numberCell : stringCell))), { minLength: n, maxLength: n })
        .map((r) => ({ types, rows: r as unknown[][] })),
    );
const targetCell: Record<string, fc.Arbitrary<unknown>> = {
  labels: fc.constantFrom('p', 'q', 'r'),
  'class-ids': fc.integer({ min: 0, max: 3 }),
  numbers: fc.double({ min: 0, max: 10, noNaN: true }),
};
/** Webhook targets that pass the SSRF guard without DNS (public IP literals), so accepted jobs get deliveries. */
const webhookArb = fc.option(
  fc.record(
    {
      webhook_url: fc.constantFrom('https://93.184.216.34/hook', 'http://8.8.8.8:8080/x?y=1', 'https://[2606:4700:4700::1111]/h'),
      webhook_events: fc.subarray(['job.started', 'job.succeeded', 'job.failed', 'job.canceled'], { minLength: 1 }),
    },
    { requiredKeys: ['webhook_url'] },
  ),
  { nil: {}, freq: 2 },
);
const pick = (obj: Record<string, unknown>, keys: string[]) => Object.fromEntries(Object.entries(obj).filter(([k]) => keys.includes(k)));

const refine: Record<string, (arb: fc.Arbitrary<unknown>) => fc.Arbitrary<unknown>> = {
  FitRequest: (arb) =>
    fc.oneof(
      { weight: 2, arbitrary: arb },
      {
        weight: 3,
        arbitrary: fc
          .tuple(
            arb,
            tableArb(fc.array(fc.constantFrom<'number' | 'string'>('number', 'string'), { minLength: 1, maxLength: 4 }), {
              min: 2,
              max: 12,
            }),
            fc.constantFrom('labels', 'class-ids', 'numbers'),
            fc.subarray(
              ['task', 'model', 'config', 'description', 'categorical_features', 'feature_names', 'webhook_url', 'webhook_events'],
              { maxLength: 2 },
            ),
            fc.boolean(),
            webhookArb,
          )
          .chain(([gen, table, kind, keep, named, hook]) =>
            fc.array(targetCell[kind]!, { minLength: table.rows.length, maxLength: table.rows.length }).map((target) => ({
              ...pick(gen as Record<string, unknown>, keep),
              features: table.rows,
              target,
              ...(named ? { feature_names: table.types.map((_, i) => `f${i}`) } : {}),
              ...hook,
            })),
          ),
      },
    ),
  PredictRequest: (arb) =>
    fc.oneof(
      { weight: 2, arbitrary: arb },
      {
        weight: 3,
        arbitrary: fc
          .tuple(
            arb,
            tableArb(fc.constant<('number' | 'string')[]>(['number', 'number', 'string']), { min: 1, max: 6 }),
            fc.subarray(['output_type', 'quantiles', 'config'], { maxLength: 1 }),
            webhookArb,
          )
          .map(([gen, table, keep, hook]) => ({ ...pick(gen as Record<string, unknown>, keep), features: table.rows, ...hook })),
      },
    ),
  FitForm: (arb) =>
    fc
      .tuple(
        arb,
        fc.nat(),
        fc.integer({ min: 0, max: 9 }),
        fc.subarray(['task', 'categorical_features', 'description', 'config', 'model'], { maxLength: 1 }),
      )
      .map(([gen, n, coin, keep]) => {
        const g = gen as Record<string, unknown>;
        const header = String(g.file ?? '')
          .split(/\r?\n/)[0]!
          .split(',');
        if (coin < 3) return g;
        return { ...pick(g, keep), file: g.file, target_column: header[n % header.length] };
      }),
  // Delivery ids the api listed, resolved when the request is sent.
  RedeliverRequest: (arb) =>
    fc.oneof(
      arb,
      fc.nat().map((n) => ({ delivery_id: `{{delivery:${n}}}` })),
    ),
  PredictForm: (arb) =>
    fc
      .tuple(arb, fc.integer({ min: 0, max: 9 }))
      .map(([gen, coin]) => (coin < 4 ? gen : pick(gen as Record<string, unknown>, ['file', 'output_type']))),
};

const ctx: GeneratorContext = {
  components: (doc.components?.schemas ?? {}) as Record<string, JsonSchema>,
  media: { 'text/csv': csvArb },
  refine,
  poolFor(op, param) {
    if (param === 'model_id') return op.method === 'DELETE' ? 'model-deletable' : 'model';
    if (param === 'job_id') return 'job';
    if (param === 'key_id') return 'key';
    if (param === 'cursor') return 'cursor';
    return undefined;
  },
};

// ---------------------------------------------------------------------------------------------
// Sending and checking

const counts = async () =>
  (
    await sql.query<{ jobs: number; models: number; datasets: number }>(
      'SELECT (SELECT count(*) FROM jobs)::int AS jobs, (SELECT count(*) FROM models)::int AS models, (SELECT count(*) FROM datasets)::int AS datasets',
    )
  ).rows[0]!;

const resolvePlaceholders = (s: string) =>
  s.replace(/\{\{([\w-]+):(\d+)\}\}/g, (_m, pool: string, n: string) => {
    const ids = pools[pool] ?? [];
    return ids.length ? ids[Number(n) % ids.length]! : NIL;
  });

function authHeader(mode: AuthMode, key: string): string | undefined {
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  switch (mode) {
    case 'valid':
      return `Bearer ${key}`;
    case 'bare':
      return key;
    case 'wrong':
      return `Bearer ${key.slice(0, -4)}${key.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    case 'malformed':
      return 'Bearer not-a-key';
    case 'none':
      return undefined;
    case 'lowercase-scheme':
      return `bearer ${key}`;
    case 'padded':
      return `Bearer    ${key}   `;
    case 'doubled':
      return `Bearer ${key} Bearer ${key}`;
    case 'oversized':
      return `Bearer ${'A'.repeat(12_000)}`;
    case 'admin':
      return basic('admin', ADMIN_PASSWORD);
    case 'admin-wrong':
      return basic('admin', 'wrong');
    case 'admin-garbage':
      return 'Basic %%%not-base64';
  }
}

/** A fresh key of a second account, for anything that could delete the account it authenticates as. */
async function throwawayKey(): Promise<string> {
  if (!throwaway) {
    const res = await request(`http://${host}:${port}`).post('/v1/auth/setup', { tabpfn_token: OTHER_TOKEN, key_name: 'fuzz-throwaway' });
    if (res.status !== 201) throw new Error(`throwaway setup failed: ${res.status} ${res.text}`);
    throwaway = res.body.api_key as string;
  }
  return throwaway;
}

const short = (s: string, n = 200) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

function describeRequest(req: FuzzRequest, target: string): string {
  const body = req.body
    ? `${req.body.length} B ${JSON.stringify(req.body.subarray(0, 240).toString('latin1'))}${req.body.length > 240 ? '…' : ''}`
    : 'none';
  const raw = req.raw ? `\n  raw: ${JSON.stringify(short(req.raw, 300))}` : '';
  return [
    `${req.method} ${short(target, 160)}  [${req.op} · ${req.kind}]  auth=${req.auth}  delivery=${JSON.stringify(req.delivery)}`,
    `  headers: ${req.headers.map(([k, v]) => `${k}: ${short(v, 60)}`).join(' | ') || '(none)'}`,
    `  body: ${body}${raw}`,
  ].join('\n');
}

const label = (req: FuzzRequest) =>
  `${req.method} ${short(req.path + (req.query ? `?${req.query}` : ''), 120)} [${req.kind}] auth=${req.auth}`;
/** fast-check prints counterexamples with this: one line, not a dump of a megabyte body. */
const concise = (req: FuzzRequest): FuzzRequest =>
  Object.defineProperty({ ...req }, fc.toStringMethod, { value: () => label(req), enumerable: false });

const CREATES: { method: string; re: RegExp; rows: { jobs: number; models: number; datasets: number } }[] = [
  { method: 'POST', re: /^\/v1\/models\/fit\/?(\?|$)/i, rows: { jobs: 1, models: 1, datasets: 1 } },
  { method: 'POST', re: /^\/v1\/models\/[^/?]+\/predict\/?(\?|$)/i, rows: { jobs: 1, models: 0, datasets: 1 } },
];

const bucketOf = (res: WireResponse) => (res.timedOut ? 'timeout' : res.status ? String(res.status) : `closed(${res.error ?? 'eof'})`);

interface Sent {
  req: FuzzRequest;
  target: string;
  res: WireResponse;
}
type Rows = { jobs: number; models: number; datasets: number };
const TABLES = ['jobs', 'models', 'datasets'] as const;

/** Sends one request (placeholders resolved, Authorization added) and records it in the stats. */
async function send(req: FuzzRequest): Promise<Sent> {
  stats.requests++;
  let target = resolvePlaceholders(req.path) + (req.query ? `?${resolvePlaceholders(req.query)}` : '');
  const isDelete = req.method.toUpperCase() === 'DELETE';
  // The fuzzer keeps its account and the model it predicts with: deletes of those go elsewhere.
  if (isDelete && seededModel) target = target.split(seededModel).join(NIL);
  const deletesAccount = isDelete && /^\/+v1\/+me(?:$|[^a-z0-9_-])/i.test(target);
  const key = deletesAccount ? await throwawayKey() : mainKey;
  const headers = [...req.headers];
  const auth = authHeader(req.auth, key);
  if (auth) headers.unshift(['Authorization', auth]);
  const raw =
    req.delivery.mode === 'raw' && req.raw
      ? Buffer.from(
          req.raw
            .replaceAll('{{host}}', `${host}:${port}`)
            .replaceAll('{{auth}}', auth ?? '')
            .replaceAll('{{pad}}', 'a'.repeat(20_000)),
          'latin1',
        )
      : undefined;
  // Placeholders in a body too (a delivery id); latin1 keeps every other byte as it is.
  const body = req.body?.includes('{{') ? Buffer.from(resolvePlaceholders(req.body.toString('latin1')), 'latin1') : req.body;
  const res = await sendWire(host, port, { method: req.method, target, headers, body, delivery: req.delivery, raw });
  stats.slowest.push({ ms: res.ms, what: `${req.op} [${req.kind}] → ${res.status}` });
  stats.slowest.sort((a, b) => b.ms - a.ms).splice(8);
  if (LOG) appendFileSync(LOG, `${bucketOf(res)} ${res.ms}ms ${label(req)} :: ${short(res.text.replace(/\s+/g, ' '), 240)}\n`);
  stats.byStatus.set(bucketOf(res), (stats.byStatus.get(bucketOf(res)) ?? 0) + 1);
  if (deletesAccount && res.status >= 200 && res.status < 300) throwaway = undefined;
  return { req, target, res };
}

/** What one answer violates (rows aside): a 5xx, a hang, a dropped connection it did not deserve. */
function answerProblems({ req, res }: Sent): string[] {
  if (res.timedOut) return ['no answer within 20 s (hang)'];
  if (res.status >= 500) return [`answered ${res.status}`];
  if (res.status === 0 && !mayGoUnanswered(req)) return [`connection closed without an answer (${res.error ?? 'eof'})`];
  return [];
}

/** What the api process did meanwhile: exit, or log an error. */
function processProblems(mark: number): string[] {
  const out: string[] = [];
  if (api.proc.exitCode !== null || api.proc.signalCode !== null)
    out.push(`the api process exited (${api.proc.exitCode ?? api.proc.signalCode})`);
  const errors = api.output.slice(mark).filter((l) => /"level":"(error|fatal)"/.test(l));
  if (errors.length) out.push(`the api logged:\n    ${errors.map((l) => short(l, 600)).join('\n    ')}`);
  return out;
}

/** Rows an answer may have added: what its route creates when it is 2xx, nothing otherwise. */
function allowedRows({ req, target, res }: Sent): Rows {
  const ok = res.status >= 200 && res.status < 300;
  const creates = CREATES.find((c) => c.method === req.method.toUpperCase() && c.re.test(target));
  if (ok && creates) stats.accepted++;
  return ok && creates ? creates.rows : { jobs: 0, models: 0, datasets: 0 };
}

function rowProblems(before: Rows, after: Rows, allowed: Rows, what: string): string[] {
  const out: string[] = [];
  for (const table of TABLES) {
    const delta = after[table] - before[table];
    if (delta > allowed[table]) out.push(`${table}: +${delta} rows after ${what} (at most ${allowed[table]} allowed)`);
    if (delta > 0) stats.createdRows[table] += delta;
  }
  return out;
}

function failure(problems: string[], sent: Sent[], testName: string): Error {
  const replay = `replay: FUZZ_SEED=${SEED} pnpm test tests/fuzz/routes.fuzz.test.ts -t '${testName}'`;
  const lastLines = api.output
    .slice(-5)
    .map((l) => `    ${short(l, 300)}`)
    .join('\n');
  const requests = sent.map(
    ({ req, target, res }) =>
      `${describeRequest(req, target)}\n→ ${res.status || 'no answer'}${res.error ? ` (${res.error})` : ''} after ${res.ms} ms: ${short(res.text, 400)}`,
  );
  return new Error(`${problems.join('\n')}\n${requests.join('\n')}\napi's last lines:\n${lastLines}\n${replay}`);
}

/** Sends one request and checks every property; throws a description of the request on a violation. */
async function exec(req: FuzzRequest, testName: string): Promise<WireResponse> {
  const before = await counts();
  const mark = api.output.length;
  const sent = await send(req);
  const after = await counts();
  const what = `a ${sent.res.status || 'dropped'} answer`;
  const problems = [...answerProblems(sent), ...processProblems(mark), ...rowProblems(before, after, allowedRows(sent), what)];
  if (problems.length) throw failure(problems, [sent], testName);
  remember(sent);
  return sent.res;
}

/** Sends requests all at once; rows may grow by at most what the 2xx answers among them create. */
async function execConcurrently(reqs: FuzzRequest[], testName: string): Promise<void> {
  const before = await counts();
  const mark = api.output.length;
  const sent = await Promise.all(reqs.map(send));
  const after = await counts();
  const allowed = { jobs: 0, models: 0, datasets: 0 };
  for (const s of sent) {
    const rows = allowedRows(s);
    for (const t of TABLES) allowed[t] += rows[t];
  }
  const problems = [
    ...sent.flatMap((s, i) => answerProblems(s).map((p) => `#${i}: ${p}`)),
    ...processProblems(mark),
    ...rowProblems(before, after, allowed, `${sent.length} concurrent answers (${sent.map((s) => s.res.status).join(', ')})`),
  ];
  if (problems.length) throw failure(problems, sent, testName);
  for (const s of sent) remember(s);
}

/** Bodies the server may refuse by closing the connection (a large body it will not read, one cut off by the client). */
function mayGoUnanswered(req: FuzzRequest): boolean {
  return req.delivery.mode === 'early-eof' || req.delivery.mode === 'raw' || (req.body?.length ?? 0) > 16 * 1024;
}

/** Ids the api handed out go into the pools, so later requests name real resources. */
function remember({ req, target, res }: Sent): void {
  if (res.status < 200 || res.status >= 300 || !res.headers['content-type']?.includes('json')) return;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(res.text) as Record<string, unknown>;
  } catch {
    return;
  }
  const add = (pool: string, id: unknown) => {
    if (typeof id === 'string' && !pools[pool]!.includes(id)) pools[pool]!.push(id);
  };
  add('job', body.job_id);
  add('cursor', body.next_cursor);
  if (/webhook-deliveries/.test(target) && Array.isArray(body.data)) for (const d of body.data as { id?: unknown }[]) add('delivery', d.id);
  if (/\/v1\/models\/fit/i.test(target)) {
    add('model', body.model_id);
    add('model-deletable', body.model_id);
  }
  if (/\/v1\/auth\/(keys|setup)/i.test(target) && req.method.toUpperCase() === 'POST') add('key', body.api_key_id ?? body.id);
}

async function assertApiAlive(): Promise<void> {
  expect({ exit: api.proc.exitCode, signal: api.proc.signalCode }).toEqual({ exit: null, signal: null });
  expect((await fetch(`http://${host}:${port}/health`)).status).toBe(200);
  const me = await request(`http://${host}:${port}`, mainKey).get('/v1/me');
  expect([me.status, me.text]).toEqual([200, expect.any(String)]);
  const errors = api.output.filter((l) => /"level":"(error|fatal)"/.test(l));
  expect(errors).toEqual([]);
}

const params = (numRuns: number) => ({ seed: SEED, numRuns, endOnFailure: !SHRINK });

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  console.log(`routes fuzz: FUZZ_SEED=${SEED}${SCALE !== 1 ? ` FUZZ_RUNS=${SCALE}` : ''} (${operations.length} operations)`);
  redis = createTestRedis();
  db = await createTestDatabase();
  emulator = await startTestEmulator();
  const common = {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    TABPFN_API_URL: emulator.url,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
  };
  // The worker only fits the seed model; it starts alongside the api.
  const worker = spawnApp('worker', { ...common, METRICS_PORT: '0', MAINTENANCE_INTERVAL_MS: '60000' });
  api = spawnApp('api', {
    ...common,
    PORT: '0',
    HOST: '127.0.0.1',
    MIGRATE_ON_START: 'false',
    RATE_LIMIT_PER_MINUTE: '1000000',
    SETUP_RATE_LIMIT_PER_MINUTE: '1000000',
    MAX_INFLIGHT_JOBS: '1000000',
    MAX_API_KEYS: '10000',
    // Load shedding answers 503 by design; concurrent batches must not run into it.
    MAX_LARGE_BODIES_IN_FLIGHT: '100',
    ADMIN_PASSWORD_HASH: bcrypt.hashSync(ADMIN_PASSWORD, 4),
    // A body that stalls is cut off well inside the client's 20 s timeout.
    BODY_IDLE_TIMEOUT_MS: '5000',
    SHUTDOWN_GRACE_MS: '2000',
  });
  const url = new URL(JSON.parse(await api.waitFor(/api listening/)).url as string);
  host = url.hostname;
  port = Number(url.port);
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();

  // One account, a fitted model and a finished predict: then the worker stops, so fuzzed jobs stay queued.
  const base = `http://${host}:${port}`;
  const setup = await request(base).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN, key_name: 'fuzz' });
  expect(setup.status).toBe(201);
  mainKey = setup.body.api_key;
  const client = request(base, mainKey);
  await worker.waitFor(/worker started/);
  const features = Array.from({ length: 12 }, (_, i) => [i, (i * 7) % 5, i % 3 ? 'red' : 'blue']);
  const target = features.map((_, i) => (i % 2 ? 'p' : 'q'));
  const fit = await client.post('/v1/models/fit', { features, target, feature_names: SEED_COLUMNS });
  expect(fit.status).toBe(202);
  expect((await waitForJob(client, fit.body.job_id)).status).toBe('succeeded');
  const predict = await client.post(`/v1/models/${fit.body.model_id}/predict`, { features: features.slice(0, 3) });
  expect((await waitForJob(client, predict.body.job_id)).status).toBe('succeeded');
  await worker.stop('SIGTERM');
  seededModel = fit.body.model_id;
  pools.model!.push(seededModel);
  pools.job!.push(fit.body.job_id, predict.body.job_id);
  console.log(`routes fuzz: api, seed model and account ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, 60_000);

afterEach(async () => {
  if (api) await assertApiAlive();
});

afterAll(async () => {
  const byStatus = [...stats.byStatus.entries()]
    .sort()
    .map(([s, n]) => `${s}×${n}`)
    .join(' ');
  console.log(
    `routes fuzz: FUZZ_SEED=${SEED}: ${stats.requests} requests in ${((Date.now() - started) / 1000).toFixed(1)} s; ${byStatus}; ` +
      `${stats.accepted} fit/predict accepted (rows +${stats.createdRows.jobs} jobs, +${stats.createdRows.models} models, +${stats.createdRows.datasets} datasets); ` +
      `slowest: ${stats.slowest.map((x) => `${x.ms} ms ${short(x.what, 120)}`).join('; ')}`,
  );
  await sql?.end();
  await api?.stop('SIGTERM');
  await emulator?.close();
  await redis?.cleanup();
  await db?.drop();
});

/** One property per operation: every request `arb` makes for it passes `exec`; `n` runs by body kind. */
function fuzzEach(title: string, arb: typeof schemaRequestArb, n: { multipart: number; json: number; none: number }): void {
  describe(title, () => {
    it.each(operations.map((op) => [op.id, op] as const))('%s', async (name, op: Operation) => {
      const count = op.body ? (op.body.multipart ? n.multipart : n.json) : n.none;
      await fc.assert(
        fc.asyncProperty(arb(op, ctx).map(concise), async (req) => {
          await exec(req, name);
        }),
        params(runs(count)),
      );
    });
  });
}

fuzzEach('requests generated from the OpenAPI schemas', schemaRequestArb, { multipart: 30, json: 15, none: 8 });
fuzzEach('the same requests, broken in one way', mutatedRequestArb, { multipart: 70, json: 35, none: 20 });

describe('bodies sent as slow streams', () => {
  it.each(withBody.map((op) => [op.id, op] as const))('%s', async (name, op: Operation) => {
    await fc.assert(
      fc.asyncProperty(slowRequestArb(op, ctx).map(concise), async (req) => {
        await exec(req, name);
      }),
      params(runs(op.body?.multipart ? 8 : 4)),
    );
  });
});

describe('concurrent requests', () => {
  // Requests that race on the same rows: predicts, deletes and cancels on the pools' ids, fits sharing an Idempotency-Key.
  const racy = (op: Operation) => !!op.body || op.params.some((p) => p.in === 'path') || op.method === 'DELETE';
  const any = fc.oneof(
    ...operations.map((op) => ({
      weight: racy(op) ? 3 : 1,
      arbitrary: fc.oneof({ weight: 2, arbitrary: schemaRequestArb(op, ctx) }, { weight: 1, arbitrary: mutatedRequestArb(op, ctx) }),
    })),
  );
  const batch = fc
    .tuple(fc.array(any, { minLength: 3, maxLength: 8 }), fc.nat(3))
    // The first request again, as is: identical bodies with the same Idempotency-Key race for it.
    .map(([reqs, copies]) => [...reqs, ...Array.from({ length: copies }, () => reqs[0]!)].map(concise));

  it('batches of requests sent at once', async () => {
    await fc.assert(
      fc.asyncProperty(batch, async (reqs) => {
        await execConcurrently(reqs, 'batches of requests sent at once');
      }),
      params(runs(30)),
    );
  });
});

describe('protocol-level oddities', () => {
  it('raw requests', async () => {
    const arb = fc
      .tuple(fc.constantFrom(...RAW_CASES.keys()), fc.constantFrom<AuthMode>('valid', 'bare', 'none', 'wrong'))
      .map(
        ([i, auth]): FuzzRequest => ({
          op: 'raw',
          kind: `raw#${i}`,
          method: 'RAW',
          path: '',
          query: '',
          headers: [],
          auth,
          delivery: { mode: 'raw' },
          raw: RAW_CASES[i]!,
        }),
      )
      .map(concise);
    await fc.assert(
      fc.asyncProperty(arb, async (req) => {
        await exec(req, 'raw requests');
      }),
      params(runs(RAW_CASES.length * 2)),
    );
  });
});

describe('inputs the fuzzer found', () => {
  const form = (path: string, parts: string) =>
    concise({
      op: `POST ${path}`,
      kind: 'regression',
      method: 'POST',
      path,
      query: '',
      headers: [['Content-Type', 'multipart/form-data; boundary=XX']],
      auth: 'valid',
      body: Buffer.from(`${parts}--XX--\r\n`),
      delivery: { mode: 'whole' },
    });
  const csv = '--XX\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\na,b,c,y\n1,2,red,p\n3,4,blue,q\n\r\n';

  // busboy names a part without a plain `name` parameter `undefined`; the form-field check threw on it
  // inside busboy's event: an uncaught exception, and the api process stopped.
  it.each([
    ["name*=UTF-8''%E2%80%AE", 'predict'],
    ['foo=bar', 'fit'],
  ])('a form field whose Content-Disposition has no plain name (%s, %s) → 422, the api keeps running', async (disposition, route) => {
    const path = route === 'fit' ? '/v1/models/fit' : `/v1/models/{{model:0}}/predict`;
    const res = await exec(
      form(path, `--XX\r\nContent-Disposition: form-data; ${disposition}\r\n\r\nv\r\n${csv}`),
      'inputs the fuzzer found',
    );
    expect(res.status).toBe(422);
    expect(JSON.parse(res.text).errors).toEqual([{ field: 'body', message: 'a form part has no name (Content-Disposition: form-data; name="…")' }]);
  });
});

describe('races the fuzzer found', () => {
  // A setup found the token's account, DELETE /v1/me committed, and the new key's insert failed its
  // foreign key (an unhandled 23503), or the account vanished between the setup's insert and select
  // (users.insertOrGet threw): both answered 500.
  it('setups racing the deletion of their account → 201 each (a new account once the old one is gone)', async () => {
    const base = `http://${host}:${port}`;
    for (let round = 0; round < 20; round++) {
      const first = await request(base).post('/v1/auth/setup', { tabpfn_token: THIRD_TOKEN });
      expect(first.status).toBe(201);
      const answers = await Promise.all([
        request(base, first.body.api_key).delete('/v1/me'),
        ...Array.from({ length: 4 }, () => request(base).post('/v1/auth/setup', { tabpfn_token: THIRD_TOKEN })),
      ]);
      expect(answers.map((a) => a.status)).toEqual([204, 201, 201, 201, 201]);
    }
  });
});

describe('after the whole fuzz', () => {
  it('the api process is still up and healthy', async () => {
    await assertApiAlive();
    expect((await fetch(`http://${host}:${port}/ready`)).status).toBe(200);
  });
});
