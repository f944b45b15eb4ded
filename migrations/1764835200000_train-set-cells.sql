-- Up Migration

-- A large CSV fit is stored as it streams in: its validated cells as text, in dataset_parts (format
-- 'csv-cells', see packages/tabpfn/src/csv-cells.ts), so the api answers without encoding it to
-- parquet; the worker encodes it before the fit and stores the parquet in its place. target_column
-- says which cell of each stored row is the target (0-based, in file order); NULL for other datasets.
ALTER TABLE datasets ADD COLUMN target_column integer;

-- Down Migration
ALTER TABLE datasets DROP COLUMN IF EXISTS target_column;
