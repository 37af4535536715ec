//! The `results` table: one row per finished test, keyed by (batch, version, case, repetition).
//!
//! What comes from Dify is stored bounded ([`bounded`]): an answer beyond
//! [`MAX_STORED_ANSWER_BYTES`], an error message beyond [`MAX_STORED_ERROR_BYTES`] and an id or
//! code beyond [`MAX_STORED_ID_BYTES`] is cut, and says so at its end
//! (`…[truncated: 3.2 MiB → 256 KiB]`). This is the one door results go in by, so every writer
//! (runner, resume, headless) is bounded alike; scoring has already seen the whole answer.

use super::batches::{round2, sql_count};
use super::work::StoredGroup;
use super::{on_pool, parse_json, to_json, Db, Store, StoreError, StoreResult};
use crate::model::limits::{
    human_bytes, MAX_STORED_ANSWER_BYTES, MAX_STORED_ERROR_BYTES, MAX_STORED_ID_BYTES,
};
use crate::model::{
    trace::Trace, BatchId, BatchVersion, CaseId, DifyIds, JudgeTally, JudgeVerdict, RepeatStats,
    ResultCell, ResultStatus, TestResult, TurnResult, Usage, VersionId, VersionSummary,
};
use std::borrow::Cow;
use std::collections::HashSet;

/// SQLite allows 32,766 bound values per statement; 30 columns × 500 rows stays well inside.
const ROWS_PER_INSERT: usize = 500;
/// `rows` in chunks of `max` rows, the rest in chunks of a power of two, largest first (50 rows:
/// 32 + 16 + 2): a handful of statement texts then serve groups of every size, and sqlx's
/// statement cache keeps them prepared. A group's size varies with the pace of the answers, and
/// one INSERT per size parsed afresh cost SQLite ~5 % of the runner's CPU per test
/// (BENCHMARKS.md section a, "CPU per test").
fn cached_chunks<T>(mut rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let n = match rows.len() {
            0 => return None,
            len if len >= max => max,
            len => 1 << len.ilog2(),
        };
        let (chunk, rest) = rows.split_at(n);
        rows = rest;
        Some(chunk)
    })
}

/// One test of a batch: (version, case, repetition).
pub type TestKey = (VersionId, CaseId, u32);

/// Case ids bound in one `IN (…)` list by [`Store::results_for_cases`]; larger lists are split.
const CASES_PER_SELECT: usize = 1000;

/// The judge's columns, written beside [`COLUMNS`] from the result's `detail.judge` (which is
/// what reads see); they exist for SQL tallies.
const JUDGE_COLUMNS: &str = "judge_score, judge_status, judge_cached, judge_tokens, judge_price";

const COLUMNS: &str =
    "batch_id, version_id, case_id, repetition, status, score, answer, latency_ms, ttft_ms, \
     prompt_tokens, completion_tokens, total_tokens, total_price, currency, task_id, message_id, \
     conversation_id, workflow_run_id, error_code, error_message, attempts, detail, finished_at, \
     trace, turns";

#[derive(sqlx::FromRow)]
struct ResultRow {
    batch_id: i64,
    version_id: i64,
    case_id: i64,
    repetition: i64,
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
    trace: Option<String>,
    turns: Option<String>,
}

impl ResultRow {
    fn into_result(self) -> StoreResult<TestResult> {
        let trace = match self.trace.as_deref() {
            Some(t) => {
                let mut trace: Trace = parse_json("result trace", t)?;
                trace.expand_stored(self.answer.as_deref());
                Some(trace)
            }
            None => None,
        };
        Ok(TestResult {
            batch_id: BatchId(self.batch_id),
            version_id: VersionId(self.version_id),
            case_id: CaseId(self.case_id),
            repetition: u32::try_from(self.repetition)
                .map_err(|_| StoreError::Corrupt(format!("repetition {}", self.repetition)))?,
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
            trace,
            turns: match self.turns.as_deref() {
                Some(t) => parse_json("result turns", t)?,
                None => Vec::new(),
            },
        })
    }
}

