//! The `batches`, `batch_versions` and `batch_cases` tables: a batch, and the versions and cases it
//! was launched with, snapshotted so that later edits never rewrite history. A snapshot holds its
//! version's key sealed, and loses it once the batch is finished and the key is no longer the
//! version's (see `sealed_keys`).

use super::sealed_keys::{forget_stale_sql, Scope};
use super::work::{PLAN_WORK, RECOUNT_TALLIES};
use super::{
    now_ms, on_pool, parse_json, pg_copy, rows_per_insert, to_json, values_list, Store, StoreError,
    StoreResult, VersionRecord, VersionTally,
};
pub(crate) use crate::model::rounding::round2;
use crate::model::{
    AppMode, Batch, BatchId, BatchStatus, BatchVersion, CaseId, ResponseMode, ScoringConfig,
    TestCase, VersionId,
};
use crate::server::secret::{Sealer, Secret};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What `create_batch` stores: the selections, already validated.
pub struct NewBatch<'a> {
    pub name: &'a str,
    pub concurrency: i64,
    pub per_version_cap: Option<i64>,
    pub scoring: &'a ScoringConfig,
    /// Runs of every (version, case), at least 1.
    pub repeats: u32,
    pub versions: &'a [VersionRecord],
    pub cases: &'a [TestCase],
    /// Who started it (`alice`, `token:ci`).
    pub created_by: Option<&'a str>,
}

/// What [`Store::claim_for_rerun`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RerunClaim {
    /// The batch is not finished (it runs, or another caller claimed it first): nothing changed.
    Lost,
    /// Finished with every test passed or failed: nothing changed, nothing to run.
    NothingToRun,
    /// Re-opened, its error results deleted: this many tests have no result and run again.
    Claimed { to_run: u64 },
}

/// A version as snapshotted at launch, key included: what the runner calls.
#[derive(Debug, Clone)]
pub struct PlannedVersion {
    pub version_id: VersionId,
    pub name: String,
    pub base_url: String,
    /// `None` once the key was removed from a finished batch (the version was deleted or its key
    /// replaced): the batch can be read but not run again.
    pub api_key: Option<Secret>,
    pub app_mode: AppMode,
    pub response_mode: ResponseMode,
    pub answer_field: Option<String>,
    pub inputs: serde_json::Value,
    /// The published workflow version pinned (None: the app's latest).
    pub workflow_id: Option<String>,
}

impl PlannedVersion {
    pub(super) fn summary(&self) -> BatchVersion {
        BatchVersion {
            version_id: self.version_id,
            name: self.name.clone(),
            app_mode: self.app_mode,
            response_mode: self.response_mode,
            base_url: self.base_url.clone(),
            api_key_hint: self
                .api_key
                .as_ref()
                .map_or_else(|| crate::model::key_hint(""), Secret::hint),
            workflow_id: self.workflow_id.clone(),
        }
    }
}

/// Everything needed to run (or resume) a batch.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    pub batch: Batch,
    pub versions: Vec<PlannedVersion>,
    pub cases: Vec<TestCase>,
}

