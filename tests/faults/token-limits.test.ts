import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OTHER_TOKEN, VALID_TOKEN } from '../helpers/emulator.js';
import { type ProcessStack, startProcessStack } from '../helpers/fault-stack.js';
import { T, X, Y } from './workload.js';

let stack: ProcessStack;
const WINDOW = '3s';

beforeAll(async () => {
  stack = await startProcessStack({
    workers: 2,
    workerEnv: { UPSTREAM_LIMITS: `predict:60/${WINDOW},fit:1000/${WINDOW},upload:100000/${WINDOW}`, WORKER_CONCURRENCY: '8' },
  });
  await stack.emu('PATCH', '/_emulator/config', { rateLimitWindowMs: 3_000, rateLimits: { predict: 60 } });
});
afterAll(async () => {
  await stack?.close();
});

describe('per-token upstream limits shared by all workers', () => {
  it('150 predicts from one account: no 429 upstream, all succeed, and another account is not held up', async () => {
    const a = await stack.account(VALID_TOKEN);
    const b = await stack.account(OTHER_TOKEN);
    const [fitA, fitB] = await Promise.all([stack.fitted(a.client, { features: X, target: Y }), stack.fitted(b.client, { features: X, target: Y })]);
    const row = (i: number) => [T[i % T.length]!.map((v) => (typeof v === 'number' ? v + i * 1e-6 : v))];
    const aJobs = await Promise.all(Array.from({ length: 150 }, (_, i) => a.client.post(`/v1/models/${fitA.model_id}/predict`, { features: row(i) })));
    const bJobs = await Promise.all(Array.from({ length: 10 }, (_, i) => b.client.post(`/v1/models/${fitB.model_id}/predict`, { features: row(i) })));
    const ids = [...aJobs, ...bJobs].map((r) => r.body.job_id as string);
    await stack.waitAllFinal(ids.length + 2);
    expect(await stack.statusCounts()).toEqual({ succeeded: 162 });

    const counters = await stack.emu('GET', `/_emulator/counters?token=${encodeURIComponent(VALID_TOKEN)}`);
    expect(counters.responses429).toBe(0);
    expect(counters.predicts).toBe(150);

    const finished = async (jobIds: string[]) =>
      (await stack.sql.query<{ t: Date }>(`SELECT finished_at AS t FROM jobs WHERE id = ANY($1) ORDER BY finished_at`, [jobIds])).rows.map((r) => r.t.getTime());
    const aTimes = await finished(aJobs.map((r) => r.body.job_id));
    const bTimes = await finished(bJobs.map((r) => r.body.job_id));
    // A's burst spans three windows. Held behind A's queue, B's jobs would finish after A's last one;
    // they finish before A's third window opens (A's first window alone leaves too little margin on a
    // loaded machine, where parking A's 90 waiting jobs takes a while).
    expect(Math.max(...bTimes)).toBeLessThan(aTimes[120]!);
    expect(aTimes[149]! - aTimes[0]!).toBeGreaterThan(3_000);
  });
});
