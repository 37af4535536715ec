//! The compare page's data: loads two runs from the store, turns their outcomes into
//! [`CasePair`]s (a changed or one-sided case stays out of the statistics), runs
//! [`verdict::compare`], and pages the case table — regressions first, then improvements,
//! inconclusive, changed and unchanged cases, each by score change (worst first), then case id.
//! [`assemble`] is that second half alone, for runs paired elsewhere (the CI gate's reports).

use super::verdict::{self, CasePair, RepeatMetrics, SideOutcome};
use crate::model::compare::{CaseClass, CompareRow, CompareView, RunLabel, SidePair};
use crate::model::{CaseId, ResultStatus};
use crate::server::store::{RunOutcome, RunRef, Side, Store, StoreError};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A named run does not exist, or a named case is in neither run (with a message saying
    /// which).
    #[error("{0}")]
    NoRun(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Work for the blocking pool could not run (the server is shutting down).
    #[error(transparent)]
    Unavailable(#[from] crate::server::offload::OffloadError),
}

/// One run's side of a case: its finished repetitions (one in a batch without repeats). An
/// errored repetition counts in `total`, as not passed, and has no score.
fn side(outcomes: &[RunOutcome]) -> SideOutcome {
    SideOutcome::of_repeats(outcomes.iter().map(|o| {
        let metrics = RepeatMetrics {
            latency_ms: o.latency_ms,
            ttft_ms: o.ttft_ms,
            tokens: o.total_tokens,
            cost: o.total_price,
        };
        (o.status == ResultStatus::Passed, o.score, metrics)
    }))
}

pub(super) async fn label(store: &Store, run: RunRef) -> Result<RunLabel, CompareError> {
    let batch = store
        .get_batch(run.batch)
        .await?
        .ok_or_else(|| CompareError::NoRun(format!("batch {} does not exist", run.batch)))?;
    let version = batch
        .versions
        .iter()
        .find(|v| v.version_id == run.version)
        .ok_or_else(|| {
            CompareError::NoRun(format!(
                "version {} did not run in batch {} (`{}`)",
                run.version, run.batch, batch.name
            ))
        })?;
    Ok(RunLabel {
        batch_id: batch.id,
        batch_name: batch.name.clone(),
        version_id: version.version_id,
        version_name: version.name.clone(),
        started_at: batch.started_at,
    })
}

pub async fn view(
    store: &Store,
    a: RunRef,
    b: RunRef,
    class: Option<CaseClass>,
    page: u64,
    page_size: u64,
) -> Result<CompareView, CompareError> {
    let (label_a, label_b) = (label(store, a).await?, label(store, b).await?);
    let paired = store.paired_cases(a, b).await?;
    let mut names = HashMap::with_capacity(paired.len());
    let mut pairs = Vec::with_capacity(paired.len());
    let (mut only_in_a, mut only_in_b) = (0u64, 0u64);
    for p in &paired {
        match p.only_in {
            Some(Side::A) => only_in_a += 1,
            Some(Side::B) => only_in_b += 1,
            None => {
                names.insert(p.case_id, p.name.clone());
                pairs.push(CasePair {
                    case_id: p.case_id,
                    a: side(&p.a),
                    b: side(&p.b),
                    changed: p.changed,
                });
            }
        }
    }
    let mut view = assemble(
        label_a,
        label_b,
        &pairs,
        &names,
        (only_in_a, only_in_b),
        class,
        page,
        page_size,
    );
    let (ia, ib) = (
        store.app_identities(a.batch).await?.remove(&a.version),
        store.app_identities(b.batch).await?.remove(&b.version),
    );
    if let (Some(ia), Some(ib)) = (&ia, &ib) {
        view.app_changes = crate::model::identity::app_changes(ia, ib);
    }
    view.identity = SidePair { a: ia, b: ib };
    Ok(view)
}

/// The pure half of [`view`], for any two runs whose cases are already paired (the CI gate pairs
/// a report's cases by name): runs the verdict over every pair, then orders the case table —
/// regressions first, then improvements, inconclusive, changed and unchanged cases, each by
/// score change (worst first), then case id — keeps `class` (None: every class) and cuts page
/// `page` (0-based; past the end → the last page). `names` gives each case id its name;
/// `only_in` counts the cases of one run only.
#[allow(clippy::too_many_arguments)]
pub fn assemble(
    a: RunLabel,
    b: RunLabel,
    pairs: &[CasePair],
    names: &HashMap<CaseId, String>,
    only_in: (u64, u64),
    class: Option<CaseClass>,
    page: u64,
    page_size: u64,
) -> CompareView {
    let comparison = verdict::compare(pairs);
    let mut rows: Vec<_> = comparison
        .cases
        .into_iter()
        .filter(|c| class.is_none_or(|k| c.class == k))
        .collect();
    rows.sort_by(|x, y| {
        x.class
            .rank()
            .cmp(&y.class.rank())
            .then_with(|| {
                let dx = x.score.delta.unwrap_or(0.0);
                let dy = y.score.delta.unwrap_or(0.0);
                dx.total_cmp(&dy)
            })
            .then_with(|| x.case_id.cmp(&y.case_id))
    });
    let page_size = page_size.max(1);
    let total_rows = rows.len() as u64;
    let pages = total_rows.div_ceil(page_size).max(1);
    let page = page.min(pages - 1);
    let start = (page * page_size) as usize;
    let rows = rows
        .into_iter()
        .skip(start)
        .take(page_size as usize)
        .map(|case| CompareRow {
            name: names.get(&case.case_id).cloned().unwrap_or_default(),
            case,
        })
        .collect();
    CompareView {
        a,
        b,
        summary: comparison.summary,
        class,
        total_rows,
        page,
        pages,
        page_size,
        rows,
        only_in_a: only_in.0,
        only_in_b: only_in.1,
        identity: Default::default(),
        app_changes: Vec::new(),
    }
}
