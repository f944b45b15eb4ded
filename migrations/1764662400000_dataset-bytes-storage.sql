-- Up Migration

-- Dataset bytes are parquet, compressed already: Postgres' own compression only spends time on them
-- (a 27 MB train set inserted in ~1.0 s instead of ~0.6 s). EXTERNAL stores them out of line, as is.
ALTER TABLE datasets ALTER COLUMN x_bytes SET STORAGE EXTERNAL, ALTER COLUMN y_bytes SET STORAGE EXTERNAL;
ALTER TABLE dataset_parts ALTER COLUMN x_bytes SET STORAGE EXTERNAL;

-- Down Migration
ALTER TABLE dataset_parts ALTER COLUMN x_bytes SET STORAGE EXTENDED;
ALTER TABLE datasets ALTER COLUMN x_bytes SET STORAGE EXTENDED, ALTER COLUMN y_bytes SET STORAGE EXTENDED;
