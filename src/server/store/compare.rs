//! Reading two runs side by side: for every case in either run's snapshot, its outcome in run A
//! and in run B, and whether the case itself changed between the two snapshots (a changed case
//! is shown but kept out of the statistics). The statistics are `server::compare`'s business.
//!
//! A run is one version within one batch.

use super::{on_pool, parse_json, Store, StoreError, StoreResult};
use crate::model::{Assertion, BatchId, CaseId, ResultStatus, TestCase, VersionId};
use std::collections::BTreeMap;

/// One version within one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRef {
    pub batch: BatchId,
    pub version: VersionId,
}

/// One test's outcome, as much of it as a comparison reads.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: ResultStatus,
    pub score: Option<f64>,
    pub latency_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub total_tokens: Option<i64>,
    pub total_price: Option<f64>,
    pub currency: Option<String>,
}

/// One case of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedCase {
    pub case_id: CaseId,
    pub name: String,
    /// One outcome per finished repetition, in repetition order; empty: the case is not in that
    /// run's snapshot, or has no result there yet.
    pub a: Vec<RunOutcome>,
    pub b: Vec<RunOutcome>,
    /// In both snapshots, with a different question, expected answer, keywords or assertions.
    pub changed: bool,
    /// In only one of the two snapshots.
    pub only_in: Option<Side>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// What must be equal for two snapshots of a case to be "the same test".
#[derive(PartialEq)]
struct CaseIdentity<'a> {
    query: &'a str,
    expected_answer: &'a str,
    keywords: &'a [String],
    assertions: &'a [Assertion],
}

impl<'a> From<&'a TestCase> for CaseIdentity<'a> {
    fn from(c: &'a TestCase) -> Self {
        CaseIdentity {
            query: &c.query,
            expected_answer: &c.expected_answer,
            keywords: &c.keywords,
            assertions: &c.assertions,
        }
    }
}

/// Two snapshots of a case are the same test: the same question, expected answer, keywords and
/// assertions (a new name, category or tag does not change what is tested). Comparisons leave a
/// case that is not the same test out of their statistics.
pub fn same_test(a: &TestCase, b: &TestCase) -> bool {
    CaseIdentity::from(a) == CaseIdentity::from(b)
}

#[derive(sqlx::FromRow)]
struct OutcomeRow {
    case_id: i64,
    status: String,
    score: Option<f64>,
    latency_ms: Option<i64>,
    ttft_ms: Option<i64>,
    total_tokens: Option<i64>,
    total_price: Option<f64>,
    currency: Option<String>,
}

impl Store {
    /// The latest run of the same version in an earlier batch: the default baseline.
    pub async fn previous_run(&self, run: RunRef) -> StoreResult<Option<RunRef>> {
        let batch: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT MAX(batch_id) FROM batch_versions WHERE version_id = $1 AND batch_id < $2")
            .bind(run.version.0).bind(run.batch.0).fetch_one(pool).await)?;
        Ok(batch.map(|b| RunRef {
            batch: BatchId(b),
            version: run.version,
        }))
    }

    /// Every case of either run, in the order of A's snapshot then B's new cases, with both
    /// outcomes.
    pub async fn paired_cases(&self, a: RunRef, b: RunRef) -> StoreResult<Vec<PairedCase>> {
        let cases_a = self.batch_cases(a.batch).await?;
        // Two runs of one batch share its snapshots.
        let other_batch = if b.batch == a.batch {
            None
        } else {
            Some(self.batch_cases(b.batch).await?)
        };
        let cases_b = other_batch.as_ref().unwrap_or(&cases_a);
        let mut out_a = self.run_outcomes(a).await?;
        let mut out_b = self.run_outcomes(b).await?;
        let in_b: BTreeMap<CaseId, &TestCase> = cases_b.iter().map(|c| (c.id, c)).collect();
        let mut paired = Vec::with_capacity(cases_a.len().max(cases_b.len()));
        for case in &cases_a {
            let other = in_b.get(&case.id);
            paired.push(PairedCase {
                case_id: case.id,
                name: case.name.clone(),
                a: out_a.remove(&case.id).unwrap_or_default(),
                b: out_b.remove(&case.id).unwrap_or_default(),
                changed: other.is_some_and(|o| CaseIdentity::from(*o) != CaseIdentity::from(case)),
                only_in: other.is_none().then_some(Side::A),
            });
        }
        let seen: std::collections::HashSet<CaseId> = cases_a.iter().map(|c| c.id).collect();
        for case in cases_b.iter().filter(|c| !seen.contains(&c.id)) {
            paired.push(PairedCase {
                case_id: case.id,
                name: case.name.clone(),
                a: Vec::new(),
                b: out_b.remove(&case.id).unwrap_or_default(),
                changed: false,
                only_in: Some(Side::B),
            });
        }
        Ok(paired)
    }

    /// A batch's snapshot of one case, if the batch ran it.
    pub async fn batch_case(&self, batch: BatchId, case: CaseId) -> StoreResult<Option<TestCase>> {
        let snap: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT snapshot FROM batch_cases WHERE batch_id = $1 AND case_id = $2")
            .bind(batch.0).bind(case.0).fetch_optional(pool).await)?;
        snap.map(|s| parse_json("batch case snapshot", &s))
            .transpose()
    }

    /// Every finished repetition of a run, grouped by case (each case's in repetition order).
    async fn run_outcomes(&self, run: RunRef) -> StoreResult<BTreeMap<CaseId, Vec<RunOutcome>>> {
        let sql = "SELECT case_id, status, score, latency_ms, ttft_ms, total_tokens, total_price, \
                   currency FROM results WHERE batch_id = $1 AND version_id = $2 \
                   ORDER BY case_id, repetition";
        let rows: Vec<OutcomeRow> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(run.batch.0).bind(run.version.0).fetch_all(pool).await)?;
        let mut out: BTreeMap<CaseId, Vec<RunOutcome>> = BTreeMap::new();
        for r in rows {
            let status = ResultStatus::parse(&r.status).ok_or_else(|| {
                StoreError::Corrupt(format!("result of case {}: status", r.case_id))
            })?;
            out.entry(CaseId(r.case_id)).or_default().push(RunOutcome {
                status,
                score: r.score,
                latency_ms: r.latency_ms,
                ttft_ms: r.ttft_ms,
                total_tokens: r.total_tokens,
                total_price: r.total_price,
                currency: r.currency,
            });
        }
        Ok(out)
    }
}
