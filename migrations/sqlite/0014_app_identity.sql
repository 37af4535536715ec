-- Pinned published workflow versions and "what exactly was tested" (issue #12).
-- A version may pin a Dify workflow version (a UUID); NULL runs the app's latest.
ALTER TABLE versions ADD COLUMN workflow_id TEXT;

-- Each batch's record of its versions' apps as Dify described them at launch: `identity` is the
-- JSON of model::AppIdentity's /info and /parameters part (no key ever), `seen_workflow_id` the
-- workflow_id the version's first answers named. A re-run or resume records them again.
CREATE TABLE batch_app_identity (
    batch_id         BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    version_id       BIGINT NOT NULL,
    identity         TEXT,
    seen_workflow_id TEXT,
    recorded_at      BIGINT NOT NULL,
    PRIMARY KEY (batch_id, version_id)
);

-- A version's previous record (the "app changed" warnings): newest first, per version.
CREATE INDEX batch_app_identity_version_idx ON batch_app_identity (version_id, batch_id);
