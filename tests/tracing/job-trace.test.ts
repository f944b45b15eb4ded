/**
 * OpenTelemetry tracing across processes: emulator, api and worker run as real processes, api and
 * worker exporting to a local OTLP receiver. A fit whose first attempt fails upstream, and a predict
 * submitted while that fit runs (parked), each give one trace: submit → queue → attempts → upstream
 * calls → webhook, with the parked predict linked to the fit that released it. Then the raw export
 * is searched for every secret and dataset value the run handled.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TEST_ENCRYPTION_KEYS } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { VALID_TOKEN } from '../helpers/emulator.js';
import { type Json, request } from '../helpers/http.js';
import { type ExportedSpan, type OtlpReceiver, startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { type AppProcess, spawnApp } from '../helpers/processes.js';
import { type TestRedis, createTestRedis } from '../helpers/redis.js';
import { type Receiver, startReceiver } from '../webhooks/support.js';

const SERVER = 2;
const PRODUCER = 4;
const ERROR = 2;

/** Cell values that must never reach a span (distinct enough that no id or hash can contain them). */
const FIT_CELLS = ['cellfit-alpha-7731', 'cellfit-beta-7732'];
const LABELS = ['label-north-5521', 'label-south-5522'];
const PREDICT_CELL = 'cellpredict-gamma-9913';
/** A credential in the webhook URL's query, as some receivers want one. */
const RECEIVER_CREDENTIAL = 'receiver-credential-8812';

const urlOf = (line: string) => JSON.parse(line).url as string;

interface Run {
  apiKey: string;
  webhookSecret: string;
  fit: Json;
  predict: Json;
  fitTrace: string;
  predictTrace: string;
}

let otlp: OtlpReceiver;
let hooks: Receiver;
let db: TestDatabase;
let redis: TestRedis;
let worker: AppProcess;
let run: Run;

async function startStack(): Promise<{ apiUrl: string; emulatorUrl: string }> {
  const emulator = spawnApp('emulator', { EMULATOR_PORT: '0', EMULATOR_CONTROL: 'true', EMULATOR_TOKENS: VALID_TOKEN });
  const emulatorUrl = urlOf(await emulator.waitFor(/emulator listening/));
  const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' };
  const common = {
    ...tracing,
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    TABPFN_API_URL: emulatorUrl,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    WEBHOOK_ALLOW_PRIVATE: 'true',
  };
  const api = spawnApp('api', { ...common, PORT: '0', HOST: '127.0.0.1', MIGRATE_ON_START: 'false' });
  worker = spawnApp('worker', { ...common, JOB_BACKOFF_BASE_MS: '100', JOB_BACKOFF_MAX_MS: '300', METRICS_PORT: '0' });
  const [apiLine] = await Promise.all([api.waitFor(/api listening/), worker.waitFor(/worker started/)]);
  return { apiUrl: urlOf(apiLine), emulatorUrl };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The fit (first attempt refused upstream, then fitted asynchronously with polls) and a predict parked behind it. */
async function runJobs(apiUrl: string, emulatorUrl: string): Promise<Run> {
  const emu = request(emulatorUrl);
  // Asynchronous fits (submit_fit_job, then status polls) that stay pending long enough to park a predict.
  await fetch(`${emulatorUrl}/_emulator/config`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ asyncThresholdBytes: 0, fitLatencyMs: 2500, retryInSecs: 0.2 }),
  });
  await emu.post('/_emulator/faults', { route: 'submit_fit_job', status: 503, count: 1 });

  const setup = await request(apiUrl).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN });
  expect(setup.status).toBe(201);
  const apiKey = setup.body.api_key as string;
  const client = request(apiUrl, apiKey);
  const secret = await client.get('/v1/webhooks/secret');
  const webhook_url = `${hooks.url}/hook?token=${RECEIVER_CREDENTIAL}`;

  const fit = await client.post('/v1/models/fit', {
    features: [
      [1.5, FIT_CELLS[0]],
      [2.5, FIT_CELLS[1]],
      [3.5, FIT_CELLS[0]],
      [4.5, FIT_CELLS[1]],
    ],
    target: [LABELS[0], LABELS[1], LABELS[0], LABELS[1]],
    webhook_url,
  });
  expect(fit.status).toBe(202);
  const predict = await client.post(`/v1/models/${fit.body.model_id}/predict`, { features: [[2.0, PREDICT_CELL]], webhook_url });
  expect(predict.status).toBe(202);

  const finished = async (id: string) => {
    const job = await client.get(`/v1/jobs/${id}`);
    return job.body.status === 'succeeded' ? (job.body as Json) : undefined;
  };
  const [fitDone, predictDone] = await Promise.all([
    until('the fit to succeed', () => finished(fit.body.job_id)),
    until('the predict to succeed', () => finished(predict.body.job_id)),
  ]);
  return {
    apiKey,
    webhookSecret: secret.body.secret as string,
    fit: fitDone,
    predict: predictDone,
    fitTrace: fit.body.trace_id as string,
    predictTrace: predict.body.trace_id as string,
  };
}

