//! The `reviews` table: a person's verdict on one result, kept beside it (a review never rewrites
//! the result), and what reviews are read for: the reviewed pass rate (`results::version_tallies`)
//! and a judge's calibration ([`Store::reviewed_judgements`]).

use super::TestKey;
use super::{now_ms, on_pool, parse_json, Store, StoreError, StoreResult};
use crate::model::{BatchId, CaseId, ResultStatus, Review, ReviewVerdict, ScoreDetail, VersionId};

/// A reviewed result the judge also gave a verdict on.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewedJudgement {
    pub detail: ScoreDetail,
    pub verdict: ReviewVerdict,
}

impl Store {
    /// Sets (or replaces) the review of one result. False when there is no such result.
    pub async fn set_review(
        &self,
        batch: BatchId,
        key: TestKey,
        verdict: ReviewVerdict,
        comment: &str,
        by: Option<&str>,
    ) -> StoreResult<bool> {
        let (version, case, repetition) = key;
        let done = on_pool!(self, pool => sqlx::query(
            "INSERT INTO reviews (batch_id, version_id, case_id, repetition, verdict, comment, \
             reviewed_by, reviewed_at) \
             SELECT batch_id, version_id, case_id, repetition, $5, $6, $7, $8 FROM results \
             WHERE batch_id = $1 AND version_id = $2 AND case_id = $3 AND repetition = $4 \
             ON CONFLICT (batch_id, version_id, case_id, repetition) DO UPDATE SET \
             verdict = excluded.verdict, comment = excluded.comment, \
             reviewed_by = excluded.reviewed_by, reviewed_at = excluded.reviewed_at")
            .bind(batch.0).bind(version.0).bind(case.0).bind(i64::from(repetition))
            .bind(verdict.as_str()).bind(comment).bind(by).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Removes a review; false when there was none.
    pub async fn clear_review(&self, batch: BatchId, key: TestKey) -> StoreResult<bool> {
        let (version, case, repetition) = key;
        let done = on_pool!(self, pool => sqlx::query(
            "DELETE FROM reviews WHERE batch_id = $1 AND version_id = $2 AND case_id = $3 \
             AND repetition = $4")
            .bind(batch.0).bind(version.0).bind(case.0).bind(i64::from(repetition))
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn get_review(&self, batch: BatchId, key: TestKey) -> StoreResult<Option<Review>> {
        let (version, case, repetition) = key;
        let row: Option<(String, String, Option<String>, i64)> = on_pool!(self, pool =>
            sqlx::query_as(
                "SELECT verdict, comment, reviewed_by, reviewed_at FROM reviews \
                 WHERE batch_id = $1 AND version_id = $2 AND case_id = $3 AND repetition = $4")
            .bind(batch.0).bind(version.0).bind(case.0).bind(i64::from(repetition))
            .fetch_optional(pool).await)?;
        Ok(row.and_then(|(verdict, comment, by, at)| {
            Some(Review {
                verdict: ReviewVerdict::parse(&verdict)?,
                comment,
                reviewed_by: by,
                reviewed_at: at,
            })
        }))
    }

    /// The answered, unreviewed results of a batch with their status, score and detail: what the review
    /// queue picks from (by `judge::review::reasons`), in (version, case, repetition) order.
    pub async fn unreviewed_answers(
        &self,
        batch: BatchId,
    ) -> StoreResult<Vec<(TestKey, ResultStatus, Option<f64>, ScoreDetail)>> {
        let rows: Vec<(i64, i64, i64, String, Option<f64>, String)> = on_pool!(self, pool =>
            sqlx::query_as(
                "SELECT version_id, case_id, repetition, status, score, detail FROM results r \
                 WHERE batch_id = $1 AND status <> 'error' AND NOT EXISTS (SELECT 1 FROM reviews rv \
                 WHERE rv.batch_id = r.batch_id AND rv.version_id = r.version_id \
                 AND rv.case_id = r.case_id AND rv.repetition = r.repetition) \
                 ORDER BY version_id, case_id, repetition")
            .bind(batch.0).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(v, c, r, status, score, detail)| {
                let key = (VersionId(v), CaseId(c), u32::try_from(r).unwrap_or(0));
                let status = ResultStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("result status `{status}`")))?;
                Ok((key, status, score, parse_json("result detail", &detail)?))
            })
            .collect()
    }

    /// Every reviewed result that a judge gave a verdict on (its detail says which judge and
    /// rubric), across batches: what calibration compares. Reviews are a person's work, so
    /// there are few enough to read whole.
    pub async fn reviewed_judgements(&self) -> StoreResult<Vec<ReviewedJudgement>> {
        let rows: Vec<(String, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT r.detail, rv.verdict FROM reviews rv JOIN results r \
             USING (batch_id, version_id, case_id, repetition) \
             WHERE r.judge_status IN ('passed', 'failed')")
            .fetch_all(pool).await)?;
        rows.into_iter()
            .filter_map(|(detail, verdict)| {
                let verdict = ReviewVerdict::parse(&verdict)?;
                Some(
                    parse_json("result detail", &detail)
                        .map(|detail| ReviewedJudgement { detail, verdict }),
                )
            })
            .collect()
    }
}
