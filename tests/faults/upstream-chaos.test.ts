import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ProcessStack, startProcessStack } from '../helpers/fault-stack.js';
import { submitWorkload } from './workload.js';

let stack: ProcessStack;
const ATTEMPTS = 12;

beforeAll(async () => {
  stack = await startProcessStack({
    workers: 1,
    workerEnv: { JOB_ATTEMPTS: String(ATTEMPTS), TABPFN_TIMEOUT_MS: '1000', BREAKER_THRESHOLD: '8', BREAKER_COOLDOWN_MS: '300' },
    apiEnv: { JOB_ATTEMPTS: String(ATTEMPTS) },
  });
});
afterAll(async () => {
  await stack?.close();
});

describe('an unreliable upstream', () => {
  it('30 % 503s and 5 % timeouts: every job succeeds through retries', async () => {
    await stack.emu('POST', '/_emulator/faults', [
      { route: '*', kind: 'status', status: 503, probability: 0.3 },
      { route: '*', kind: 'hang', probability: 0.05, delayMs: 5_000 },
    ]);
    const { client } = await stack.account();
    const ids = await submitWorkload(client, 6, 5);
    await stack.waitAllFinal(ids.length);
    expect(await stack.statusCounts()).toEqual({ succeeded: ids.length });
    const { rows } = await stack.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs WHERE attempts > 1');
    expect(rows[0]!.n).toBeGreaterThan(0);
    await stack.emu('DELETE', '/_emulator/faults');
  });

  it('every call failing: jobs end failed with retries exhausted after the configured attempts', async () => {
    const acct = await stack.account();
    const fit = await acct.client.post('/v1/models/fit', { features: [[1], [2], [3], [4]], target: ['a', 'b', 'a', 'b'] });
    for (let i = 0; i < 200; i++) {
      if ((await acct.client.get(`/v1/jobs/${fit.body.job_id}`)).body.status === 'succeeded') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await stack.emu('POST', '/_emulator/faults', { route: 'predict', kind: 'status', status: 503, probability: 1 });
    const jobs: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await acct.client.post(`/v1/models/${fit.body.model_id}/predict`, { features: [[i]] });
      jobs.push(res.body.job_id);
    }
    for (const id of jobs) {
      for (let i = 0; i < 600; i++) {
        const job = await acct.client.get(`/v1/jobs/${id}`);
        if (job.body.status === 'failed') {
          expect(job.body.error.code).toBe('retries_exhausted');
          expect(job.body.error.retryable).toBe(true);
          expect(job.body.attempts).toBe(ATTEMPTS);
          break;
        }
        expect(job.body.status).not.toBe('succeeded');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const { rows } = await stack.sql.query(`SELECT status, count(*)::int AS n FROM jobs WHERE id = ANY($1) GROUP BY status`, [jobs]);
    expect(rows).toEqual([{ status: 'failed', n: 5 }]);
  });
});