/// One stored result as a replay sees it ([`Store::timeline_rows`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    pub version_id: VersionId,
    pub case_id: CaseId,
    pub status: ResultStatus,
    pub score: Option<f64>,
    pub latency_ms: Option<i64>,
    /// Unix ms.
    pub finished_at: i64,
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
    pub judged: i64,
    pub judge_cached: i64,
    pub judge_errors: i64,
    pub judge_score_sum: Option<f64>,
    pub judge_tokens: Option<i64>,
    pub judge_cost: Option<f64>,
    /// Results with a human review, and results that pass once reviews override.
    pub reviewed: i64,
    pub reviewed_passed: i64,
}

/// `SELECT {columns}` of a batch's results for some cases, ordered by (version, case, repetition)
/// — or, with `group_by`, one row per (version, case).
fn for_cases<'a, DB: sqlx::Database>(
    columns: &str,
    group_by: bool,
    batch: BatchId,
    cases: &[CaseId],
) -> sqlx::QueryBuilder<'a, DB>
where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    // The primary key is (batch, version, case): naming the batch's versions lets both backends
    // seek versions × cases in the index instead of reading every result of the batch.
    let mut q = sqlx::QueryBuilder::new(format!("SELECT {columns} FROM results WHERE batch_id = "));
    q.push_bind(batch.0);
    q.push(" AND version_id IN (SELECT version_id FROM batch_versions WHERE batch_id = ");
    q.push_bind(batch.0);
    q.push(") AND case_id IN (");
    let mut ids = q.separated(", ");
    for case in cases {
        ids.push_bind(case.0);
    }
    q.push(if group_by {
        ") GROUP BY version_id, case_id ORDER BY version_id, case_id"
    } else {
        ") ORDER BY version_id, case_id, repetition"
    });
    q
}

impl VersionTally {
    /// One summary per version of a batch, in the batch's version order; a version with no
    /// result yet gets an empty one.
    pub fn summaries(versions: &[BatchVersion], tallies: &[VersionTally]) -> Vec<VersionSummary> {
        versions
            .iter()
            .map(
                |v| match tallies.iter().find(|t| t.version_id == v.version_id.0) {
                    Some(t) => t.summary(),
                    None => VersionTally {
                        version_id: v.version_id.0,
                        ..Default::default()
                    }
                    .summary(),
                },
            )
            .collect()
    }

    /// The version's summary card, rounded as the progress stream rounds.
    pub fn summary(&self) -> VersionSummary {
        let mean = |sum: Option<f64>, n: i64| match sum {
            Some(sum) if n > 0 => Some(round2(sum / n as f64)),
            _ => None,
        };
        VersionSummary {
            version_id: VersionId(self.version_id),
            completed: self.completed,
            passed: self.passed,
            errors: self.errored,
            average_score: mean(self.score_sum, self.scored),
            pass_rate: (self.completed > 0)
                .then(|| round2(self.passed as f64 * 100.0 / self.completed as f64)),
            avg_latency_ms: mean(self.latency_sum, self.timed),
            judge: (self.judged + self.judge_errors > 0).then(|| JudgeTally {
                judged: self.judged as u64,
                cached: self.judge_cached as u64,
                errors: self.judge_errors as u64,
                average_score: mean(self.judge_score_sum, self.judged),
                tokens: self.judge_tokens,
                cost: self.judge_cost,
            }),
            reviewed: self.reviewed,
            reviewed_pass_rate: (self.completed > 0)
                .then(|| round2(self.reviewed_passed as f64 * 100.0 / self.completed as f64)),
        }
    }
}

/// `text` if it fits in `max_bytes`, else its head cut at a character boundary and a marker
/// saying how large it was, `…[truncated: 64 MiB → 256 KiB]`, the whole within `max_bytes`
/// (only the marker, when `max_bytes` has no room for more).
pub fn bounded(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let marker = format!(
        "…[truncated: {} → {}]",
        human_bytes(text.len()),
        human_bytes(max_bytes)
    );
    let mut cut = max_bytes.saturating_sub(marker.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}{marker}", &text[..cut]))
}

/// An optional text bounded for storage.
fn stored(text: &Option<String>, max_bytes: usize) -> Option<String> {
    text.as_deref().map(|t| bounded(t, max_bytes).into_owned())
}

