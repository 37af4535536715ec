//! Human review: a reviewed verdict on a result, the review queue, promoting an answer to a
//! case's expected answer, and a case's earlier revisions.

use super::ApiError;
use super::JsonText;
use crate::model::{
    BatchId, CaseId, CaseRevision, QueueItem, Review, ReviewVerdict, TestCase, VersionId,
};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::engine;

/// Longest review comment.
pub const MAX_COMMENT_CHARS: usize = 4000;

/// Sets the reviewed verdict of one result (`repetition` 0 in a batch without repeats), or
/// removes it with `verdict` null. Returns the review as stored.
#[server(prefix = "/api", endpoint = "set_review", input = Json, output = JsonText)]
pub async fn set_review(
    batch_id: BatchId,
    version_id: VersionId,
    case_id: CaseId,
    repetition: Option<u32>,
    verdict: Option<ReviewVerdict>,
    comment: Option<String>,
) -> Result<Option<Review>, ApiError> {
    let store = engine()?.store().clone();
    let key = (version_id, case_id, repetition.unwrap_or(0));
    let missing = || {
        ApiError::not_found(format!(
            "batch {batch_id} has no result for version {version_id}, case {case_id}, \
             repeat {}",
            key.2 + 1
        ))
    };
    let Some(verdict) = verdict else {
        store.clear_review(batch_id, key).await?;
        return Ok(None);
    };
    let comment = comment.unwrap_or_default();
    let comment = comment.trim();
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(ApiError::bad_request(format!(
            "comment is longer than {MAX_COMMENT_CHARS} characters"
        )));
    }
    let by = super::ssr::caller_label();
    if !store
        .set_review(batch_id, key, verdict, comment, by.as_deref())
        .await?
    {
        return Err(missing());
    }
    store
        .get_review(batch_id, key)
        .await?
        .ok_or_else(missing)
        .map(Some)
}

/// The review of one result, if it has one.
#[server(prefix = "/api", endpoint = "get_review", input = Json, output = JsonText)]
pub async fn get_review(
    batch_id: BatchId,
    version_id: VersionId,
    case_id: CaseId,
    repetition: Option<u32>,
) -> Result<Option<Review>, ApiError> {
    let key = (version_id, case_id, repetition.unwrap_or(0));
    Ok(engine()?.store().get_review(batch_id, key).await?)
}

/// The results of a batch worth a human look — the judge failed, the judge and the lexical
/// scorers disagree, or the score is near the threshold — not yet reviewed, at most `limit`
/// (default 200).
#[server(prefix = "/api", endpoint = "review_queue", input = Json, output = JsonText)]
pub async fn review_queue(
    batch_id: BatchId,
    limit: Option<u32>,
) -> Result<Vec<QueueItem>, ApiError> {
    use crate::server::judge::review::{lexical_score, reasons};
    use std::collections::HashMap;
    let engine = engine()?;
    let store = engine.store();
    let batch = store
        .get_batch(batch_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("batch {batch_id} does not exist")))?;
    let cases: HashMap<CaseId, TestCase> = store
        .batch_cases(batch_id)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let names: HashMap<VersionId, String> = batch
        .versions
        .iter()
        .map(|v| (v.version_id, v.name.clone()))
        .collect();
    let limit = limit.unwrap_or(200).clamp(1, 1000) as usize;
    let mut out = Vec::new();
    for ((version_id, case_id, repetition), status, score, detail) in
        store.unreviewed_answers(batch_id).await?
    {
        let case = cases.get(&case_id);
        let threshold = case
            .and_then(|c| c.pass_threshold)
            .unwrap_or(batch.scoring.pass_threshold);
        let why = reasons(&detail, score, threshold);
        if why.is_empty() {
            continue;
        }
        out.push(QueueItem {
            version_id,
            case_id,
            repetition,
            version_name: names.get(&version_id).cloned().unwrap_or_default(),
            case_name: case.map(|c| c.name.clone()).unwrap_or_default(),
            reasons: why,
            status,
            score,
            judge_score: detail.judge.as_ref().and_then(|j| j.score),
            lexical_score: lexical_score(&detail).map(|s| (s * 100.0).round() / 100.0),
        });
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// Makes a result's answer the expected answer of its case: a new revision of the case (its
/// earlier text is kept; batches that ran it keep their snapshots). Returns the case as it is now.
#[server(prefix = "/api", endpoint = "promote_answer", input = Json, output = JsonText)]
pub async fn promote_answer(
    batch_id: BatchId,
    version_id: VersionId,
    case_id: CaseId,
    repetition: Option<u32>,
) -> Result<TestCase, ApiError> {
    let store = engine()?.store().clone();
    let repetition = repetition.unwrap_or(0);
    let result = store
        .test_results(batch_id, version_id, case_id)
        .await?
        .into_iter()
        .find(|r| r.repetition == repetition)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "batch {batch_id} has no result for version {version_id}, case {case_id}, \
                 repeat {}",
                repetition + 1
            ))
        })?;
    let answer = result
        .answer
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("this result has no answer to promote"))?;
    let case = store.get_case(case_id).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "test case {case_id} no longer exists; the batch keeps its snapshot"
        ))
    })?;
    // A conversation's answer is its last turn's: it becomes that turn's expected answer.
    let mut turns = case.turns;
    let expected_answer = match turns.last_mut() {
        Some(last) => {
            last.expected_answer = answer;
            case.expected_answer
        }
        None => answer,
    };
    let draft = crate::model::CaseDraft {
        name: case.name,
        query: case.query,
        expected_answer,
        keywords: case.keywords,
        category: case.category,
        tags: case.tags,
        pass_threshold: case.pass_threshold,
        assertions: case.assertions,
        inputs: Some(case.inputs),
        enabled: Some(case.enabled),
        rubric: case.rubric,
        turns,
    }
    .normalized()
    .map_err(ApiError::bad_request)?;
    let by = super::ssr::caller_label();
    let note = if repetition > 0 {
        format!(
            "promoted the answer of batch {batch_id}, version {version_id}, repeat {}",
            repetition + 1
        )
    } else {
        format!("promoted the answer of batch {batch_id}, version {version_id}")
    };
    if !store
        .update_case_noting(case_id, &draft, by.as_deref(), &note)
        .await?
    {
        return Err(ApiError::not_found(format!(
            "test case {case_id} does not exist"
        )));
    }
    super::ssr::stamp(
        &store,
        crate::server::store::Authored::Case,
        &[case_id.0],
        false,
    )
    .await?;
    store
        .get_case(case_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("test case {case_id} does not exist")))
}

/// A case's earlier revisions, newest first.
#[server(prefix = "/api", endpoint = "case_revisions", input = Json, output = JsonText)]
pub async fn case_revisions(case_id: CaseId) -> Result<Vec<CaseRevision>, ApiError> {
    Ok(engine()?.store().case_revisions(case_id).await?)
}
