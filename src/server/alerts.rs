//! Live alerts during a batch, per version: what a person watching would want to be told while
//! there is still time to act. Pure rules over the results as they are stored, each version
//! against its own history; each kind is raised at most once per version and batch.
//!
//! | kind | raised when |
//! |---|---|
//! | `error_spike` | more than half of the version's last [`ERROR_WINDOW`] tests ended in error |
//! | `timeout_streak` | [`TIMEOUT_STREAK`] tests in a row timed out |
//! | `slow_latency` | the p95 latency of its last [`LATENCY_WINDOW`] answers (at least [`LATENCY_MIN`]) is more than twice its p95 over earlier batches, and [`SLOW_MARGIN_MS`] above it |
//! | `pass_rate_drop` | after at least [`PASS_MIN`] tests, the upper end of the 95 % Wilson interval of its pass rate is below its previous run's pass rate (of at least [`PASS_MIN`] tests) |

use crate::model::{Alert, AlertKind, ResultStatus, TestResult, VersionId};
use crate::server::compare::stats::{quantile_sorted, wilson_interval};
use std::collections::{HashMap, VecDeque};

pub const ERROR_WINDOW: usize = 20;
pub const TIMEOUT_STREAK: u32 = 5;
pub const LATENCY_WINDOW: usize = 50;
pub const LATENCY_MIN: usize = 20;
pub const SLOW_MARGIN_MS: f64 = 500.0;
pub const PASS_MIN: u64 = 20;

/// What a version's earlier batches say is usual for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    /// p95 of its answered tests' latency over earlier batches (ms).
    pub latency_p95_ms: Option<f64>,
    /// Its previous run (the latest earlier batch that ran it): passed and completed tests.
    pub previous: Option<(u64, u64)>,
}

/// One version's watch.
#[derive(Debug, Clone, Default)]
pub struct VersionWatch {
    baseline: Baseline,
    /// The last tests: ended in error?
    recent: VecDeque<bool>,
    timeouts_in_row: u32,
    latencies: VecDeque<i64>,
    passed: u64,
    completed: u64,
    raised: Vec<AlertKind>,
}

impl VersionWatch {
    pub fn new(baseline: Baseline) -> VersionWatch {
        VersionWatch {
            baseline,
            ..VersionWatch::default()
        }
    }

    /// A result of the version was stored; the alerts it raises, each once.
    pub fn observe(
        &mut self,
        status: ResultStatus,
        error_code: Option<&str>,
        latency_ms: Option<i64>,
    ) -> Vec<(AlertKind, String)> {
        let errored = status == ResultStatus::Error;
        self.completed += 1;
        if status == ResultStatus::Passed {
            self.passed += 1;
        }
        self.recent.push_back(errored);
        if self.recent.len() > ERROR_WINDOW {
            self.recent.pop_front();
        }
        let timed_out = matches!(error_code, Some("timeout" | "idle_timeout"));
        self.timeouts_in_row = if timed_out {
            self.timeouts_in_row + 1
        } else {
            0
        };
        if let (false, Some(ms)) = (errored, latency_ms) {
            self.latencies.push_back(ms);
            if self.latencies.len() > LATENCY_WINDOW {
                self.latencies.pop_front();
            }
        }
        let mut out = Vec::new();
        let errors = self.recent.iter().filter(|&&e| e).count();
        if self.recent.len() == ERROR_WINDOW && errors * 2 > ERROR_WINDOW {
            out.push((
                AlertKind::ErrorSpike,
                format!("{errors} of its last {ERROR_WINDOW} tests ended in error"),
            ));
        }
        if self.timeouts_in_row >= TIMEOUT_STREAK {
            out.push((
                AlertKind::TimeoutStreak,
                format!("{} tests in a row timed out", self.timeouts_in_row),
            ));
        }
        if let Some(slow) = self.slow() {
            out.push((AlertKind::SlowLatency, slow));
        }
        if let Some(drop) = self.pass_drop() {
            out.push((AlertKind::PassRateDrop, drop));
        }
        out.retain(|(kind, _)| !self.raised.contains(kind));
        self.raised.extend(out.iter().map(|(k, _)| *k));
        out
    }

    fn slow(&self) -> Option<String> {
        let usual = self.baseline.latency_p95_ms?;
        if self.latencies.len() < LATENCY_MIN {
            return None;
        }
        let mut sorted: Vec<f64> = self.latencies.iter().map(|&ms| ms as f64).collect();
        sorted.sort_by(f64::total_cmp);
        let now = quantile_sorted(&sorted, 0.95)?;
        (now > 2.0 * usual && now - usual >= SLOW_MARGIN_MS).then(|| {
            format!(
                "p95 latency of its last {} answers is {:.0} ms, against {:.0} ms in its \
                 earlier batches",
                sorted.len(),
                now,
                usual
            )
        })
    }

    fn pass_drop(&self) -> Option<String> {
        let (prev_passed, prev_completed) = self.baseline.previous?;
        if self.completed < PASS_MIN || prev_completed < PASS_MIN {
            return None;
        }
        let before = prev_passed as f64 / prev_completed as f64;
        let now = wilson_interval(self.passed, self.completed, 0.95)?;
        (now.hi < before).then(|| {
            format!(
                "pass rate {:.0} % after {} tests (95 % interval up to {:.0} %), against {:.0} % \
                 in its previous run",
                self.passed as f64 * 100.0 / self.completed as f64,
                self.completed,
                now.hi * 100.0,
                before * 100.0
            )
        })
    }
}

/// Every version's watch of one batch run.
#[derive(Debug, Default)]
pub struct BatchWatch {
    versions: HashMap<VersionId, VersionWatch>,
}

