import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { jsonCells, loadDataset, split } from '../helpers/datasets.js';
import { OTHER_TOKEN, VALID_TOKEN } from '../helpers/emulator.js';
import { type Stack, startStack, waitForJob } from '../helpers/stack.js';
import { type Receiver, startReceiver } from './support.js';

let stack: Stack;
let receiver: Receiver;
const iris = split(loadDataset('iris'));

beforeAll(async () => {
  stack = await startStack({ apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await stack?.close();
});

describe('webhooks from real fit and predict jobs', () => {
  it('delivers job.started and job.succeeded, signed with the account secret, carrying the job', async () => {
    const acct = await stack.account(VALID_TOKEN);
    const secret = (await acct.client.get('/v1/webhooks/secret')).body.secret as string;
    const fit = await acct.client.post('/v1/models/fit', {
      features: jsonCells(iris.trainX),
      target: iris.trainY,
      webhook_url: `${receiver.url}/fit`,
      webhook_events: ['job.started', 'job.succeeded', 'job.failed'],
    });
    expect(fit.status).toBe(202);
    await waitForJob(acct.client, fit.body.job_id);
    const pred = await acct.client.post(`/v1/models/${fit.body.model_id}/predict`, {
      features: jsonCells(iris.testX),
      output_type: 'probas',
      webhook_url: `${receiver.url}/predict`,
    });
    await waitForJob(acct.client, pred.body.job_id);
    for (let i = 0; i < 100 && (receiver.forPath('/fit').length < 2 || receiver.forPath('/predict').length < 1); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }

    const verify = (r: { headers: Record<string, unknown>; body: string }) =>
      new Webhook(secret).verify(r.body, r.headers as Record<string, string>) as {
        type: string;
        data: { job_id: string; status: string; result?: unknown };
      };
    const fitEvents = receiver.forPath('/fit').map(verify);
    expect(fitEvents.map((e) => e.type).sort()).toEqual(['job.started', 'job.succeeded']);
    for (const e of fitEvents) expect(e.data.job_id).toBe(fit.body.job_id);
    const predEvents = receiver.forPath('/predict').map(verify);
    expect(predEvents.map((e) => e.type)).toEqual(['job.succeeded']);
    expect(predEvents[0]!.data.status).toBe('succeeded');
    expect((predEvents[0]!.data.result as { probabilities: number[][] }).probabilities).toHaveLength(iris.testX.length);

    const deliveries = await acct.client.get(`/v1/jobs/${pred.body.job_id}/webhook-deliveries`);
    expect(deliveries.status).toBe(200);
    expect(JSON.stringify(deliveries.body)).toContain('job.succeeded');

    // The model's second predict goes upstream on what the first one showed the worker (its first request
    // leaves before the job is read, predict.handler.ts), yet its start is recorded as one with a webhook.
    const again = await acct.client.post(`/v1/models/${fit.body.model_id}/predict`, {
      features: jsonCells(iris.testX.slice(0, 7)),
      webhook_url: `${receiver.url}/again`,
      webhook_events: ['job.started', 'job.succeeded'],
    });
    expect((await waitForJob(acct.client, again.body.job_id)).status).toBe('succeeded');
    for (let i = 0; i < 100 && receiver.forPath('/again').length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const againEvents = receiver.forPath('/again').map(verify);
    expect(againEvents.map((e) => e.type).sort()).toEqual(['job.started', 'job.succeeded']);
    for (const e of againEvents) expect(e.data.job_id).toBe(again.body.job_id);
  });

  it('a predict served from cache still fires job.succeeded', async () => {
    const acct = await stack.account(OTHER_TOKEN);
    const secret = (await acct.client.get('/v1/webhooks/secret')).body.secret as string;
    const fit = await acct.client.post('/v1/models/fit', { features: jsonCells(iris.trainX), target: iris.trainY });
    await waitForJob(acct.client, fit.body.job_id);
    const body = { features: jsonCells(iris.testX.slice(0, 5)) };
    await waitForJob(acct.client, (await acct.client.post(`/v1/models/${fit.body.model_id}/predict`, body)).body.job_id);
    const cached = await acct.client.post(`/v1/models/${fit.body.model_id}/predict`, { ...body, webhook_url: `${receiver.url}/cached` });
    expect(cached.body.cached).toBe(true);
    for (let i = 0; i < 100 && receiver.forPath('/cached').length < 1; i++) await new Promise((r) => setTimeout(r, 50));
    const events = receiver
      .forPath('/cached')
      .map((r) => new Webhook(secret).verify(r.body, r.headers as Record<string, string>) as { type: string; data: { job_id: string } });
    expect(events.map((e) => [e.type, e.data.job_id])).toEqual([['job.succeeded', cached.body.job_id]]);
  });

  it('no secret reaches the worker log', () => {
    const log = stack.worker.output.join('\n');
    expect(log).toContain('job finished');
    for (const s of [VALID_TOKEN, OTHER_TOKEN, 'whsec_', 'tpk_']) expect(log).not.toContain(s);
  });

  it('canceling a queued job in the API fires job.canceled', async () => {
    const acct = await stack.account(VALID_TOKEN);
    const secret = (await acct.client.get('/v1/webhooks/secret')).body.secret as string;
    await stack.worker.stop('SIGTERM');
    let jobId: string;
    try {
      const fit = await acct.client.post('/v1/models/fit', {
        features: jsonCells(iris.trainX),
        target: iris.trainY,
        config: { random_state: 99 },
        webhook_url: `${receiver.url}/canceled`,
      });
      jobId = fit.body.job_id;
      expect((await acct.client.post(`/v1/jobs/${jobId}/cancel`)).body.status).toBe('canceled');
    } finally {
      await stack.restartWorker();
    }
    for (let i = 0; i < 100 && receiver.forPath('/canceled').length < 1; i++) await new Promise((r) => setTimeout(r, 50));
    const events = receiver
      .forPath('/canceled')
      .map(
        (r) =>
          new Webhook(secret).verify(r.body, r.headers as Record<string, string>) as {
            type: string;
            data: { job_id: string; status: string };
          },
      );
    expect(events.map((e) => [e.type, e.data.job_id, e.data.status])).toEqual([['job.canceled', jobId!, 'canceled']]);
  });
});
