-- The trends dashboard and the batch history (issue #11).

-- Per (batch, version) of a finished batch, the figures the dashboard charts: computed once from
-- the run's results the first time the dashboard shows it, then read from here, so that a trend
-- over a thousand batches reads a thousand rows per version, not a million results. Deleted with
-- the batch; dropped when a re-run re-opens it (`claim_for_rerun`).
CREATE TABLE run_stats (
    batch_id        BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    version_id      BIGINT NOT NULL,
    results         BIGINT NOT NULL,
    passed          BIGINT NOT NULL,
    errored         BIGINT NOT NULL,
    mean_score      DOUBLE PRECISION,
    judge_score     DOUBLE PRECISION,
    latency_p50     DOUBLE PRECISION,
    latency_p95     DOUBLE PRECISION,
    ttft_p50        DOUBLE PRECISION,
    ttft_p95        DOUBLE PRECISION,
    mean_latency_ms DOUBLE PRECISION,
    tokens_per_test DOUBLE PRECISION,
    cost_per_test   DOUBLE PRECISION,
    currency        TEXT,
    -- [{"code": "timeout", "count": 3}, …] (JSON), the most frequent first.
    errors          TEXT   NOT NULL,
    PRIMARY KEY (batch_id, version_id)
);

-- A date range over batches, newest first (the dashboard and the history's date filter).
CREATE INDEX batches_created_idx ON batches (created_at, id);
-- The history's "who started it" filter.
CREATE INDEX batches_created_by_idx ON batches (created_by);
-- The batches a version ran in (the dashboard's series, the history's version filter).
CREATE INDEX batch_versions_version_idx ON batch_versions (version_id, batch_id);
