-- Up Migration

-- A large test set arrives as parts (a streamed CSV is encoded part by part and never held whole):
-- each part is a parquet file of consecutive rows. A dataset with parts has no x_bytes of its own.
CREATE TABLE dataset_parts (
  dataset_id uuid NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  row_start integer NOT NULL,
  n_rows integer NOT NULL CHECK (n_rows > 0),
  x_bytes bytea NOT NULL,
  PRIMARY KEY (dataset_id, row_start)
);
ALTER TABLE datasets ADD COLUMN n_parts integer NOT NULL DEFAULT 0;
-- Parts are written before the job that uses them: a set whose upload failed is swept once old.
ALTER TABLE datasets ADD COLUMN complete boolean NOT NULL DEFAULT true;
CREATE INDEX datasets_incomplete_idx ON datasets (created_at) WHERE NOT complete;

-- A batch predict's chunks, each stored the moment upstream answers it: a crash, a redeploy or a
-- Redis flush re-runs only the rows no chunk covers. `prediction` is upstream's answer as is.
CREATE TABLE predict_chunks (
  job_id uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  row_start integer NOT NULL,
  row_end integer NOT NULL CHECK (row_end > row_start),
  prediction jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, row_start)
);

-- A result too large to inline stays in predict_chunks; jobs.result then holds only its header
-- (output type, classes, quantiles) and GET /v1/jobs/{id}/result streams the rows.
ALTER TABLE jobs ADD COLUMN result_chunked boolean NOT NULL DEFAULT false;

-- Down Migration
ALTER TABLE jobs DROP COLUMN IF EXISTS result_chunked;
DROP TABLE IF EXISTS predict_chunks;
DROP INDEX IF EXISTS datasets_incomplete_idx;
ALTER TABLE datasets DROP COLUMN IF EXISTS complete, DROP COLUMN IF EXISTS n_parts;
DROP TABLE IF EXISTS dataset_parts;
