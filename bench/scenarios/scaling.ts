import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { type Account, fitSmallModel, setupAccount, submitPredict } from '../client.js';
import { type Row, fmt } from '../report.js';
import { QUEUE_PREFIX, REDIS_URL, TOKENS, WORKER_ENV, startApi, startEmulator, startWorkers } from '../stack.js';

export interface ScalingSettings {
  latencyMs: number;
  processes: number[];
  /** Jobs per run = ideal jobs/s × this many seconds. */
  secondsAtIdeal: number;
}

/**
 * Worker throughput with a fixed upstream latency. The backlog is submitted while the predict queue
 * is paused and the workers are already up, so the figure is the drain rate of the workers alone
 * (not the api's submit rate, not process start-up). Throughput counts the middle 80 % of
 * completions, leaving out ramp-up and the tail.
 */
export async function scalingScenario(s: ScalingSettings): Promise<{ rows: Row[]; raw: unknown }> {
  const concurrency = Number(WORKER_ENV.WORKER_CONCURRENCY);
  const emulator = await startEmulator({ fit: 0, predict: s.latencyMs });
  const api = await startApi(emulator.url);
  const accounts: (Account & { modelId: string })[] = [];
  const fitter = await startWorkers(1, emulator.url);
  for (const token of TOKENS) {
    const a = await setupAccount(api.url, token);
    accounts.push({ ...a, modelId: await fitSmallModel(api.url, a.apiKey) });
  }
  await Promise.all(fitter.map((w) => w.stop()));

  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('predict', { connection, prefix: QUEUE_PREFIX });
  const sub = new Redis(REDIS_URL);
  let finished: number[] = [];
  sub.on('message', () => finished.push(performance.now()));
  await sub.subscribe(`${QUEUE_PREFIX}:job-events`);

  const results: { processes: number; jobs: number; jobsPerSec: number; ideal: number }[] = [];
  for (const n of s.processes) {
    const ideal = (n * concurrency * 1000) / s.latencyMs;
    const jobs = Math.max(4 * n * concurrency, Math.round(ideal * s.secondsAtIdeal));
    await queue.pause();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < jobs) {
          const a = accounts[next++ % accounts.length]!;
          const res = await submitPredict(api.url, a.apiKey, a.modelId);
          if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${JSON.stringify(res.body)}`);
        }
      }),
    );
    const workers = await startWorkers(n, emulator.url);
    finished = [];
    await queue.resume();
    const deadline = Date.now() + Math.max(120_000, (jobs / ideal) * 10_000);
    while (finished.length < jobs) {
      if (Date.now() > deadline) throw new Error(`scaling with ${n} workers: only ${finished.length}/${jobs} jobs finished`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const lo = Math.floor(jobs * 0.1);
    const hi = Math.ceil(jobs * 0.9) - 1;
    const jobsPerSec = ((hi - lo) * 1000) / (finished[hi]! - finished[lo]!);
    results.push({ processes: n, jobs, jobsPerSec, ideal });
    await Promise.all(workers.map((w) => w.stop()));
  }
  sub.disconnect();
  await queue.close();
  connection.disconnect();
  await api.service.stop();
  await emulator.service.stop();

  const one = results.find((r) => r.processes === 1);
  const rows: Row[] = results.map((r) => ({
    scenario: '4 worker scaling',
    metric: `${r.processes} worker process${r.processes > 1 ? 'es' : ''} × ${concurrency}, emulator ${s.latencyMs} ms (${r.jobs} jobs)`,
    value: `${r.jobsPerSec.toFixed(1)} jobs/s`,
    baseline: `ideal ${r.ideal.toFixed(1)} jobs/s`,
    comparison: `${fmt.pct(r.jobsPerSec / r.ideal)} of ideal`,
    target: '≥ 90 %',
    pass: r.jobsPerSec / r.ideal >= 0.9,
  }));
  const four = results.find((r) => r.processes === 4);
  if (one && four) {
    const speedup = four.jobsPerSec / one.jobsPerSec;
    rows.push({
      scenario: '4 worker scaling',
      metric: 'speed-up 4 processes vs 1',
      value: `${speedup.toFixed(2)} ×`,
      baseline: `1 process ${one.jobsPerSec.toFixed(1)} jobs/s`,
      comparison: `${speedup.toFixed(2)} ×`,
      target: '≥ 3.5 ×',
      pass: speedup >= 3.5,
    });
  }
  return { rows, raw: results };
}
