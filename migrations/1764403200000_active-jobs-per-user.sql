-- Up Migration

-- Every submit counts the account's queued and running jobs (the in-flight cap) under the account's
-- submit lock; this keeps that count proportional to the jobs in flight, not to the account's history.
CREATE INDEX jobs_user_active_idx ON jobs (user_id) WHERE status IN ('queued', 'running');

-- Down Migration

DROP INDEX jobs_user_active_idx;
