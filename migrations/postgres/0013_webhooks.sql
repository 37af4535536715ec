-- Webhooks (issue #11): admin-configured receivers of batch-end and alert events, and the
-- durable log of their deliveries.
--
-- The signing secret is sealed at rest like a Dify key (`store::sealed_keys`, its own purpose).
-- `events` is a comma-separated list of event names (`batch.completed`, `alert.raised`, …).
CREATE TABLE webhooks (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    events     TEXT    NOT NULL,
    enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    secret     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    created_by TEXT,
    updated_by TEXT,
    CONSTRAINT webhooks_name_key UNIQUE (name)
);

-- One row per event and webhook, written when the event happens and sent by whichever instance
-- claims it (a lease, as tests are claimed): pending ones survive a restart and go out once.
-- `payload` is the JSON body without its signature (signed afresh, with the time, per attempt).
CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    webhook_id      BIGINT  NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    uid             TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending',
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    lease_until     BIGINT,
    lease_token     TEXT,
    http_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT  NOT NULL,
    last_attempt_at BIGINT,
    delivered_at    BIGINT,
    CONSTRAINT webhook_deliveries_uid_key UNIQUE (uid)
);

-- The sender's due work, and each webhook's log, newest first.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook_idx ON webhook_deliveries (webhook_id, id);
