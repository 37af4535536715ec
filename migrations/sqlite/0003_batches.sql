-- A batch and the snapshots taken at launch: later edits to versions or cases never rewrite history,
-- and a batch resumed after a restart runs against exactly what it was launched with.
CREATE TABLE batches (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    concurrency     BIGINT  NOT NULL,
    per_version_cap BIGINT,
    scoring         TEXT    NOT NULL,
    total_tests     BIGINT  NOT NULL,
    error_message   TEXT,
    created_at      BIGINT  NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT
);
CREATE INDEX batches_status_idx ON batches (status);

CREATE TABLE batch_versions (
    batch_id   BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    version_id BIGINT NOT NULL,
    position   BIGINT NOT NULL,
    -- name, base_url, app_mode, response_mode, answer_field, inputs and the API key at launch.
    config     TEXT   NOT NULL,
    PRIMARY KEY (batch_id, version_id)
);

CREATE TABLE batch_cases (
    batch_id BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    case_id  BIGINT NOT NULL,
    position BIGINT NOT NULL,
    snapshot TEXT   NOT NULL,
    PRIMARY KEY (batch_id, case_id)
);