const named = (spans: ExportedSpan[], name: string, jobId?: string) =>
  spans.filter((s) => s.name === name && (jobId === undefined || s.attributes['tabpfn_jobs.job.id'] === jobId));

/**
 * Whether every ancestor of `span` up to its trace's root has arrived. A process exports a span when it
 * ends, after its children, so with its whole parent chain present everything below those spans is too.
 */
function chainComplete(spans: ExportedSpan[], span: ExportedSpan | undefined): boolean {
  if (!span) return false;
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  for (let p = span.parentSpanId; p; p = byId.get(p)?.parentSpanId) if (!byId.has(p)) return false;
  return true;
}

/** Whether `ancestor` is on `span`'s parent chain (within the spans received). */
function descends(spans: ExportedSpan[], span: ExportedSpan, ancestor: ExportedSpan): boolean {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  for (let p = span.parentSpanId; p; p = byId.get(p)?.parentSpanId) if (p === ancestor.spanId) return true;
  return false;
}

beforeAll(async () => {
  [otlp, hooks, db] = await Promise.all([startOtlpReceiver(), startReceiver(), createTestDatabase()]);
  redis = createTestRedis();
  const { apiUrl, emulatorUrl } = await startStack();
  run = await runJobs(apiUrl, emulatorUrl);
  // The last spans of each trace (the webhook attempts, the fit's first attempt), each with its whole
  // chain up to the api's request: then every span the tests read has arrived.
  const { fit, predict } = run;
  await otlp.waitFor("both jobs' webhook attempts and the fit's two attempts, with their parents up to the request", (spans) => {
    const last = [
      ...named(spans, 'webhook attempt', fit.job_id),
      ...named(spans, 'webhook attempt', predict.job_id),
      ...named(spans, 'fit attempt', fit.job_id),
    ];
    return last.length === 4 && last.every((s) => chainComplete(spans, s)) ? true : undefined;
  });
}, 120_000);

afterAll(async () => {
  await Promise.all([otlp?.close(), hooks?.close()]);
  await redis?.cleanup();
  await db?.drop();
});

