//! What one run (a version within a batch) used and took: its token and cost sums, its latency
//! and time-to-first-token percentiles, and its errors by code. Computed by the store
//! (`Store::run_totals`) over every stored result of the run; shown on the batch page's
//! per-version cards and in `dify-bench run`'s summary and `--json` report.

use super::compare::Percentiles;
use super::VersionId;
use serde::{Deserialize, Serialize};

/// One run's totals. Sums and percentiles cover the results that reported the value: an error
/// has no latency and usually no usage, a blocking call has no time to first token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTotals {
    pub version_id: VersionId,
    /// Results of the run so far (finished in any way).
    pub results: i64,
    /// Sums of the tokens Dify reported; None when no result reported any.
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    /// What the run cost, one sum per currency (by currency name; a price reported without a
    /// currency last): amounts in different currencies are never added. Empty when no result
    /// reported a price.
    pub cost: Vec<CurrencyTotal>,
    /// p50 / p95 of the latency of every result that has one (type 7, as the compare page).
    pub latency_ms: Option<Percentiles>,
    /// p50 / p95 of the time to first token; None for a blocking version (no result has one).
    pub ttft_ms: Option<Percentiles>,
    /// Errors by their code (Dify's `code`, or ours: `timeout`, `connection_error`, …), the
    /// most frequent first, then by code.
    pub errors: Vec<ErrorCount>,
}

impl RunTotals {
    /// The totals of a run with no result yet.
    pub fn empty(version_id: VersionId) -> RunTotals {
        RunTotals {
            version_id,
            results: 0,
            prompt_tokens: None,
            completion_tokens: None,
            total_tokens: None,
            cost: Vec::new(),
            latency_ms: None,
            ttft_ms: None,
            errors: Vec::new(),
        }
    }
}

/// The summed price of a run's results in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrencyTotal {
    /// As Dify reported it (`USD`, `RMB`, …); None for prices reported without one.
    pub currency: Option<String>,
    pub amount: f64,
    /// Results whose price is in this sum.
    pub results: i64,
}

/// How many of a run's results ended with one error code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// None for an error recorded without a code.
    pub code: Option<String>,
    pub count: i64,
}
