import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { VALID_TOKEN } from '../helpers/emulator.js';
import { jsonCells, loadDataset, split } from '../helpers/datasets.js';
import { type Stack, startStack, waitForJob } from '../helpers/stack.js';
import { freePort, metricValue, startReceiver, until } from './support.js';

let stack: Stack;
let workerMetricsUrl: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  const port = await freePort();
  workerMetricsUrl = `http://127.0.0.1:${port}/metrics`;
  receiver = await startReceiver();
  stack = await startStack({ apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' }, workerEnv: { METRICS_PORT: String(port), METRICS_HOST: '127.0.0.1' } });
  await stack.worker.waitFor(/worker metrics listening/);

  // One fit and one predict (with a webhook), then one predict that upstream refuses.
  const { client } = await stack.account();
  const s = split(loadDataset('iris'));
  const fit = await client.post('/v1/models/fit', { features: jsonCells(s.trainX), target: s.trainY, webhook_url: receiver.url });
  expect((await waitForJob(client, fit.body.job_id)).status).toBe('succeeded');
  const ok = await client.post(`/v1/models/${fit.body.model_id}/predict`, { features: jsonCells(s.testX) });
  expect((await waitForJob(client, ok.body.job_id)).status).toBe('succeeded');
  stack.emulator.state.addFault({ route: 'predict', status: 400, count: 1, message: 'bad column', token: VALID_TOKEN });
  const bad = await client.post(`/v1/models/${fit.body.model_id}/predict`, { features: jsonCells(s.testX.slice(0, 3)) });
  expect((await waitForJob(client, bad.body.job_id)).status).toBe('failed');
  await until(async () => (receiver.received.length > 0 ? true : undefined), 'the webhook');
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

describe('api /metrics', () => {
  it('shows HTTP latency by route and status, jobs by type and status, and queue depth', async () => {
    const res = await fetch(`${stack.api.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(metricValue(text, 'http_request_duration_seconds_count', { method: 'POST', route: '/v1/models/fit', status: '202' })).toBe(1);
    expect(metricValue(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/v1/jobs/:job_id', status: '200' })).toBeGreaterThan(0);
    expect(metricValue(text, 'tabpfn_jobs_jobs', { type: 'fit', status: 'succeeded' })).toBe(1);
    expect(metricValue(text, 'tabpfn_jobs_jobs', { type: 'predict', status: 'succeeded' })).toBe(1);
    expect(metricValue(text, 'tabpfn_jobs_jobs', { type: 'predict', status: 'failed' })).toBe(1);
    expect(text).toMatch(/^tabpfn_jobs_queue_depth\{[^}]*queue="fit"[^}]*state="waiting"[^}]*\} \d+/m);
    expect(metricValue(text, 'tabpfn_jobs_queue_depth', { queue: 'fit', state: 'completed' })).toBeGreaterThan(0);
    // Ids never become labels.
    expect(text).not.toMatch(/route="\/v1\/jobs\/[0-9a-f]{8}-/);
  });
});

describe('worker /metrics', () => {
  it('shows job duration by type and outcome, final statuses, upstream latency and errors, webhook attempts', async () => {
    const text = await (await fetch(workerMetricsUrl)).text();
    expect(metricValue(text, 'tabpfn_jobs_job_duration_seconds_count', { type: 'fit', outcome: 'succeeded' })).toBe(1);
    expect(metricValue(text, 'tabpfn_jobs_job_duration_seconds_count', { type: 'predict', outcome: 'succeeded' })).toBe(1);
    expect(metricValue(text, 'tabpfn_jobs_job_duration_seconds_count', { type: 'predict', outcome: 'failed' })).toBe(1);
    expect(metricValue(text, 'tabpfn_jobs_finished_total', { type: 'fit', status: 'succeeded' })).toBe(1);
    expect(metricValue(text, 'tabpfn_jobs_upstream_duration_seconds_count', { operation: 'fit', outcome: 'ok' })).toBe(1);
    expect(metricValue(text, 'tabpfn_jobs_upstream_duration_seconds_count', { operation: 'predict' })).toBe(2);
    expect(metricValue(text, 'tabpfn_jobs_upstream_errors_total', { operation: 'predict' })).toBe(1);
    const attempts = await until(async () => {
      const t = await (await fetch(workerMetricsUrl)).text();
      const n = metricValue(t, 'tabpfn_jobs_webhook_attempts_total', { outcome: 'delivered' });
      return n > 0 ? n : undefined;
    }, 'a counted webhook attempt');
    expect(attempts).toBeGreaterThan(0);
    expect(text).toContain('process_cpu_seconds_total');
  });
});
