//! The `test_cases` table, and `case_revisions`: a case's earlier expected answers.
//!
//! A case's *revision* goes up whenever what it is graded against changes — its expected answer,
//! keywords, rubric or its later turns — by an edit or by promoting a reviewed answer; the text it had before is
//! kept in `case_revisions`. Batches keep their own snapshots (`batch_cases`), so a new revision
//! never rewrites a past result.

use super::{
    now_ms, on_pool, parse_json, rows_per_insert, to_json, values_list, Db, Store, StoreError,
    StoreResult,
};
use crate::model::{CaseDraft, CaseId, CaseRevision, TestCase};

const INSERT_REVISION: &str = "INSERT INTO case_revisions \
    (case_id, revision, snapshot, created_at, created_by, note) VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (case_id, revision) DO NOTHING";

#[derive(sqlx::FromRow)]
struct CaseRow {
    id: i64,
    name: String,
    query: String,
    expected_answer: String,
    keywords: String,
    category: String,
    tags: String,
    pass_threshold: Option<f64>,
    assertions: String,
    inputs: String,
    enabled: bool,
    created_at: i64,
    updated_at: i64,
    created_by: Option<String>,
    updated_by: Option<String>,
    rubric: Option<String>,
    revision: i64,
    turns: String,
}

impl CaseRow {
    fn into_case(self) -> StoreResult<TestCase> {
        Ok(TestCase {
            id: CaseId(self.id),
            name: self.name,
            query: self.query,
            expected_answer: self.expected_answer,
            keywords: parse_json("case keywords", &self.keywords)?,
            category: self.category,
            tags: parse_json("case tags", &self.tags)?,
            pass_threshold: self.pass_threshold,
            assertions: parse_json("case assertions", &self.assertions)?,
            inputs: parse_json("case inputs", &self.inputs)?,
            enabled: self.enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
            created_by: self.created_by,
            updated_by: self.updated_by,
            rubric: self.rubric,
            revision: u32::try_from(self.revision).unwrap_or(1),
            turns: parse_json("case turns", &self.turns)?,
        })
    }
}

/// [`Store::enabled_cases`] reads in two halves at once from this span of case ids.
const SPLIT_READ_FROM: i64 = 2_000;

const COLUMNS: &str =
    "id, name, query, expected_answer, keywords, category, tags, pass_threshold, \
                       assertions, inputs, enabled, created_at, updated_at, created_by, updated_by, \
                       rubric, revision, turns";
/// The columns a new case binds, in the order [`insert_cases`](Store::insert_cases) binds them.
const INSERT_COLUMNS: &str = "name, query, expected_answer, keywords, category, tags, \
     pass_threshold, assertions, inputs, enabled, created_at, updated_at, rubric, turns";
const INSERT_BOUND: usize = 14;

/// The bound values of one draft, in `INSERT` order after the name and query.
struct Encoded {
    keywords: String,
    tags: String,
    assertions: String,
    inputs: String,
    turns: String,
}

fn encode(draft: &CaseDraft) -> Encoded {
    Encoded {
        keywords: to_json(&draft.keywords),
        tags: to_json(&draft.tags),
        assertions: to_json(&draft.assertions),
        inputs: to_json(draft.inputs.as_ref().unwrap_or(&serde_json::json!({}))),
        turns: to_json(&draft.turns),
    }
}

impl Store {
    pub async fn list_cases(&self) -> StoreResult<Vec<TestCase>> {
        let sql = format!("SELECT {COLUMNS} FROM test_cases ORDER BY id");
        let rows: Vec<CaseRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(CaseRow::into_case).collect()
    }

