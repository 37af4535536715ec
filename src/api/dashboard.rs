//! The trends dashboard and the batch history: trends of the picked versions across batches,
//! one filtered page of batches, deleting a finished batch.

use super::ApiError;
use super::JsonText;
use crate::model::dashboard::{DashboardView, HistoryPage};
use crate::model::{BatchId, BatchStatus, VersionId};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::engine;

/// Trends across batches for the versions in `version_ids` (default: the newest batch's; at most
/// 12): per batch and version the pass rate, mean and judge scores, latency and time to first
/// token p50 / p95, mean test time, tokens and cost per test, and errors by code. Batches created
/// from day `from` to day `to` (`YYYY-MM-DD`, UTC, both inclusive; default: all), the newest
/// `limit` of them (default 200, at most 1000), oldest first.
#[server(prefix = "/api", endpoint = "dashboard", input = Json, output = JsonText)]
pub async fn dashboard(
    version_ids: Option<Vec<VersionId>>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
) -> Result<DashboardView, ApiError> {
    use crate::model::dashboard::{
        day_range, DASHBOARD_BATCHES, MAX_DASHBOARD_BATCHES, MAX_DASHBOARD_VERSIONS,
    };
    let (from_ms, to_ms) =
        day_range(from.as_deref(), to.as_deref()).map_err(ApiError::bad_request)?;
    let limit = limit.unwrap_or(DASHBOARD_BATCHES);
    if !(1..=MAX_DASHBOARD_BATCHES).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {MAX_DASHBOARD_BATCHES}, got {limit}"
        )));
    }
    let engine = engine()?;
    let store = engine.store();
    let versions = store.dashboard_versions().await?;
    let mut selected = match version_ids {
        Some(ids) => ids,
        None => store.newest_batch_versions().await?,
    };
    let mut seen = std::collections::HashSet::new();
    selected.retain(|v| seen.insert(*v));
    if selected.len() > MAX_DASHBOARD_VERSIONS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_DASHBOARD_VERSIONS} versions can be charted at once, got {}",
            selected.len()
        )));
    }
    let (points, truncated) = store.run_points(&selected, from_ms, to_ms, limit).await?;
    Ok(DashboardView {
        versions,
        selected,
        points,
        truncated,
    })
}

/// One page (`page`, 0-based; past the end → the last page) of 20 batches, newest first,
/// matching every filter given: `version_id` (ran that version), `status`, created from day
/// `from` to day `to` (`YYYY-MM-DD`, UTC, inclusive), `created_by` (who started it), `search` (a
/// part of the name, any case). With the number of matches and everyone who started a batch.
#[server(prefix = "/api", endpoint = "batch_history", input = Json, output = JsonText)]
pub async fn batch_history(
    page: Option<u64>,
    version_id: Option<VersionId>,
    status: Option<BatchStatus>,
    from: Option<String>,
    to: Option<String>,
    created_by: Option<String>,
    search: Option<String>,
) -> Result<HistoryPage, ApiError> {
    use crate::model::dashboard::{day_range, HistoryFilter, HISTORY_PAGE_SIZE};
    let (from_ms, to_ms) =
        day_range(from.as_deref(), to.as_deref()).map_err(ApiError::bad_request)?;
    let filter = HistoryFilter {
        version_id,
        status,
        from_ms,
        to_ms,
        created_by: created_by.filter(|s| !s.is_empty()),
        search: search.filter(|s| !s.trim().is_empty()),
    };
    if filter
        .search
        .as_ref()
        .is_some_and(|s| s.chars().count() > 200)
    {
        return Err(ApiError::bad_request(
            "`search` is longer than 200 characters",
        ));
    }
    let engine = engine()?;
    let store = engine.store();
    let total = store.count_batches(&filter).await?;
    let pages = total.div_ceil(HISTORY_PAGE_SIZE).max(1);
    let page = page.unwrap_or(0).min(pages - 1);
    let batches = store
        .batch_history(&filter, page * HISTORY_PAGE_SIZE, HISTORY_PAGE_SIZE)
        .await?;
    Ok(HistoryPage {
        batches,
        total,
        page,
        pages,
        page_size: HISTORY_PAGE_SIZE,
        starters: store.batch_starters().await?,
        versions: store.dashboard_versions().await?,
    })
}

/// Deletes a finished batch with its results, reviews and snapshots. A queued or running batch
/// is refused with 409 (cancel it first); an unknown one is a 404.
#[server(prefix = "/api", endpoint = "delete_batch", input = Json, output = JsonText)]
pub async fn delete_batch(id: BatchId) -> Result<(), ApiError> {
    use crate::server::store::Deleted;
    match engine()?.store().delete_batch(id).await? {
        Deleted::Deleted => {
            tracing::info!(batch = id.0, by = ?super::ssr::caller_label(), "batch deleted");
            Ok(())
        }
        Deleted::NotFound => Err(ApiError::not_found(format!("batch {id} does not exist"))),
        Deleted::Open => Err(ApiError::new(
            super::ErrorKind::Conflict,
            format!("batch {id} is still running: cancel it first, then delete it"),
        )),
    }
}
