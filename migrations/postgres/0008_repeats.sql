-- Repeats: a batch may run every (version, case) several times, to tell a flaky case from a broken
-- one. Each repetition is its own durable result; repetition 0 is the first (and, in a batch without
-- repeats, the only) one, so every existing result keeps its meaning.
ALTER TABLE batches ADD COLUMN repeats BIGINT NOT NULL DEFAULT 1;
ALTER TABLE results ADD COLUMN repetition BIGINT NOT NULL DEFAULT 0;
ALTER TABLE results DROP CONSTRAINT results_pkey;
ALTER TABLE results ADD PRIMARY KEY (batch_id, version_id, case_id, repetition);
