//! Batches: start, cancel, re-run failed tests, get, list, the batch page, one result, every
//! result.

use super::ApiError;
use super::JsonText;
use crate::model::{Batch, BatchId, BatchReport, BatchView, CaseId, TestResult, VersionId};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::engine;
#[cfg(feature = "ssr")]
use crate::model::ScoringConfig;

/// Starts versions × cases × repeats in the background and returns the batch id at once.
/// `case_ids` null means every enabled case; `concurrency` defaults to 4; `repeats` (1–20)
/// defaults to 1; scoring fields default to a pass threshold of 60 and equal keyword/similarity
/// weights; `judge` (`{"judge_id", "rubric", "weight", "must_pass"}`) adds an LLM judge and
/// `embedding` (`{"judge_id", "weight"}`) an embedding score. Refused with 409 when the server runs
/// as many batches as it may (`--max-running-batches`), 400 above `--max-tests-per-batch`, 503
/// while it shuts down.
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/api", endpoint = "start_batch", input = Json, output = JsonText)]
pub async fn start_batch(
    name: Option<String>,
    version_ids: Vec<VersionId>,
    case_ids: Option<Vec<CaseId>>,
    concurrency: Option<u32>,
    per_version_cap: Option<u32>,
    pass_threshold: Option<f64>,
    keyword_weight: Option<f64>,
    similarity_weight: Option<f64>,
    repeats: Option<u32>,
    judge: Option<crate::model::JudgeScoring>,
    embedding: Option<crate::model::EmbeddingScoring>,
) -> Result<BatchId, ApiError> {
    let defaults = ScoringConfig::default();
    let scoring = ScoringConfig {
        pass_threshold: pass_threshold.unwrap_or(defaults.pass_threshold),
        keyword_weight: keyword_weight.unwrap_or(defaults.keyword_weight),
        similarity_weight: similarity_weight.unwrap_or(defaults.similarity_weight),
        judge,
        embedding,
    };
    let engine = engine()?;
    let id = engine
        .start_batch(crate::server::runner::StartBatch {
            name: name.unwrap_or_default(),
            version_ids,
            case_ids,
            concurrency,
            per_version_cap,
            scoring: Some(scoring),
            repeats,
            created_by: super::ssr::caller_label(),
        })
        .await?;
    Ok(id)
}

/// Stops a running batch: in-flight calls are aborted and it ends `cancelled`.
#[server(prefix = "/api", endpoint = "cancel_batch", input = Json, output = JsonText)]
pub async fn cancel_batch(id: BatchId) -> Result<(), ApiError> {
    engine()?.cancel_batch(id).await?;
    Ok(())
}

/// Runs again, in a finished batch, the tests that ended with an error or have no result (a
/// batch that stopped on an error, or was cancelled); returns how many. 409 while the batch runs
/// (or another call is re-running it).
#[server(prefix = "/api", endpoint = "rerun_failed", input = Json, output = JsonText)]
pub async fn rerun_failed(id: BatchId) -> Result<u64, ApiError> {
    Ok(engine()?.rerun_failed(id).await?)
}

#[server(prefix = "/api", endpoint = "get_batch", input = Json, output = JsonText)]
pub async fn get_batch(id: BatchId) -> Result<Batch, ApiError> {
    engine()?
        .store()
        .get_batch(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("batch {id} does not exist")))
}

/// The newest batches first (at most `limit`, default 100).
#[server(prefix = "/api", endpoint = "list_batches", input = Json, output = JsonText)]
pub async fn list_batches(limit: Option<i64>) -> Result<Vec<Batch>, ApiError> {
    let limit = limit.unwrap_or(100).clamp(1, 1000);
    Ok(engine()?.store().list_batches(limit).await?)
}

/// Ids of the batches running now (for the header's indicator).
#[server(prefix = "/api", endpoint = "running_batches", input = Json, output = JsonText)]
pub async fn running_batches() -> Result<Vec<BatchId>, ApiError> {
    Ok(engine()?.running())
}

