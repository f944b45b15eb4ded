import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type PredictResult,
  TabPFNJobsError,
  WebhookVerificationError,
  createTabPFNJobsClient,
  verifyWebhook,
} from '@tabpfn-jobs/client';
import { VALID_TOKEN } from '../helpers/emulator.js';
import { jsonCells, loadDataset, split, toCsv } from '../helpers/datasets.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { startReceiver, until } from './support.js';

let stack: Stack;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const ds = loadDataset('iris');
const s = split(ds);
const featureHeader = ds.header.filter((_, j) => j !== ds.targetIndex);
const accuracy = (pred: unknown[], truth: string[]) => pred.filter((p, i) => String(p) === truth[i]).length / truth.length;

beforeAll(async () => {
  receiver = await startReceiver();
  stack = await startStack({ apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

describe('@tabpfn-jobs/client against a running stack', () => {
  it('setup → fit → predict → result, typed end to end', async () => {
    const anonymous = createTabPFNJobsClient({ baseUrl: stack.api.url });
    const account = await anonymous.setup(VALID_TOKEN, 'sdk-test');
    expect(account.api_key).toMatch(/^tpk_/);
    const client = createTabPFNJobsClient({ baseUrl: stack.api.url, apiKey: account.api_key });

    const stages: string[] = [];
    const fit = await client.fit(
      { features: jsonCells(s.trainX), target: s.trainY, feature_names: featureHeader, webhook_url: receiver.url },
      { wait: { onProgress: (job) => stages.push(job.status) } },
    );
    expect(fit.status).toBe('succeeded');
    expect(stages.at(-1)).toBe('succeeded');
    const model = await client.getModel(fit.model_id);
    expect(model).toMatchObject({ status: 'ready', task: 'classification', n_features: 4, classes: ['setosa', 'versicolor', 'virginica'] });

    const submitted = await client.predict(fit.model_id, { features: jsonCells(s.testX), output_type: 'probas' });
    expect(['queued', 'running', 'succeeded']).toContain(submitted.status);
    const done = await client.waitForJob(submitted.job_id, { intervalMs: 50 });
    expect(done.status).toBe('succeeded');
    const result = (await client.result(done.job_id)) as PredictResult;
    expect(result.output_type).toBe('probas');
    expect(result.classes).toEqual(model.classes);
    expect(accuracy(result.predictions as unknown[], s.testY)).toBeGreaterThanOrEqual(0.85);

    // Prefer: wait answers with the finished job; CSV uploads and CSV results work too.
    const viaCsv = await client.predict(fit.model_id, { csv: toCsv(featureHeader, s.testX) }, { preferWaitSeconds: 30 });
    expect(viaCsv.status).toBe('succeeded');
    const csv = await client.resultCsv(viaCsv.job_id);
    expect(csv.trim().split('\n')).toHaveLength(s.testX.length + 1);
    const csvFit = await client.fit({ csv: toCsv(ds.header, s.train), target_column: 'species' }, { wait: true });
    expect(csvFit.status).toBe('succeeded');

    const page = await client.listJobs({ model_id: fit.model_id });
    expect(page.data.map((j) => j.type).sort()).toEqual(['fit', 'predict', 'predict']);
    expect((await client.usage()).service.jobs.total).toBe(4);

    // The webhook of the first fit verifies with the account's secret, and fails with another.
    const { secret } = await client.webhookSecret();
    const hook = await until(async () => receiver.received.find((r) => r.body.includes(fit.job_id)), 'the webhook');
    const event = verifyWebhook(hook.body, hook.headers as Record<string, string>, secret);
    expect(event).toMatchObject({ type: 'job.succeeded', data: { job_id: fit.job_id, status: 'succeeded' } });
    expect(() => verifyWebhook(hook.body, hook.headers as Record<string, string>, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toThrow(
      WebhookVerificationError,
    );
    expect(() => verifyWebhook(hook.body.replace('succeeded', 'failed'), hook.headers as Record<string, string>, secret)).toThrow();
  });

  it('turns problem+json answers into TabPFNJobsError with the stable code', async () => {
    const client = createTabPFNJobsClient({ baseUrl: stack.api.url, apiKey: 'tpk_not-a-real-key' });
    const err = await client.listModels().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TabPFNJobsError);
    expect(err).toMatchObject({ status: 401, code: 'api_key_invalid' });

    const { api_key } = await stack.account();
    const authed = createTabPFNJobsClient({ baseUrl: stack.api.url, apiKey: api_key });
    const invalid = await authed.fit({ features: [[1, 2]], target: [1, 2, 3] }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ status: 422, code: 'validation_failed' });
    expect((invalid as TabPFNJobsError).problem?.errors?.length).toBeGreaterThan(0);
  });
});