/// The `batch_versions.config` document. It holds the sealed key (null once removed), so it never
/// leaves the server.
#[derive(Serialize, Deserialize)]
struct VersionSnapshot {
    name: String,
    base_url: String,
    api_key: Option<String>,
    app_mode: AppMode,
    response_mode: ResponseMode,
    answer_field: Option<String>,
    inputs: serde_json::Value,
    /// Absent from snapshots taken before versions could pin one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workflow_id: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct BatchRow {
    pub(super) id: i64,
    name: String,
    status: String,
    concurrency: i64,
    per_version_cap: Option<i64>,
    scoring: String,
    repeats: i64,
    total_tests: i64,
    error_message: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    created_by: Option<String>,
    completed: i64,
    passed: i64,
    errored: i64,
    average_score: Option<f64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct SnapshotRow {
    pub(super) batch_id: i64,
    version_id: i64,
    config: String,
}

/// A case's snapshot in `batch_cases`: the case as it was at launch, as
/// [`Store::batch_cases`] reads it back.
pub fn case_snapshot(case: &TestCase) -> String {
    to_json(case)
}

const INSERT_BATCH: &str = "INSERT INTO batches (name, status, concurrency, per_version_cap, \
     scoring, repeats, total_tests, created_at, created_by) \
     VALUES ($1, 'queued', $2, $3, $4, $5, $6, $7, $8) RETURNING id";

const INSERT_BATCH_VERSION: &str =
    "INSERT INTO batch_versions (batch_id, version_id, position, config) VALUES ($1, $2, $3, $4)";

/// PostgreSQL: a new batch's case snapshots, as binary COPY data ([`pg_copy`]).
const COPY_BATCH_CASES: &str =
    "COPY batch_cases (batch_id, case_id, position, snapshot) FROM STDIN (FORMAT binary)";

/// PostgreSQL: a new batch's work rows (`work`), as binary COPY data.
const COPY_BATCH_WORK: &str = "COPY batch_work (batch_id, version_id, case_id, repetition, seq) \
     FROM STDIN (FORMAT binary)";

/// The COPY data is sent in pieces of this many bytes: PostgreSQL stores one piece while the
/// next is encoded, and a piece stays small beside the 5.5 MB of 10,000 cases' snapshots.
const COPY_PIECE: usize = 256 * 1024;

/// Writing a new batch's case snapshots (and on PostgreSQL its work rows), the one step of
/// [`Store::begin_batch`] each backend does its own way. `version_ids` are the batch's
/// versions in launch order, `cases` its cases in launch order. Each snapshot
/// ([`case_snapshot`]) is made as its row is written, not all of them first: the writing starts
/// at once, and the 5.5 MB of 10,000 snapshots never sit in memory together.
trait BatchCases {
    async fn insert_batch_cases(
        &mut self,
        batch: i64,
        repeats: u32,
        version_ids: &[i64],
        cases: &[TestCase],
    ) -> Result<(), sqlx::Error>;
}

impl BatchCases for sqlx::SqliteConnection {
    /// Multi-row INSERTs: one statement per 2,000 cases (SQLite has no work rows: one instance
    /// serves it).
    async fn insert_batch_cases(
        &mut self,
        batch: i64,
        _repeats: u32,
        _version_ids: &[i64],
        cases: &[TestCase],
    ) -> Result<(), sqlx::Error> {
        let chunk = rows_per_insert(4);
        for (n, part) in cases.chunks(chunk).enumerate() {
            let sql = format!(
                "INSERT INTO batch_cases (batch_id, case_id, position, snapshot) VALUES {}",
                values_list(false, part.len(), 4)
            );
            // Not cached: see `insert_cases`.
            let mut q = sqlx::query(&sql).persistent(false);
            for (i, case) in part.iter().enumerate() {
                q = q
                    .bind(batch)
                    .bind(case.id.0)
                    .bind((n * chunk + i) as i64)
                    .bind(case_snapshot(case));
            }
            q.execute(&mut *self).await?;
        }
        Ok(())
    }
}

impl BatchCases for sqlx::PgConnection {
    /// Every snapshot, then every work row instances claim tests from (`work`), each with one
    /// binary `COPY` streamed in pieces: PostgreSQL stores them with its multi-row insert,
    /// without an executor row or a parsed statement per row. The work rows go in dispatch order
    /// — versions in order, then repetition rounds, then cases in launch order — and `seq`
    /// numbers them in that order ([`PLAN_WORK`] gives the same rows for a re-run).
    async fn insert_batch_cases(
        &mut self,
        batch: i64,
        repeats: u32,
        version_ids: &[i64],
        cases: &[TestCase],
    ) -> Result<(), sqlx::Error> {
        // The snapshot is serialised straight into the COPY data: the same bytes as
        // `case_snapshot`, without a string of its own.
        pg_copy::copy_in(
            self,
            COPY_BATCH_CASES,
            COPY_PIECE,
            cases.iter().enumerate(),
            |rows, (position, case)| {
                rows.row(4)
                    .int8(batch)
                    .int8(case.id.0)
                    .int8(position as i64)
                    .json(case)?;
                Ok(())
            },
        )
        .await?;
        tracing::debug!(target: "dify_bench::startup", "start_batch: case snapshots written");
        // Row `seq` is version `seq / (repeats × cases)`, repetition `(seq / cases) % repeats`
        // and case `seq % cases`.
        let n = cases.len();
        let reps = repeats.max(1) as usize;
        pg_copy::copy_in(
            self,
            COPY_BATCH_WORK,
            COPY_PIECE,
            0..version_ids.len() * reps * n,
            |rows, seq| {
                rows.row(5)
                    .int8(batch)
                    .int8(version_ids[seq / (reps * n)])
                    .int8(cases[seq % n].id.0)
                    .int8(((seq / n) % reps) as i64)
                    .int8(seq as i64);
                Ok(())
            },
        )
        .await?;
        tracing::debug!(target: "dify_bench::startup", "start_batch: work rows planned");
        Ok(())
    }
}

/// The newest `$1` batches with their result counts, newest first. Only those batches' results
/// are counted (not the whole results table, which holds every batch ever run).
const LIST_BATCHES: &str = "WITH listed AS (SELECT id FROM batches ORDER BY id DESC LIMIT $1) \
     SELECT b.id, b.name, b.status, b.concurrency, b.per_version_cap, \
     b.scoring, b.repeats, b.total_tests, b.error_message, b.created_at, b.started_at, b.finished_at, \
     b.created_by, COALESCE(r.completed, 0) AS completed, COALESCE(r.passed, 0) AS passed, \
     COALESCE(r.errored, 0) AS errored, r.average_score \
     FROM batches b JOIN listed ON listed.id = b.id \
     LEFT JOIN (SELECT batch_id, COUNT(*) AS completed, \
        COUNT(*) FILTER (WHERE status = 'passed') AS passed, \
        COUNT(*) FILTER (WHERE status = 'error') AS errored, \
        AVG(score) AS average_score FROM results \
        WHERE batch_id IN (SELECT id FROM listed) GROUP BY batch_id) r ON r.batch_id = b.id \
     ORDER BY b.id DESC";

/// One batch's columns, its counts left for [`Store::batch_with_tallies`] to fill from the
/// per-version tallies: one pass over the batch's results instead of one over every batch's.
const ONE_BATCH_SELECT: &str = "SELECT id, name, status, concurrency, per_version_cap, scoring, \
     repeats, total_tests, error_message, created_at, started_at, finished_at, created_by, \
     CAST(0 AS BIGINT) AS completed, CAST(0 AS BIGINT) AS passed, CAST(0 AS BIGINT) AS errored, \
     CAST(NULL AS DOUBLE PRECISION) AS average_score FROM batches WHERE id = $1";

impl BatchRow {
    pub(super) fn into_batch(self, versions: Vec<BatchVersion>) -> StoreResult<Batch> {
        let status = BatchStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Corrupt(format!("batch {}: status", self.id)))?;
        Ok(Batch {
            id: BatchId(self.id),
            name: self.name,
            status,
            concurrency: self.concurrency,
            per_version_cap: self.per_version_cap,
            scoring: parse_json("batch scoring", &self.scoring)?,
            repeats: u32::try_from(self.repeats)
                .ok()
                .filter(|&r| r >= 1)
                .ok_or_else(|| StoreError::Corrupt(format!("batch {}: repeats", self.id)))?,
            total_tests: self.total_tests,
            completed_tests: self.completed,
            passed_tests: self.passed,
            failed_tests: self.errored,
            average_score: self.average_score.map(round2),
            pass_rate: (self.completed > 0)
                .then(|| round2(self.passed as f64 * 100.0 / self.completed as f64)),
            error_message: self.error_message,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            versions,
            created_by: self.created_by,
        })
    }
}

