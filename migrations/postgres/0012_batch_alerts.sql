-- Live alerts a batch raised (issue #11): at most one per version and kind, kept with the batch.
CREATE TABLE batch_alerts (
    batch_id   BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    version_id BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    message    TEXT   NOT NULL,
    since_ms   BIGINT NOT NULL,
    PRIMARY KEY (batch_id, version_id, kind)
);

-- A version's earlier batches (its previous run, its latency history) are found through
-- batch_versions_version_idx (0011).