/// What the batch page shows, one page of cases at a time: the batch, per-version summaries
/// and run totals (tokens, cost per currency, latency and time-to-first-token p50 / p95, errors
/// by code; computed by the database), and page `page` (0-based; default 0; past the end → the last
/// page) of its cases with each one's outcome in every version. Its size does not grow with the
/// number of cases; `batch_result` has a cell's answer and details.
#[server(prefix = "/api", endpoint = "batch_page", input = Json, output = JsonText)]
pub async fn batch_page(id: BatchId, page: Option<u64>) -> Result<BatchView, ApiError> {
    use crate::model::CASES_PER_PAGE;
    use crate::server::store::VersionTally;
    let engine = engine()?;
    let store = engine.store();
    let (batch, tallies) = store
        .batch_with_tallies(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("batch {id} does not exist")))?;
    let total_cases = store.batch_case_count(id).await?;
    let pages = total_cases.div_ceil(CASES_PER_PAGE).max(1);
    let page = page.unwrap_or(0).min(pages - 1);
    let cases = store
        .batch_cases_page(id, page * CASES_PER_PAGE, CASES_PER_PAGE)
        .await?;
    let case_ids: Vec<CaseId> = cases.iter().map(|c| c.id).collect();
    let cells = store.result_cells_for_cases(id, &case_ids).await?;
    let summaries = VersionTally::summaries(&batch.versions, &tallies);
    let repeat_stats = if batch.repeats > 1 {
        let mut stats = store.repeat_stats(id, batch.repeats).await?;
        let position = |v: VersionId| batch.versions.iter().position(|x| x.version_id == v);
        stats.sort_by_key(|s| position(s.version_id));
        stats
    } else {
        Vec::new()
    };
    let run_totals = store.run_totals(id, &batch.versions).await?;
    let (reclaimed_tests, duplicate_results) = store.duplicate_work(id).await?;
    let alerts = store.batch_alerts(id).await?;
    Ok(BatchView {
        alerts,
        duplicate_work: crate::model::DuplicateWork {
            reclaimed_tests,
            duplicate_results,
        },
        repeat_stats,
        has_errors: batch.failed_tests > 0,
        batch,
        summaries,
        total_cases,
        page,
        page_size: CASES_PER_PAGE,
        pages,
        cases,
        cells,
        run_totals,
    })
}

/// One test's stored result in full (answer, keywords, latency, tokens, error) — its first
/// repetition; `batch_result_repeats` has them all — or null when it has not run yet. An unknown batch is a 404.
#[server(prefix = "/api", endpoint = "batch_result", input = Json, output = JsonText)]
pub async fn batch_result(
    id: BatchId,
    version_id: VersionId,
    case_id: CaseId,
) -> Result<Option<TestResult>, ApiError> {
    let engine = engine()?;
    let store = engine.store();
    match store.get_result(id, version_id, case_id).await? {
        Some(result) => Ok(Some(result)),
        None if store.batch_exists(id).await? => Ok(None),
        None => Err(ApiError::not_found(format!("batch {id} does not exist"))),
    }
}

/// Every repetition of one test in full (answer, keywords, latency, tokens, error), in
/// repetition order; empty when it has not run yet. An unknown batch is a 404.
#[server(prefix = "/api", endpoint = "batch_result_repeats", input = Json, output = JsonText)]
pub async fn batch_result_repeats(
    id: BatchId,
    version_id: VersionId,
    case_id: CaseId,
) -> Result<Vec<TestResult>, ApiError> {
    let engine = engine()?;
    let store = engine.store();
    let results = store.test_results(id, version_id, case_id).await?;
    if results.is_empty() && !store.batch_exists(id).await? {
        return Err(ApiError::not_found(format!("batch {id} does not exist")));
    }
    Ok(results)
}

/// One case as the batch ran it (its snapshot at launch; later edits do not show).
#[server(prefix = "/api", endpoint = "batch_case", input = Json, output = JsonText)]
pub async fn batch_case(id: BatchId, case_id: CaseId) -> Result<crate::model::TestCase, ApiError> {
    engine()?
        .store()
        .batch_case(id, case_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("batch {id} has no case {case_id}")))
}

/// A batch with its case snapshots and **every** stored result, in one JSON body: fine for
/// small batches and scripts. It grows with the batch (a 100,000-test batch is tens of MB):
/// page through `batch_page`, or stream `GET /api/batches/{id}/results.json` (the same document)
/// or `results.csv` instead.
#[server(prefix = "/api", endpoint = "batch_results", input = Json, output = JsonText)]
pub async fn batch_results(id: BatchId) -> Result<BatchReport, ApiError> {
    let engine = engine()?;
    let store = engine.store();
    let batch = store
        .get_batch(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("batch {id} does not exist")))?;
    Ok(BatchReport {
        batch,
        cases: store.batch_cases(id).await?,
        results: store.list_results(id).await?,
    })
}
