-- Up Migration

-- The job's trace context (W3C traceparent of the span that submitted it), so work done for the job
-- later — its attempts, a parked predict released by its fit, a re-enqueue by the reconciler — joins
-- the submit's trace whichever process does it and however often it is retried. The job resource
-- shows its trace id (`trace_id`). NULL when the submit was not traced (tracing off).
ALTER TABLE jobs ADD COLUMN traceparent text;

-- Down Migration
ALTER TABLE jobs DROP COLUMN IF EXISTS traceparent;