describe('one trace per job', () => {
  it('the job resource names its trace, and every span of the job is in it', () => {
    expect(run.fit.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(run.fit.trace_id).toBe(run.fitTrace);
    expect(run.predict.trace_id).toBe(run.predictTrace);
    expect(run.predictTrace).not.toBe(run.fitTrace);
    for (const [job, trace] of [
      [run.fit.job_id, run.fitTrace],
      [run.predict.job_id, run.predictTrace],
    ] as const) {
      const ofJob = otlp.spans.filter((s) => s.attributes['tabpfn_jobs.job.id'] === job);
      expect(ofJob.length).toBeGreaterThan(3);
      expect(new Set(ofJob.map((s) => s.traceId))).toEqual(new Set([trace]));
    }
  });

  it('fit: request → submit → queue → two attempts (the first failed upstream) → upstream calls → webhook', () => {
    const spans = otlp.spans.filter((s) => s.traceId === run.fitTrace);
    const [request] = spans.filter((s) => s.kind === SERVER && s.service === 'tabpfn-jobs-api' && !s.parentSpanId);
    expect(request?.name).toBe('POST /v1/models/fit');
    const [submit] = named(spans, 'submit fit');
    expect(submit?.parentSpanId).toBe(request?.spanId);
    expect(submit?.attributes).toMatchObject({
      'tabpfn_jobs.job.id': run.fit.job_id,
      'tabpfn_jobs.account.id': expect.any(String),
      'tabpfn_jobs.job.status': 'queued',
    });
    const [add] = spans.filter((s) => s.kind === PRODUCER && s.name === 'add fit.fit');
    expect(add?.parentSpanId).toBe(submit?.spanId);

    const attempts = named(spans, 'fit attempt').sort(
      (a, b) => Number(a.attributes['tabpfn_jobs.attempt']) - Number(b.attributes['tabpfn_jobs.attempt']),
    );
    expect(attempts.map((a) => a.attributes['tabpfn_jobs.attempt'])).toEqual([1, 2]);
    const [first, second] = attempts as [ExportedSpan, ExportedSpan];
    for (const a of attempts) {
      expect(a.service).toBe('tabpfn-jobs-worker');
      expect(descends(spans, a, add as ExportedSpan)).toBe(true);
      expect(a.attributes['tabpfn_jobs.account.id']).toBe(submit?.attributes['tabpfn_jobs.account.id']);
    }
    expect(first.status).toBe(ERROR);
    expect(first.attributes).toMatchObject({ 'tabpfn_jobs.attempt.outcome': 'retry', 'error.type': 'tabpfn_unavailable' });
    expect(second.attributes).toMatchObject({ 'tabpfn_jobs.attempt.outcome': 'done', 'tabpfn_jobs.job.status': 'succeeded' });

    const upstream = (attempt: ExportedSpan) =>
      spans.filter((s) => s.name.startsWith('tabpfn ') && s.parentSpanId === attempt.spanId).map((s) => s.name);
    expect(upstream(first)).toEqual(expect.arrayContaining(['tabpfn upload x_train', 'tabpfn upload y_train', 'tabpfn submit_fit_job']));
    expect(upstream(second)).toEqual(expect.arrayContaining(['tabpfn submit_fit_job', 'tabpfn get_fit_status']));
    const [refused] = spans.filter((s) => s.name === 'tabpfn submit_fit_job' && s.parentSpanId === first.spanId);
    expect(refused?.attributes).toMatchObject({ 'http.response.status_code': 503, 'error.type': '503' });

    const [webhook] = named(spans, 'webhook attempt', run.fit.job_id);
    expect(descends(spans, webhook as ExportedSpan, second)).toBe(true);
    expect(webhook?.attributes).toMatchObject({ 'tabpfn_jobs.webhook.event': 'job.succeeded', 'tabpfn_jobs.webhook.outcome': 'delivered' });
  });

  it('parked predict: its own trace, released by a span linked to the fit that ended, then attempt → upstream → webhook', () => {
    const spans = otlp.spans.filter((s) => s.traceId === run.predictTrace);
    const [request] = spans.filter((s) => s.kind === SERVER && !s.parentSpanId);
    expect(request?.name).toBe('POST /v1/models/:model_id/predict');
    const [submit] = named(spans, 'submit predict');
    expect(submit?.parentSpanId).toBe(request?.spanId);
    expect(submit?.attributes).toMatchObject({ 'tabpfn_jobs.job.id': run.predict.job_id, 'tabpfn_jobs.job.parked': true });
    // Parked: the api did not queue it.
    expect(spans.filter((s) => s.service === 'tabpfn-jobs-api' && s.kind === PRODUCER)).toEqual([]);

    const [release] = named(spans, 'release parked predict');
    expect(release?.service).toBe('tabpfn-jobs-worker');
    expect(release?.parentSpanId).toBe(submit?.spanId);
    const fitAttempt = named(otlp.spans, 'fit attempt', run.fit.job_id).find((a) => a.attributes['tabpfn_jobs.attempt'] === 2);
    expect(release?.links).toEqual([{ traceId: run.fitTrace, spanId: fitAttempt?.spanId }]);

    const [attempt] = named(spans, 'predict attempt');
    expect(descends(spans, attempt as ExportedSpan, release as ExportedSpan)).toBe(true);
    expect(attempt?.attributes).toMatchObject({
      'tabpfn_jobs.attempt': 1,
      'tabpfn_jobs.job.status': 'succeeded',
      'tabpfn_jobs.attempt.outcome': 'done',
    });
    expect(spans.filter((s) => s.name === 'tabpfn predict' && s.parentSpanId === attempt?.spanId)).toHaveLength(1);
    const [webhook] = named(spans, 'webhook attempt', run.predict.job_id);
    expect(descends(spans, webhook as ExportedSpan, attempt as ExportedSpan)).toBe(true);
  });

  it('log lines written inside a span carry its trace_id and span_id', () => {
    const finished = worker.output
      .map((l) => (l.startsWith('{') ? JSON.parse(l) : {}))
      .find((l) => l.msg === 'job finished' && l.job_id === run.fit.job_id);
    expect(finished).toMatchObject({ trace_id: run.fitTrace, span_id: expect.stringMatching(/^[0-9a-f]{16}$/) });
  });
});

describe('what spans never carry', () => {
  it('no API key, TabPFN token, webhook secret, receiver credential or dataset value anywhere in the export', () => {
    const exported = otlp.raw.join('\n');
    expect(exported.length).toBeGreaterThan(10_000);
    const secrets = {
      apiKey: run.apiKey,
      tabpfnToken: VALID_TOKEN,
      webhookSecret: run.webhookSecret,
      receiverCredential: RECEIVER_CREDENTIAL,
    };
    for (const [what, value] of Object.entries(secrets)) {
      expect(value.length).toBeGreaterThan(10);
      expect({ what, found: exported.includes(value) }).toEqual({ what, found: false });
    }
    // A secret's distinctive part alone (an API key's random part, the secret without its `whsec_` prefix).
    expect(exported.includes(run.apiKey.slice(4))).toBe(false);
    expect(exported.includes(run.webhookSecret.replace(/^whsec_/, ''))).toBe(false);
    for (const cell of [...FIT_CELLS, ...LABELS, PREDICT_CELL])
      expect({ cell, found: exported.includes(cell) }).toEqual({ cell, found: false });
  });
});
