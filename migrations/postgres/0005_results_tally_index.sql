-- Per-version tallies (the batch page's summary cards, a batch's counts) read only these columns:
-- a covering index lets them skip the wide result rows (answers, details). On a 100,000-test
-- batch the tally query reads ~4 MB of index instead of every row.
CREATE INDEX results_tally_idx ON results (batch_id, version_id, status, score, latency_ms);