/// A row count for LIMIT / OFFSET: both backends take a signed 64-bit integer.
pub(crate) fn sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn planned(row: SnapshotRow, keys: &Sealer) -> StoreResult<PlannedVersion> {
    let snap: VersionSnapshot = parse_json("batch version snapshot", &row.config)?;
    let api_key = match snap.api_key {
        Some(sealed) => Some(keys.open(&sealed).map_err(|source| StoreError::Sealed {
            what: format!(
                "batch {}'s snapshot of version {}",
                row.batch_id, row.version_id
            ),
            source,
        })?),
        None => None,
    };
    Ok(PlannedVersion {
        version_id: VersionId(row.version_id),
        name: snap.name,
        base_url: snap.base_url,
        api_key,
        app_mode: snap.app_mode,
        response_mode: snap.response_mode,
        answer_field: snap.answer_field,
        inputs: snap.inputs,
        workflow_id: snap.workflow_id,
    })
}

/// A new batch written in a transaction not yet committed ([`Store::begin_batch`]).
pub struct PendingBatch {
    tx: OpenTx,
    batch: Batch,
    versions: Vec<PlannedVersion>,
}

/// The open transaction of a [`PendingBatch`], on whichever backend is in use.
enum OpenTx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl From<sqlx::Transaction<'static, sqlx::Sqlite>> for OpenTx {
    fn from(tx: sqlx::Transaction<'static, sqlx::Sqlite>) -> Self {
        OpenTx::Sqlite(tx)
    }
}

