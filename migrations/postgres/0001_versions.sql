-- Dify app endpoints under test. The API key is stored here and nowhere the API can read it back.
CREATE TABLE versions (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    base_url      TEXT    NOT NULL,
    api_key       TEXT    NOT NULL,
    app_mode      TEXT    NOT NULL,
    response_mode TEXT    NOT NULL,
    answer_field  TEXT,
    inputs        TEXT    NOT NULL DEFAULT '{}',
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    CONSTRAINT versions_name_key UNIQUE (name)
);
