//! Prometheus metrics at `GET /metrics` (text format 0.0.4), for `serve`: what the runner did
//! since the process started, and a few gauges read at scrape time. Recorded through the
//! `metrics` facade; without a recorder installed (the headless `run`, the benchmarks, unit
//! tests) every call below is a no-op.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `dify_bench_running_batches` | gauge | |
//! | `dify_bench_sse_watchers` | gauge | |
//! | `dify_bench_tests_finished_total` | counter | `status` (`passed`, `failed`, `error`) |
//! | `dify_bench_test_errors_total` | counter | `code` (Dify's or ours, e.g. `timeout`, `circuit_open`) |
//! | `dify_bench_dify_call_duration_seconds` | histogram | `version` (its id) |
//! | `dify_bench_retries_total` | counter | |
//! | `dify_bench_throttles_total` | counter | `version` |
//! | `dify_bench_open_circuits` | gauge | |
//!
//! Error codes are a bounded set (Dify's codes and ours); versions are the ones a team keeps.

use crate::model::{ResultStatus, TestResult, VersionId};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets, seconds: from a cached answer to a long agent run.
const CALL_BUCKETS: &[f64] = &[
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Installs the process's recorder (once; later calls return the same handle). None when
/// another recorder was installed first, which leaves `/metrics` empty rather than failing.
pub fn install() -> Option<&'static PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Some(handle);
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("dify_bench_dify_call_duration_seconds".into()),
            CALL_BUCKETS,
        )
        .ok()?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).ok()?;
    describe();
    Some(HANDLE.get_or_init(|| handle))
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(
        "dify_bench_running_batches",
        "Batches this instance runs now."
    );
    describe_gauge!(
        "dify_bench_sse_watchers",
        "Progress streams open on this instance."
    );
    describe_counter!(
        "dify_bench_tests_finished_total",
        "Tests whose result this instance stored, by status."
    );
    describe_counter!(
        "dify_bench_test_errors_total",
        "Tests that ended in error, by error code."
    );
    describe_histogram!(
        "dify_bench_dify_call_duration_seconds",
        Unit::Seconds,
        "Latency of answered Dify calls (send to end of the answer), by version id."
    );
    describe_counter!(
        "dify_bench_retries_total",
        "HTTP attempts beyond the first, over every stored test."
    );
    describe_counter!(
        "dify_bench_throttles_total",
        "Calls Dify throttled (429 too_many_requests, 503) that went back to wait, by version id."
    );
    describe_gauge!(
        "dify_bench_open_circuits",
        "Versions of running batches whose circuit breaker is open or half-open."
    );
}

/// The text a scrape gets, with the gauges read now.
pub fn render(running_batches: usize, sse_watchers: usize) -> String {
    let Some(handle) = HANDLE.get() else {
        return String::new();
    };
    metrics::gauge!("dify_bench_running_batches").set(running_batches as f64);
    metrics::gauge!("dify_bench_sse_watchers").set(sse_watchers as f64);
    handle.render()
}

/// A result was stored.
pub fn result_stored(r: &TestResult) {
    let status = match r.status {
        ResultStatus::Passed => "passed",
        ResultStatus::Failed => "failed",
        ResultStatus::Error => "error",
    };
    metrics::counter!("dify_bench_tests_finished_total", "status" => status).increment(1);
    if let Some(code) = &r.error_code {
        metrics::counter!("dify_bench_test_errors_total", "code" => code.clone()).increment(1);
    }
    if r.status != ResultStatus::Error {
        if let Some(ms) = r.latency_ms {
            metrics::histogram!(
                "dify_bench_dify_call_duration_seconds",
                "version" => r.version_id.0.to_string()
            )
            .record(ms.max(0) as f64 / 1000.0);
        }
    }
    if r.attempts > 1 {
        metrics::counter!("dify_bench_retries_total").increment((r.attempts - 1) as u64);
    }
}

/// A call was throttled and its test went back to wait.
pub fn throttled(version: VersionId) {
    metrics::counter!("dify_bench_throttles_total", "version" => version.0.to_string())
        .increment(1);
}

/// A version's circuit opened (`+1`) or closed (`-1`), or its batch's runner ended with it
/// open (`-1`).
pub fn open_circuits(delta: f64) {
    metrics::gauge!("dify_bench_open_circuits").increment(delta);
}
