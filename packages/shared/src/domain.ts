/** Domain types shared by api and worker. */
export type Task = 'classification' | 'regression';
export type JobType = 'fit' | 'predict';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
export type ModelStatus = 'pending' | 'ready' | 'failed';
export type ProgressStage = 'queued' | 'waiting_for_model' | 'uploading' | 'fitting' | 'predicting' | 'done';
export const FINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];
/** A job in a final status never changes status again. */
export const isFinalStatus = (status: JobStatus): boolean => FINAL_STATUSES.includes(status);
export const WEBHOOK_EVENTS = ['job.started', 'job.succeeded', 'job.failed', 'job.canceled'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
export const DEFAULT_WEBHOOK_EVENTS: WebhookEvent[] = ['job.succeeded', 'job.failed', 'job.canceled'];

export const CLASSIFICATION_OUTPUTS = ['preds', 'probas'] as const;
export const REGRESSION_OUTPUTS = ['mean', 'median', 'mode', 'quantiles', 'full', 'main'] as const;

export interface JobError {
  code: string;
  message: string;
  retryable: boolean;
  trace_id?: string;
  upstream_status?: number;
  /** A batch predict's chunk that failed: its rows [start, end) in input order. */
  rows?: { start: number; end: number };
}

export interface JobProgress {
  stage: ProgressStage;
  updated_at: string;
  /** Seconds the worker expects to wait before retrying upstream, when it is waiting. */
  retry_in_seconds?: number;
  message?: string;
  /** A batch predict (split to upstream's per-call limits): chunks and rows finished so far. */
  chunks_done?: number;
  chunks_total?: number;
  rows_done?: number;
  rows_total?: number;
}

// Ownership is a domain rule (a resource belongs to one account), reachable from the same entry.
export * from './ownership.js';
