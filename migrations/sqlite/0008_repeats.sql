-- Repeats: a batch may run every (version, case) several times, to tell a flaky case from a broken
-- one. Each repetition is its own durable result; repetition 0 is the first (and, in a batch without
-- repeats, the only) one, so every existing result keeps its meaning.
--
-- SQLite cannot change a primary key in place: the table is rebuilt with the same columns plus
-- `repetition`, its rows copied, and the covering index recreated.
ALTER TABLE batches ADD COLUMN repeats BIGINT NOT NULL DEFAULT 1;

CREATE TABLE results_new (
    batch_id          BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    version_id        BIGINT NOT NULL,
    case_id           BIGINT NOT NULL,
    repetition        BIGINT NOT NULL DEFAULT 0,
    status            TEXT   NOT NULL,
    score             DOUBLE PRECISION,
    answer            TEXT,
    latency_ms        BIGINT,
    ttft_ms           BIGINT,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    total_tokens      BIGINT,
    total_price       DOUBLE PRECISION,
    currency          TEXT,
    task_id           TEXT,
    message_id        TEXT,
    conversation_id   TEXT,
    workflow_run_id   TEXT,
    error_code        TEXT,
    error_message     TEXT,
    attempts          BIGINT NOT NULL,
    detail            TEXT   NOT NULL,
    finished_at       BIGINT NOT NULL,
    PRIMARY KEY (batch_id, version_id, case_id, repetition)
);
INSERT INTO results_new (batch_id, version_id, case_id, repetition, status, score, answer,
    latency_ms, ttft_ms, prompt_tokens, completion_tokens, total_tokens, total_price, currency,
    task_id, message_id, conversation_id, workflow_run_id, error_code, error_message, attempts,
    detail, finished_at)
SELECT batch_id, version_id, case_id, 0, status, score, answer, latency_ms, ttft_ms,
    prompt_tokens, completion_tokens, total_tokens, total_price, currency, task_id, message_id,
    conversation_id, workflow_run_id, error_code, error_message, attempts, detail, finished_at
FROM results;
DROP TABLE results;
ALTER TABLE results_new RENAME TO results;
CREATE INDEX results_tally_idx ON results (batch_id, version_id, status, score, latency_ms);
