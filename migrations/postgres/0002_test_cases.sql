-- The test set. keywords, tags, assertions and inputs are JSON documents.
CREATE TABLE test_cases (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT    NOT NULL,
    query           TEXT    NOT NULL,
    expected_answer TEXT    NOT NULL DEFAULT '',
    keywords        TEXT    NOT NULL DEFAULT '[]',
    category        TEXT    NOT NULL DEFAULT '',
    tags            TEXT    NOT NULL DEFAULT '[]',
    pass_threshold  DOUBLE PRECISION,
    assertions      TEXT    NOT NULL DEFAULT '[]',
    inputs          TEXT    NOT NULL DEFAULT '{}',
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