impl From<sqlx::Transaction<'static, sqlx::Postgres>> for OpenTx {
    fn from(tx: sqlx::Transaction<'static, sqlx::Postgres>) -> Self {
        OpenTx::Postgres(tx)
    }
}

impl PendingBatch {
    /// Commits the batch, answering it and its versions as stored.
    pub async fn commit(self) -> StoreResult<(Batch, Vec<PlannedVersion>)> {
        match self.tx {
            OpenTx::Sqlite(tx) => tx.commit().await?,
            OpenTx::Postgres(tx) => tx.commit().await?,
        }
        Ok((self.batch, self.versions))
    }

    /// Undoes every write of the batch: no batch, no snapshot, no work row is left.
    pub async fn roll_back(self) -> StoreResult<()> {
        match self.tx {
            OpenTx::Sqlite(tx) => tx.rollback().await?,
            OpenTx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

impl Store {
    /// Stores a queued batch with its snapshots, in one transaction.
    pub async fn create_batch(&self, new: &NewBatch<'_>) -> StoreResult<BatchId> {
        Ok(self.create_batch_planned(new).await?.batch.id)
    }

    /// [`Store::create_batch`], answering the plan just stored — what [`Store::batch_plan`]
    /// would read back — so a caller that runs the batch at once need not read it back.
    pub async fn create_batch_planned(&self, new: &NewBatch<'_>) -> StoreResult<BatchPlan> {
        let (batch, versions) = self.begin_batch(new).await?.commit().await?;
        Ok(BatchPlan {
            batch,
            versions,
            cases: new.cases.to_vec(),
        })
    }

    /// [`Store::create_batch_planned`] up to the commit, answering the batch and its versions
    /// (the caller keeps its cases, which complete the plan): the batch, its case snapshots
    /// and (on PostgreSQL) its work rows are written in a transaction left open, which
    /// [`PendingBatch::commit`] commits and [`PendingBatch::roll_back`] (or dropping it) undoes.
    /// The engine writes a new batch while its case plans compile, and keeps it only if every
    /// plan compiled: a batch is all or nothing. Nobody else sees the batch before the commit;
    /// on SQLite the open transaction holds the write lock meanwhile, so commit it soon.
    pub async fn begin_batch(&self, new: &NewBatch<'_>) -> StoreResult<PendingBatch> {
        let repeats = new.repeats.max(1);
        let total = (new.versions.len() * new.cases.len()) as i64 * i64::from(repeats);
        let scoring = to_json(new.scoring);
        let created_at = now_ms();
        let version_snapshots: Vec<(i64, String)> = new
            .versions
            .iter()
            .map(|v| {
                let snap = VersionSnapshot {
                    name: v.version.name.clone(),
                    base_url: v.version.base_url.clone(),
                    api_key: Some(v.sealed_key.0.clone()),
                    app_mode: v.version.app_mode,
                    response_mode: v.version.response_mode,
                    answer_field: v.version.answer_field.clone(),
                    inputs: v.version.inputs.clone(),
                    workflow_id: v.version.workflow_id.clone(),
                };
                (v.version.id.0, to_json(&snap))
            })
            .collect();
        let version_ids: Vec<i64> = version_snapshots.iter().map(|(id, _)| *id).collect();
        let (id, tx) = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(INSERT_BATCH)
                .bind(new.name)
                .bind(new.concurrency)
                .bind(new.per_version_cap)
                .bind(&scoring)
                .bind(i64::from(repeats))
                .bind(total)
                .bind(created_at)
                .bind(new.created_by)
                .fetch_one(&mut *tx)
                .await?;
            for (pos, (version_id, config)) in version_snapshots.iter().enumerate() {
                sqlx::query(INSERT_BATCH_VERSION)
                    .bind(id).bind(version_id).bind(pos as i64).bind(config)
                    .execute(&mut *tx).await?;
            }
            (*tx)
                .insert_batch_cases(id, repeats, &version_ids, new.cases)
                .await?;
            Ok::<_, sqlx::Error>((id, OpenTx::from(tx)))
        })?;
        let versions: Vec<PlannedVersion> = new
            .versions
            .iter()
            .map(|v| PlannedVersion {
                version_id: v.version.id,
                name: v.version.name.clone(),
                base_url: v.version.base_url.clone(),
                api_key: Some(v.api_key.clone()),
                app_mode: v.version.app_mode,
                response_mode: v.version.response_mode,
                answer_field: v.version.answer_field.clone(),
                inputs: v.version.inputs.clone(),
                workflow_id: v.version.workflow_id.clone(),
            })
            .collect();
        let batch = Batch {
            id: BatchId(id),
            name: new.name.to_string(),
            status: BatchStatus::Queued,
            concurrency: new.concurrency,
            per_version_cap: new.per_version_cap,
            scoring: new.scoring.clone(),
            repeats,
            total_tests: total,
            completed_tests: 0,
            passed_tests: 0,
            failed_tests: 0,
            average_score: None,
            pass_rate: None,
            error_message: None,
            created_at,
            started_at: None,
            finished_at: None,
            versions: versions.iter().map(PlannedVersion::summary).collect(),
            created_by: new.created_by.map(str::to_string),
        };
        Ok(PendingBatch {
            tx,
            batch,
            versions,
        })
    }

    /// Marks a queued or running batch running; the first start time is kept across resumes.
    /// False when the batch has ended meanwhile (cancelled by another instance): nothing to run.
    pub async fn mark_batch_running(&self, id: BatchId) -> StoreResult<bool> {
        let sql = "UPDATE batches SET status = 'running', started_at = COALESCE(started_at, $2) \
                   WHERE id = $1 AND status IN ('queued', 'running')";
        let n = on_pool!(self, pool => sqlx::query(sql).bind(id.0).bind(now_ms()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Records how a batch ended. A finished (completed or cancelled) batch keeps only the keys
    /// that are still its versions' current ones.
    pub async fn mark_batch_finished(
        &self,
        id: BatchId,
        status: BatchStatus,
        error_message: Option<&str>,
    ) -> StoreResult<()> {
        self.end_batch(id, status, error_message, false).await?;
        Ok(())
    }

    /// [`Store::mark_batch_finished`] only if the batch is still queued or running; true when
    /// this call ended it (of several instances ending it at once, exactly one does).
    pub async fn end_open_batch(
        &self,
        id: BatchId,
        status: BatchStatus,
        error_message: Option<&str>,
    ) -> StoreResult<bool> {
        self.end_batch(id, status, error_message, true).await
    }

    async fn end_batch(
        &self,
        id: BatchId,
        status: BatchStatus,
        error_message: Option<&str>,
        only_open: bool,
    ) -> StoreResult<bool> {
        let sql = format!(
            "UPDATE batches SET status = $2, error_message = $3, finished_at = $4, \
             started_at = COALESCE(started_at, $4) WHERE id = $1{}",
            if only_open {
                " AND status IN ('queued', 'running')"
            } else {
                ""
            }
        );
        let (forget, _) = forget_stale_sql(&self.db, Scope::Batch(id.0));
        let pg = self.pg_pool().is_some();
        let ended = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(&sql)
                .bind(id.0).bind(status.as_str()).bind(error_message).bind(now_ms())
                .execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                sqlx::query(&forget).bind(id.0).execute(&mut *tx).await?;
                if pg {
                    sqlx::query("DELETE FROM batch_work WHERE batch_id = $1")
                        .bind(id.0).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            n == 1
        });
        Ok(ended)
    }

    /// Claims a finished batch to run it again, in one transaction: re-opens it (`queued`) only
    /// if it is still finished — the conditional UPDATE is what makes one claimer of many win,
    /// in this process or another on the same database — and deletes its error results, so the
    /// runner runs those and every test that has no result. A batch with nothing to run is left
    /// exactly as it was.
    pub async fn claim_for_rerun(&self, id: BatchId) -> StoreResult<RerunClaim> {
        let claim = "UPDATE batches SET status = 'queued', error_message = NULL, \
                     finished_at = NULL WHERE id = $1 \
                     AND status IN ('completed', 'error', 'cancelled') RETURNING total_tests";
        let delete = "DELETE FROM results WHERE batch_id = $1 AND status = 'error'";
        let count = "SELECT COUNT(*) FROM results WHERE batch_id = $1";
        let pg = self.pg_pool().is_some();
        let claimed = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let total: Option<i64> = sqlx::query_scalar(claim)
                .bind(id.0).fetch_optional(&mut *tx).await?;
            let Some(total) = total else {
                return Ok(RerunClaim::Lost);
            };
            sqlx::query(delete).bind(id.0).execute(&mut *tx).await?;
            // The dashboard's stored figures of the batch (`dashboard`) are stale from here.
            sqlx::query("DELETE FROM run_stats WHERE batch_id = $1")
                .bind(id.0).execute(&mut *tx).await?;
            let kept: i64 = sqlx::query_scalar(count).bind(id.0).fetch_one(&mut *tx).await?;
            let to_run = u64::try_from(total.saturating_sub(kept)).unwrap_or(0);
            if to_run == 0 {
                tx.rollback().await?;
                RerunClaim::NothingToRun
            } else {
                if pg {
                    sqlx::query(PLAN_WORK).bind(id.0).execute(&mut *tx).await?;
                    for recount in RECOUNT_TALLIES {
                        sqlx::query(recount).bind(id.0).execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                RerunClaim::Claimed { to_run }
            }
        });
        Ok(claimed)
    }

    /// Batches a crash or restart left queued or running.
    pub async fn unfinished_batches(&self) -> StoreResult<Vec<BatchId>> {
        let ids: Vec<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT id FROM batches WHERE status IN ('queued', 'running') ORDER BY id")
            .fetch_all(pool).await)?;
        Ok(ids.into_iter().map(BatchId).collect())
    }

    pub async fn get_batch(&self, id: BatchId) -> StoreResult<Option<Batch>> {
        Ok(self.batch_with_tallies(id).await?.map(|(batch, _)| batch))
    }

    /// A batch and its per-version tallies (its counts are their sums), from one pass over
    /// its results.
    pub async fn batch_with_tallies(
        &self,
        id: BatchId,
    ) -> StoreResult<Option<(Batch, Vec<VersionTally>)>> {
        let row: Option<BatchRow> = on_pool!(self, pool => sqlx::query_as(ONE_BATCH_SELECT)
            .bind(id.0).fetch_optional(pool).await)?;
        let Some(mut row) = row else { return Ok(None) };
        let tallies = self.version_tallies(id).await?;
        let (mut score_sum, mut scored) = (0.0, 0);
        for t in &tallies {
            row.completed += t.completed;
            row.passed += t.passed;
            row.errored += t.errored;
            score_sum += t.score_sum.unwrap_or(0.0);
            scored += t.scored;
        }
        row.average_score = (scored > 0).then(|| score_sum / scored as f64);
        let versions = self.planned_versions(id).await?;
        let batch = row.into_batch(versions.iter().map(PlannedVersion::summary).collect())?;
        Ok(Some((batch, tallies)))
    }

    /// Whether a batch with this id exists (a cheap check, no counts).
    pub async fn batch_exists(&self, id: BatchId) -> StoreResult<bool> {
        let found: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT id FROM batches WHERE id = $1")
            .bind(id.0).fetch_optional(pool).await)?;
        Ok(found.is_some())
    }

    /// The newest batches first, at most `limit`.
    pub async fn list_batches(&self, limit: i64) -> StoreResult<Vec<Batch>> {
        let rows: Vec<BatchRow> =
            on_pool!(self, pool => sqlx::query_as(LIST_BATCHES).bind(limit).fetch_all(pool).await)?;
        let Some(oldest) = rows.last().map(|r| r.id) else {
            return Ok(Vec::new());
        };
        let snaps: Vec<SnapshotRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT batch_id, version_id, config FROM batch_versions WHERE batch_id >= $1 \
             ORDER BY batch_id, position")
            .bind(oldest).fetch_all(pool).await)?;
        self.with_versions(rows, snaps)
    }

