/**
 * `pnpm bench [--quick] [--only=http,queue,scaling,large,batch,tracing]`: starts its own emulator, api and workers
 * on a scratch database (tabpfn_bench) and Redis prefix ({tabpfn-bench}), measures each scenario
 * against a baseline taken in the same run, and prints one table (also bench/out/latest.{md,json}).
 */
import { API_ENV, QUEUE_PREFIX, WORKER_ENV, resetDatabase, resetRedis, DATABASE_URL } from './stack.js';
import { execFileSync } from 'node:child_process';
import { FROM_SOURCE, ROOT, stopAll } from './processes.js';
import { type Report, type Row, machine, writeReport } from './report.js';
import { httpScenario } from './scenarios/http.js';
import { queueScenario } from './scenarios/queue.js';
import { scalingScenario } from './scenarios/scaling.js';
import { largeScenario } from './scenarios/large.js';
import { batchScenario } from './scenarios/batch.js';
import { tracingScenario } from './scenarios/tracing.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const wanted = (name: string) => !only || only.includes(name);

const settings = {
  http: quick ? { connections: 16, durationSeconds: 2, rounds: 1 } : { connections: 16, durationSeconds: 5, rounds: 3 },
  queue: quick ? { jobs: 30, warmup: 5, earlyWarmup: 5 } : { jobs: 500, warmup: 1000, earlyWarmup: 30 },
  scaling: quick
    ? { latencyMs: 200, processes: [1, 2, 4], secondsAtIdeal: 2, rounds: 1, warmupJobsPerProcess: 100 }
    : { latencyMs: 200, processes: [1, 2, 4], secondsAtIdeal: 6, rounds: 3, warmupJobsPerProcess: 1000 },
  large: quick ? { rows: 10_000, cols: 50, repeats: 1 } : { rows: 100_000, cols: 50, repeats: 3 },
  batch: {
    ...(quick ? { rows: 20_000, chunkRows: 2_000, repeats: 1 } : { rows: 200_000, chunkRows: 10_000, repeats: 3 }),
    cols: 20,
    referenceLimit: 1_000_000,
    latenciesMs: [0, 200],
    trainRows: 36,
    // Settings read at every job, so the limit the bench sets is seen at once; chunk concurrency at its default.
    workerEnv: { TABPFN_SETTINGS_TTL_MS: '0', PREDICT_CHUNK_CONCURRENCY: '4' },
  },
  tracing: quick ? { connections: 16, durationSeconds: 2, rounds: 1 } : { connections: 16, durationSeconds: 5, rounds: 3 },
};

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  if (!FROM_SOURCE) {
    process.stderr.write('[bench] pnpm build (the bench runs the compiled apps, as production does)…\n');
    execFileSync('pnpm', ['build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  const scenarios = [
    ['http', () => httpScenario(settings.http)],
    ['queue', () => queueScenario(settings.queue)],
    ['scaling', () => scalingScenario(settings.scaling)],
    ['large', () => largeScenario(settings.large)],
    ['batch', () => batchScenario(settings.batch)],
    ['tracing', () => tracingScenario(settings.tracing)],
  ] as const;
  for (const [name, run] of scenarios) {
    if (!wanted(name)) continue;
    process.stderr.write(`[bench] ${name}…\n`);
    await resetDatabase();
    await resetRedis();
    const t0 = Date.now();
    const out = await run();
    rows.push(...out.rows);
    raw[name] = out.raw;
    process.stderr.write(`[bench] ${name} done in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  await resetRedis();
  const report: Report = {
    startedAt,
    quick,
    machine: machine(),
    settings: {
      ...settings,
      database: DATABASE_URL,
      queuePrefix: QUEUE_PREFIX,
      api: { ...API_ENV, NODE_ENV: 'production' },
      worker: { ...WORKER_ENV, NODE_ENV: 'production' },
      loadGenerator: 'autocannon, in the bench process (shares the 2 cores with the service)',
      httpReference:
        'bench/reference-server.ts, its own process (Express 5, pg, ioredis, BullMQ; no middleware or logging): poll = 1 indexed query (key digest ⋈ job) + 1 Redis INCR; submit = 1 read (key digest ⋈ model) + 1 insert statement (dataset row with the rows as JSON, job row) + 1 BullMQ add to a queue no worker consumes',
      httpWorkers: 'none during the http load: the one worker that fits the model and runs the polled predict is stopped before the first measured request (checked: 0 BullMQ workers connected)',
      apps: FROM_SOURCE ? 'from source (tsx)' : 'compiled (pnpm build, node apps/*/dist/main.js)',
    },
    rows,
    raw,
  };
  process.stdout.write(writeReport(report));
}

main()
  .catch((err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
    // Scenario clients (pg, ioredis) left open by a failure must not keep the bench alive.
    process.exit();
  });
