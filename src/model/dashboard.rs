//! The trends dashboard (`/dashboard`) and the batch history (`/batches`): what the server
//! functions `dashboard` and `batch_history` return, and the UTC calendar days both take as a
//! date range. Plain data and pure functions, shared by the server and the WASM client.

use super::{Batch, BatchId, BatchStatus, ErrorCount, VersionId};
use serde::{Deserialize, Serialize};

/// At most this many versions are charted at once (more lines than this are unreadable).
pub const MAX_DASHBOARD_VERSIONS: usize = 12;
/// The newest batches of a date range the dashboard charts by default, and at most.
pub const DASHBOARD_BATCHES: u32 = 200;
pub const MAX_DASHBOARD_BATCHES: u32 = 1000;
/// Batches per page of the history.
pub const HISTORY_PAGE_SIZE: u64 = 20;

/// One version's figures in one batch (a point on every chart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPoint {
    pub batch_id: BatchId,
    pub batch_name: String,
    pub batch_status: BatchStatus,
    /// When the batch was created (ms since the epoch).
    pub at: i64,
    pub version_id: VersionId,
    /// Results stored (finished in any way), passed, errored.
    pub results: i64,
    pub passed: i64,
    pub errored: i64,
    /// passed / results × 100; None without results.
    pub pass_rate: Option<f64>,
    /// Mean score over the answered tests.
    pub mean_score: Option<f64>,
    /// Mean LLM-judge score where a judge ran.
    pub judge_score: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    /// Average test time: the mean latency of the tests that have one.
    pub mean_latency_ms: Option<f64>,
    /// Total tokens per test that reported usage.
    pub tokens_per_test: Option<f64>,
    /// Price per priced test, in `currency` (the run's most used currency; never a sum of
    /// different currencies).
    pub cost_per_test: Option<f64>,
    pub currency: Option<String>,
    /// Errors by code, the most frequent first.
    pub errors: Vec<ErrorCount>,
}

impl RunPoint {
    /// errored / results × 100; None without results.
    pub fn error_rate(&self) -> Option<f64> {
        rate(self.errored, self.results)
    }

    /// One error code's share of the results, in percent.
    pub fn code_rate(&self, count: i64) -> Option<f64> {
        rate(count, self.results)
    }
}

fn rate(n: i64, of: i64) -> Option<f64> {
    (of > 0).then(|| n as f64 * 100.0 / of as f64)
}

/// A version that can be charted (it ran in at least one batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardVersion {
    pub version_id: VersionId,
    pub name: String,
}

/// What the dashboard shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardView {
    /// Every version that ran in a batch (the picker), by name.
    pub versions: Vec<DashboardVersion>,
    /// The versions charted (the ones asked for, or by default the newest batch's).
    pub selected: Vec<VersionId>,
    /// Oldest batch first, then in the batch's version order.
    pub points: Vec<RunPoint>,
    /// More batches matched than were charted (the newest `limit` are).
    pub truncated: bool,
}

/// One page of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub batches: Vec<Batch>,
    /// Batches matching the filters, on every page.
    pub total: u64,
    /// 0-based; past the end → the last page.
    pub page: u64,
    pub pages: u64,
    pub page_size: u64,
    /// Everyone who started a batch (the "started by" filter's choices).
    pub starters: Vec<String>,
    /// Every version that ran in a batch (the version filter's choices).
    pub versions: Vec<DashboardVersion>,
}

/// The history's filters (every one optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryFilter {
    pub version_id: Option<VersionId>,
    pub status: Option<BatchStatus>,
    /// Created at or after this instant (ms), before `to` (ms).
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub created_by: Option<String>,
    /// A part of the name, any case.
    pub search: Option<String>,
}

const DAY_MS: i64 = 86_400_000;

/// A calendar day `YYYY-MM-DD` (UTC) as the instant it starts, in ms since the epoch; None when
/// it is not a real date.
pub fn day_start_ms(day: &str) -> Option<i64> {
    let mut parts = day.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d) * DAY_MS)
}

/// A `from` / `to` pair of days as a half-open range of instants: from the start of `from` to the
/// end of `to` (both inclusive). An unreadable day is an error naming it; `to` before `from` too.
pub fn day_range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<i64>, Option<i64>), String> {
    let parse = |field: &str, v: Option<&str>| -> Result<Option<i64>, String> {
        match v.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => day_start_ms(s)
                .map(Some)
                .ok_or_else(|| format!("`{field}` must be a date as YYYY-MM-DD, got `{s}`")),
        }
    };
    let from = parse("from", from)?;
    let to = parse("to", to)?.map(|t| t + DAY_MS);
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            return Err("`to` is before `from`".into());
        }
    }
    Ok((from, to))
}

/// `YYYY-MM-DD` (UTC) of an instant.
pub fn day_of_ms(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, day 0 = 1970-01-01).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_read_as_utc_and_ranges_include_the_last_day() {
        assert_eq!(day_start_ms("1970-01-01"), Some(0));
        assert_eq!(day_start_ms("2026-12-02"), Some(1_796_169_600_000));
        assert_eq!(day_of_ms(1_796_169_600_000 + 5_000), "2026-12-02");
        assert_eq!(
            day_start_ms("2024-02-29").map(day_of_ms).as_deref(),
            Some("2024-02-29")
        );
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "yesterday",
            "2026-1",
            "",
        ] {
            assert_eq!(day_start_ms(bad), None, "{bad}");
        }
        let (f, t) = day_range(Some("2026-12-01"), Some("2026-12-01")).unwrap();
        assert_eq!(t.unwrap() - f.unwrap(), DAY_MS);
        assert_eq!(day_range(None, Some(" ")).unwrap(), (None, None));
        let e = day_range(Some("2026-12-02"), Some("2026-12-01")).unwrap_err();
        assert!(e.contains("before"), "{e}");
        let e = day_range(Some("12/01/2026"), None).unwrap_err();
        assert!(e.contains("`from`") && e.contains("12/01/2026"), "{e}");
    }

    #[test]
    fn rates_need_results() {
        let p = RunPoint {
            batch_id: BatchId(1),
            batch_name: "b".into(),
            batch_status: BatchStatus::Completed,
            at: 0,
            version_id: VersionId(1),
            results: 0,
            passed: 0,
            errored: 0,
            pass_rate: None,
            mean_score: None,
            judge_score: None,
            latency_p50_ms: None,
            latency_p95_ms: None,
            ttft_p50_ms: None,
            ttft_p95_ms: None,
            mean_latency_ms: None,
            tokens_per_test: None,
            cost_per_test: None,
            currency: None,
            errors: Vec::new(),
        };
        assert_eq!(p.error_rate(), None);
        let p = RunPoint {
            results: 8,
            errored: 2,
            ..p
        };
        assert_eq!(p.error_rate(), Some(25.0));
        assert_eq!(p.code_rate(1), Some(12.5));
    }
}