    /// Batches from their rows and their version snapshots (in position order, any batches'):
    /// each batch gets its own versions' summaries.
    pub(super) fn with_versions(
        &self,
        rows: Vec<BatchRow>,
        snaps: Vec<SnapshotRow>,
    ) -> StoreResult<Vec<Batch>> {
        let mut by_batch: HashMap<i64, Vec<BatchVersion>> = HashMap::new();
        for snap in snaps {
            let batch_id = snap.batch_id;
            by_batch
                .entry(batch_id)
                .or_default()
                .push(planned(snap, self.keys())?.summary());
        }
        rows.into_iter()
            .map(|row| {
                let versions = by_batch.remove(&row.id).unwrap_or_default();
                row.into_batch(versions)
            })
            .collect()
    }

    async fn planned_versions(&self, id: BatchId) -> StoreResult<Vec<PlannedVersion>> {
        let rows: Vec<SnapshotRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT batch_id, version_id, config FROM batch_versions WHERE batch_id = $1 \
             ORDER BY position")
            .bind(id.0).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|row| planned(row, self.keys()))
            .collect()
    }

    /// The batch's snapshots of cases, in launch order.
    pub async fn batch_cases(&self, id: BatchId) -> StoreResult<Vec<TestCase>> {
        let snaps: Vec<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT snapshot FROM batch_cases WHERE batch_id = $1 ORDER BY position")
            .bind(id.0).fetch_all(pool).await)?;
        snaps
            .iter()
            .map(|s| parse_json("batch case snapshot", s))
            .collect()
    }

    /// How many cases the batch was launched with.
    pub async fn batch_case_count(&self, id: BatchId) -> StoreResult<u64> {
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM batch_cases WHERE batch_id = $1")
            .bind(id.0).fetch_one(pool).await)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// At most `limit` of the batch's case snapshots from the `offset`-th on, in launch order
    /// (the order of [`Store::batch_cases`]).
    pub async fn batch_cases_page(
        &self,
        id: BatchId,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<TestCase>> {
        let (offset, limit) = (sql_count(offset), sql_count(limit));
        let snaps: Vec<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT snapshot FROM batch_cases WHERE batch_id = $1 ORDER BY position \
             LIMIT $2 OFFSET $3")
            .bind(id.0).bind(limit).bind(offset).fetch_all(pool).await)?;
        snaps
            .iter()
            .map(|s| parse_json("batch case snapshot", s))
            .collect()
    }

    /// What the runner needs to run or resume a batch.
    pub async fn batch_plan(&self, id: BatchId) -> StoreResult<Option<BatchPlan>> {
        let Some(batch) = self.get_batch(id).await? else {
            return Ok(None);
        };
        Ok(Some(BatchPlan {
            batch,
            versions: self.planned_versions(id).await?,
            cases: self.batch_cases(id).await?,
        }))
    }

    /// Case ids of a batch, for callers that only need the selection.
    pub async fn batch_case_ids(&self, id: BatchId) -> StoreResult<Vec<CaseId>> {
        let ids: Vec<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT case_id FROM batch_cases WHERE batch_id = $1 ORDER BY position")
            .bind(id.0).fetch_all(pool).await)?;
        Ok(ids.into_iter().map(CaseId).collect())
    }
}
