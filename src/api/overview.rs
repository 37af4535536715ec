//! Read-only summaries the UI needs beyond the resources themselves: the latest result of each
//! version, for the versions table.

use super::ApiError;
use super::JsonText;
use crate::model::VersionLatestResult;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::engine;

/// How many recent batches are searched for each version's latest result.
#[cfg(feature = "ssr")]
const RECENT_BATCHES: i64 = 50;

/// For every version run in one of the 50 newest batches: its tallies in the newest of them.
#[server(prefix = "/api", endpoint = "latest_version_results", input = Json, output = JsonText)]
pub async fn latest_version_results() -> Result<Vec<VersionLatestResult>, ApiError> {
    use std::collections::HashSet;
    let engine = engine()?;
    let store = engine.store();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    // Newest first, so the first batch naming a version holds its latest result.
    for batch in store.list_batches(RECENT_BATCHES).await? {
        let fresh: Vec<_> = batch
            .versions
            .iter()
            .filter(|v| !seen.contains(&v.version_id))
            .collect();
        if fresh.is_empty() {
            continue;
        }
        let tallies = store.version_tallies(batch.id).await?;
        let per_version = batch.total_tests / (batch.versions.len().max(1) as i64);
        for v in fresh {
            seen.insert(v.version_id);
            let tally = tallies.iter().find(|t| t.version_id == v.version_id.0);
            let completed = tally.map_or(0, |t| t.completed);
            out.push(VersionLatestResult {
                version_id: v.version_id,
                batch_id: batch.id,
                batch_name: batch.name.clone(),
                batch_status: batch.status,
                completed_tests: completed,
                total_tests: per_version,
                average_score: tally
                    .filter(|t| t.scored > 0)
                    .and_then(|t| t.score_sum.map(|s| s / t.scored as f64)),
                pass_rate: tally
                    .filter(|t| t.completed > 0)
                    .map(|t| t.passed as f64 * 100.0 / t.completed as f64),
            });
        }
    }
    Ok(out)
}
