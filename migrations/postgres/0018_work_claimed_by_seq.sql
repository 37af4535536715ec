-- A capped batch's claims take a version's work rows by their `seq` range (the version at
-- position p holds seq p × per to (p + 1) × per, per its repetitions × cases), through
-- `batch_work_order_idx`; the index by version is no longer read. Each of a new batch's work rows
-- cost its entry: 10,000 rows took 29 ms with it and 21 ms without in psql (BENCHMARKS.md j.4).
DROP INDEX IF EXISTS batch_work_version_order_idx;
