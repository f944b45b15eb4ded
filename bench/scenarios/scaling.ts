import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { type Account, fitSmallModel, setupAccount, submitPredict } from '../client.js';
import { type Row, fmt } from '../report.js';
import {
  QUEUE_PREFIX,
  REDIS_URL,
  TOKENS,
  WORKER_ENV,
  emulatorControl,
  startApi,
  startEmulator,
  startWorkers,
  vacuumDatabase,
} from '../stack.js';

export interface ScalingSettings {
  latencyMs: number;
  processes: number[];
  /** Jobs per drain = ideal jobs/s × this many seconds. */
  secondsAtIdeal: number;
  /** Each round measures every process count once; the order alternates between rounds. */
  rounds: number;
  /** Jobs per process that warm the processes up between their fresh and their measured backlog (emulator at 0 ms). */
  warmupJobsPerProcess: number;
}

interface Drain {
  jobsPerSec: number;
  /** Worker CPU (user + system) per job over the drain, ms; undefined without /proc. */
  cpuMsPerJob?: number;
}

interface Measured {
  processes: number;
  round: number;
  jobs: number;
  ideal: number;
  /** The first backlog the fresh processes drain (start-up compiling included). */
  fresh: Drain;
  /** The same backlog again once the processes are warm: the figure the target reads. */
  warm: Drain;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** CPU seconds × 1000 a process has used (utime + stime, /proc/<pid>/stat); undefined off Linux. */
function cpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

/**
 * Worker throughput with a fixed upstream latency: how far adding worker processes multiplies it.
 * Each backlog is submitted while the predict queue is paused and the workers are up, so a figure is
 * the drain rate of the workers alone (not the api's submit rate, not process start-up); it counts
 * the middle 80 % of completions, leaving out ramp-up and the tail.
 *
 * Fresh processes drain one backlog (reported as context), then `warmupJobsPerProcess` jobs each with
 * the emulator answering at once, then the measured backlog: a running deployment's workers are warm,
 * while a fresh process spends much of its first thousand jobs' CPU on V8 compiling its hot paths
 * (4 processes on 2 shared cores compile at once, and a job takes twice the CPU it takes warm). Rounds alternate the order of process counts (1, 2, 4 then 4, 2, 1)
 * so a drift in the machine's speed during the run does not favour one count; the speed-up is the
 * median over rounds of each round's 4-process rate over its 1-process rate.
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

  /** Submits `jobs` predicts while the queue is paused, then resumes it and times the drain. */
  async function drain(jobs: number, pids: number[], label: string): Promise<Drain> {
    await queue.pause();
    await vacuumDatabase();
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
    const cpuBefore = pids.map(cpuMs);
    finished = [];
    await queue.resume();
    const deadline = Date.now() + 120_000;
    while (finished.length < jobs) {
      if (Date.now() > deadline) throw new Error(`scaling, ${label}: only ${finished.length}/${jobs} jobs finished in 120 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const cpuAfter = pids.map(cpuMs);
    const used = cpuAfter.every((c, i) => c !== undefined && cpuBefore[i] !== undefined)
      ? cpuAfter.reduce<number>((t, c, i) => t + c! - cpuBefore[i]!, 0)
      : undefined;
    const lo = Math.floor(jobs * 0.1);
    const hi = Math.ceil(jobs * 0.9) - 1;
    return { jobsPerSec: ((hi - lo) * 1000) / (finished[hi]! - finished[lo]!), cpuMsPerJob: used === undefined ? undefined : used / jobs };
  }

  const results: Measured[] = [];
  for (let round = 1; round <= s.rounds; round++) {
    const order = round % 2 ? s.processes : [...s.processes].reverse();
    for (const n of order) {
      const ideal = (n * concurrency * 1000) / s.latencyMs;
      const jobs = Math.max(4 * n * concurrency, Math.round(ideal * s.secondsAtIdeal));
      await queue.pause();
      const workers = await startWorkers(n, emulator.url);
      const pids = workers.map((w) => w.pid);
      const fresh = await drain(jobs, pids, `${n} processes, round ${round}, fresh`);
      await emulatorControl(emulator.url, 'PUT', '/_emulator/latency', { predict: 0 });
      await drain(s.warmupJobsPerProcess * n, pids, `${n} processes, round ${round}, warm-up`);
      await emulatorControl(emulator.url, 'PUT', '/_emulator/latency', { predict: s.latencyMs });
      const warm = await drain(jobs, pids, `${n} processes, round ${round}, warm`);
      results.push({ processes: n, round, jobs, ideal, fresh, warm });
      await Promise.all(workers.map((w) => w.stop()));
    }
  }
  sub.disconnect();
  await queue.close();
  connection.disconnect();
  await api.service.stop();
  await emulator.service.stop();
  return { rows: scalingRows(results, s, concurrency), raw: results };
}

function scalingRows(results: Measured[], s: ScalingSettings, concurrency: number): Row[] {
  const of = (n: number) => results.filter((r) => r.processes === n);
  const cpu = (ds: Drain[]) =>
    ds.every((d) => d.cpuMsPerJob !== undefined) ? `; worker CPU ${median(ds.map((d) => d.cpuMsPerJob!)).toFixed(1)} ms/job` : '';
  const rounds = `median of ${s.rounds} round${s.rounds > 1 ? 's' : ''}`;
  const rows: Row[] = s.processes.map((n) => {
    const rs = of(n);
    const { ideal, jobs } = rs[0]!;
    const warm = median(rs.map((r) => r.warm.jobsPerSec));
    const fresh = median(rs.map((r) => r.fresh.jobsPerSec));
    return {
      scenario: '4 worker scaling',
      metric: `${n} worker process${n > 1 ? 'es' : ''} × ${concurrency}, emulator ${s.latencyMs} ms (${jobs} jobs, ${rounds})`,
      value: `${warm.toFixed(1)} jobs/s`,
      baseline: `ideal ${ideal.toFixed(1)} jobs/s`,
      comparison: `${fmt.pct(warm / ideal)} of ideal${cpu(rs.map((r) => r.warm))} (fresh processes: ${fmt.pct(fresh / ideal)}${cpu(rs.map((r) => r.fresh))})`,
      target: '≥ 90 %',
      pass: warm / ideal >= 0.9,
    };
  });
  const [one, four] = [of(1), of(4)];
  if (one.length && four.length) {
    const ratio = (pick: (r: Measured) => Drain) => median(four.map((f, i) => pick(f).jobsPerSec / pick(one[i]!).jobsPerSec));
    const speedup = ratio((r) => r.warm);
    const perRound = four.map((f, i) => (f.warm.jobsPerSec / one[i]!.warm.jobsPerSec).toFixed(2)).join(', ');
    rows.push({
      scenario: '4 worker scaling',
      metric: `speed-up 4 processes vs 1 (warm: after ${s.warmupJobsPerProcess} jobs per process; ${rounds}: ${perRound})`,
      value: `${speedup.toFixed(2)} ×`,
      baseline: `1 process ${median(one.map((r) => r.warm.jobsPerSec)).toFixed(1)} jobs/s`,
      comparison: `${speedup.toFixed(2)} ×`,
      target: '≥ 3.5 ×',
      pass: speedup >= 3.5,
    });
    rows.push({
      scenario: '4 worker scaling',
      metric: 'context: speed-up on the first backlog of fresh processes',
      value: `${ratio((r) => r.fresh).toFixed(2)} ×`,
      baseline: `1 process ${median(one.map((r) => r.fresh.jobsPerSec)).toFixed(1)} jobs/s`,
      comparison: `${ratio((r) => r.fresh).toFixed(2)} ×`,
      target: '',
    });
  }
  return rows;
}
