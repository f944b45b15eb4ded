import { describe, expect, it } from '@jest/globals';
import type { Pool, Queryable } from '../db/pool.js';
import type { QueueSet } from '../jobs/queues.js';
import type { JobRow } from '../repositories/job.repository.js';
import type { WebhookRepository } from '../repositories/webhook.repository.js';
import { createWebhookEmitter, inlinesResult } from './emitter.js';

// What a delivery's body carries; the outbox write itself is faked (tests/webhooks run it for real).

const ID = '45c48cce-2e2d-4fbd-a1b2-c3d4e5f60718';

function jobRow(over: Partial<JobRow>): JobRow {
  const at = new Date('2025-01-15T09:30:00.000Z');
  return {
    id: ID,
    user_id: '0b9f5c1e-3f7a-4c56-9d1e-2a8b7c6d5e4f',
    type: 'predict',
    status: 'succeeded',
    model_id: '8f14e45f-ceea-467a-9af1-4c3d2e1f0a9b',
    dataset_id: null,
    params: { output_type: 'preds' },
    cache_key: null,
    cached: false,
    result: { output_type: 'preds', predictions: ['a', 'b'] },
    result_chunked: false,
    result_removed_at: null,
    error: null,
    progress: null,
    attempts: 1,
    n_rows: 2,
    webhook_url: 'https://hooks.example.com/tabpfn',
    webhook_events: null,
    cancel_requested_at: null,
    traceparent: null,
    created_at: at,
    updated_at: at,
    started_at: at,
    finished_at: at,
    ...over,
  };
}

/** The `data` of the body `record` writes for `job`. */
async function bodyData(job: JobRow, maxInlineResultBytes: number): Promise<Record<string, unknown>> {
  let payload: { data: Record<string, unknown> } | undefined;
  const webhooks = {
    insertDelivery: async (d: { id: string; payload: unknown }) => {
      payload = d.payload as typeof payload;
      return { id: d.id };
    },
  } as unknown as WebhookRepository;
  const emitter = createWebhookEmitter({ pool: {} as Pool, queues: {} as QueueSet, webhooks, maxInlineResultBytes });
  await emitter.record({} as Queryable, job, job.status === 'failed' ? 'job.failed' : 'job.succeeded');
  return payload!.data;
}

describe('webhook bodies and the result', () => {
  it('an inline result is carried up to maxInlineResultBytes, then left to links.result', async () => {
    expect((await bodyData(jobRow({}), 1 << 20)).result).toEqual({ output_type: 'preds', predictions: ['a', 'b'] });
    const big = await bodyData(jobRow({}), 10);
    expect('result' in big).toBe(false);
    expect((big.links as Record<string, string>).result).toBe(`/v1/jobs/${ID}/result`);
  });

  it('a chunked result is never inlined, however small its header: the body links to the stream', async () => {
    const chunked = jobRow({ result: { output_type: 'preds' }, result_chunked: true, n_rows: 500_000 });
    expect(inlinesResult(chunked, Number.MAX_SAFE_INTEGER)).toBe(false);
    const data = await bodyData(chunked, Number.MAX_SAFE_INTEGER);
    expect('result' in data).toBe(false);
    expect((data.links as Record<string, string>).result).toBe(`/v1/jobs/${ID}/result`);
  });

  it("a failed batch's partial result is not inlined either; the body links to it", async () => {
    const failed = jobRow({
      status: 'failed',
      result: { output_type: 'preds', partial: true },
      result_chunked: true,
      error: { code: 'upstream_error', message: 'rows 10–19 failed', retryable: false },
    });
    const data = await bodyData(failed, Number.MAX_SAFE_INTEGER);
    expect('result' in data).toBe(false);
    expect(data.error).toEqual(failed.error);
    expect((data.links as Record<string, string>).result).toBe(`/v1/jobs/${ID}/result`);
  });

  it('inlinesResult: a missing result costs nothing; an inline one is measured as JSON', () => {
    expect(inlinesResult({ result: null, result_chunked: false }, 0)).toBe(true);
    expect(inlinesResult({ result: { a: 'xy' }, result_chunked: false }, 10)).toBe(true);
    expect(inlinesResult({ result: { a: 'xyz' }, result_chunked: false }, 10)).toBe(false);
  });
});