/// A multi-turn result's turns bounded for storage as its answer and ids are: each turn's
/// answer, error and conversation id.
fn stored_turns(turns: &[TurnResult]) -> Vec<TurnResult> {
    turns
        .iter()
        .map(|t| TurnResult {
            answer: stored(&t.answer, MAX_STORED_ANSWER_BYTES / turns.len().max(1)),
            error: stored(&t.error, MAX_STORED_ERROR_BYTES),
            conversation_id: stored(&t.conversation_id, MAX_STORED_ID_BYTES),
            query: bounded(&t.query, MAX_STORED_ERROR_BYTES).into_owned(),
            ..t.clone()
        })
        .collect()
}

macro_rules! push_result_values {
    ($builder:expr, $rows:expr) => {
        $builder.push_values($rows, |mut b, r: &TestResult| {
            // The trace refers to the answer as stored (see `Trace::to_stored_json`).
            let answer = stored(&r.answer, MAX_STORED_ANSWER_BYTES);
            let trace = r
                .trace
                .as_ref()
                .map(|t| t.to_stored_json(answer.as_deref()));
            b.push_bind(r.batch_id.0)
                .push_bind(r.version_id.0)
                .push_bind(r.case_id.0)
                .push_bind(i64::from(r.repetition))
                .push_bind(r.status.as_str())
                .push_bind(r.score)
                .push_bind(answer)
                .push_bind(r.latency_ms)
                .push_bind(r.ttft_ms)
                .push_bind(r.usage.prompt_tokens)
                .push_bind(r.usage.completion_tokens)
                .push_bind(r.usage.total_tokens)
                .push_bind(r.usage.total_price)
                .push_bind(stored(&r.usage.currency, MAX_STORED_ID_BYTES))
                .push_bind(stored(&r.dify.task_id, MAX_STORED_ID_BYTES))
                .push_bind(stored(&r.dify.message_id, MAX_STORED_ID_BYTES))
                .push_bind(stored(&r.dify.conversation_id, MAX_STORED_ID_BYTES))
                .push_bind(stored(&r.dify.workflow_run_id, MAX_STORED_ID_BYTES))
                .push_bind(stored(&r.error_code, MAX_STORED_ID_BYTES))
                .push_bind(stored(&r.error_message, MAX_STORED_ERROR_BYTES))
                .push_bind(r.attempts)
                .push_bind(to_json(&r.detail))
                .push_bind(r.finished_at)
                .push_bind(trace)
                .push_bind((!r.turns.is_empty()).then(|| to_json(&stored_turns(&r.turns))));
            let judge = r.detail.judge.as_ref();
            b.push_bind(judge.and_then(|j| j.score))
                .push_bind(judge.map(|j| match j.verdict() {
                    JudgeVerdict::Pass => "passed",
                    JudgeVerdict::Fail => "failed",
                    JudgeVerdict::Error => "error",
                }))
                .push_bind(judge.map(|j| j.cached))
                .push_bind(judge.and_then(|j| j.tokens))
                .push_bind(judge.and_then(|j| j.price));
        })
    };
}

impl Store {
    /// Writes results in one transaction. A result already stored for the same
    /// (batch, version, case, repetition) is kept: a resumed batch never writes a test twice.
    /// On PostgreSQL the same transaction settles their work (`work`): it removes their tests'
    /// work rows, adds them to the live tallies (returned) and counts the duplicates.
    pub async fn insert_results(&self, results: &[TestResult]) -> StoreResult<StoredGroup> {
        if results.is_empty() {
            return Ok(StoredGroup::default());
        }
        let group = match &self.db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for chunk in cached_chunks(results, ROWS_PER_INSERT) {
                    let mut q = sqlx::QueryBuilder::new(format!(
                        "INSERT INTO results ({COLUMNS}, {JUDGE_COLUMNS}) "
                    ));
                    push_result_values!(q, chunk);
                    q.push(" ON CONFLICT (batch_id, version_id, case_id, repetition) DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                StoredGroup::default()
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let mut inserted = HashSet::with_capacity(results.len());
                for chunk in results.chunks(ROWS_PER_INSERT) {
                    let mut q = sqlx::QueryBuilder::new(format!(
                        "INSERT INTO results ({COLUMNS}, {JUDGE_COLUMNS}) "
                    ));
                    push_result_values!(q, chunk);
                    q.push(
                        " ON CONFLICT (batch_id, version_id, case_id, repetition) DO NOTHING \
                         RETURNING batch_id, version_id, case_id, repetition",
                    );
                    let keys: Vec<(i64, i64, i64, i64)> =
                        q.build_query_as().fetch_all(&mut *tx).await?;
                    inserted.extend(keys);
                }
                let group = super::work::settle_group(&mut tx, results, &inserted).await?;
                tx.commit().await?;
                group
            }
        };
        Ok(group)
    }

