import { expect } from '@jest/globals';
import { T, X, Y } from '../faults/workload.js';
import { type ProcessStack, type ProcessStackOptions, startProcessStack } from '../helpers/fault-stack.js';
import type { request } from '../helpers/http.js';
import type { Receiver } from '../webhooks/support.js';

/**
 * The multi-process workload of issue #17: fit and predict jobs from several accounts, submitted
 * alternately to several apis, consumed by several workers, with a webhook on every job, one job
 * canceled through another api than the one that took it, and upstream's per-token limits enforced
 * by the emulator as well as by the workers. What the processes run on (Postgres directly or through
 * PgBouncer, one Redis or a cluster) is the caller's: the ProcessStackOptions it passes.
 */

type Client = ReturnType<typeof request>;

export interface ScaleWorkloadOptions {
  /** Fit and predict jobs in all (the cancel's is extra). */
  jobs: number;
  accounts?: number;
  /** Each fit is followed by this many predicts on its model (submitted while it fits: they park on it). */
  predictsPerFit?: number;
  /** Runs once every job is submitted, while they run (a failover, a kill). */
  whileRunning?: (stack: ProcessStack) => Promise<void>;
  /** How long all jobs may take to end before the run fails with their states. */
  maxWaitMs?: number;
}

/** Upstream's per-token limit: calls of each kind (fit, predict; uploads twice as many) per window. */
export interface UpstreamLimit {
  perWindow: number;
  windowMs: number;
}

export interface ScaleWorkloadReport {
  jobIds: string[];
  canceledJobId: string;
  tokens: string[];
  /** Predictions upstream made per workload token (more than a window's worth: the limiter had to hold some back). */
  predictsPerToken: number[];
  /** Wall time: submitting every job; from the first submit until every job is final; until every webhook is in. */
  submitMs: number;
  finishMs: number;
  webhooksMs: number;
}

export type ScaleStack = ProcessStack & { upstream: UpstreamLimit };

/**
 * The stack the workload runs on: 2 apis and 3 workers by default, webhooks to loopback allowed, and
 * `upstream` enforced by the emulator (429 over it) and by the workers' shared limiter
 * (UPSTREAM_LIMITS), which must keep every call under it. The default is upstream's published rate,
 * 60 per minute, as 30 per 30 s: a 300-job run then has more predicts per token than one window
 * takes, so the limiter must hold calls back, and that costs half a minute rather than a whole one.
 */
export async function startScaleStack(opts: ProcessStackOptions & { upstream?: UpstreamLimit } = {}): Promise<ScaleStack> {
  const { upstream = { perWindow: 30, windowMs: 30_000 }, ...stackOpts } = opts;
  const { perWindow, windowMs } = upstream;
  const stack = await startProcessStack({
    servers: 'shared',
    apis: 2,
    workers: 3,
    ...stackOpts,
    // The api checks webhook targets at submit, the worker again when it connects.
    env: { WEBHOOK_ALLOW_PRIVATE: 'true', ...stackOpts.env },
    workerEnv: {
      UPSTREAM_LIMITS: `fit:${perWindow}/${windowMs}ms,predict:${perWindow}/${windowMs}ms,upload:${2 * perWindow}/${windowMs}ms`,
      WORKER_LOCK_DURATION_MS: '15000',
      TABPFN_TIMEOUT_MS: '30000',
      RECONCILE_MIN_AGE_SECONDS: '10',
      ...stackOpts.workerEnv,
    },
  });
  await stack.emu('PATCH', '/_emulator/config', {
    rateLimitWindowMs: windowMs,
    rateLimits: { fit: perWindow, predict: perWindow, upload: 2 * perWindow },
  });
  await stack.emu('PUT', '/_emulator/latency', { fit: 0, predict: 0 });
  return Object.assign(stack, { upstream });
}

const TOKEN = (i: number) => `tok-valid-scale-${String(i).padStart(2, '0')}-aaaaaaaaaaaa`;
const CANCEL_TOKEN = 'tok-valid-scale-cancel-aaaaaaaaaaaa';

/** A distinct single-row test set per job, so no predict is served from cache. */
const testRow = (n: number) => [T[n % T.length]!.map((v) => (typeof v === 'number' ? v + n * 1e-6 : v))];

async function submit(client: Client, path: string, body: Record<string, unknown>): Promise<{ job_id: string; model_id: string }> {
  const res = await client.post(path, body);
  if (res.status !== 202) throw new Error(`${path}: ${res.status} ${res.text}`);
  return res.body;
}

/** One account's share: fits, each followed by its predicts, every request to the next api in turn. */
async function submitAccount(
  clients: Client[],
  jobs: number,
  o: { account: number; predictsPerFit: number; hook: string },
): Promise<string[]> {
  const ids: string[] = [];
  let turn = o.account;
  const next = () => clients[turn++ % clients.length]!;
  for (let f = 0; ids.length < jobs; f++) {
    const fit = await submit(next(), '/v1/models/fit', {
      features: X,
      target: Y,
      config: { random_state: o.account * 10_000 + f },
      webhook_url: o.hook,
    });
    ids.push(fit.job_id);
    for (let p = 0; p < o.predictsPerFit && ids.length < jobs; p++) {
      const n = o.account * 10_000 + ids.length;
      ids.push((await submit(next(), `/v1/models/${fit.model_id}/predict`, { features: testRow(n), webhook_url: o.hook })).job_id);
    }
  }
  return ids;
}

