-- start_batch writes a new batch's case snapshots and work rows by the thousand (issue #14: 10,000
-- cases in 200 ms). Their foreign keys to `batches` cost a trigger and a lookup of the batch's row
-- per inserted row, about 4 µs each: 10,000 work rows took 62-90 ms with the key and 45-69 ms
-- without it in psql (BENCHMARKS.md j.2). Neither key guards anything the code can get wrong:
-- both tables are written in the transaction that inserts the batch (or re-opens it, for the
-- work rows), work rows exist only while their batch is open and are deleted when it ends, and
-- deleting a finished batch deletes its snapshots itself (`Store::delete_batch`) instead of by
-- the cascade.
ALTER TABLE batch_cases DROP CONSTRAINT batch_cases_batch_id_fkey;
ALTER TABLE batch_work DROP CONSTRAINT batch_work_batch_id_fkey;
