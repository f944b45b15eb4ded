import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { fitSmallModel, setupAccount, submitPredict, submitReferencePredict } from '../client.js';
import { median, percentile } from '../load.js';
import { startService, waitForLog } from '../processes.js';
import { type Row, fmt } from '../report.js';
import {
  DATABASE_URL,
  QUEUE_PREFIX,
  REDIS_URL,
  REFERENCE_QUEUE,
  TOKENS,
  WORKER_ENV,
  startApi,
  startEmulator,
  startReference,
  startWorkers,
} from '../stack.js';

export interface QueueSettings {
  jobs: number;
  /**
   * Jobs run before the measured ones, on both sides, for V8 to have compiled most of the path:
   * submit → succeeded falls by half over the first ~1,000 jobs of a fresh api and worker (the
   * bench's `warmupCurve`), and still a little after; the bare BullMQ loop, far less code, by a third.
   * Under V8's default tier-up budget (JIT_INTERRUPT_BUDGET=0) the service's curve falls more slowly
   * (bench/RESULTS.md).
   */
  warmup: number;
  /** The measured window of earlier runs (after this many jobs), reported alongside as context. */
  earlyWarmup: number;
}

/** Resolves when a completion for `id` has been seen on Redis pub/sub (before or after the call). */
function completionWatcher(channels: string[], idOf: (channel: string, message: string) => string | undefined) {
  const sub = new Redis(REDIS_URL);
  const seen = new Map<string, number>();
  const waiting = new Map<string, (t: number) => void>();
  sub.on('message', (channel: string, message: string) => {
    const t = performance.now();
    const id = idOf(channel, message);
    if (!id) return;
    const w = waiting.get(id);
    if (w) {
      waiting.delete(id);
      w(t);
    } else seen.set(id, t);
  });
  return {
    ready: sub.subscribe(...channels),
    done(id: string, timeoutMs = 30_000): Promise<number> {
      const t = seen.get(id);
      if (t !== undefined) {
        seen.delete(id);
        return Promise.resolve(t);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no completion for ${id} within ${timeoutMs} ms`)), timeoutMs);
        waiting.set(id, (at) => {
          clearTimeout(timer);
          resolve(at);
        });
      });
    },
    close: () => sub.disconnect(),
  };
}

/**
 * Submit → `succeeded` latency through the whole service (HTTP, Postgres, BullMQ, worker, emulator at
 * 0 ms), one job at a time, against a bare BullMQ add → complete loop on the same Redis. The two
 * alternate in blocks of QUEUE_BLOCK jobs (each going first every other block), so a stretch of a busy
 * machine slows both alike: run one after the other, they were measured a minute apart and the
 * difference moved by ±2 ms between runs of the same code.
 */
const QUEUE_BLOCK = 25;

export async function queueScenario(s: QueueSettings): Promise<{ rows: Row[]; raw: unknown }> {
  const emulator = await startEmulator({ fit: 0, predict: 0 });
  const api = await startApi(emulator.url);
  const workers = await startWorkers(1, emulator.url);
  const account = await setupAccount(api.url, TOKENS[0]!);
  const modelId = await fitSmallModel(api.url, account.apiKey);
  const rawWorker = startService('raw-worker', { REDIS_URL, QUEUE_PREFIX, WORKER_CONCURRENCY: WORKER_ENV.WORKER_CONCURRENCY });
  await waitForLog(rawWorker, /raw worker started/);
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('bench-raw', { connection, prefix: QUEUE_PREFIX, defaultJobOptions: { removeOnComplete: { count: 1000 } } });

  const watcher = completionWatcher([`${QUEUE_PREFIX}:job-events`, `${QUEUE_PREFIX}:bench-raw-done`], (channel, message) =>
    channel.endsWith(':job-events') ? (JSON.parse(message) as { jobId: string }).jobId : message,
  );
  await watcher.ready;

  const allService: number[] = [];
  const allRaw: number[] = [];
  const allSubmit: number[] = [];
  const serviceJob = async () => {
    const t0 = performance.now();
    const res = await submitPredict(api.url, account.apiKey, modelId);
    allSubmit.push(performance.now() - t0);
    if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${JSON.stringify(res.body)}`);
    allService.push((await watcher.done(res.body.job_id)) - t0);
  };
  const rawJob = async () => {
    const t0 = performance.now();
    const job = await queue.add('noop', {});
    allRaw.push((await watcher.done(job.id!)) - t0);
  };
  // In blocks: a job right after the other kind's runs on caches that kind has just used, which
  // slowed the bare loop's jobs (0.5 ms) by half a millisecond when they alternated one by one.
  for (let i = 0; i < s.warmup + s.jobs; i += QUEUE_BLOCK) {
    const n = Math.min(QUEUE_BLOCK, s.warmup + s.jobs - i);
    for (const run of (i / QUEUE_BLOCK) % 2 ? [rawJob, serviceJob] : [serviceJob, rawJob]) for (let k = 0; k < n; k++) await run();
  }
  const service = allService.slice(s.warmup);
  const raw = allRaw.slice(s.warmup);
  const submitOnly = allSubmit.slice(s.warmup);
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
  await rawWorker.stop();
  watcher.close();
  // Where the time goes, from the job rows' own timestamps (Postgres now() at each transaction).
  const sql = new pg.Client({ connectionString: DATABASE_URL });
  await sql.connect();
  const { rows: stages } = await sql.query<{ queued_ms: number; running_ms: number }>(
    `SELECT extract(epoch FROM started_at - created_at) * 1000 AS queued_ms, extract(epoch FROM finished_at - started_at) * 1000 AS running_ms
     FROM jobs WHERE type = 'predict' AND status = 'succeeded' ORDER BY created_at OFFSET $1`,
    [s.warmup + 1],
  );
  await sql.end();
  // The same POST to the HTTP scenario's reference server (the design's minimal submit: one read, one
  // insert, one BullMQ add), same client, same body, sequential: what the POST costs on this design.
  const ref = await startReference();
  const refSubmit: number[] = [];
  for (let i = 0; i < s.warmup + s.jobs; i++) {
    const t0 = performance.now();
    const res = await submitReferencePredict(ref.url, account.apiKey, modelId);
    if (res.status !== 202) throw new Error(`reference submit answered ${res.status}: ${JSON.stringify(res.body)}`);
    if (i >= s.warmup) refSubmit.push(performance.now() - t0);
  }
  await ref.service.stop();
  const refConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const refQueue = new Queue(REFERENCE_QUEUE, { connection: refConnection, prefix: QUEUE_PREFIX });
  await refQueue.obliterate({ force: true });
  await refQueue.close();
  refConnection.disconnect();
  await Promise.all(workers.map((w) => w.stop()));
  await api.service.stop();
  await emulator.service.stop();

  const p = (xs: number[], q: number) => (q === 50 ? median(xs) : percentile(xs, q));
  const row = (q: 50 | 99, limit: number): Row => {
    const diff = p(service, q) - p(raw, q);
    return {
      scenario: '3 queue overhead',
      metric: `submit → succeeded p${q} (emulator 0 ms, sequential)`,
      value: fmt.ms(p(service, q)),
      baseline: `raw BullMQ add → complete ${fmt.ms(p(raw, q))} (alternating blocks)`,
      comparison: `+${fmt.ms(diff)}`,
      target: `≤ +${limit} ms`,
      pass: diff <= limit,
    };
  };
  const info: Row = {
    scenario: '3 queue overhead',
    metric: 'of which the POST itself (202), p50',
    value: fmt.ms(median(submitOnly)),
    baseline: `reference submit, same client ${fmt.ms(median(refSubmit))}`,
    comparison: `+${fmt.ms(median(submitOnly) - median(refSubmit))}`,
    target: '',
  };
  const queuedMs = stages.map((r) => Number(r.queued_ms));
  const runningMs = stages.map((r) => Number(r.running_ms));
  const breakdown: Row = {
    scenario: '3 queue overhead',
    metric: 'of which insert → worker marks running, and running → finished (p50, from job rows)',
    value: `${fmt.ms(median(queuedMs))} + ${fmt.ms(median(runningMs))}`,
    baseline: '',
    comparison: '',
    target: '',
  };
  const early = (xs: number[]) => median(xs.slice(s.earlyWarmup, s.earlyWarmup + s.jobs));
  const cold: Row = {
    scenario: '3 queue overhead',
    metric: `context: submit → succeeded p50 over jobs ${s.earlyWarmup + 1}–${s.earlyWarmup + s.jobs} (earlier runs' window, JIT still warming)`,
    value: fmt.ms(early(allService)),
    baseline: `raw BullMQ add → complete ${fmt.ms(early(allRaw))}`,
    comparison: `+${fmt.ms(early(allService) - early(allRaw))}`,
    target: '',
  };
  // p50 of each successive tenth of all jobs, warm-up included: where the curve flattens.
  const tenths = (xs: number[]) => Array.from({ length: 10 }, (_, k) => median(xs.slice((k * xs.length) / 10, ((k + 1) * xs.length) / 10)));
  const warmupCurve = { service: tenths(allService), raw: tenths(allRaw) };
  return {
    rows: [row(50, 10), row(99, 50), cold, info, breakdown],
    raw: { service, raw, submitOnly, refSubmit, queuedMs, runningMs, warmupCurve },
  };
}