impl BatchWatch {
    /// `already`: alerts the batch raised before (a resumed or re-run batch does not raise a
    /// kind again).
    pub fn new(baselines: HashMap<VersionId, Baseline>, already: &[Alert]) -> BatchWatch {
        let mut versions: HashMap<VersionId, VersionWatch> = baselines
            .into_iter()
            .map(|(v, b)| (v, VersionWatch::new(b)))
            .collect();
        for a in already {
            versions
                .entry(a.version_id)
                .or_default()
                .raised
                .push(a.kind);
        }
        BatchWatch { versions }
    }

    /// A stored result; the alerts it raises.
    pub fn observe(&mut self, r: &TestResult, now_ms: i64) -> Vec<Alert> {
        let watch = self.versions.entry(r.version_id).or_default();
        watch
            .observe(r.status, r.error_code.as_deref(), r.latency_ms)
            .into_iter()
            .map(|(kind, message)| Alert {
                kind,
                version_id: r.version_id,
                message,
                since: now_ms,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResultStatus::{Error, Failed, Passed};

    fn feed(
        w: &mut VersionWatch,
        n: usize,
        status: ResultStatus,
        code: Option<&str>,
        ms: i64,
    ) -> Vec<AlertKind> {
        (0..n)
            .flat_map(|_| w.observe(status, code, (status != Error).then_some(ms)))
            .map(|(k, _)| k)
            .collect()
    }

    #[test]
    fn an_error_spike_is_most_of_the_last_twenty_and_is_raised_once() {
        let mut w = VersionWatch::default();
        assert!(feed(&mut w, 20, Passed, None, 100).is_empty());
        // 10 errors of the last 20: half is not most.
        assert!(feed(&mut w, 10, Error, Some("internal_server_error"), 0).is_empty());
        assert_eq!(
            feed(&mut w, 1, Error, Some("internal_server_error"), 0),
            [AlertKind::ErrorSpike]
        );
        assert!(feed(&mut w, 20, Error, Some("internal_server_error"), 0).is_empty());
    }

    #[test]
    fn five_timeouts_in_a_row_make_a_streak() {
        let mut w = VersionWatch::default();
        assert!(feed(&mut w, 4, Error, Some("timeout"), 0).is_empty());
        assert!(feed(&mut w, 1, Passed, None, 100).is_empty());
        assert!(feed(&mut w, 4, Error, Some("idle_timeout"), 0).is_empty());
        assert_eq!(
            feed(&mut w, 1, Error, Some("timeout"), 0),
            [AlertKind::TimeoutStreak]
        );
    }

    #[test]
    fn slow_is_twice_the_usual_p95_and_half_a_second_above_it() {
        let usual = Baseline {
            latency_p95_ms: Some(400.0),
            previous: None,
        };
        let mut w = VersionWatch::new(usual.clone());
        assert!(
            feed(&mut w, 50, Passed, None, 790).is_empty(),
            "under twice"
        );
        let mut w = VersionWatch::new(Baseline {
            latency_p95_ms: Some(100.0),
            ..usual.clone()
        });
        assert!(
            feed(&mut w, 50, Passed, None, 550).is_empty(),
            "5.5× but only +450 ms"
        );
        let mut w = VersionWatch::new(usual);
        assert!(
            feed(&mut w, 19, Passed, None, 2000).is_empty(),
            "too few answers yet"
        );
        assert_eq!(
            feed(&mut w, 1, Passed, None, 2000),
            [AlertKind::SlowLatency]
        );
        // Without a history nothing is "slower than usual".
        let mut w = VersionWatch::default();
        assert!(feed(&mut w, 50, Passed, None, 60_000).is_empty());
    }

    #[test]
    fn a_pass_rate_drop_needs_the_interval_clearly_below_the_previous_run() {
        // Previous run: 90 of 100 passed.
        let prev = Baseline {
            latency_p95_ms: None,
            previous: Some((90, 100)),
        };
        // 20 tests, 14 passed (70 %): Wilson 95 % upper bound 85.5 % < 90 % → raised.
        let mut w = VersionWatch::new(prev.clone());
        let mut kinds = feed(&mut w, 14, Passed, None, 100);
        kinds.extend(feed(&mut w, 6, Failed, None, 100));
        assert_eq!(kinds, [AlertKind::PassRateDrop]);
        // 20 tests, 16 passed (80 %): upper bound 91.9 % ≥ 90 % → not clearly below.
        let mut w = VersionWatch::new(prev.clone());
        let mut kinds = feed(&mut w, 16, Passed, None, 100);
        kinds.extend(feed(&mut w, 4, Failed, None, 100));
        assert!(kinds.is_empty(), "{kinds:?}");
        // Fewer than 20 tests in the previous run: no comparison.
        let mut w = VersionWatch::new(Baseline {
            previous: Some((19, 19)),
            ..prev
        });
        assert!(feed(&mut w, 30, Failed, None, 100).is_empty());
    }

    #[test]
    fn a_batch_does_not_raise_again_what_it_raised_before_a_resume() {
        let v = VersionId(3);
        let before = Alert {
            kind: AlertKind::TimeoutStreak,
            version_id: v,
            message: String::new(),
            since: 1,
        };
        let mut b = BatchWatch::new(HashMap::new(), &[before]);
        let r = TestResult {
            batch_id: crate::model::BatchId(1),
            version_id: v,
            case_id: crate::model::CaseId(1),
            repetition: 0,
            status: Error,
            score: None,
            answer: None,
            latency_ms: None,
            ttft_ms: None,
            usage: Default::default(),
            dify: Default::default(),
            error_code: Some("timeout".into()),
            error_message: None,
            attempts: 1,
            detail: Default::default(),
            finished_at: 0,
            trace: None,
            turns: Default::default(),
        };
        for _ in 0..10 {
            assert!(b.observe(&r, 5).is_empty());
        }
    }
}
