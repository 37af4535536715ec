//! The runner's server-wide caps: how many batches run at once, how many Dify calls are in flight
//! across all of them, and how many tests one batch may hold. Their defaults, their names (the
//! `serve` flag and variable each one is set by, so a refusal can say how to change it), and the
//! pure checks that refuse a launch before anything is written.
//!
//! It does not enforce the in-flight cap itself: that is the runner's semaphore, which every
//! batch's and every version's own limit sits under.

use super::gate::GateConfig;

/// Batches one server runs at once (started or re-run; resumed ones count but are never refused).
pub const DEFAULT_MAX_RUNNING_BATCHES: usize = 8;
/// Dify calls in flight at once across every batch of a server. A batch's `concurrency` and
/// `per_version_cap` apply under it: ten batches at concurrency 100 share these. High enough that
/// one batch at the concurrencies the benchmarks run (100; the 100,000-test scale run, 400) is
/// never held back by it; low enough that eight such batches cannot open thousands of sockets.
pub const DEFAULT_MAX_CALLS_IN_FLIGHT: usize = 512;
/// Versions × cases of one batch. 100,000 is the size the benchmarks run (100 × 1,000): the
/// batch page, exports and resume are measured there, not beyond.
pub const DEFAULT_MAX_TESTS_PER_BATCH: u64 = 100_000;

/// The caps one engine runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineLimits {
    pub max_running_batches: usize,
    pub max_calls_in_flight: usize,
    pub max_tests_per_batch: u64,
    /// Every version's circuit breaker and adaptive concurrency.
    pub gate: GateConfig,
}

impl Default for EngineLimits {
    fn default() -> EngineLimits {
        EngineLimits {
            max_running_batches: DEFAULT_MAX_RUNNING_BATCHES,
            max_calls_in_flight: DEFAULT_MAX_CALLS_IN_FLIGHT,
            max_tests_per_batch: DEFAULT_MAX_TESTS_PER_BATCH,
            gate: GateConfig::default(),
        }
    }
}

/// Each limit's flag and variable, as messages name them.
pub const RUNNING_BATCHES_SETTING: &str = "--max-running-batches / DIFY_BENCH_MAX_RUNNING_BATCHES";
pub const CALLS_IN_FLIGHT_SETTING: &str = "--max-calls-in-flight / DIFY_BENCH_MAX_CALLS_IN_FLIGHT";
pub const TESTS_PER_BATCH_SETTING: &str = "--max-tests-per-batch / DIFY_BENCH_MAX_TESTS_PER_BATCH";
pub const BREAKER_PROBES_SETTING: &str = "--breaker-probes / DIFY_BENCH_BREAKER_PROBES";
pub const BREAKER_COOLDOWN_SETTING: &str = "--breaker-cooldown-ms / DIFY_BENCH_BREAKER_COOLDOWN_MS";
/// An open circuit probes at least once an hour.
const MAX_BREAKER_COOLDOWN: std::time::Duration = std::time::Duration::from_secs(3600);

/// The semaphore's ceiling (tokio's own is `usize::MAX >> 3`); far above any useful setting.
const MAX_SETTING: u64 = 1 << 40;

impl EngineLimits {
    /// For a process that runs one batch (the headless `run`, the benchmarks): nothing to share,
    /// so the batch's own concurrency is the only limit.
    pub fn single_batch() -> EngineLimits {
        EngineLimits {
            max_calls_in_flight: crate::model::MAX_CONCURRENCY as usize,
            ..EngineLimits::default()
        }
    }

    /// Refuses a setting that could never run anything (0) or that the runner cannot hold.
    pub fn validate(&self) -> Result<(), String> {
        for (value, setting) in [
            (self.max_running_batches as u64, RUNNING_BATCHES_SETTING),
            (self.max_calls_in_flight as u64, CALLS_IN_FLIGHT_SETTING),
            (self.max_tests_per_batch, TESTS_PER_BATCH_SETTING),
        ] {
            if value == 0 {
                return Err(format!("{setting} must be at least 1"));
            }
            if value > MAX_SETTING {
                return Err(format!("{setting} must be at most {MAX_SETTING}"));
            }
        }
        if self.gate.breaker_probes == 0 {
            return Err(format!("{BREAKER_PROBES_SETTING} must be at least 1"));
        }
        if self.gate.breaker_cooldown > MAX_BREAKER_COOLDOWN {
            return Err(format!(
                "{BREAKER_COOLDOWN_SETTING} must be at most {} (one hour)",
                MAX_BREAKER_COOLDOWN.as_millis()
            ));
        }
        Ok(())
    }

