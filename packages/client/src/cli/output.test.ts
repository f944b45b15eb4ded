import { PassThrough } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import type { Job } from '../client.js';
import { createOutput } from './output.js';

const job = (progress: Record<string, unknown>, status = 'running') =>
  ({ type: 'predict', job_id: '1b2c3d4e-0000-4000-8000-000000000000', status, progress: { updated_at: '2025-01-15T09:30:00.000Z', ...progress } }) as unknown as Job;
const batch = (done: number) => job({ stage: 'predicting', chunks_done: done, chunks_total: 20, rows_done: done * 10_000, rows_total: 200_000 });

function capture(tty: boolean) {
  const stderr = Object.assign(new PassThrough(), { isTTY: tty });
  let text = '';
  stderr.on('data', (c: Buffer) => (text += c.toString()));
  const out = createOutput({ json: false, quiet: false, stdout: new PassThrough(), stderr });
  return { out, text: () => text };
}

describe('CLI progress on stderr', () => {
  it('a batch predict shows its chunks and rows; one line per change when stderr is not a terminal', () => {
    const { out, text } = capture(false);
    out.progress(job({ stage: 'predicting' }), 100);
    out.progress(batch(7), 41_000);
    out.progress(batch(7), 42_000);
    out.progress(batch(8), 45_500);
    out.endProgress();
    expect(text().split('\n')).toEqual([
      'predict 1b2c3d4e running · predicting · 0.1s',
      'predict 1b2c3d4e running · predicting: chunk 7/20, 70,000/200,000 rows · 41.0s',
      'predict 1b2c3d4e running · predicting: chunk 8/20, 80,000/200,000 rows · 45.5s',
      '',
    ]);
  });

  it('on a terminal the line is rewritten in place, and ended once', () => {
    const { out, text } = capture(true);
    out.progress(batch(7), 41_000);
    out.progress(batch(8), 45_500);
    out.endProgress();
    expect(text()).toBe(
      '\r\x1b[2Kpredict 1b2c3d4e running · predicting: chunk 7/20, 70,000/200,000 rows · 41.0s' +
        '\r\x1b[2Kpredict 1b2c3d4e running · predicting: chunk 8/20, 80,000/200,000 rows · 45.5s\n',
    );
  });
});
