//! Comparing two runs (a run is one version within one batch): `compare_runs`, paged like
//! `batch_page`. The statistics are `server::compare`'s; this reads both runs, matches cases by
//! id, and pages the case table with regressions first.

use super::ApiError;
use super::JsonText;
use crate::model::compare::{CompareCaseView, CompareView};
use crate::model::{BatchId, CaseId, VersionId};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::engine;

/// Rows per page of the case table.
pub const COMPARE_ROWS_PER_PAGE: u64 = 50;

/// Compares run A (baseline; default: the latest earlier batch that ran B's version) with run B
/// (candidate). `class` keeps one class of cases (`regressed`, `improved`, `inconclusive`,
/// `case_changed`, `unchanged`); `page` is 0-based, past the end → the last page.
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/api", endpoint = "compare_runs", input = Json, output = JsonText)]
pub async fn compare_runs(
    base_batch: Option<BatchId>,
    base_version: Option<VersionId>,
    cand_batch: BatchId,
    cand_version: VersionId,
    class: Option<String>,
    page: Option<u64>,
) -> Result<CompareView, ApiError> {
    let engine = engine()?;
    let b = crate::server::store::RunRef {
        batch: cand_batch,
        version: cand_version,
    };
    let a = match (base_batch, base_version) {
        (Some(batch), version) => crate::server::store::RunRef {
            batch,
            version: version.unwrap_or(cand_version),
        },
        (None, _) => engine.store().previous_run(b).await?.ok_or_else(|| {
            ApiError::not_found(format!(
                "version {cand_version} has no run before batch {cand_batch} to compare with; \
                     name a baseline (base_batch, base_version)"
            ))
        })?,
    };
    let class = class
        .filter(|c| !c.is_empty() && c != "all")
        .map(|c| {
            crate::model::compare::CaseClass::parse(&c).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "class `{c}` is not one of regressed, improved, inconclusive, case_changed, \
                     unchanged"
                ))
            })
        })
        .transpose()?;
    crate::server::compare::view(
        engine.store(),
        a,
        b,
        class,
        page.unwrap_or(0),
        COMPARE_ROWS_PER_PAGE,
    )
    .await
    .map_err(api_error)
}

/// One case of a comparison opened: each run's snapshot of the case (name, question, expected
/// answer, keywords; null when the case is not in that run), its results there (`results`, one
/// per repetition: answer, status, score and its breakdown, latency, time to first token, usage
/// and cost, error), and `diff`, a word-level diff of A's first answer against B's (null unless
/// both answered): `{"granularity": "word" | "line" | "whole", "runs": [{"op": "equal" |
/// "delete" | "insert", "text"}]}`. A case in neither run, or an unknown run, is a 404.
#[server(prefix = "/api", endpoint = "compare_case", input = Json, output = JsonText)]
pub async fn compare_case(
    base_batch: BatchId,
    base_version: VersionId,
    cand_batch: BatchId,
    cand_version: VersionId,
    case_id: CaseId,
) -> Result<CompareCaseView, ApiError> {
    use crate::server::store::RunRef;
    let engine = engine()?;
    let run = |batch, version| RunRef { batch, version };
    crate::server::compare::case(
        engine.store(),
        run(base_batch, base_version),
        run(cand_batch, cand_version),
        case_id,
    )
    .await
    .map_err(api_error)
}

#[cfg(feature = "ssr")]
fn api_error(e: crate::server::compare::CompareError) -> ApiError {
    use crate::server::compare::CompareError;
    match e {
        CompareError::NoRun(m) => ApiError::not_found(m),
        CompareError::Store(e) => e.into(),
        CompareError::Unavailable(e) => ApiError::new(super::ErrorKind::Unavailable, e.to_string()),
    }
}
