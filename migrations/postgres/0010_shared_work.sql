-- Several instances on one PostgreSQL (issue #13): the tests of unfinished batches are claimed by
-- leases, every instance keeps its live progress in step from per-version running tallies, and
-- duplicate work after a lost lease is counted.

-- The instances serving this database. One row per running `serve`, its heartbeat in `seen_at`
-- (the database's clock, milliseconds): an instance whose heartbeat is older than the lease time
-- is gone, and so are its leases.
CREATE TABLE instances (
    id         BIGSERIAL PRIMARY KEY,
    host       TEXT    NOT NULL,
    pid        BIGINT  NOT NULL,
    started_at BIGINT  NOT NULL,
    seen_at    BIGINT  NOT NULL,
    -- Stopping: it claims nothing more and is left out of the fair share.
    draining   BOOLEAN NOT NULL DEFAULT FALSE
);

-- One row per test of an unfinished batch that has no result yet: deleted in the transaction that
-- stores its result. `owner` is the instance that claimed it (its lease lives as long as that
-- instance's heartbeat), NULL when unclaimed; `claims` counts claims, so a test claimed again after
-- its owner vanished is known (it may have been called twice).
CREATE TABLE batch_work (
    batch_id   BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    version_id BIGINT NOT NULL,
    case_id    BIGINT NOT NULL,
    repetition BIGINT NOT NULL,
    -- Dispatch order: versions in order, then repetition rounds, then cases.
    seq        BIGINT NOT NULL,
    owner      BIGINT,
    claims     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, version_id, case_id, repetition)
);
-- Claims take the earliest open tests: of the batch, or of one version when versions are capped.
CREATE INDEX batch_work_order_idx ON batch_work (batch_id, seq);
CREATE INDEX batch_work_version_order_idx ON batch_work (batch_id, version_id, seq);
-- The leased rows (never more than the batches' concurrency, plus those of vanished instances).
CREATE INDEX batch_work_leased_idx ON batch_work (batch_id, version_id) WHERE owner IS NOT NULL;

-- Per (batch, version), the tallies of its stored results, updated in the transaction that stores
-- them. `rev` increases with every change, so an instance applying tallies it heard about keeps
-- the newest whatever order they arrive in.
CREATE TABLE batch_tallies (
    batch_id        BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    version_id      BIGINT NOT NULL,
    rev             BIGINT NOT NULL DEFAULT 1,
    completed       BIGINT NOT NULL DEFAULT 0,
    passed          BIGINT NOT NULL DEFAULT 0,
    errored         BIGINT NOT NULL DEFAULT 0,
    score_sum       DOUBLE PRECISION NOT NULL DEFAULT 0,
    scored          BIGINT NOT NULL DEFAULT 0,
    latency_sum     DOUBLE PRECISION NOT NULL DEFAULT 0,
    timed           BIGINT NOT NULL DEFAULT 0,
    judged          BIGINT NOT NULL DEFAULT 0,
    judge_cached    BIGINT NOT NULL DEFAULT 0,
    judge_errors    BIGINT NOT NULL DEFAULT 0,
    judge_score_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, version_id)
);

-- Tests claimed again after the instance holding them vanished (each possibly called twice), and
-- answers that arrived for a test already stored (called twice, stored once).
ALTER TABLE batches ADD COLUMN reclaimed_tests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN duplicate_results BIGINT NOT NULL DEFAULT 0;

INSERT INTO batch_tallies (batch_id, version_id, completed, passed, errored, score_sum, scored,
                           latency_sum, timed, judged, judge_cached, judge_errors, judge_score_sum)
SELECT batch_id, version_id, COUNT(*),
       COUNT(*) FILTER (WHERE status = 'passed'), COUNT(*) FILTER (WHERE status = 'error'),
       COALESCE(SUM(score), 0), COUNT(score),
       COALESCE(SUM(CAST(latency_ms AS DOUBLE PRECISION)), 0), COUNT(latency_ms),
       COUNT(judge_score), COUNT(*) FILTER (WHERE judge_cached),
       COUNT(*) FILTER (WHERE judge_status = 'error'), COALESCE(SUM(judge_score), 0)
FROM results GROUP BY batch_id, version_id;

-- The work of batches left unfinished by the previous version of the server.
INSERT INTO batch_work (batch_id, version_id, case_id, repetition, seq)
SELECT b.id, v.version_id, c.case_id, r.rep,
       (v.position * b.repeats + r.rep) * (SELECT COUNT(*) FROM batch_cases bc WHERE bc.batch_id = b.id)
           + c.position
FROM batches b
JOIN batch_versions v ON v.batch_id = b.id
JOIN batch_cases c ON c.batch_id = b.id
CROSS JOIN LATERAL generate_series(0, b.repeats - 1) AS r(rep)
WHERE b.status IN ('queued', 'running')
  AND NOT EXISTS (SELECT 1 FROM results x WHERE x.batch_id = b.id AND x.version_id = v.version_id
                  AND x.case_id = c.case_id AND x.repetition = r.rep);
