-- The counts of duplicate work that several instances on PostgreSQL can cause (issue #13). SQLite
-- is served by one instance, so they stay 0 here; the columns keep one schema for both backends.
ALTER TABLE batches ADD COLUMN reclaimed_tests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN duplicate_results BIGINT NOT NULL DEFAULT 0;
