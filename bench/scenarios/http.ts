import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { SMALL_PREDICT, fitSmallModel, setupAccount, submitPredict } from '../client.js';
import { type LoadResult, load, median } from '../load.js';
import { type Row, fmt } from '../report.js';
import { DATABASE_URL, QUEUE_PREFIX, REDIS_URL, TOKENS, startApi, startEmulator, startWorkers } from '../stack.js';

export interface HttpSettings {
  connections: number;
  durationSeconds: number;
  rounds: number;
}

interface Medians {
  hello: LoadResult;
  helloStack: LoadResult;
  submit: LoadResult;
  poll: LoadResult;
}

/**
 * Submit and poll against hello-world routes on the same api process. The runs interleave
 * (hello, submit, hello-stack, poll, repeat) so background noise hits baseline and subject alike;
 * the median of each is reported. No worker runs during the load: this measures the api alone.
 */
export async function httpScenario(s: HttpSettings): Promise<{ rows: Row[]; raw: unknown }> {
  const emulator = await startEmulator({ fit: 0, predict: 0 });
  let api = await startApi(emulator.url);
  const account = await setupAccount(api.url, TOKENS[0]!);
  const workers = await startWorkers(1, emulator.url);
  const modelId = await fitSmallModel(api.url, account.apiKey);
  const done = await submitPredict(api.url, account.apiKey, modelId, true);
  if (done.body?.status !== 'succeeded') throw new Error(`predict did not succeed: ${JSON.stringify(done.body)}`);
  const jobId = done.body.job_id as string;
  await Promise.all(workers.map((w) => w.stop()));

  const sql = new pg.Client({ connectionString: DATABASE_URL });
  await sql.connect();
  const queueRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const predictQueue = new Queue('predict', { connection: queueRedis, prefix: QUEUE_PREFIX });
  /** Submitted jobs pile up with no worker; clear them so every round starts from the same state. */
  const clearBacklog = async () => {
    await sql.query(`UPDATE jobs SET status = 'canceled', finished_at = now(), updated_at = now() WHERE status = 'queued'`);
    await predictQueue.obliterate({ force: true });
  };

  const auth = { authorization: `Bearer ${account.apiKey}` };
  const run = (path: string, extra: Partial<Parameters<typeof load>[0]> = {}, seconds = s.durationSeconds) =>
    load({ url: `${api.url}${path}`, connections: s.connections, durationSeconds: seconds, ...extra });
  const submitOpts = {
    method: 'POST' as const,
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(SMALL_PREDICT),
  };

  const measure = async (rounds: number) => {
    // Warm-up: JIT, connection pools, prepared plans.
    await run('/_bench/hello', {}, 1);
    await run(`/v1/models/${modelId}/predict`, submitOpts, 1);
    await run(`/v1/jobs/${jobId}`, { headers: auth }, 1);
    await clearBacklog();
    const runs: Record<keyof Medians, LoadResult[]> = { hello: [], helloStack: [], submit: [], poll: [] };
    for (let i = 0; i < rounds; i++) {
      runs.hello.push(await run('/_bench/hello'));
      runs.submit.push(await run(`/v1/models/${modelId}/predict`, submitOpts));
      await clearBacklog();
      runs.helloStack.push(await run('/_bench/hello-stack'));
      runs.poll.push(await run(`/v1/jobs/${jobId}`, { headers: auth }));
    }
    const pick = (xs: LoadResult[]) => xs.find((x) => x.reqPerSec === median(xs.map((y) => y.reqPerSec))) ?? xs[0]!;
    const out = Object.fromEntries(
      Object.entries(runs).map(([k, v]) => [
        k,
        { ...pick(v), reqPerSec: median(v.map((x) => x.reqPerSec)), all: v.map((x) => Math.round(x.reqPerSec)) },
      ]),
    );
    return out as unknown as Medians & Record<keyof Medians, { all: number[] }>;
  };

  const warn = await measure(s.rounds);
  await api.service.stop();
  // The default log level: pino-http writes one line per request.
  api = await startApi(emulator.url, { LOG_LEVEL: 'info' }, 'api-loginfo');
  const info = await measure(Math.max(1, Math.ceil(s.rounds / 2)));
  await api.service.stop();
  await sql.end();
  await predictQueue.close();
  queueRedis.disconnect();
  await emulator.service.stop();

  const rows: Row[] = [];
  const ratioRow = (scenario: string, metric: string, subject: LoadResult, base: LoadResult, baseLabel: string, target?: number): Row => {
    const ratio = subject.reqPerSec / base.reqPerSec;
    return {
      scenario,
      metric,
      value: `${fmt.rps(subject.reqPerSec)} (p99 ${fmt.ms(subject.p99Ms)})`,
      baseline: `${baseLabel} ${fmt.rps(base.reqPerSec)}`,
      comparison: fmt.pct(ratio),
      target: target === undefined ? '' : `≥ ${fmt.pct(target)}`,
      ...(target === undefined ? {} : { pass: ratio >= target }),
    };
  };
  rows.push(ratioRow('1 submit', 'POST /v1/models/{id}/predict, LOG_LEVEL=warn', warn.submit, warn.hello, 'hello', 0.3));
  rows.push(ratioRow('1 submit', 'same, vs hello behind global middleware', warn.submit, warn.helloStack, 'hello-stack'));
  rows.push(ratioRow('1 submit', 'same, LOG_LEVEL=info (default)', info.submit, info.hello, 'hello'));
  rows.push(ratioRow('2 poll', 'GET /v1/jobs/{id}, LOG_LEVEL=warn', warn.poll, warn.hello, 'hello', 0.6));
  rows.push(ratioRow('2 poll', 'same, vs hello behind global middleware', warn.poll, warn.helloStack, 'hello-stack'));
  rows.push(ratioRow('2 poll', 'same, LOG_LEVEL=info (default)', info.poll, info.hello, 'hello'));
  return { rows, raw: { warn, info } };
}