/** A fit whose upstream call hangs, canceled through the api that did not take it: it must end canceled, its call aborted. */
async function cancelOne(stack: ProcessStack, hook: string): Promise<string> {
  const { clients } = await stack.account(CANCEL_TOKEN);
  await stack.emu('POST', '/_emulator/faults', { route: 'fit', token: CANCEL_TOKEN, kind: 'hang', delayMs: 120_000, count: 1 });
  const fit = await submit(clients[0]!, '/v1/models/fit', { features: X, target: Y, webhook_url: hook });
  await stack.until(
    'the fit to be hanging upstream',
    async () => (await stack.emu('GET', `/_emulator/requests?route=fit&token=${CANCEL_TOKEN}`)).requests.length > 0,
    [fit.job_id],
  );
  const canceled = await clients[clients.length - 1]!.post(`/v1/jobs/${fit.job_id}/cancel`);
  if (canceled.status !== 200) throw new Error(`cancel: ${canceled.status} ${canceled.text}`);
  return fit.job_id;
}

/** Submits the workload, waits until every job is final and every webhook delivered; the checks are {@link expectScaleWorkloadHeld}'s. */
export async function runScaleWorkload(stack: ScaleStack, receiver: Receiver, opts: ScaleWorkloadOptions): Promise<ScaleWorkloadReport> {
  const accounts = opts.accounts ?? 5;
  const tokens = Array.from({ length: accounts }, (_, i) => TOKEN(i));
  await stack.emu('POST', '/_emulator/tokens', { valid: [...tokens, CANCEL_TOKEN] });
  const hook = `${receiver.url}/hooks`;
  const start = Date.now();
  const canceledJobId = await cancelOne(stack, hook);
  const shares = await Promise.all(
    tokens.map(async (token, account) => {
      const { clients } = await stack.account(token);
      const jobs = Math.floor(opts.jobs / accounts) + (account < opts.jobs % accounts ? 1 : 0);
      return submitAccount(clients, jobs, { account, predictsPerFit: opts.predictsPerFit ?? 5, hook });
    }),
  );
  const jobIds = shares.flat();
  const submitMs = Date.now() - start;
  await opts.whileRunning?.(stack);
  await stack.waitAllFinal(jobIds.length + 1, opts.maxWaitMs);
  const finishMs = Date.now() - start;
  await stack.until('every webhook to be delivered', async () => await webhooksSettled(stack, receiver, jobIds.length + 1), [], 60_000);
  const webhooksMs = Date.now() - start;
  const counters = (await stack.emu('GET', '/_emulator/counters')) as Record<string, { predicts: number }>;
  const predictsPerToken = tokens.map((t) => counters[t]?.predicts ?? 0);
  return { jobIds, canceledJobId, tokens: [...tokens, CANCEL_TOKEN], predictsPerToken, submitMs, finishMs, webhooksMs };
}

/** Postgres has a delivery row per job and none pending, and the receiver got at least as many requests. */
async function webhooksSettled(stack: ProcessStack, receiver: Receiver, jobs: number): Promise<boolean> {
  const { rows } = await stack.sql.query<{ n: number; pending: number }>(
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'pending')::int AS pending FROM webhook_deliveries`,
  );
  return rows[0]!.n >= jobs && rows[0]!.pending === 0 && receiver.forPath('/hooks').length >= jobs;
}

/** The receiver's deliveries per job id and event: `job_id event` → count. */
function deliveriesPerJob(receiver: Receiver): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of receiver.forPath('/hooks')) {
    const body = JSON.parse(r.body) as { type: string; data: { job_id: string } };
    const key = `${body.data.job_id} ${body.type}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Every job succeeded once with one result, every webhook arrived once, the cancel held, upstream never said 429. */
export async function expectScaleWorkloadHeld(stack: ProcessStack, receiver: Receiver, report: ScaleWorkloadReport): Promise<void> {
  const { jobIds, canceledJobId } = report;
  expect(await stack.statusCounts()).toEqual({ succeeded: jobIds.length, canceled: 1 });
  const { rows } = await stack.sql.query<{ missing: number; models: number; fit_keys: number }>(
    `SELECT (SELECT count(*) FROM jobs WHERE type = 'predict' AND result IS NULL)::int AS missing,
            (SELECT count(*) FROM models WHERE status = 'ready')::int AS models,
            (SELECT count(DISTINCT fit_key) FROM models WHERE status = 'ready')::int AS fit_keys`,
  );
  expect(rows[0]!.missing).toBe(0);
  expect(rows[0]!.fit_keys).toBe(rows[0]!.models);
  const finishes = await stack.waitForFinishLogs([...jobIds, canceledJobId]);
  expect(jobIds.filter((id) => finishes.get(id) !== 1)).toEqual([]);

  const deliveries = await stack.sql.query<{ job_id: string; event_type: string; status: string; attempts: number }>(
    'SELECT job_id, event_type, status, attempts FROM webhook_deliveries',
  );
  expect(deliveries.rows.filter((d) => d.status !== 'delivered' || d.attempts !== 1)).toEqual([]);
  const received = deliveriesPerJob(receiver);
  const expected = new Map([...jobIds.map((id) => [`${id} job.succeeded`, 1] as const), [`${canceledJobId} job.canceled`, 1] as const]);
  expect(received).toEqual(expected);

  const counters = (await stack.emu('GET', '/_emulator/counters')) as Record<string, { responses429: number; aborted: number }>;
  expect(report.tokens.map((t) => [t, counters[t]?.responses429])).toEqual(report.tokens.map((t) => [t, 0]));
  expect(counters[report.tokens.at(-1)!]!.aborted).toBe(1);
}
