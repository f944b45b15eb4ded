import { isFinalStatus } from '../domain.js';
import type { JobRow } from '../repositories/job.repository.js';
import { publicTraceId } from '../tracing/traceparent.js';

/**
 * The result part of a job resource. A chunked (batch) result is never inlined: the resource has no
 * `result` key and the client follows `links.result`, which streams it; that holds for a failed
 * batch's partial result too. Once retention removed a result, `data_removed` says so.
 */
function resultFields(row: JobRow, includeResult: boolean): { result?: unknown; data_removed?: true } {
  if (row.result_chunked) return row.result_removed_at ? { data_removed: true } : {};
  if (row.status !== 'succeeded') return {};
  if (row.result_removed_at) return { result: null, data_removed: true };
  return includeResult ? { result: row.result } : {};
}

/**
 * The public job resource, used by API responses and webhook bodies alike. An explicit mapper, so
 * a new column never leaks. `includeResult` is false in lists and for large webhook bodies;
 * a chunked result is never included (see resultFields).
 */
export function toJobResource(row: JobRow, opts: { includeResult?: boolean } = {}) {
  const includeResult = opts.includeResult ?? true;
  const final = isFinalStatus(row.status);
  return {
    job_id: row.id,
    object: 'job' as const,
    type: row.type,
    status: row.status,
    model_id: row.model_id,
    progress: row.progress ?? null,
    ...resultFields(row, includeResult),
    error: row.error ?? null,
    cached: row.cached,
    attempts: row.attempts,
    n_rows: row.n_rows,
    params: row.params,
    webhook_url: row.webhook_url,
    webhook_events: row.webhook_events,
    created_at: row.created_at.toISOString(),
    started_at: row.started_at?.toISOString() ?? null,
    finished_at: row.finished_at?.toISOString() ?? null,
    // The job's trace (submit, queue, attempts, upstream calls, webhooks), for a user to quote to the operator.
    trace_id: publicTraceId(row.traceparent),
    links: {
      self: `/v1/jobs/${row.id}`,
      model: `/v1/models/${row.model_id}`,
      ...(row.type === 'predict' && final ? { result: `/v1/jobs/${row.id}/result` } : {}),
      cancel: `/v1/jobs/${row.id}/cancel`,
    },
  };
}

export type JobResource = ReturnType<typeof toJobResource>;
