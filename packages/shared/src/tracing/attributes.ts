/**
 * Span attribute names of this service (namespaced, as OpenTelemetry asks of custom attributes).
 * Ids, statuses and error codes only: never a token, an API key, a webhook secret or a dataset value
 * (tests/tracing/secrets.test.ts greps the exported spans for them).
 */
export const ATTR = {
  jobId: 'tabpfn_jobs.job.id',
  jobType: 'tabpfn_jobs.job.type',
  jobStatus: 'tabpfn_jobs.job.status',
  accountId: 'tabpfn_jobs.account.id',
  modelId: 'tabpfn_jobs.model.id',
  /** 1-based: which BullMQ attempt of the job this is. */
  attempt: 'tabpfn_jobs.attempt',
  /** How an attempt ended: `done` (the handler returned), `retry` (it threw: BullMQ retries), `delayed` (held back in the queue). */
  attemptOutcome: 'tabpfn_jobs.attempt.outcome',
  /** A predict created while its model was still fitting (it waits for the fit's end). */
  parked: 'tabpfn_jobs.job.parked',
  cached: 'tabpfn_jobs.job.cached',
  replayed: 'tabpfn_jobs.idempotent_replay',
  deliveryId: 'tabpfn_jobs.webhook.delivery_id',
  webhookEvent: 'tabpfn_jobs.webhook.event',
  webhookOutcome: 'tabpfn_jobs.webhook.outcome',
  /** The job error's `code` (semantic conventions' `error.type`). */
  errorCode: 'error.type',
  upstreamOperation: 'tabpfn.operation',
} as const;
