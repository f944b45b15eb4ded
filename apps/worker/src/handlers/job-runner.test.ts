import { describe, expect, it, jest } from '@jest/globals';
import type { JobRepository } from '@tabpfn-jobs/shared/repositories';
import { PROGRESS_FLUSH_MS, type RunnerDeps, STAGE_WRITE_DELAY_MS, createJobRunner } from './job-runner.js';

type Writes = Parameters<JobRepository['setProgress']>[0];

/** Job rows whose progress statements take as long as the test says, like pool connections under load. */
function slowProgressStore(delays: number[]) {
  const stages = new Map<string, string>();
  const statements: Writes[] = [];
  let started = () => {};
  const firstStarted = new Promise<void>((r) => {
    started = r;
  });
  const jobs = {
    async setProgress(writes: Writes) {
      const call = statements.push(writes) - 1;
      started();
      await new Promise((r) => setTimeout(r, delays[call] ?? 0));
      for (const w of writes) stages.set(w.id, w.progress.stage);
    },
  } as unknown as JobRepository;
  return { stages, statements, jobs, firstStarted };
}

describe('job runner progress', () => {
  it('applies progress writes in the order reported, even when an earlier statement is slower', async () => {
    const { stages, statements, jobs, firstStarted } = slowProgressStore([40, 1]);
    const runner = createJobRunner({ jobs } as unknown as RunnerDeps);
    const first = runner.report('job-1', { stage: 'uploading' });
    // The second write is reported while the first one's statement is under way (no sleep).
    await firstStarted;
    const second = runner.report('job-1', { stage: 'predicting' });
    await Promise.all([first, second]);
    expect(statements).toHaveLength(2);
    expect(stages.get('job-1')).toBe('predicting');
  });

  it("sends the writes of several jobs due together in one statement, the latest of each job's", async () => {
    const { stages, statements, jobs } = slowProgressStore([]);
    const runner = createJobRunner({ jobs } as unknown as RunnerDeps);
    await Promise.all([
      runner.report('job-a', { stage: 'uploading' }),
      runner.report('job-b', { stage: 'fitting' }),
      runner.report('job-a', { stage: 'predicting' }),
    ]);
    expect(statements).toEqual([
      [
        { id: 'job-a', progress: { stage: 'predicting' } },
        { id: 'job-b', progress: { stage: 'fitting' } },
      ],
    ]);
    expect(stages).toEqual(
      new Map([
        ['job-a', 'predicting'],
        ['job-b', 'fitting'],
      ]),
    );
  });

  it('a failed write does not block the ones after it', async () => {
    let calls = 0;
    const row = { stage: 'queued' };
    const jobs = {
      async setProgress(writes: Writes) {
        if (calls++ === 0) throw new Error('connection lost');
        row.stage = writes[0]!.progress.stage;
      },
    } as unknown as JobRepository;
    const runner = createJobRunner({ jobs } as unknown as RunnerDeps);
    await runner.report('job-2', { stage: 'uploading' });
    expect(row.stage).toBe('queued');
    await runner.report('job-2', { stage: 'fitting' });
    expect(row.stage).toBe('fitting');
  });

  it('writes a stage only once the job has stayed in it for STAGE_WRITE_DELAY_MS, and never after something newer', async () => {
    jest.useFakeTimers();
    try {
      const written: string[] = [];
      const jobs = {
        async setProgress(writes: Writes) {
          written.push(...writes.map((w) => w.progress.stage));
        },
      } as unknown as JobRepository;
      const lifecycle = { finish: async () => undefined };
      const runner = createJobRunner({ jobs, lifecycle } as unknown as RunnerDeps);
      runner.setStage('job-3', 'uploading');
      await jest.advanceTimersByTimeAsync(STAGE_WRITE_DELAY_MS - 1);
      runner.setStage('job-3', 'predicting');
      await jest.advanceTimersByTimeAsync(STAGE_WRITE_DELAY_MS + PROGRESS_FLUSH_MS - 1);
      expect(written).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(written).toEqual(['predicting']);

      // A progress write of its own, or the job's end, replaces a stage still waiting; the end also
      // drops a write not sent yet.
      runner.setStage('job-3', 'fitting');
      const reported = runner.report('job-3', { stage: 'queued' });
      await jest.advanceTimersByTimeAsync(PROGRESS_FLUSH_MS);
      await reported;
      runner.setStage('job-4', 'uploading');
      await runner.finalize('job-4', { status: 'failed', error: { code: 'x', message: 'x', retryable: false } });
      const dropped = runner.report('job-5', { stage: 'uploading' });
      await runner.finalize('job-5', { status: 'failed', error: { code: 'x', message: 'x', retryable: false } });
      await dropped;
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

  it("leaves a record made moments before its call is sent where it is (the windows' margin covers it)", async () => {
    const sent: unknown[] = [];
    const limiter = {
      admit: async () => ({ wait: 0, ticket: 't#1', at: Date.now() }),
      sent: async (...args: unknown[]) => void sent.push(args),
    };
    const runner = createJobRunner({
      jobs: { async setProgress() {} },
      lifecycle: {},
      limiter,
      breaker: { admit: () => 0 },
    } as unknown as RunnerDeps);
    await runner.admit({} as never, undefined, 'job-7', 'tok', ['predict', 'upload']);
    runner.setStage('job-7', 'predicting');
    expect(sent).toEqual([]);
  });
});
