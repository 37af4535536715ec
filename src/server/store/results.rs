//! The `results` table: one row per finished test, keyed by (batch, version, case).

use super::{on_pool, parse_json, to_json, Store, StoreError, StoreResult};
use crate::model::{BatchId, CaseId, DifyIds, ResultStatus, TestResult, Usage, VersionId};
use std::collections::HashSet;

/// SQLite allows 32,766 bound values per statement; 22 columns × 500 rows stays well inside.
const ROWS_PER_INSERT: usize = 500;

const COLUMNS: &str = "batch_id, version_id, case_id, status, score, answer, latency_ms, ttft_ms, \
     prompt_tokens, completion_tokens, total_tokens, total_price, currency, task_id, message_id, \
     conversation_id, workflow_run_id, error_code, error_message, attempts, detail, finished_at";

#[derive(sqlx::FromRow)]
struct ResultRow {
    batch_id: i64,
    version_id: i64,
    case_id: i64,
    status: String,
    score: Option<f64>,
    answer: Option<String>,
    latency_ms: Option<i64>,
    ttft_ms: Option<i64>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    total_tokens: Option<i64>,
    total_price: Option<f64>,
    currency: Option<String>,
    task_id: Option<String>,
    message_id: Option<String>,
    conversation_id: Option<String>,
    workflow_run_id: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    attempts: i64,
    detail: String,
    finished_at: i64,
}

impl ResultRow {
    fn into_result(self) -> StoreResult<TestResult> {
        Ok(TestResult {
            batch_id: BatchId(self.batch_id),
            version_id: VersionId(self.version_id),
            case_id: CaseId(self.case_id),
            status: ResultStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Corrupt(format!("result status `{}`", self.status)))?,
            score: self.score,
            answer: self.answer,
            latency_ms: self.latency_ms,
            ttft_ms: self.ttft_ms,
            usage: Usage {
                prompt_tokens: self.prompt_tokens,
                completion_tokens: self.completion_tokens,
                total_tokens: self.total_tokens,
                total_price: self.total_price,
                currency: self.currency,
            },
            dify: DifyIds {
                task_id: self.task_id,
                message_id: self.message_id,
                conversation_id: self.conversation_id,
                workflow_run_id: self.workflow_run_id,
            },
            error_code: self.error_code,
            error_message: self.error_message,
            attempts: self.attempts,
            detail: parse_json("result detail", &self.detail)?,
            finished_at: self.finished_at,
        })
    }
}

/// Per-version sums of a batch's stored results, to resume progress where it stopped.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct VersionTally {
    pub version_id: i64,
    pub completed: i64,
    pub passed: i64,
    pub errored: i64,
    pub score_sum: Option<f64>,
    pub scored: i64,
    pub latency_sum: Option<f64>,
    pub timed: i64,
}

macro_rules! push_result_values {
    ($builder:expr, $rows:expr) => {
        $builder.push_values($rows, |mut b, r: &TestResult| {
            b.push_bind(r.batch_id.0)
                .push_bind(r.version_id.0)
                .push_bind(r.case_id.0)
                .push_bind(r.status.as_str())
                .push_bind(r.score)
                .push_bind(r.answer.clone())
                .push_bind(r.latency_ms)
                .push_bind(r.ttft_ms)
                .push_bind(r.usage.prompt_tokens)
                .push_bind(r.usage.completion_tokens)
                .push_bind(r.usage.total_tokens)
                .push_bind(r.usage.total_price)
                .push_bind(r.usage.currency.clone())
                .push_bind(r.dify.task_id.clone())
                .push_bind(r.dify.message_id.clone())
                .push_bind(r.dify.conversation_id.clone())
                .push_bind(r.dify.workflow_run_id.clone())
                .push_bind(r.error_code.clone())
                .push_bind(r.error_message.clone())
                .push_bind(r.attempts)
                .push_bind(to_json(&r.detail))
                .push_bind(r.finished_at);
        })
    };
}

impl Store {
    /// Writes results in one transaction. A result already stored for the same
    /// (batch, version, case) is kept: a resumed batch never writes a test twice.
    pub async fn insert_results(&self, results: &[TestResult]) -> StoreResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in results.chunks(ROWS_PER_INSERT) {
                let mut q = sqlx::QueryBuilder::new(format!("INSERT INTO results ({COLUMNS}) "));
                push_result_values!(q, chunk);
                q.push(" ON CONFLICT (batch_id, version_id, case_id) DO NOTHING");
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })?;
        Ok(())
    }

    pub async fn list_results(&self, batch: BatchId) -> StoreResult<Vec<TestResult>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM results WHERE batch_id = $1 ORDER BY version_id, case_id"
        );
        let rows: Vec<ResultRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(batch.0).fetch_all(pool).await)?;
        rows.into_iter().map(ResultRow::into_result).collect()
    }

    /// (version, case) pairs that already have a result.
    pub async fn result_keys(&self, batch: BatchId) -> StoreResult<HashSet<(VersionId, CaseId)>> {
        let rows: Vec<(i64, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT version_id, case_id FROM results WHERE batch_id = $1")
            .bind(batch.0).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(v, c)| (VersionId(v), CaseId(c)))
            .collect())
    }

    pub async fn version_tallies(&self, batch: BatchId) -> StoreResult<Vec<VersionTally>> {
        let rows: Vec<VersionTally> = on_pool!(self, pool => sqlx::query_as(
            "SELECT version_id, COUNT(*) AS completed, \
             COUNT(*) FILTER (WHERE status = 'passed') AS passed, \
             COUNT(*) FILTER (WHERE status = 'error') AS errored, \
             SUM(score) AS score_sum, COUNT(score) AS scored, \
             SUM(CAST(latency_ms AS DOUBLE PRECISION)) AS latency_sum, \
             COUNT(latency_ms) AS timed \
             FROM results WHERE batch_id = $1 GROUP BY version_id")
            .bind(batch.0).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Removes a batch's errored results so that a resume runs those tests again.
    pub async fn delete_error_results(&self, batch: BatchId) -> StoreResult<u64> {
        let n = on_pool!(self, pool => sqlx::query(
            "DELETE FROM results WHERE batch_id = $1 AND status = 'error'")
            .bind(batch.0).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }
}
