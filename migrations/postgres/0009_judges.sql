-- The LLM judge, its caches, human reviews, and case revisions.
--
-- Judges (and embedding endpoints) are configured once by an admin; the key is sealed at rest
-- exactly like a version's (`store::sealed_keys`).
CREATE TABLE judges (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    base_url     TEXT    NOT NULL,
    model        TEXT    NOT NULL DEFAULT '',
    app_mode     TEXT    NOT NULL DEFAULT 'chat',
    api_key      TEXT    NOT NULL,
    json_mode    BOOLEAN NOT NULL DEFAULT TRUE,
    concurrency  BIGINT  NOT NULL,
    input_price  DOUBLE PRECISION,
    output_price DOUBLE PRECISION,
    -- Chosen for new batches in the UI unless the user chooses otherwise.
    use_by_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    created_by   TEXT,
    updated_by   TEXT,
    CONSTRAINT judges_name_key UNIQUE (name)
);

-- What a judge said, keyed by a SHA-256 of the judge's configuration (not its key), the rubric,
-- the case's own rubric, the question, the expected answer and the answer: a repeat, a re-run or
-- an identical answer is never judged twice. Only judgements are kept, never judge errors.
CREATE TABLE judgements (
    cache_key  TEXT   PRIMARY KEY,
    score      DOUBLE PRECISION NOT NULL,
    passed     BOOLEAN,
    reason     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- Embedding vectors (JSON arrays), keyed by a SHA-256 of the endpoint's model and the text.
CREATE TABLE embeddings (
    cache_key  TEXT   PRIMARY KEY,
    vector     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- The judge's part of a result, beside the full outcome in `detail`, so that tallies are SQL.
-- judge_status: passed | failed | error; NULL when the batch has no judge.
ALTER TABLE results ADD COLUMN judge_score DOUBLE PRECISION;
ALTER TABLE results ADD COLUMN judge_status TEXT;
ALTER TABLE results ADD COLUMN judge_cached BOOLEAN;
ALTER TABLE results ADD COLUMN judge_tokens BIGINT;
ALTER TABLE results ADD COLUMN judge_price DOUBLE PRECISION;

-- A human's verdict on a result. Kept beside the result (never rewriting it), so the automatic
-- and the reviewed pass rate can both be shown, and a judge calibrated against them.
CREATE TABLE reviews (
    batch_id    BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    version_id  BIGINT NOT NULL,
    case_id     BIGINT NOT NULL,
    repetition  BIGINT NOT NULL,
    verdict     TEXT   NOT NULL,
    comment     TEXT   NOT NULL DEFAULT '',
    reviewed_by TEXT,
    reviewed_at BIGINT NOT NULL,
    PRIMARY KEY (batch_id, version_id, case_id, repetition)
);

-- A case's own rubric text for the judge, and its revision: every change to the expected answer
-- (an edit, or promoting a reviewed answer) keeps the case's earlier text in case_revisions.
ALTER TABLE test_cases ADD COLUMN rubric TEXT;
ALTER TABLE test_cases ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
CREATE TABLE case_revisions (
    case_id    BIGINT NOT NULL,
    revision   BIGINT NOT NULL,
    -- The case as it was at that revision (JSON, the API's TestCase).
    snapshot   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT,
    -- Why the revision was made ("promoted the answer of batch 12, version 3").
    note       TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (case_id, revision)
);
