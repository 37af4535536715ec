-- Who did what: the user (`alice`) or token (`token:ci`) that created or last changed a row.
-- Rows from before accounts existed have none.
ALTER TABLE versions ADD COLUMN created_by TEXT;
ALTER TABLE versions ADD COLUMN updated_by TEXT;
ALTER TABLE test_cases ADD COLUMN created_by TEXT;
ALTER TABLE test_cases ADD COLUMN updated_by TEXT;
ALTER TABLE batches ADD COLUMN created_by TEXT;
