import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ProcessStack, startProcessStack } from '../helpers/fault-stack.js';
import { X, Y, submitWorkload } from './workload.js';

let stack: ProcessStack;

beforeAll(async () => {
  stack = await startProcessStack({ workers: 1, workerEnv: { JOB_ATTEMPTS: '30' }, apiEnv: { JOB_ATTEMPTS: '30' } });
  await stack.emu('PUT', '/_emulator/latency', { fit: 200, predict: 100 });
});
afterAll(async () => {
  await stack?.close();
});

describe('Postgres restart', () => {
  it('the API answers 503 during the outage without hanging or crashing, and every accepted job completes', async () => {
    if (!stack.srv.pg) {
      console.warn('skipped: needs private PostgreSQL binaries');
      return;
    }
    const acct = await stack.account();
    const before = await submitWorkload(acct.client, 5, 4, 1);

    stack.srv.pg.stop();
    // A hang would trip the abort signal and fail the request instead of returning a status.
    const during = await fetch(`${stack.apiUrl}/v1/models/fit`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acct.api_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ features: X, target: Y }),
      signal: AbortSignal.timeout(20_000),
    });
    expect(during.status).toBe(503);
    expect(during.headers.get('content-type')).toContain('application/problem+json');
    expect(Number(during.headers.get('retry-after'))).toBeGreaterThan(0);
    const ready = await fetch(`${stack.apiUrl}/ready`, { signal: AbortSignal.timeout(20_000) });
    expect(ready.status).toBe(503);
    expect((await fetch(`${stack.apiUrl}/health`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_000));
    stack.srv.pg.start();
    await stack.reconnect();

    let readyAgain = 0;
    for (let i = 0; i < 100 && readyAgain !== 200; i++) {
      readyAgain = (await fetch(`${stack.apiUrl}/ready`)).status;
      if (readyAgain !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(readyAgain).toBe(200);
    const after = await submitWorkload(acct.client, 5, 4, 2);

    await stack.waitAllFinal(before.length + after.length);
    expect(await stack.statusCounts()).toEqual({ succeeded: before.length + after.length });
    const finishes = stack.finishCounts();
    expect([...before, ...after].filter((id) => (finishes.get(id) ?? 0) > 1)).toEqual([]);
  });
});
