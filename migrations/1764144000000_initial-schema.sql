-- Up Migration
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- "<key id>:<base64 iv|tag|ciphertext>", AES-256-GCM with the user id as associated data
  tabpfn_token_ciphertext text NOT NULL,
  -- SHA-256 of the raw token: finds the account that owns a token without decrypting every row
  tabpfn_token_digest bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  digest bytea NOT NULL UNIQUE,
  prefix text NOT NULL,
  name text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at DESC);

CREATE TABLE datasets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('train', 'test')),
  content_hash text NOT NULL,
  format text NOT NULL DEFAULT 'parquet',
  x_bytes bytea,
  y_bytes bytea,
  n_rows integer NOT NULL,
  n_cols integer NOT NULL,
  -- [{name, type: "number"|"string"}]; target type for train sets
  columns jsonb NOT NULL,
  target_type text,
  size_bytes integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  data_removed_at timestamptz
);
CREATE INDEX datasets_user_idx ON datasets (user_id);
CREATE INDEX datasets_retention_idx ON datasets (created_at) WHERE data_removed_at IS NULL;

CREATE TABLE models (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'failed')),
  task text NOT NULL CHECK (task IN ('classification', 'regression')),
  model_name text,
  dataset_id uuid REFERENCES datasets(id) ON DELETE SET NULL,
  fit_key text NOT NULL,
  upstream_train_set_upload_id text,
  upstream_fitted_train_set_id text,
  n_samples integer NOT NULL,
  n_features integer NOT NULL,
  feature_names jsonb NOT NULL,
  feature_types jsonb NOT NULL,
  classes jsonb,
  target_type text,
  config jsonb NOT NULL DEFAULT '{}'::jsonb,
  categorical_features jsonb,
  description text,
  error jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  ready_at timestamptz
);
CREATE INDEX models_user_idx ON models (user_id, created_at DESC, id DESC);
CREATE INDEX models_fit_key_idx ON models (user_id, fit_key) WHERE status = 'ready';

CREATE TABLE jobs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  type text NOT NULL CHECK (type IN ('fit', 'predict')),
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
  model_id uuid NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  dataset_id uuid REFERENCES datasets(id) ON DELETE SET NULL,
  params jsonb NOT NULL DEFAULT '{}'::jsonb,
  cache_key text,
  cached boolean NOT NULL DEFAULT false,
  result jsonb,
  result_removed_at timestamptz,
  error jsonb,
  progress jsonb,
  attempts integer NOT NULL DEFAULT 0,
  n_rows integer NOT NULL DEFAULT 0,
  webhook_url text,
  webhook_events text[],
  cancel_requested_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz
);
CREATE INDEX jobs_user_idx ON jobs (user_id, created_at DESC, id DESC);
CREATE INDEX jobs_model_idx ON jobs (model_id, created_at DESC);
CREATE INDEX jobs_active_idx ON jobs (status, updated_at) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_cache_idx ON jobs (user_id, cache_key, finished_at DESC) WHERE status = 'succeeded' AND cache_key IS NOT NULL;
CREATE INDEX jobs_retention_idx ON jobs (finished_at) WHERE result IS NOT NULL;

CREATE TABLE idempotency_keys (
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  key text NOT NULL,
  endpoint text NOT NULL,
  request_hash text NOT NULL,
  response_status integer,
  response_headers jsonb,
  response_body jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, endpoint, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

CREATE TABLE webhook_secrets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  secret_ciphertext text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- set on the previous secret when it is rotated out; it keeps signing until then
  expires_at timestamptz
);
CREATE INDEX webhook_secrets_user_idx ON webhook_secrets (user_id, created_at DESC);

CREATE TABLE webhook_deliveries (
  id text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  job_id uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  url text NOT NULL,
  event_type text NOT NULL,
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  last_status_code integer,
  last_error text,
  next_attempt_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  UNIQUE (job_id, event_type)
);
CREATE INDEX webhook_deliveries_job_idx ON webhook_deliveries (job_id, created_at);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (status, updated_at) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
  id bigserial PRIMARY KEY,
  delivery_id text NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  status_code integer,
  duration_ms integer NOT NULL,
  error text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);

CREATE TABLE worker_heartbeats (
  worker_id text PRIMARY KEY,
  hostname text NOT NULL,
  pid integer NOT NULL,
  started_at timestamptz NOT NULL,
  seen_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE IF EXISTS worker_heartbeats, webhook_attempts, webhook_deliveries, webhook_secrets, idempotency_keys, jobs, models, datasets, api_keys, users CASCADE;