    /// A batch of `versions` × `cases` × `repeats` tests, or why it is too large.
    pub fn check_batch_size(
        &self,
        versions: usize,
        cases: usize,
        repeats: u32,
    ) -> Result<u64, String> {
        let tests = (versions as u64)
            .saturating_mul(cases as u64)
            .saturating_mul(u64::from(repeats));
        if tests > self.max_tests_per_batch {
            let repeats_part = if repeats > 1 {
                format!(" × {repeats} repeats")
            } else {
                String::new()
            };
            return Err(format!(
                "{versions} versions × {cases} cases{repeats_part} = {tests} tests, more than \
                 the {} tests a batch may hold on this server ({TESTS_PER_BATCH_SETTING}); \
                 select fewer versions or cases (or repeats), or split the run into several \
                 batches",
                self.max_tests_per_batch
            ));
        }
        Ok(tests)
    }

    /// Why one more batch cannot start while `running` run here.
    pub fn running_batches_refusal(&self, running: usize) -> Option<String> {
        (running >= self.max_running_batches).then(|| {
            format!(
                "{running} batches are running, the most this server runs at once \
                 ({RUNNING_BATCHES_SETTING} = {}); wait for one to end or cancel one, then \
                 start again",
                self.max_running_batches
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_hold_and_zero_is_refused_by_name() {
        assert_eq!(EngineLimits::default().validate(), Ok(()));
        let zero = EngineLimits {
            max_calls_in_flight: 0,
            ..EngineLimits::default()
        };
        let err = zero.validate().unwrap_err();
        assert!(err.contains("--max-calls-in-flight"), "{err}");
        let huge = EngineLimits {
            max_tests_per_batch: u64::MAX,
            ..EngineLimits::default()
        };
        assert!(huge.validate().unwrap_err().contains("at most"));
        let no_probe = EngineLimits {
            gate: GateConfig {
                breaker_probes: 0,
                ..GateConfig::default()
            },
            ..EngineLimits::default()
        };
        assert!(no_probe
            .validate()
            .unwrap_err()
            .contains("--breaker-probes"));
    }

    #[test]
    fn a_batch_at_the_limit_runs_and_one_test_more_is_refused() {
        let limits = EngineLimits {
            max_tests_per_batch: 20,
            ..EngineLimits::default()
        };
        assert_eq!(limits.check_batch_size(2, 10, 1), Ok(20));
        let err = limits.check_batch_size(3, 7, 1).unwrap_err();
        assert!(err.starts_with("3 versions × 7 cases = 21 tests"), "{err}");
        assert!(err.contains("--max-tests-per-batch"), "{err}");
        // Repeats count: 2 × 5 × 2 = 20 fits, × 3 does not.
        assert_eq!(limits.check_batch_size(2, 5, 2), Ok(20));
        let err = limits.check_batch_size(2, 5, 3).unwrap_err();
        assert!(
            err.starts_with("2 versions × 5 cases × 3 repeats = 30 tests"),
            "{err}"
        );
        // No overflow, whatever the counts.
        assert!(limits
            .check_batch_size(usize::MAX, usize::MAX, u32::MAX)
            .is_err());
    }

    #[test]
    fn the_running_cap_refuses_only_when_full() {
        let limits = EngineLimits {
            max_running_batches: 2,
            ..EngineLimits::default()
        };
        assert_eq!(limits.running_batches_refusal(1), None);
        let err = limits.running_batches_refusal(2).unwrap_or_default();
        assert!(err.contains("--max-running-batches"), "{err}");
        assert!(err.contains("= 2"), "{err}");
    }
}
