import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { fitSmallModel, setupAccount, smallTrainSet, submitPredict } from '../client.js';
import { type LoadResult, load, median } from '../load.js';
import type { Service } from '../processes.js';
import { type Row, fmt } from '../report.js';
import { DATABASE_URL, QUEUE_PREFIX, REDIS_URL, REFERENCE_QUEUE, TOKENS, startApi, startEmulator, startReference, startWorkers } from '../stack.js';

export interface HttpSettings {
  connections: number;
  durationSeconds: number;
  rounds: number;
}

const KINDS = ['hello', 'helloStack', 'apiPoll', 'refPoll', 'apiSubmit', 'refSubmit'] as const;
type Kind = (typeof KINDS)[number];
/** The median run of a kind, its req/s replaced by the median of all its runs; non-2xx summed over all of them. */
type Measured = LoadResult & { all: number[]; non2xxTotal: number };
type Pass = Record<Kind, Measured>;

/** The submit's body: 5 rows of the model's 4 features, for the api and the reference alike. */
const PREDICT_BODY = JSON.stringify({ features: smallTrainSet(5, 4).features });
/** The targets: api / reference. */
const TARGET = { poll: 0.8, submit: 0.5 };

interface Setup {
  emulator: { service: Service; url: string };
  api: { service: Service; url: string };
  apiKey: string;
  modelId: string;
  jobId: string;
}

/** Account, a fitted model and one succeeded predict, made through the real api; the one worker that ran them is stopped. */
async function setUp(): Promise<Setup> {
  const emulator = await startEmulator({ fit: 0, predict: 0 });
  const api = await startApi(emulator.url);
  const account = await setupAccount(api.url, TOKENS[0]!);
  const workers = await startWorkers(1, emulator.url);
  const modelId = await fitSmallModel(api.url, account.apiKey);
  const done = await submitPredict(api.url, account.apiKey, modelId, true);
  if (done.body?.status !== 'succeeded') throw new Error(`predict did not succeed: ${JSON.stringify(done.body)}`);
  await Promise.all(workers.map((w) => w.stop()));
  return { emulator, api, apiKey: account.apiKey, modelId, jobId: done.body.job_id as string };
}

/**
 * Before any load: the reference answers the same job resource as the api, refuses what the api
 * refuses, and its submit writes a queued job row and a BullMQ job. And no worker consumes a queue.
 */
async function checkReference(ref: string, api: string, s: Setup, refQueue: Queue, predictQueue: Queue): Promise<number> {
  const get = async (url: string, key = s.apiKey) => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
    return { status: res.status, text: await res.text() };
  };
  const [fromApi, fromRef] = await Promise.all([get(`${api}/v1/jobs/${s.jobId}`), get(`${ref}/ref/jobs/${s.jobId}`)]);
  if (fromApi.status !== 200 || fromRef.status !== 200 || fromApi.text !== fromRef.text) {
    throw new Error(`reference poll differs from the api's:\napi ${fromApi.status} ${fromApi.text}\nref ${fromRef.status} ${fromRef.text}`);
  }
  const wrongKey = await get(`${ref}/ref/jobs/${s.jobId}`, `tpk_${'A'.repeat(43)}`);
  const noJob = await get(`${ref}/ref/jobs/${randomUUID()}`);
  if (wrongKey.status !== 401 || noJob.status !== 404) throw new Error(`reference: unknown key ${wrongKey.status}, unknown job ${noJob.status}`);
  const res = await fetch(`${ref}/ref/models/${s.modelId}/predict`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.apiKey}`, 'content-type': 'application/json' },
    body: PREDICT_BODY,
  });
  const body = (await res.json()) as { job_id?: string; status?: string };
  const queued = body.job_id ? await refQueue.getJob(body.job_id) : undefined;
  if (res.status !== 202 || body.status !== 'queued' || !queued) throw new Error(`reference submit: ${res.status} ${JSON.stringify(body)}`);
  const polled = await get(`${api}/v1/jobs/${body.job_id}`);
  if (polled.status !== 200) throw new Error(`the api cannot read the reference's job: ${polled.status} ${polled.text}`);
  const workers = (await predictQueue.getWorkersCount()) + (await refQueue.getWorkersCount());
  if (workers !== 0) throw new Error(`${workers} BullMQ workers are connected during the HTTP scenario`);
  return workers;
}

function summarise(runs: Record<Kind, LoadResult[]>, warmup: Partial<Record<Kind, LoadResult>>): Pass {
  const pick = (xs: LoadResult[]) => xs.find((x) => x.reqPerSec === median(xs.map((y) => y.reqPerSec))) ?? xs[0]!;
  const out = {} as Pass;
  for (const k of KINDS) {
    const v = runs[k];
    out[k] = {
      ...pick(v),
      reqPerSec: median(v.map((x) => x.reqPerSec)),
      all: v.map((x) => Math.round(x.reqPerSec)),
      non2xxTotal: [...v, ...(warmup[k] ? [warmup[k]] : [])].reduce((n, x) => n + x.non2xx, 0),
    };
  }
  return out;
}

/**
 * Submit and poll against the api and the reference, interleaved in one run (per round: hello,
 * hello-stack, api poll, reference poll, api submit, reference submit), the median of each reported.
 * Then the api again at LOG_LEVEL=info (default), against the same reference. No worker process runs
 * during the load: the one that made the model and the polled job is stopped first (checked: the
 * queues have no worker connected), so no job processing shares the cores.
 */
