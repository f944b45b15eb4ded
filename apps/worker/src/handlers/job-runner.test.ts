import { describe, expect, it } from '@jest/globals';
import type { JobRepository } from '@tabpfn-jobs/shared/repositories';
import { type RunnerDeps, createJobRunner } from './job-runner.js';

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
  it('applies stage writes in the order reported, even when an earlier write is slower', async () => {
    const { row, jobs } = slowProgressStore([40, 1]);
    const runner = createJobRunner({ jobs } as unknown as RunnerDeps);
    runner.setStage('job-1', 'uploading');
    runner.setStage('job-1', 'predicting');
    await new Promise((r) => setTimeout(r, 80));
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
    runner.setStage('job-2', 'uploading');
    runner.setStage('job-2', 'fitting');
    await new Promise((r) => setTimeout(r, 20));
    expect(row.stage).toBe('fitting');
  });
});
