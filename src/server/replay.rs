//! A finished batch's [`Timeline`] for replay: read from the store (the batch, its case
//! snapshots, and one narrow row per result) and packed into the compact columns the client
//! plays with `model::replay`. Owns only the reading and packing; what a moment of the replay
//! shows is `model::replay`'s.

use crate::model::replay::{Timeline, TimelineEntry, TimelineTests, TimelineVersion};
use crate::model::{Alert, Batch, BatchId, CaseId, VersionId};
use crate::server::store::{Store, StoreResult, TimelineRow};
use std::collections::HashMap;

/// The batch's timeline; None when the batch does not exist. The caller decides whether the
/// batch is finished enough to replay.
pub async fn load(store: &Store, id: BatchId) -> StoreResult<Option<(Batch, Timeline)>> {
    let Some(batch) = store.get_batch(id).await? else {
        return Ok(None);
    };
    let cases: Vec<(CaseId, String)> = store
        .batch_cases(id)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let rows = store.timeline_rows(id).await?;
    let alerts = store.batch_alerts(id).await?;
    let timeline = assemble(&batch, cases, &rows, alerts);
    Ok(Some((batch, timeline)))
}

/// Packs a batch's rows: versions and cases become indexes in launch order, finishes become
/// ms after the start. A result of a version or case the batch was not launched with (none
/// should exist) is left out rather than shown under another's name.
pub fn assemble(
    batch: &Batch,
    cases: Vec<(CaseId, String)>,
    rows: &[TimelineRow],
    alerts: Vec<Alert>,
) -> Timeline {
    let started_at = batch.started_at.unwrap_or(batch.created_at);
    let version_index: HashMap<VersionId, u32> = batch
        .versions
        .iter()
        .enumerate()
        .map(|(i, v)| (v.version_id, i as u32))
        .collect();
    let case_index: HashMap<CaseId, u32> = cases
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i as u32))
        .collect();
    let per_version = cases.len() as u64 * u64::from(batch.repeats.max(1));
    let entries = rows
        .iter()
        .filter_map(|r| {
            Some(TimelineEntry {
                version: *version_index.get(&r.version_id)?,
                case: *case_index.get(&r.case_id)?,
                status: r.status,
                score: r.score,
                finish_ms: u64::try_from(r.finished_at - started_at).unwrap_or(0),
                duration_ms: r.latency_ms.and_then(|ms| u64::try_from(ms).ok()),
            })
        })
        .collect();
    let end = batch.finished_at.unwrap_or(started_at);
    Timeline {
        batch_id: batch.id,
        batch_name: batch.name.clone(),
        status: batch.status,
        error_message: batch.error_message.clone(),
        repeats: batch.repeats.max(1),
        started_at,
        duration_ms: u64::try_from(end - started_at).unwrap_or(0),
        versions: batch
            .versions
            .iter()
            .map(|v| TimelineVersion {
                version_id: v.version_id,
                name: v.name.clone(),
                total_tests: per_version,
            })
            .collect(),
        cases: cases.into_iter().map(|(_, name)| name).collect(),
        tests: TimelineTests::pack(entries),
        alerts,
    }
}
