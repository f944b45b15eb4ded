import { readFileSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { fitSmallModel, getJob, setupAccount, smallTrainSet, uploadFile } from '../client.js';
import { predictCsv } from '../dataset.js';
import { median } from '../load.js';
import type { Service } from '../processes.js';
import { type Row, fmt } from '../report.js';
import { QUEUE_PREFIX, REDIS_URL, TOKENS, emulatorControl, startApi, startEmulator, startWorkers } from '../stack.js';

export interface BatchSettings {
  rows: number;
  cols: number;
  /** The emulator's per-call limit (`test_set_max_rows`) during the batch runs. */
  chunkRows: number;
  /** The reference: the same rows with the per-call limit raised to this, so one upstream call takes them all. */
  referenceLimit: number;
  latenciesMs: number[];
  /** Each measurement this many times (batch and reference interleaved); the table shows medians. */
  repeats: number;
  /** Rows of the JSON fit (a few dozen, so the emulator's kNN stays cheap). */
  trainRows: number;
  /** Worker settings on top of WORKER_ENV. */
  workerEnv: Record<string, string>;
}

interface Measured {
  limit: number;
  latencyMs: number;
  jobId: string;
  acceptedMs: number;
  succeededMs: number;
  upstreamPredicts: number;
  upstreamRefused: number;
  progress: unknown;
  download: { ms: number; lines: number; bytes: number };
}

interface Stack {
  emulatorUrl: string;
  apiUrl: string;
  key: string;
  modelId: string;
  workers: Service[];
  finished: Map<string, { at: number; status: string }>;
}

/** The worker log lines that name the job (and any warning or error), for a failure report. */
function workerLines(workers: Service[], jobId: string): string {
  return workers
    .flatMap((w) =>
      readFileSync(w.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes(jobId) || /"level":(40|50|60)/.test(l))
        .slice(-30)
        .map((l) => `${w.name}: ${l}`),
    )
    .join('\n');
}

async function waitFinished(stack: Stack, jobId: string, timeoutMs: number): Promise<{ at: number; status: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = stack.finished.get(jobId);
    if (hit) return hit;
    const gone = stack.workers.find((w) => w.proc.exitCode !== null || w.proc.signalCode !== null);
    if (gone || Date.now() > deadline) {
      const job = await getJob(stack.apiUrl, stack.key, jobId);
      const why = gone ? `${gone.name} exited (see ${gone.logFile})` : `not final after ${timeoutMs / 1000} s`;
      throw new Error(`job ${jobId}: ${why}: ${JSON.stringify(job)}\n${workerLines(stack.workers, jobId)}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Streams the result as NDJSON and counts its lines (never holding it whole). */
async function download(stack: Stack, jobId: string): Promise<Measured['download']> {
  const t0 = performance.now();
  const res = await fetch(`${stack.apiUrl}/v1/jobs/${jobId}/result`, {
    headers: { authorization: `Bearer ${stack.key}`, accept: 'application/x-ndjson' },
  });
  if (res.status !== 200 || !res.body) throw new Error(`result of ${jobId} answered ${res.status}: ${await res.text()}`);
  let lines = 0;
  let bytes = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
  }
  return { ms: performance.now() - t0, lines, bytes };
}

/**
 * One CSV predict of `file` under a per-call limit of `limit` rows: upload start → 202, → `succeeded`
 * (the worker's pub/sub announcement), the upstream predict calls the emulator recorded, then the
 * result downloaded as NDJSON.
 */
async function predictOnce(stack: Stack, file: string, rows: number, limit: number, latencyMs: number): Promise<Measured> {
  await emulatorControl(stack.emulatorUrl, 'PUT', '/_emulator/limits', { test_set_max_rows: limit });
  await emulatorControl(stack.emulatorUrl, 'PUT', '/_emulator/latency', { predict: latencyMs });
  await emulatorControl(stack.emulatorUrl, 'DELETE', '/_emulator/requests');
  const t0 = performance.now();
  const res = await uploadFile(`${stack.apiUrl}/v1/models/${stack.modelId}/predict`, stack.key, file, 'csv');
  if (res.status !== 202) throw new Error(`CSV predict answered ${res.status}: ${res.body.slice(0, 1000)}`);
  const jobId = (JSON.parse(res.body) as { job_id: string }).job_id;
  const done = await waitFinished(stack, jobId, 15 * 60_000);
  const job = await getJob(stack.apiUrl, stack.key, jobId);
  if (done.status !== 'succeeded' || job.status !== 'succeeded') {
    throw new Error(
      `batch predict ${jobId} (${rows} rows, limit ${limit}, ${latencyMs} ms) ended ${job.status}: ${JSON.stringify(job.error)}\n` +
        `progress ${JSON.stringify(job.progress)}\n${workerLines(stack.workers, jobId)}`,
    );
  }
  const recorded = (await (await fetch(`${stack.emulatorUrl}/_emulator/requests?route=predict`)).json()) as {
    requests: { status: number }[];
  };
  const dl = await download(stack, jobId);
  if (dl.lines !== rows) throw new Error(`result of ${jobId} has ${dl.lines} NDJSON lines, expected ${rows}`);
  return {
    limit,
    latencyMs,
    jobId,
    acceptedMs: res.ms,
    succeededMs: done.at - t0,
    upstreamPredicts: recorded.requests.length,
    upstreamRefused: recorded.requests.filter((r) => r.status !== 200).length,
    progress: job.progress,
    download: dl,
  };
}

async function startStack(s: BatchSettings): Promise<{ stack: Stack; stop: () => Promise<void> }> {
  const emulator = await startEmulator({ fit: 0, predict: 0 });
  // Batches of this size use up the emulator's default token quota.
  await emulatorControl(emulator.url, 'PATCH', '/_emulator/config', { dailyTokenLimit: 1e15, monthlyTokenLimit: 1e15 });
  const api = await startApi(emulator.url, {}, 'api-batch');
  const workers = await startWorkers(1, emulator.url, s.workerEnv);
  const account = await setupAccount(api.url, TOKENS[0]!);
  const train = smallTrainSet(s.trainRows, s.cols);
  const modelId = await fitSmallModel(api.url, account.apiKey, { ...train, feature_names: train.features[0]!.map((_, j) => `f${j}`) });
  const sub = new Redis(REDIS_URL);
  const finished = new Map<string, { at: number; status: string }>();
  sub.on('message', (_channel: string, message: string) => {
    const { jobId, status } = JSON.parse(message) as { jobId: string; status: string };
    finished.set(jobId, { at: performance.now(), status });
  });
  await sub.subscribe(`${QUEUE_PREFIX}:job-events`);
  const stack: Stack = { emulatorUrl: emulator.url, apiUrl: api.url, key: account.apiKey, modelId, workers, finished };
  return {
    stack,
    async stop() {
      sub.disconnect();
      await Promise.all(workers.map((w) => w.stop()));
      await api.service.stop();
      await emulator.service.stop();
    },
  };
}

/** The median of each timing over the repeats; the call counts of every repeat (each must match). */
function summary(runs: Measured[]) {
  return {
    acceptedMs: median(runs.map((m) => m.acceptedMs)),
    succeededMs: median(runs.map((m) => m.succeededMs)),
    workerMs: median(runs.map((m) => m.succeededMs - m.acceptedMs)),
    downloadMs: median(runs.map((m) => m.download.ms)),
    calls: [...new Set(runs.map((m) => m.upstreamPredicts))],
    refused: runs.reduce((n, m) => n + m.upstreamRefused, 0),
    progress: runs.map((m) => m.progress as { chunks_done?: number; chunks_total?: number } | null),
    download: runs[0]!.download,
  };
}

function rowsFor(s: BatchSettings, latencyMs: number, batchRuns: Measured[], refRuns: Measured[], sizeBytes: number): Row[] {
  const scenario = '6 batch predict';
  const expected = Math.ceil(s.rows / s.chunkRows);
  const [batch, ref] = [summary(batchRuns), summary(refRuns)];
  const at = `emulator ${latencyMs} ms`;
  const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const rps = (ms: number) => `${Math.round(s.rows / (ms / 1000)).toLocaleString('en-US')} rows/s`;
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)} ×`;
  const chunks = batch.progress.map((p) => `${p?.chunks_done ?? '?'}/${p?.chunks_total ?? '?'}`);
  return [
    {
      scenario,
      metric: `CSV ${s.rows.toLocaleString('en-US')} × ${s.cols} (${fmt.mb(sizeBytes)}), ${s.chunkRows.toLocaleString('en-US')} rows/call, ${at}: upload start → succeeded`,
      value: `${secs(batch.succeededMs)} (${rps(batch.succeededMs)})`,
      baseline: `one call (limit ${s.referenceLimit.toLocaleString('en-US')}) ${secs(ref.succeededMs)} (${rps(ref.succeededMs)})`,
      comparison: ratio(batch.succeededMs, ref.succeededMs),
      target: '',
    },
    {
      scenario,
      metric: `… of which upload start → 202, ${at}`,
      value: secs(batch.acceptedMs),
      baseline: `one call ${secs(ref.acceptedMs)}`,
      comparison: ratio(batch.acceptedMs, ref.acceptedMs),
      target: '',
    },
    {
      scenario,
      metric: `… of which 202 → succeeded (queue, chunks upstream, stored), ${at}`,
      value: secs(batch.workerMs),
      baseline: `one call ${secs(ref.workerMs)}`,
      comparison: `${ratio(batch.workerMs, ref.workerMs)} (${batch.workerMs >= ref.workerMs ? '+' : '−'}${secs(Math.abs(batch.workerMs - ref.workerMs))})`,
      target: '',
    },
    {
      scenario,
      metric: `… upstream predict calls (emulator's log), ${at}`,
      value: `${batch.calls.join(', ')}${batch.refused ? ` (${batch.refused} refused)` : ''}; progress ${chunks.join(', ')} chunks`,
      baseline: `one call ${ref.calls.join(', ')}`,
      comparison: '',
      target: `= ${expected}`,
      pass: batch.calls.length === 1 && batch.calls[0] === expected && ref.calls.length === 1 && ref.calls[0] === 1,
    },
    {
      scenario,
      metric: `… result as NDJSON (${batch.download.lines.toLocaleString('en-US')} lines, ${fmt.mb(batch.download.bytes)}), ${at}`,
      value: `${secs(batch.downloadMs)} (${rps(batch.downloadMs)})`,
      baseline: `one call ${secs(ref.downloadMs)}`,
      comparison: ratio(batch.downloadMs, ref.downloadMs),
      target: '',
    },
  ];
}

/**
 * A CSV predict larger than upstream's per-call limit, end to end through api, worker and emulator:
 * the api streams the upload into parquet parts, the worker predicts it in chunks of the emulator's
 * limit (PREDICT_CHUNK_CONCURRENCY in flight) and stores each. Measured at each emulator latency
 * against the same rows in one upstream call (the limit raised), in the same run, one worker process.
 * Every run checks its result has one NDJSON line per row; a failed job stops the bench with its error
 * and the worker's log lines about it.
 */
export async function batchScenario(s: BatchSettings): Promise<{ rows: Row[]; raw: unknown }> {
  const file = await predictCsv(s.rows, s.cols);
  const warmFile = await predictCsv(5_000, s.cols);
  const size = statSync(file).size;
  const { stack, stop } = await startStack(s);
  const runs = new Map(s.latenciesMs.map((l) => [l, { batch: [] as Measured[], reference: [] as Measured[] }]));
  try {
    // Warms the api's CSV intake and the worker's batch path (2 parts, 2 chunks) before anything is timed.
    await predictOnce(stack, warmFile, 5_000, 2_500, 0);
    // Interleaved, so a slow moment of the shared machine hits batch and reference alike.
    for (let i = 0; i < s.repeats; i++) {
      for (const [latencyMs, r] of runs) {
        r.batch.push(await predictOnce(stack, file, s.rows, s.chunkRows, latencyMs));
        r.reference.push(await predictOnce(stack, file, s.rows, s.referenceLimit, latencyMs));
      }
    }
  } finally {
    await stop();
  }
  const rows = [...runs].flatMap(([latencyMs, r]) => rowsFor(s, latencyMs, r.batch, r.reference, size));
  return { rows, raw: { size, runs: Object.fromEntries(runs) } };
}
