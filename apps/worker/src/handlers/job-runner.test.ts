import { describe, expect, it, jest } from '@jest/globals';
import type { JobRepository } from '@tabpfn-jobs/shared/repositories';
import { type RunnerDeps, STAGE_WRITE_DELAY_MS, createJobRunner } from './job-runner.js';

/** A job row whose progress writes take as long as the test says, like pool connections under load. */
function slowProgressStore(delays: number[]) {
  const row = { stage: 'queued' };
  let call = 0;
  const jobs = {
    async setProgress(_id: string, p: { stage: string }) {
      await new Promise((r) => setTimeout(r, delays[call++] ?? 0));
      row.stage = p.stage;
    },
  } as unknown as JobRepository;
  return { row, jobs };
}

describe('job runner progress', () => {
  it('applies progress writes in the order reported, even when an earlier write is slower', async () => {
    const { row, jobs } = slowProgressStore([40, 1]);
    const runner = createJobRunner({ jobs } as unknown as RunnerDeps);
    // Both writes are awaited (no sleep): unordered, the slower first write would land last.
    await Promise.all([runner.report('job-1', { stage: 'uploading' }), runner.report('job-1', { stage: 'predicting' })]);
    expect(row.stage).toBe('predicting');
  });

  it('a failed write does not block the ones after it', async () => {
    let calls = 0;
    const row = { stage: 'queued' };
    const jobs = {
      async setProgress(_id: string, p: { stage: string }) {
        if (calls++ === 0) throw new Error('connection lost');
        row.stage = p.stage;
      },
    } as unknown as JobRepository;
    const runner = createJobRunner({ jobs } as unknown as RunnerDeps);
    await Promise.all([runner.report('job-2', { stage: 'uploading' }), runner.report('job-2', { stage: 'fitting' })]);
    expect(row.stage).toBe('fitting');
  });

  it('writes a stage only once the job has stayed in it for STAGE_WRITE_DELAY_MS, and never after something newer', async () => {
    jest.useFakeTimers();
    try {
      const written: string[] = [];
      const jobs = {
        async setProgress(_id: string, p: { stage: string }) {
          written.push(p.stage);
        },
      } as unknown as JobRepository;
      const lifecycle = { finish: async () => undefined };
      const runner = createJobRunner({ jobs, lifecycle } as unknown as RunnerDeps);
      runner.setStage('job-3', 'uploading');
      await jest.advanceTimersByTimeAsync(STAGE_WRITE_DELAY_MS - 1);
      runner.setStage('job-3', 'predicting');
      await jest.advanceTimersByTimeAsync(STAGE_WRITE_DELAY_MS - 1);
      expect(written).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(written).toEqual(['predicting']);

      // A progress write of its own, or the job's end, replaces a stage still waiting.
      runner.setStage('job-3', 'fitting');
      await runner.report('job-3', { stage: 'queued' });
      runner.setStage('job-4', 'uploading');
      await runner.finalize('job-4', { status: 'failed', error: { code: 'x', message: 'x', retryable: false } });
      await jest.advanceTimersByTimeAsync(10 * STAGE_WRITE_DELAY_MS);
      expect(written).toEqual(['predicting', 'queued']);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('job runner rate-limit records', () => {
  it("moves an admitted job's counted calls to when the client reports sending each kind, and forgets them when the job ends", async () => {
    const sent: [string, string[], string][] = [];
    let ticket = '';
    // Records made a second ago (a long upload, say): each kind's send moves its record.
    const limiter = {
      async admit() {
        ticket = 'lease-1#3';
        return { wait: 0, ticket, at: Date.now() - 1_000 };
      },
      async sent(token: string, kinds: string[], t: string) {
        sent.push([token, kinds, t]);
      },
    };
    const breaker = { admit: () => 0 };
    const jobs = { async setProgress() {} } as unknown as JobRepository;
    const lifecycle = { finish: async () => undefined };
    const runner = createJobRunner({ jobs, lifecycle, limiter, breaker } as unknown as RunnerDeps);
    await runner.admit({} as never, undefined, 'job-5', 'tok', ['fit', 'upload']);
    runner.setStage('job-5', 'uploading');
    runner.setStage('job-5', 'fitting');
    runner.setStage('job-6', 'fitting');
    expect(sent).toEqual([
      ['tok', ['upload'], ticket],
      ['tok', ['fit'], ticket],
    ]);
    await runner.finalize('job-5', { status: 'failed', error: { code: 'x', message: 'x', retryable: false } });
    runner.setStage('job-5', 'predicting');
    expect(sent).toHaveLength(2);
  });

  it('leaves a record made moments before its call is sent where it is (the windows\' margin covers it)', async () => {
    const sent: unknown[] = [];
    const limiter = { admit: async () => ({ wait: 0, ticket: 't#1', at: Date.now() }), sent: async (...args: unknown[]) => void sent.push(args) };
    const runner = createJobRunner({ jobs: { async setProgress() {} }, lifecycle: {}, limiter, breaker: { admit: () => 0 } } as unknown as RunnerDeps);
    await runner.admit({} as never, undefined, 'job-7', 'tok', ['predict', 'upload']);
    runner.setStage('job-7', 'predicting');
    expect(sent).toEqual([]);
  });
});
