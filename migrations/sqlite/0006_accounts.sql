-- Accounts: people (users with a role and an Argon2id password hash), their browser sessions, and
-- API tokens for scripts and CI. Session ids and tokens are stored only as SHA-256 hashes, so a
-- copy of the database cannot be used to sign in.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    role          TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);

-- Server-side sessions: deleting a row (logout, user removed) ends the session at once.
CREATE TABLE sessions (
    id_hash      TEXT   PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT   NOT NULL,
    token_hash   TEXT   NOT NULL,
    -- The first characters of the token, shown in lists so a person can tell tokens apart.
    prefix       TEXT   NOT NULL,
    role         TEXT   NOT NULL,
    created_by   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    CONSTRAINT api_tokens_hash_key UNIQUE (token_hash)
);

-- One row: bumped whenever a credential stops being valid (logout, revocation, a user removed
-- or demoted), by the server or the CLI. Open progress streams re-check their credential when
-- it moves, so a revoked token loses its stream at the next event or keep-alive.
CREATE TABLE auth_epoch (
    id    BIGINT PRIMARY KEY,
    epoch BIGINT NOT NULL
);
INSERT INTO auth_epoch (id, epoch) VALUES (1, 0);
