import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { fitSmallModel, setupAccount, smallTrainSet, submitPredict } from '../client.js';
import { type LoadResult, load, median } from '../load.js';
import { startOtlpSink } from '../otlp-sink.js';
import { type Row, fmt } from '../report.js';
import { DATABASE_URL, QUEUE_PREFIX, REDIS_URL, TOKENS, startApi, startEmulator, startWorkers } from '../stack.js';

export interface TracingSettings {
  connections: number;
  durationSeconds: number;
  rounds: number;
}

const KINDS = ['offPoll', 'onPoll', 'offSubmit', 'onSubmit'] as const;
type Kind = (typeof KINDS)[number];

const PREDICT_BODY = JSON.stringify({ features: smallTrainSet(5, 4).features });

/**
 * The cost of tracing on the request path: two api processes on the same database, one as deployed
 * (tracing off: the SDK is not loaded) and one exporting every span (OTLP/HTTP protobuf, the SDK's
 * default batching) to a local sink; poll and submit against each, interleaved per round, medians
 * reported as traced / untraced. No worker runs during the load (as in the http scenario). The
 * untraced figures are today's api; the http scenario sets them against the reference server.
 */
export async function tracingScenario(s: TracingSettings): Promise<{ rows: Row[]; raw: unknown }> {
  const emulator = await startEmulator({ fit: 0, predict: 0 });
  const sink = await startOtlpSink();
  const [off, on] = await Promise.all([
    startApi(emulator.url, {}, 'api-tracing-off'),
    startApi(emulator.url, { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_SERVICE_NAME: 'tabpfn-jobs-api-bench' }, 'api-tracing-on'),
  ]);
  const account = await setupAccount(off.url, TOKENS[0]!);
  const workers = await startWorkers(1, emulator.url);
  const modelId = await fitSmallModel(off.url, account.apiKey);
  const done = await submitPredict(off.url, account.apiKey, modelId, true);
  if (done.body?.status !== 'succeeded') throw new Error(`predict did not succeed: ${JSON.stringify(done.body)}`);
  await Promise.all(workers.map((w) => w.stop()));

  const sql = new pg.Client({ connectionString: DATABASE_URL });
  await sql.connect();
  const queueRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const predictQueue = new Queue('predict', { connection: queueRedis, prefix: QUEUE_PREFIX });
  /** Submitted jobs pile up with no worker; cleared so every submit run starts from the same state. */
  const clearBacklog = async () => {
    await sql.query(`UPDATE jobs SET status = 'canceled', finished_at = now(), updated_at = now() WHERE status = 'queued'`);
    await predictQueue.obliterate({ force: true });
  };

  const auth = { authorization: `Bearer ${account.apiKey}` };
  const submit = {
    method: 'POST' as const,
    headers: { ...auth, 'content-type': 'application/json' },
    body: PREDICT_BODY,
    allowNon2xx: true,
  };
  const poll = { headers: auth, allowNon2xx: true };
  const targets: Record<Kind, Parameters<typeof load>[0]> = {
    offPoll: { url: `${off.url}/v1/jobs/${done.body.job_id}`, ...poll, connections: s.connections, durationSeconds: s.durationSeconds },
    onPoll: { url: `${on.url}/v1/jobs/${done.body.job_id}`, ...poll, connections: s.connections, durationSeconds: s.durationSeconds },
    offSubmit: {
      url: `${off.url}/v1/models/${modelId}/predict`,
      ...submit,
      connections: s.connections,
      durationSeconds: s.durationSeconds,
    },
    onSubmit: { url: `${on.url}/v1/models/${modelId}/predict`, ...submit, connections: s.connections, durationSeconds: s.durationSeconds },
  };
  const run = async (kind: Kind, seconds = s.durationSeconds) => {
    const r = await load({ ...targets[kind], durationSeconds: seconds });
    if (kind.endsWith('Submit')) await clearBacklog();
    return r;
  };
  await clearBacklog();
  for (const k of KINDS) await run(k, 1); // warm-up: JIT, pools, prepared plans
  const runs = Object.fromEntries(KINDS.map((k) => [k, [] as LoadResult[]])) as Record<Kind, LoadResult[]>;
  for (let i = 0; i < s.rounds; i++) for (const k of KINDS) runs[k].push(await run(k));

  const exported = { requests: sink.exports(), bytes: sink.bytes() };
  if (exported.requests === 0) throw new Error('the traced api exported nothing: tracing did not start (see its log)');
  await Promise.all([off.service.stop(), on.service.stop(), emulator.service.stop()]);
  await sink.close();
  await sql.end();
  await predictQueue.close();
  queueRedis.disconnect();

  const rps = (k: Kind) => median(runs[k].map((r) => r.reqPerSec));
  const non2xx = KINDS.reduce((n, k) => n + runs[k].reduce((m, r) => m + r.non2xx, 0), 0);
  const row = (route: 'poll' | 'submit', offKind: Kind, onKind: Kind): Row => ({
    scenario: '7 tracing',
    metric: `${route === 'poll' ? 'GET /v1/jobs/{id}' : 'POST /v1/models/{id}/predict (5 rows)'}, tracing on / off`,
    value: `${fmt.rps(rps(onKind))} traced`,
    baseline: `${fmt.rps(rps(offKind))} untraced`,
    comparison: fmt.pct(rps(onKind) / rps(offKind)),
    target: non2xx ? `${non2xx} non-2xx` : '',
  });
  return {
    rows: [row('submit', 'offSubmit', 'onSubmit'), row('poll', 'offPoll', 'onPoll')],
    raw: { runs, exported },
  };
}