export async function httpScenario(s: HttpSettings): Promise<{ rows: Row[]; raw: unknown }> {
  const setup = await setUp();
  let api = setup.api;
  const ref = await startReference();

  const sql = new pg.Client({ connectionString: DATABASE_URL });
  await sql.connect();
  const queueRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const predictQueue = new Queue('predict', { connection: queueRedis, prefix: QUEUE_PREFIX });
  const refQueue = new Queue(REFERENCE_QUEUE, { connection: queueRedis, prefix: QUEUE_PREFIX });
  const workersDuringLoad = await checkReference(ref.url, api.url, setup, refQueue, predictQueue);
  /** Submitted jobs pile up with no worker; clear them so every submit run starts from the same state. */
  const clearBacklog = async () => {
    await sql.query(`UPDATE jobs SET status = 'canceled', finished_at = now(), updated_at = now() WHERE status = 'queued'`);
    await predictQueue.obliterate({ force: true });
    await refQueue.obliterate({ force: true });
  };
  await clearBacklog();

  const auth = { authorization: `Bearer ${setup.apiKey}` };
  const submitOpts = { method: 'POST' as const, headers: { ...auth, 'content-type': 'application/json' }, body: PREDICT_BODY };
  const target = (): Record<Kind, { url: string; opts?: Partial<Parameters<typeof load>[0]> }> => ({
    hello: { url: `${api.url}/_bench/hello` },
    helloStack: { url: `${api.url}/_bench/hello-stack` },
    apiPoll: { url: `${api.url}/v1/jobs/${setup.jobId}`, opts: { headers: auth, allowNon2xx: true } },
    refPoll: { url: `${ref.url}/ref/jobs/${setup.jobId}`, opts: { headers: auth, allowNon2xx: true } },
    apiSubmit: { url: `${api.url}/v1/models/${setup.modelId}/predict`, opts: { ...submitOpts, allowNon2xx: true } },
    refSubmit: { url: `${ref.url}/ref/models/${setup.modelId}/predict`, opts: { ...submitOpts, allowNon2xx: true } },
  });
  const run = async (kind: Kind, seconds = s.durationSeconds) => {
    const t = target()[kind];
    const r = await load({ url: t.url, connections: s.connections, durationSeconds: seconds, ...t.opts });
    if (kind === 'apiSubmit' || kind === 'refSubmit') await clearBacklog();
    return r;
  };

  const measure = async (rounds: number): Promise<Pass> => {
    // Warm-up: JIT, connection pools, prepared plans.
    const warmup: Partial<Record<Kind, LoadResult>> = {};
    for (const k of KINDS) warmup[k] = await run(k, 1);
    const runs = Object.fromEntries(KINDS.map((k) => [k, [] as LoadResult[]])) as Record<Kind, LoadResult[]>;
    for (let i = 0; i < rounds; i++) for (const k of KINDS) runs[k].push(await run(k));
    return summarise(runs, warmup);
  };

  const warn = await measure(s.rounds);
  await api.service.stop();
  // The default log level: pino-http writes one line per request.
  api = await startApi(setup.emulator.url, { LOG_LEVEL: 'info' }, 'api-loginfo');
  const info = await measure(Math.max(1, Math.ceil(s.rounds / 2)));
  await api.service.stop();
  await ref.service.stop();
  await sql.end();
  await predictQueue.close();
  await refQueue.close();
  queueRedis.disconnect();
  await setup.emulator.service.stop();

  return { rows: [...routeRows('submit', warn, info), ...routeRows('poll', warn, info)], raw: { warn, info, workersDuringLoad } };
}

const figure = (m: Measured) => `${fmt.rps(m.reqPerSec)} (p99 ${fmt.ms(m.p99Ms)}), ${m.non2xxTotal} non-2xx`;

function routeRows(route: 'poll' | 'submit', warn: Pass, info: Pass): Row[] {
  const [scenario, name, apiKind, refKind] =
    route === 'poll'
      ? (['2 poll', 'GET /v1/jobs/{id}', 'apiPoll', 'refPoll'] as const)
      : (['1 submit', 'POST /v1/models/{id}/predict (5 rows)', 'apiSubmit', 'refSubmit'] as const);
  const vsRef = (pass: Pass, metric: string, target?: number): Row => {
    const ratio = pass[apiKind].reqPerSec / pass[refKind].reqPerSec;
    const clean = pass[apiKind].non2xxTotal === 0 && pass[refKind].non2xxTotal === 0;
    return {
      scenario,
      metric,
      value: figure(pass[apiKind]),
      baseline: `reference ${figure(pass[refKind])}`,
      comparison: fmt.pct(ratio),
      target: target === undefined ? '' : `≥ ${fmt.pct(target)}, 0 non-2xx`,
      ...(target === undefined ? {} : { pass: ratio >= target && clean }),
    };
  };
  const context = (metric: string, subject: Measured, base: Measured, baseLabel: string): Row => ({
    scenario,
    metric,
    value: `${fmt.rps(subject.reqPerSec)} (p99 ${fmt.ms(subject.p99Ms)})`,
    baseline: `${baseLabel} ${fmt.rps(base.reqPerSec)}`,
    comparison: fmt.pct(subject.reqPerSec / base.reqPerSec),
    target: '',
  });
  return [
    vsRef(warn, `${name}, api / reference, LOG_LEVEL=warn`, TARGET[route]),
    vsRef(info, `same, api at LOG_LEVEL=info (default) / reference`),
    context(`context: api ${route} vs bare hello`, warn[apiKind], warn.hello, 'hello'),
    context(`context: api ${route} vs hello behind global middleware`, warn[apiKind], warn.helloStack, 'hello-stack'),
    context(`context: reference ${route} vs bare hello`, warn[refKind], warn.hello, 'hello'),
  ];
}
