-- Up Migration

-- A redelivery restarts the retry schedule but keeps counting `attempts` (the log never renumbers).
-- `redeliveries` also namespaces the BullMQ job ids, so a replay never collides with the id of a
-- job that BullMQ still keeps from the first round.
ALTER TABLE webhook_deliveries
  ADD COLUMN redeliveries integer NOT NULL DEFAULT 0,
  ADD COLUMN schedule_attempts integer NOT NULL DEFAULT 0;

-- At most one current (non-rotated) secret per account, so a lazy create can use ON CONFLICT.
CREATE UNIQUE INDEX webhook_secrets_current_idx ON webhook_secrets (user_id) WHERE expires_at IS NULL;

-- The reconciler looks for pending deliveries that are overdue.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- Down Migration
DROP INDEX IF EXISTS webhook_deliveries_due_idx;
DROP INDEX IF EXISTS webhook_secrets_current_idx;
ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS schedule_attempts, DROP COLUMN IF EXISTS redeliveries;
