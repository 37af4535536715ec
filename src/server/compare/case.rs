//! One case of a comparison opened (`compare_case`): each run's snapshot of the case, every
//! result the case has in each run (one per repetition), and the word-level diff of their first
//! repetitions' answers
//! ([`crate::model::diff`]), computed here so that the browser only renders it.
//!
//! It reads; it does not classify (that is [`super::view`]'s table) and holds no statistics.

use super::view::{label, CompareError};
use crate::model::compare::{CompareCaseView, CompareSide};
use crate::model::{diff, CaseId, TestResult};
use crate::server::offload;
use crate::server::store::{RunRef, Store, StoreResult};

pub async fn case(
    store: &Store,
    a: RunRef,
    b: RunRef,
    case_id: CaseId,
) -> Result<CompareCaseView, CompareError> {
    // Both runs exist, or the error names the missing one.
    label(store, a).await?;
    label(store, b).await?;
    let (a_side, b_side) = (
        side(store, a, case_id).await?,
        side(store, b, case_id).await?,
    );
    if a_side.case.is_none() && b_side.case.is_none() {
        return Err(CompareError::NoRun(format!(
            "case {case_id} is in neither run (batch {} version {}, batch {} version {})",
            a.batch, a.version, b.batch, b.version
        )));
    }
    let first_answer = |s: &CompareSide| s.results.first().and_then(|r| r.answer.clone());
    let diff = match (first_answer(&a_side), first_answer(&b_side)) {
        // Up to two 256 KiB answers: tens of milliseconds at worst (see `DIFF_WORD_BUDGET`).
        (Some(x), Some(y)) => Some(offload::cpu(move || diff::diff(&x, &y)).await?),
        _ => None,
    };
    Ok(CompareCaseView {
        case_id,
        a: a_side,
        b: b_side,
        diff,
    })
}

async fn side(store: &Store, run: RunRef, case_id: CaseId) -> StoreResult<CompareSide> {
    let case = store.batch_case(run.batch, case_id).await?;
    let results = if case.is_some() {
        repetitions(store, run, case_id).await?
    } else {
        Vec::new()
    };
    Ok(CompareSide { case, results })
}

/// Every result of a case in a run, one per repetition, in repetition order.
async fn repetitions(store: &Store, run: RunRef, case_id: CaseId) -> StoreResult<Vec<TestResult>> {
    store.test_results(run.batch, run.version, case_id).await
}
