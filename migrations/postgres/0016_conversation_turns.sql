-- Multi-turn cases (issue #12 item 5): a case may be a conversation. Turn 1 stays in the case's
-- own columns; turns 2 and on (query, expected answer, keywords, assertions, inputs) are one JSON
-- array, empty for every case before this migration. A result of a multi-turn case keeps each
-- turn's query, answer, score, pass, latency, tokens, error and conversation id as one JSON
-- array; NULL for one-turn cases. Both are read with the row, never searched, so no index.
ALTER TABLE test_cases ADD COLUMN turns TEXT NOT NULL DEFAULT '[]';
ALTER TABLE results ADD COLUMN turns TEXT;