    /// Every enabled case in id order: what a batch over "all cases" runs. The selection is
    /// the database's, so a disabled case is neither sent nor decoded.
    ///
    /// On SQLite a large test set is read in two halves of its id range at once, each on its
    /// own connection and decoded on its own task, so both cores share the read (the largest
    /// step of a 10,000-case `start_batch` there, BENCHMARKS.md j.4); the halves are disjoint and
    /// in order. The two reads see the same cases as one would: a store transaction that writes
    /// several cases only inserts new ones, and SQLite gives them ids above every committed id,
    /// so they all fall in the upper half. PostgreSQL reads in one statement: its sequence can
    /// hand a concurrent import ids on both sides of the split, and the read is short there.
    pub async fn enabled_cases(&self) -> StoreResult<Vec<TestCase>> {
        let (lo, hi): (Option<i64>, Option<i64>) = on_pool!(self, pool => {
            sqlx::query_as("SELECT MIN(id), MAX(id) FROM test_cases").fetch_one(pool).await
        })?;
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(Vec::new());
        };
        // `run`'s store has one connection: two reads would only queue for it.
        let one_read = hi - lo < SPLIT_READ_FROM
            || !matches!(&self.db, Db::Sqlite(pool) if pool.options().get_max_connections() >= 2);
        // The lower half is `..=last_low`, the upper `last_low + 1..`; one read takes every id.
        let last_low = if one_read {
            i64::MAX
        } else {
            lo + (hi - lo) / 2
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM test_cases WHERE enabled AND id >= $1 AND id <= $2 ORDER BY id"
        );
        let (lower, upper) = on_pool!(self, pool => {
            let upper = (!one_read).then(|| {
                let (pool, sql) = (pool.clone(), sql.clone());
                tokio::spawn(async move {
                    let rows: Vec<CaseRow> = sqlx::query_as(&sql)
                        .bind(last_low + 1)
                        .bind(i64::MAX)
                        .fetch_all(&pool)
                        .await?;
                    rows.into_iter()
                        .map(CaseRow::into_case)
                        .collect::<StoreResult<Vec<_>>>()
                })
            });
            let rows: Vec<CaseRow> = sqlx::query_as(&sql)
                .bind(i64::MIN)
                .bind(last_low)
                .fetch_all(pool)
                .await?;
            (rows, upper)
        });
        let mut cases = lower
            .into_iter()
            .map(CaseRow::into_case)
            .collect::<StoreResult<Vec<_>>>()?;
        if let Some(upper) = upper {
            let upper = upper
                .await
                .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))??;
            cases.extend(upper);
        }
        Ok(cases)
    }

    /// The cases with these ids, enabled or not, in id order, in one statement whatever the
    /// number of ids (SQLite reads them from one JSON array, PostgreSQL from one array); an id
    /// that is no case's is left out, and one given twice comes back once.
    pub async fn cases_with_ids(&self, ids: &[CaseId]) -> StoreResult<Vec<TestCase>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let rows: Vec<CaseRow> = match &self.db {
            Db::Sqlite(pool) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM test_cases \
                     WHERE id IN (SELECT value FROM json_each($1)) ORDER BY id"
                );
                sqlx::query_as(&sql)
                    .bind(to_json(&ids))
                    .fetch_all(pool)
                    .await?
            }
            Db::Postgres(pool) => {
                let sql =
                    format!("SELECT {COLUMNS} FROM test_cases WHERE id = ANY($1) ORDER BY id");
                sqlx::query_as(&sql).bind(&ids).fetch_all(pool).await?
            }
        };
        rows.into_iter().map(CaseRow::into_case).collect()
    }

    pub async fn get_case(&self, id: CaseId) -> StoreResult<Option<TestCase>> {
        let sql = format!("SELECT {COLUMNS} FROM test_cases WHERE id = $1");
        let row: Option<CaseRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(id.0).fetch_optional(pool).await)?;
        row.map(CaseRow::into_case).transpose()
    }

    pub async fn insert_case(&self, draft: &CaseDraft) -> StoreResult<CaseId> {
        let ids = self.insert_cases(std::slice::from_ref(draft)).await?;
        Ok(ids[0])
    }

    /// Inserts all drafts in one transaction: either every case is stored or none is. The
    /// rows go in multi-row `INSERT`s (one round trip per [`rows_per_insert`] cases, not one per
    /// case); the ids come back in the drafts' order.
    pub async fn insert_cases(&self, drafts: &[CaseDraft]) -> StoreResult<Vec<CaseId>> {
        let now = now_ms();
        let encoded: Vec<Encoded> = drafts.iter().map(encode).collect();
        let chunk = rows_per_insert(INSERT_BOUND);
        let pg = self.pg_pool().is_some();
        let ids: Vec<i64> = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut ids = Vec::with_capacity(drafts.len());
            for (drafts, encoded) in drafts.chunks(chunk).zip(encoded.chunks(chunk)) {
                let sql = format!(
                    "INSERT INTO test_cases ({INSERT_COLUMNS}) VALUES {} RETURNING id",
                    values_list(pg, drafts.len(), INSERT_BOUND)
                );
                // Not kept in the connection's statement cache: a statement this long, of a
                // length that varies with the last chunk, is not worth the memory it holds.
                let mut q = sqlx::query_scalar(&sql).persistent(false);
                for (draft, enc) in drafts.iter().zip(encoded) {
                    q = q
                        .bind(&draft.name)
                        .bind(&draft.query)
                        .bind(&draft.expected_answer)
                        .bind(&enc.keywords)
                        .bind(&draft.category)
                        .bind(&enc.tags)
                        .bind(draft.pass_threshold)
                        .bind(&enc.assertions)
                        .bind(&enc.inputs)
                        .bind(draft.enabled.unwrap_or(true))
                        .bind(now)
                        .bind(now)
                        .bind(&draft.rubric)
                        .bind(&enc.turns);
                }
                let mut chunk_ids: Vec<i64> = q.fetch_all(&mut *tx).await?;
                // RETURNING promises no order; the ids of one statement's rows rise in the order
                // of its VALUES on both backends (a sequence; SQLite's next rowid), so sorted
                // they line up with the drafts.
                chunk_ids.sort_unstable();
                ids.extend(chunk_ids);
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ids)
        })?;
        Ok(ids.into_iter().map(CaseId).collect())
    }

    /// Replaces a case's fields. When what it is graded against changes (expected answer,
    /// keywords, rubric), the case as it was is kept as a revision and its revision goes up.
    pub async fn update_case(&self, id: CaseId, draft: &CaseDraft) -> StoreResult<bool> {
        self.update_case_noting(id, draft, None, "edited").await
    }

    /// [`Store::update_case`], recording who made a new revision and why.
    pub async fn update_case_noting(
        &self,
        id: CaseId,
        draft: &CaseDraft,
        by: Option<&str>,
        note: &str,
    ) -> StoreResult<bool> {
        let enc = encode(draft);
        let select = format!("SELECT {COLUMNS} FROM test_cases WHERE id = $1");
        let sql = "UPDATE test_cases SET name = $2, query = $3, expected_answer = $4, \
                   keywords = $5, category = $6, tags = $7, pass_threshold = $8, \
                   assertions = $9, inputs = $10, enabled = COALESCE($11, enabled), \
                   updated_at = $12, rubric = $13, revision = $14, turns = $15 WHERE id = $1";
        let now = now_ms();
        let done = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let Some(row): Option<CaseRow> =
                sqlx::query_as(&select).bind(id.0).fetch_optional(&mut *tx).await?
            else {
                return Ok(false);
            };
            let old = row.into_case().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            let regraded = old.expected_answer != draft.expected_answer
                || old.keywords != draft.keywords
                || old.rubric != draft.rubric
                || old.turns != draft.turns;
            let revision = i64::from(old.revision) + i64::from(regraded);
            if regraded {
                sqlx::query(INSERT_REVISION)
                    .bind(id.0)
                    .bind(i64::from(old.revision))
                    .bind(to_json(&old))
                    .bind(now)
                    .bind(by)
                    .bind(note)
                    .execute(&mut *tx)
                    .await?;
            }
            let n = sqlx::query(sql)
                .bind(id.0)
                .bind(&draft.name)
                .bind(&draft.query)
                .bind(&draft.expected_answer)
                .bind(&enc.keywords)
                .bind(&draft.category)
                .bind(&enc.tags)
                .bind(draft.pass_threshold)
                .bind(&enc.assertions)
                .bind(&enc.inputs)
                .bind(draft.enabled)
                .bind(now)
                .bind(&draft.rubric)
                .bind(revision)
                .bind(&enc.turns)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n == 1)
        })?;
        Ok(done)
    }

    /// A case's earlier revisions, newest first (the current one is the case itself).
    pub async fn case_revisions(&self, id: CaseId) -> StoreResult<Vec<CaseRevision>> {
        let rows: Vec<(i64, String, i64, Option<String>, String)> = on_pool!(self, pool =>
            sqlx::query_as(
                "SELECT revision, snapshot, created_at, created_by, note FROM case_revisions \
                 WHERE case_id = $1 ORDER BY revision DESC")
            .bind(id.0).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(revision, snapshot, at, by, note)| {
                Ok(CaseRevision {
                    revision: u32::try_from(revision).unwrap_or(0),
                    case: parse_json("case revision", &snapshot)?,
                    replaced_at: at,
                    replaced_by: by,
                    note,
                })
            })
            .collect()
    }

    pub async fn set_case_enabled(&self, id: CaseId, enabled: bool) -> StoreResult<bool> {
        let sql = "UPDATE test_cases SET enabled = $2, updated_at = $3 WHERE id = $1";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(id.0).bind(enabled).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn delete_case(&self, id: CaseId) -> StoreResult<bool> {
        let done = on_pool!(self, pool => sqlx::query("DELETE FROM test_cases WHERE id = $1")
            .bind(id.0).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn count_cases(&self) -> StoreResult<i64> {
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM test_cases")
            .fetch_one(pool).await)?;
        Ok(n)
    }
}