    pub async fn list_results(&self, batch: BatchId) -> StoreResult<Vec<TestResult>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM results WHERE batch_id = $1 \
             ORDER BY version_id, case_id, repetition"
        );
        let rows: Vec<ResultRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(batch.0).fetch_all(pool).await)?;
        rows.into_iter().map(ResultRow::into_result).collect()
    }

    /// The results of some of a batch's cases, every version and repetition, ordered by
    /// (version, case, repetition).
    pub async fn results_for_cases(
        &self,
        batch: BatchId,
        cases: &[CaseId],
    ) -> StoreResult<Vec<TestResult>> {
        let mut out = Vec::new();
        for chunk in cases.chunks(CASES_PER_SELECT) {
            let rows: Vec<ResultRow> = on_pool!(self, pool => {
                for_cases(COLUMNS, false, batch, chunk).build_query_as().fetch_all(pool).await
            })?;
            for row in rows {
                out.push(row.into_result()?);
            }
        }
        if cases.len() > CASES_PER_SELECT {
            out.sort_by_key(|r| (r.version_id, r.case_id, r.repetition));
        }
        Ok(out)
    }

    /// The outcomes of some of a batch's cases (a page of the batch page), every version,
    /// ordered by (version, case): one cell per test, its repetitions summed up
    /// ([`ResultCell::of_repeats`]), without answers and details.
    pub async fn result_cells_for_cases(
        &self,
        batch: BatchId,
        cases: &[CaseId],
    ) -> StoreResult<Vec<ResultCell>> {
        const CELL: &str = "version_id, case_id, COUNT(*) AS runs, \
             SUM(CASE WHEN status = 'passed' THEN 1 ELSE 0 END) AS passed, \
             SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors, AVG(score) AS score";
        let mut out = Vec::new();
        for chunk in cases.chunks(CASES_PER_SELECT) {
            let rows: Vec<(i64, i64, i64, i64, i64, Option<f64>)> = on_pool!(self, pool => {
                for_cases(CELL, true, batch, chunk).build_query_as().fetch_all(pool).await
            })?;
            for (version_id, case_id, runs, passed, errors, score) in rows {
                let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
                out.push(ResultCell::of_repeats(
                    VersionId(version_id),
                    CaseId(case_id),
                    count(runs),
                    count(passed),
                    count(errors),
                    score,
                ));
            }
        }
        if cases.len() > CASES_PER_SELECT {
            out.sort_by_key(|c| (c.version_id, c.case_id));
        }
        Ok(out)
    }

    /// Every stored repetition of one test, in repetition order (empty: it has not run).
    pub async fn test_results(
        &self,
        batch: BatchId,
        version: VersionId,
        case: CaseId,
    ) -> StoreResult<Vec<TestResult>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM results WHERE batch_id = $1 AND version_id = $2 \
             AND case_id = $3 ORDER BY repetition"
        );
        let rows: Vec<ResultRow> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(batch.0).bind(version.0).bind(case.0).fetch_all(pool).await)?;
        rows.into_iter().map(ResultRow::into_result).collect()
    }

    /// One test's result (its first repetition), if it has one.
    pub async fn get_result(
        &self,
        batch: BatchId,
        version: VersionId,
        case: CaseId,
    ) -> StoreResult<Option<TestResult>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM results WHERE batch_id = $1 AND version_id = $2 AND case_id = $3 \
             ORDER BY repetition LIMIT 1"
        );
        let row: Option<ResultRow> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(batch.0).bind(version.0).bind(case.0).fetch_optional(pool).await)?;
        row.map(ResultRow::into_result).transpose()
    }

    /// At most `limit` of a batch's results ordered by (version, case), starting after `after`
    /// (None: from the first). Keyset paging: each page is an index range, however deep, so an
    /// export streams a batch of any size in constant memory.
    pub async fn results_page(
        &self,
        batch: BatchId,
        after: Option<TestKey>,
        limit: u64,
    ) -> StoreResult<Vec<TestResult>> {
        let limit = sql_count(limit);
        let rows: Vec<ResultRow> = match after {
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM results WHERE batch_id = $1 \
                     ORDER BY version_id, case_id, repetition LIMIT $2"
                );
                on_pool!(self, pool => sqlx::query_as(&sql)
                    .bind(batch.0).bind(limit).fetch_all(pool).await)?
            }
            Some((version, case, repetition)) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM results WHERE batch_id = $1 \
                     AND (version_id, case_id, repetition) > ($2, $3, $4) \
                     ORDER BY version_id, case_id, repetition LIMIT $5"
                );
                on_pool!(self, pool => sqlx::query_as(&sql)
                    .bind(batch.0).bind(version.0).bind(case.0).bind(i64::from(repetition))
                    .bind(limit).fetch_all(pool).await)?
            }
        };
        rows.into_iter().map(ResultRow::into_result).collect()
    }

    /// What a replay needs of each of a batch's results (`batch_timeline`): version, case,
    /// status, score, latency and finish, without answers and details (every repetition).
    pub async fn timeline_rows(&self, batch: BatchId) -> StoreResult<Vec<TimelineRow>> {
        type Row = (i64, i64, String, Option<f64>, Option<i64>, i64);
        let rows: Vec<Row> = on_pool!(self, pool =>
            sqlx::query_as(
                "SELECT version_id, case_id, status, score, latency_ms, finished_at \
                 FROM results WHERE batch_id = $1")
            .bind(batch.0).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(version, case, status, score, latency_ms, finished_at)| {
                Ok(TimelineRow {
                    version_id: VersionId(version),
                    case_id: CaseId(case),
                    status: ResultStatus::parse(&status)
                        .ok_or_else(|| StoreError::Corrupt(format!("result status `{status}`")))?,
                    score,
                    latency_ms,
                    finished_at,
                })
            })
            .collect()
    }

    /// The tests (version, case, repetition) that already have a result.
    pub async fn result_keys(&self, batch: BatchId) -> StoreResult<HashSet<TestKey>> {
        let rows: Vec<(i64, i64, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT version_id, case_id, repetition FROM results WHERE batch_id = $1")
            .bind(batch.0).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(v, c, r)| {
                (
                    VersionId(v),
                    CaseId(c),
                    u32::try_from(r).unwrap_or(u32::MAX),
                )
            })
            .collect())
    }

    pub async fn version_tallies(&self, batch: BatchId) -> StoreResult<Vec<VersionTally>> {
        let rows: Vec<VersionTally> = on_pool!(self, pool => sqlx::query_as(
            "SELECT version_id, COUNT(*) AS completed, \
             COUNT(*) FILTER (WHERE status = 'passed') AS passed, \
             COUNT(*) FILTER (WHERE status = 'error') AS errored, \
             SUM(score) AS score_sum, COUNT(score) AS scored, \
             SUM(CAST(latency_ms AS DOUBLE PRECISION)) AS latency_sum, \
             COUNT(latency_ms) AS timed, \
             COUNT(judge_score) AS judged, \
             COUNT(*) FILTER (WHERE judge_cached) AS judge_cached, \
             COUNT(*) FILTER (WHERE judge_status = 'error') AS judge_errors, \
             SUM(judge_score) AS judge_score_sum, \
             CAST(SUM(judge_tokens) AS BIGINT) AS judge_tokens, SUM(judge_price) AS judge_cost, \
             COUNT(rv.verdict) AS reviewed, \
             COUNT(*) FILTER (WHERE COALESCE(rv.verdict = 'pass', status = 'passed')) \
                 AS reviewed_passed \
             FROM results LEFT JOIN reviews rv USING (batch_id, version_id, case_id, repetition) \
             WHERE batch_id = $1 GROUP BY version_id ORDER BY version_id")
            .bind(batch.0).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Per version, what its repeats say about its cases: how many cases have a result, how
    /// many ran all `repeats` times, how many of those passed every time (pass^k), and how many
    /// are flaky (some repeats passed, some did not). In the batch's version order is the
    /// caller's business; versions without a result have no row.
    pub async fn repeat_stats(
        &self,
        batch: BatchId,
        repeats: u32,
    ) -> StoreResult<Vec<RepeatStats>> {
        let rows: Vec<(i64, i64, i64, i64, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT version_id, COUNT(*), \
             SUM(CASE WHEN runs = $2 THEN 1 ELSE 0 END), \
             SUM(CASE WHEN runs = $2 AND passed = runs THEN 1 ELSE 0 END), \
             SUM(CASE WHEN passed > 0 AND passed < runs THEN 1 ELSE 0 END) \
             FROM (SELECT version_id, case_id, COUNT(*) AS runs, \
                   SUM(CASE WHEN status = 'passed' THEN 1 ELSE 0 END) AS passed \
                   FROM results WHERE batch_id = $1 GROUP BY version_id, case_id) per_case \
             GROUP BY version_id ORDER BY version_id")
            .bind(batch.0).bind(i64::from(repeats)).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(v, cases, complete, all_passed, flaky)| RepeatStats {
                version_id: VersionId(v),
                cases,
                complete,
                all_passed,
                flaky,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_are_written_in_few_statement_sizes() {
        let sizes = |len: usize| {
            let rows: Vec<usize> = (0..len).collect();
            let chunks: Vec<&[usize]> = super::cached_chunks(&rows, 500).collect();
            assert_eq!(chunks.concat(), rows, "every row once, in order");
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(50), [32, 16, 2]);
        assert_eq!(sizes(256), [256]);
        assert_eq!(sizes(1203), [500, 500, 128, 64, 8, 2, 1]);
        let mut seen = std::collections::BTreeSet::new();
        for len in 1..=1000 {
            seen.extend(sizes(len));
        }
        assert_eq!(
            seen.len(),
            10,
            "500 and the powers of two up to 256: {seen:?}"
        );
    }

    use super::*;

    #[test]
    fn what_fits_is_stored_as_it_is() {
        assert!(matches!(bounded("", 10), Cow::Borrowed("")));
        assert!(matches!(bounded("abc", 3), Cow::Borrowed("abc")));
        let answer = "a".repeat(MAX_STORED_ANSWER_BYTES);
        assert_eq!(bounded(&answer, MAX_STORED_ANSWER_BYTES), answer);
    }

    #[test]
    fn what_does_not_fit_is_cut_and_marked() {
        let answer = "a".repeat(300 << 10);
        let stored = bounded(&answer, MAX_STORED_ANSWER_BYTES);
        assert_eq!(stored.len(), MAX_STORED_ANSWER_BYTES);
        assert!(
            stored.ends_with("a…[truncated: 300 KiB → 256 KiB]"),
            "{}",
            &stored[stored.len() - 60..]
        );
        let text = "x".repeat((5 << 20) + (512 << 10));
        let big = bounded(&text, MAX_STORED_ANSWER_BYTES);
        assert!(big.ends_with("…[truncated: 5.5 MiB → 256 KiB]"));
        assert_eq!(big.len(), MAX_STORED_ANSWER_BYTES);
    }

    #[test]
    fn cuts_fall_between_characters() {
        // Three-byte characters: no cut point may split one, whatever the limit.
        let text = "參".repeat(200);
        for max in 40..=120 {
            let stored = bounded(&text, max);
            assert!(stored.len() <= max, "{max}: {} bytes", stored.len());
            assert!(stored.starts_with('參') || stored.starts_with('…'), "{max}");
            assert!(stored.ends_with(" → {}]".replace("{}", &human_bytes(max)).as_str()));
        }
        // No room for anything but the marker.
        assert_eq!(bounded("abcdef", 2), "…[truncated: 6 B → 2 B]");
    }
}
