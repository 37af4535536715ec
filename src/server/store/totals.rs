//! A run's totals (one version within one batch): tokens and cost summed, latency and time to
//! first token as p50 / p95, errors counted by code — over every stored result of the run.
//!
//! Sums and counts are SQL aggregates, grouped by version and currency: amounts in different
//! currencies are kept apart, never added. Percentiles are not: SQLite has no
//! `percentile_cont`, and one definition on both backends matters more than pushing the work
//! down. So the same pass over the batch's rows also hands back each group's latencies and
//! times to first token as one comma-separated list (`string_agg`: SQLite ≥ 3.44, which sqlx
//! bundles, and PostgreSQL), and each run's values go through [`stats::percentiles`] — type 7,
//! the numbers the compare page shows for the same run. A list per group rather than a row per
//! result: on a 100,000-result batch the lists add 10–20 ms to the scan, where a row per result
//! costs 150–300 ms more through sqlx's SQLite driver (BENCHMARKS.md, d3).

use super::{on_pool, Store, StoreError, StoreResult};
use crate::model::{BatchId, BatchVersion, CurrencyTotal, ErrorCount, RunTotals, VersionId};
use crate::server::compare::stats;
use std::collections::HashMap;

/// One (version, currency) group's sums and values. Tokens are summed in the same pass and
/// added across a version's currencies afterwards.
#[derive(sqlx::FromRow)]
struct SumRow {
    version_id: i64,
    currency: Option<String>,
    results: i64,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    total_tokens: Option<i64>,
    price: Option<f64>,
    priced: i64,
    /// `812,1033,…`; None when no result of the group has one.
    latencies: Option<String>,
    ttfts: Option<String>,
}

// PostgreSQL's SUM of a BIGINT is a NUMERIC: cast back so that both backends decode an i64.
/// Per (version, currency): sums and the latency / ttft value lists (public for `benches/totals`).
pub const SUMS: &str = "SELECT version_id, currency, COUNT(*) AS results, \
     CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens, \
     CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens, \
     CAST(SUM(total_tokens) AS BIGINT) AS total_tokens, \
     SUM(total_price) AS price, COUNT(total_price) AS priced, \
     string_agg(CAST(latency_ms AS TEXT), ',') AS latencies, \
     string_agg(CAST(ttft_ms AS TEXT), ',') AS ttfts \
     FROM results WHERE batch_id = $1 GROUP BY version_id, currency";

/// Per (version, error code): how many errors (public for `benches/totals`).
pub const ERRORS: &str = "SELECT version_id, error_code, COUNT(*) FROM results \
     WHERE batch_id = $1 AND status = 'error' GROUP BY version_id, error_code";

/// A run's values, gathered before its percentiles are taken.
#[derive(Default)]
struct Times {
    latency: Vec<f64>,
    ttft: Vec<f64>,
}

/// Appends the values of a `string_agg` list.
fn extend(values: &mut Vec<f64>, list: Option<&str>, what: &str) -> StoreResult<()> {
    for item in list.into_iter().flat_map(|l| l.split(',')) {
        let ms: i64 = item
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("{what} `{item}`")))?;
        values.push(ms as f64);
    }
    Ok(())
}

fn add(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    }
}

impl Store {
    /// The totals of every run of a batch, one per version in `versions`' order (a version
    /// with no result yet gets [`RunTotals::empty`]).
    pub async fn run_totals(
        &self,
        batch: BatchId,
        versions: &[BatchVersion],
    ) -> StoreResult<Vec<RunTotals>> {
        let mut totals: Vec<RunTotals> = versions
            .iter()
            .map(|v| RunTotals::empty(v.version_id))
            .collect();
        let at: HashMap<VersionId, usize> = versions
            .iter()
            .enumerate()
            .map(|(i, v)| (v.version_id, i))
            .collect();
        let run = |id: i64| at.get(&VersionId(id)).copied();

        let mut times: Vec<Times> = versions.iter().map(|_| Times::default()).collect();
        let sums: Vec<SumRow> =
            on_pool!(self, pool => sqlx::query_as(SUMS).bind(batch.0).fetch_all(pool).await)?;
        for row in sums {
            let Some(i) = run(row.version_id) else {
                continue;
            };
            extend(&mut times[i].latency, row.latencies.as_deref(), "latency")?;
            extend(
                &mut times[i].ttft,
                row.ttfts.as_deref(),
                "time to first token",
            )?;
            let t = &mut totals[i];
            t.results += row.results;
            t.prompt_tokens = add(t.prompt_tokens, row.prompt_tokens);
            t.completion_tokens = add(t.completion_tokens, row.completion_tokens);
            t.total_tokens = add(t.total_tokens, row.total_tokens);
            if let (Some(amount), true) = (row.price, row.priced > 0) {
                t.cost.push(CurrencyTotal {
                    currency: row.currency,
                    amount,
                    results: row.priced,
                });
            }
        }

        let errors: Vec<(i64, Option<String>, i64)> =
            on_pool!(self, pool => sqlx::query_as(ERRORS).bind(batch.0).fetch_all(pool).await)?;
        for (version, code, count) in errors {
            if let Some(i) = run(version) {
                totals[i].errors.push(ErrorCount { code, count });
            }
        }

        for (t, mut values) in totals.iter_mut().zip(times) {
            t.latency_ms = stats::percentiles(&mut values.latency);
            t.ttft_ms = stats::percentiles(&mut values.ttft);
            // Named currencies by name, then a price without one (the backends order NULLs
            // differently, so the order is set here).
            t.cost.sort_by(|a, b| {
                (a.currency.is_none(), &a.currency).cmp(&(b.currency.is_none(), &b.currency))
            });
            t.errors
                .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
        }
        Ok(totals)
    }
}
