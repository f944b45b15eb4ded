import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ProcessStack, startProcessStack } from '../helpers/fault-stack.js';
import { T, X, Y } from './workload.js';

let stack: ProcessStack;

beforeAll(async () => {
  stack = await startProcessStack({ workers: 1, workerEnv: { WORKER_CONCURRENCY: '10', SHUTDOWN_GRACE_MS: '15000', TABPFN_TIMEOUT_MS: '60000' } });
});
afterAll(async () => {
  await stack?.close();
});

async function running(ids: string[]): Promise<number> {
  const { rows } = await stack.sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1) AND status = 'running' AND progress->>'stage' = 'predicting'`,
    [ids],
  );
  return rows[0]!.n;
}

describe('graceful shutdown', () => {
  it('SIGTERM to a worker with 10 jobs in flight: it finishes them, none lost, none twice', async () => {
    const { client } = await stack.account();
    const fit = await stack.fitted(client, { features: X, target: Y });
    // Long enough that all ten are upstream at once even when the machine is slow to start them.
    await stack.emu('PUT', '/_emulator/latency', { predict: 4_000 });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await client.post(`/v1/models/${fit.model_id}/predict`, { features: [T[i]!] })).body.job_id);
    await stack.until('10 predicts upstream at once', async () => (await running(ids)) === 10, ids);

    const worker = stack.workers.shift()!;
    const { code } = await worker.stop('SIGTERM');
    expect(code).toBe(0);
    const { rows } = await stack.sql.query(`SELECT status, count(*)::int AS n FROM jobs WHERE id = ANY($1) GROUP BY status`, [ids]);
    expect(rows).toEqual([{ status: 'succeeded', n: 10 }]);
    const finishes = await stack.waitForFinishLogs(ids);
    expect(ids.map((id) => finishes.get(id))).toEqual(Array(10).fill(1));
  });

  it('SIGTERM with a short grace period hands unfinished jobs back; a new worker completes them once', async () => {
    await stack.startWorker({ WORKER_CONCURRENCY: '10', SHUTDOWN_GRACE_MS: '200' });
    const { client } = await stack.account();
    await stack.emu('PUT', '/_emulator/latency', { predict: 0 });
    const fit = await stack.fitted(client, { features: X, target: Y, config: { random_state: 3 } });
    await stack.emu('PUT', '/_emulator/latency', { predict: 20_000 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await client.post(`/v1/models/${fit.model_id}/predict`, { features: [T[i + 10]!] })).body.job_id);
    await stack.until('5 predicts upstream at once', async () => (await running(ids)) === 5, ids);
    const worker = stack.workers.shift()!;
    expect((await worker.stop('SIGTERM')).code).toBe(0);
    // Past the grace period the old worker gave its jobs back rather than finishing them.
    expect(worker.output.some((l) => l.includes('grace period over'))).toBe(true);
    expect(worker.output.filter((l) => l.includes('"job finished"') && ids.some((id) => l.includes(id)))).toEqual([]);
    await stack.emu('PUT', '/_emulator/latency', { predict: 0 });
    await stack.startWorker();
    await stack.until(
      'the new worker to complete the handed-back jobs',
      async () => (await stack.sql.query(`SELECT 1 FROM jobs WHERE id = ANY($1) AND status = 'succeeded'`, [ids])).rowCount === 5,
      ids,
      60_000,
    );
    const { rows } = await stack.sql.query(`SELECT status, count(*)::int AS n FROM jobs WHERE id = ANY($1) GROUP BY status`, [ids]);
    expect(rows).toEqual([{ status: 'succeeded', n: 5 }]);
    const finishes = await stack.waitForFinishLogs(ids);
    expect(ids.map((id) => finishes.get(id))).toEqual(Array(5).fill(1));
  });
});

describe('api shutdown', () => {
  it('SIGTERM to the api stops accepting and drains open requests', async () => {
    const { client, api_key } = await stack.account();
    await stack.emu('PUT', '/_emulator/latency', { predict: 0 });
    const fit = await stack.fitted(client, { features: X, target: Y, config: { random_state: 4 } });
    await stack.emu('PUT', '/_emulator/latency', { predict: 1_000 });
    // An open request (the API holds it up to 3 s waiting for the job) when SIGTERM arrives.
    const open = fetch(`${stack.apiUrl}/v1/models/${fit.model_id}/predict`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api_key}`, 'content-type': 'application/json', prefer: 'wait=3' },
      body: JSON.stringify({ features: [T[20]!] }),
    });
    await new Promise((r) => setTimeout(r, 300));
    const exited = stack.api.stop('SIGTERM');
    const res = await open;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('succeeded');
    expect((await exited).code).toBe(0);
    await expect(fetch(`${stack.apiUrl}/health`)).rejects.toThrow();
  });
});
