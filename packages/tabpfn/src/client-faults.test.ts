import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { RunningEmulator } from '@tabpfn-jobs/tabpfn-emulator';
import { encodeFeatures, encodeTarget } from './encode.js';
import {
  BadRequestError,
  ClientTooOldError,
  FitFailedError,
  FitTimeoutError,
  QuotaExhaustedError,
  RateLimitedError,
  StreamedError,
  TokenInvalidError,
  UploadFailedError,
  UpstreamUnavailableError,
} from './errors.js';
import { startTestEmulator, TOKEN, testClient } from '../../../tests/helpers/tabpfn-client.js';

let emulator: RunningEmulator;
const x = encodeFeatures([
  [1, 'a'],
  [2, 'b'],
  [3, 'a'],
  [4, 'b'],
]);
const y = encodeTarget(['u', 'v', 'u', 'v']);
const xTest = encodeFeatures([[1.5, 'a']]);
const fitInput = { x: x.bytes, y: y.bytes, task: 'classification' as const };

beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(async () => {
  await emulator.close();
});
beforeEach(() => {
  emulator.state.reset();
});

async function fitted(client = testClient(emulator)): Promise<string> {
  return (await client.fit(fitInput)).fittedTrainSetId;
}

describe('upstream failures surface as typed errors', () => {
  it('retries an injected 503 on fit once and succeeds', async () => {
    emulator.state.addFault({ route: 'fit', status: 503, count: 1 });
    const client = testClient(emulator);
    await expect(client.fit(fitInput)).resolves.toMatchObject({ mode: 'sync' });
    expect(emulator.state.requests.filter((r) => r.route === 'fit').map((r) => r.status)).toEqual([503, 200]);
  });

  it('retries 502 on predict and on the upload PUT', async () => {
    const id = await fitted();
    emulator.state.addFault({ route: 'upload', status: 502, count: 1 });
    emulator.state.addFault({ route: 'predict', status: 504, count: 1 });
    const client = testClient(emulator);
    await expect(
      client.predict({ fittedTrainSetId: id, x: xTest.bytes, task: 'classification', outputType: 'preds' }),
    ).resolves.toMatchObject({ prediction: ['u'] });
    expect(
      emulator.state.requests
        .filter((r) => r.route === 'upload')
        .map((r) => r.status)
        .slice(-2),
    ).toEqual([502, 200]);
  });

  it('gives up after the single retry with a retryable UpstreamUnavailableError', async () => {
    emulator.state.addFault({ route: 'fit', status: 503, count: 2 });
    const err = await testClient(emulator)
      .fit(fitInput)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect(err).toMatchObject({ code: 'tabpfn_unavailable', status: 503, retryable: true });
  });

  it('does not retry a 500 on fit, but marks it retryable for the worker', async () => {
    emulator.state.addFault({ route: 'fit', status: 500, count: 1 });
    await expect(testClient(emulator).fit(fitInput)).rejects.toMatchObject({ code: 'tabpfn_unavailable', status: 500, retryable: true });
    expect(emulator.state.counters(TOKEN).fits).toBe(0);
  });

  it('does not retry prepare, and retries submit_fit_job only when the connection failed', async () => {
    emulator.state.addFault({ route: 'prepare_train_set_upload', status: 503, count: 1 });
    await expect(testClient(emulator).fit(fitInput)).rejects.toBeInstanceOf(UpstreamUnavailableError);
    emulator.state.addFault({ route: 'submit_fit_job', status: 503, count: 1 });
    await expect(testClient(emulator, { asyncThresholdBytes: 0 }).fit(fitInput)).rejects.toMatchObject({ status: 503 });
    expect(emulator.state.requests.filter((r) => r.route === 'submit_fit_job')).toHaveLength(1);
  });

  it('surfaces a 429 with Retry-After as RateLimitedError and does not retry it', async () => {
    emulator.state.addFault({
      route: 'fit',
      status: 429,
      retryAfter: 17,
      errorCode: 'RATE_LIMIT_EXCEEDED',
      message: 'Too many fit requests',
      count: 1,
    });
    const err = await testClient(emulator)
      .fit(fitInput)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(err).toMatchObject({
      code: 'tabpfn_rate_limited',
      retryAfterSeconds: 17,
      retryable: true,
      status: 429,
      upstreamMessage: 'Too many fit requests',
    });
    expect(emulator.state.counters(TOKEN).responses429).toBe(1);
  });

  it('enforces per-minute rate limits when turned on, and counts the 429s', async () => {
    const id = await fitted();
    emulator.state.setRateLimits({ predict: 1 });
    const client = testClient(emulator);
    const input = { fittedTrainSetId: id, x: xTest.bytes, task: 'classification' as const, outputType: 'preds' };
    await client.predict(input);
    const err = await client.predict(input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterSeconds).toBeGreaterThan(0);
    expect(emulator.state.counters(TOKEN).responses429).toBe(1);
  });

  it('tells an exhausted daily quota apart from a rate limit', async () => {
    const id = await fitted();
    emulator.state.configure({ dailyTokenLimit: 20_000 });
    emulator.state.setUsage(TOKEN, { daily: 15_000 });
    const err = await testClient(emulator)
      .predict({ fittedTrainSetId: id, x: xTest.bytes, task: 'classification', outputType: 'preds' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaExhaustedError);
    expect(err).toMatchObject({ code: 'tabpfn_quota_exhausted', retryable: false, status: 429 });
    expect((err as QuotaExhaustedError).retryAfterSeconds).toBeGreaterThan(0);
    expect((err as QuotaExhaustedError).message).toMatch(/Daily token limit/);
  });

  it('charges predictions with the documented formula and reports both usage field sets', async () => {
    const id = await fitted();
    const client = testClient(emulator);
    await client.predict({ fittedTrainSetId: id, x: xTest.bytes, task: 'classification', outputType: 'preds' });
    await client.predict({
      fittedTrainSetId: id,
      x: xTest.bytes,
      task: 'classification',
      outputType: 'probas',
      tabpfnConfig: { n_estimators: 4 },
      modelPath: 'tabpfn-v2-classifier-v2_default.ckpt',
    });
    const usage = await client.getUsage();
    // v3 default: max(10 000, 5 rows × 2 cols × 8); v2: max(5 000, 5 × 2 × 4).
    expect(usage).toMatchObject({
      currentUsage: 15_000,
      dailyTokensUsed: 15_000,
      usageLimit: 50_000_000,
      dailyTokenLimit: 50_000_000,
      monthlyTokensUsed: 15_000,
    });
    expect(usage.raw).toMatchObject({ current_usage: 15_000, daily_tokens_used: 15_000, monthly_token_limit: 200_000_000 });
  });

  it('maps 426 to ClientTooOldError and logs Deprecation/Sunset headers', async () => {
    const client = testClient(emulator);
    emulator.state.addFault({ route: 'prepare_train_set_upload', kind: 'client_too_old' });
    const err = await client.fit(fitInput).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientTooOldError);
    expect(err).toMatchObject({ code: 'tabpfn_client_too_old', status: 426, retryable: false });
    expect(client.warnings).toHaveLength(1);
    expect(client.warnings[0]?.obj).toMatchObject({ deprecation: 'true' });
  });

  it('warns once on a deprecation notice without failing the call', async () => {
    const client = testClient(emulator);
    emulator.state.addFault({
      route: '*',
      kind: 'headers',
      headers: { Deprecation: 'true', Sunset: 'Wed, 01 Jan 2031 00:00:00 GMT' },
      count: 5,
    });
    await client.fit(fitInput);
    expect(client.warnings).toHaveLength(1);
    expect(client.warnings[0]?.obj).toMatchObject({ sunset: 'Wed, 01 Jan 2031 00:00:00 GMT' });
  });

  it('raises on a 200 whose body is a _streamed_error envelope', async () => {
    emulator.state.addFault({ route: 'fit', kind: 'streamed_error', message: 'worker failed' });
    const err = await testClient(emulator)
      .fit(fitInput)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamedError);
    expect((err as StreamedError).message).toBe('Fail to call fit with error: streamed, worker failed');
  });

  it('raises FitFailedError when the status poll reports failed', async () => {
    emulator.state.addFault({ route: 'submit_fit_job', kind: 'fit_failed', message: 'out of memory' });
    const err = await testClient(emulator, { asyncThresholdBytes: 0 })
      .fit(fitInput)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FitFailedError);
    expect(err).toMatchObject({ code: 'tabpfn_fit_failed', upstreamMessage: 'out of memory', errorCode: 'FIT_FAILED' });
  });

  it('tolerates up to three 429/500 answers in a row while polling, and retries 503s until the deadline', async () => {
    emulator.state.configure({ fitLatencyMs: 30 });
    emulator.state.addFault({ route: 'get_fit_status', status: 500, count: 3 });
    await expect(testClient(emulator, { asyncThresholdBytes: 0 }).fit(fitInput)).resolves.toMatchObject({ mode: 'async' });
    emulator.state.addFault({ route: 'get_fit_status', status: 429, count: 4 });
    await expect(testClient(emulator, { asyncThresholdBytes: 0 }).fit(fitInput)).rejects.toBeInstanceOf(RateLimitedError);
    emulator.state.addFault({ route: 'get_fit_status', status: 503, count: 6 });
    await expect(testClient(emulator, { asyncThresholdBytes: 0 }).fit(fitInput)).resolves.toMatchObject({ mode: 'async' });
  });

  it('gives up polling at the deadline with FitTimeoutError', async () => {
    emulator.state.configure({ fitLatencyMs: 60_000, retryInSecs: 0.02 });
    const err = await testClient(emulator, { asyncThresholdBytes: 0, pollTimeoutMs: 80 })
      .fit(fitInput)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FitTimeoutError);
    expect(err).toMatchObject({ retryable: true });
  });

  it('maps an invalid token to TokenInvalidError and other 4xx to BadRequestError with the trace id', async () => {
    await expect(testClient(emulator, { token: 'nope' }).fit(fitInput)).rejects.toBeInstanceOf(TokenInvalidError);
    emulator.state.addFault({ route: 'predict', status: 400, message: 'bad columns', errorCode: 'USER_ERROR' });
    const id = await fitted();
    const err = await testClient(emulator)
      .predict({ fittedTrainSetId: id, x: xTest.bytes, task: 'classification', outputType: 'preds' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err).toMatchObject({ code: 'tabpfn_bad_request', status: 400, upstreamMessage: 'bad columns', errorCode: 'USER_ERROR' });
    expect((err as BadRequestError).traceId).toMatch(/^[0-9a-f]{32}$/);
    expect((err as BadRequestError).message).toContain('Report trace ID');
  });

  it('reports a wrong column count as a bad request from the server', async () => {
    const id = await fitted();
    const err = await testClient(emulator)
      .predict({ fittedTrainSetId: id, x: encodeFeatures([[1, 2, 3]]).bytes, task: 'classification', outputType: 'preds' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'tabpfn_bad_request', status: 400 });
  });

  it('fails an upload to an expired URL with UploadFailedError', async () => {
    emulator.state.configure({ uploadUrlTtlMs: -1000 });
    const err = await testClient(emulator)
      .fit(fitInput)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadFailedError);
    expect(err).toMatchObject({ status: 400 });
    expect((err as UploadFailedError).message).toContain('ExpiredToken');
  });

  it('retries a dropped connection, and reports a second one as a network error', async () => {
    emulator.state.addFault({ route: 'fit', kind: 'reset', count: 1 });
    await expect(testClient(emulator).fit(fitInput)).resolves.toBeDefined();
    emulator.state.addFault({ route: 'fit', kind: 'reset', count: 2 });
    await expect(testClient(emulator).fit(fitInput)).rejects.toMatchObject({ code: 'tabpfn_unavailable', kind: 'network' });
  });

  it('times out a hanging call with a retryable error', async () => {
    emulator.state.addFault({ route: 'get_settings', kind: 'hang' });
    emulator.state.addFault({ route: 'fit', kind: 'hang', count: 2 });
    const err = await testClient(emulator, { timeoutMs: 100, metadataTimeoutMs: 50 })
      .fit(fitInput)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'tabpfn_unavailable', kind: 'timeout', retryable: true });
  });

  it('aborts the in-flight request promptly when the signal fires, and the emulator sees the abort', async () => {
    const id = await fitted();
    emulator.state.setLatency({ predict: 60_000 });
    const controller = new AbortController();
    const pending = testClient(emulator).predict(
      { fittedTrainSetId: id, x: xTest.bytes, task: 'classification', outputType: 'preds' },
      {
        signal: controller.signal,
        onStage: (s) => s === 'predicting' && setTimeout(() => controller.abort(new Error('job canceled')), 20),
      },
    );
    await expect(pending).rejects.toThrow('job canceled');
    for (let i = 0; i < 100 && emulator.state.counters(TOKEN).aborted === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(emulator.state.counters(TOKEN).aborted).toBe(1);
  });

  it('a connection refused is a connect error (safe to retry anywhere)', async () => {
    const dead = await startTestEmulator();
    const url = dead.url;
    await dead.close();
    const err = await testClient({ ...emulator, url })
      .verifyToken()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'tabpfn_unavailable', kind: 'connect', retryable: true });
  });
});
