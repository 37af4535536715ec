//! The runner's per-version gates through the real server against the simulator: the circuit
//! breaker (opens after N failed tests in a row, probes after its cool-down, closes on an
//! answer, gives up after its probes with `circuit_open` results that "re-run failed" sends
//! again) and adaptive concurrency against Dify's app-level ceiling. Every test of every batch
//! ends stored exactly once either way.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// The batch's results, checked to be one per (version, case), grouped by version.
async fn results_by_version(api: &Api, id: i64, total: usize) -> BTreeMap<i64, Vec<Value>> {
    let report = api.ok("batch_results", json!({"id": id})).await;
    let results = report["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), total, "one result per test");
    let keys: HashSet<(i64, i64, i64)> = results
        .iter()
        .map(|r| {
            (
                r["version_id"].as_i64().unwrap(),
                r["case_id"].as_i64().unwrap(),
                r["repetition"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(keys.len(), total, "no test stored twice");
    let mut by = BTreeMap::<i64, Vec<Value>>::new();
    for r in results {
        by.entry(r["version_id"].as_i64().unwrap())
            .or_default()
            .push(r);
    }
    by
}

fn codes(results: &[Value]) -> BTreeMap<String, usize> {
    let mut codes = BTreeMap::new();
    for r in results {
        let code = match r["status"].as_str().unwrap() {
            "error" => r["error_code"].as_str().unwrap().to_string(),
            _ => "answered".to_string(),
        };
        *codes.entry(code).or_default() += 1;
    }
    codes
}

/// The circuit states a version went through in the stream, repeats collapsed.
fn circuit_path(events: &[(u64, Value)], version: i64) -> Vec<String> {
    let mut path: Vec<String> = Vec::new();
    for (_, e) in events {
        let Some(v) = e["versions"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["version_id"] == version))
        else {
            continue;
        };
        if let Some(c) = v["circuit"].as_str() {
            if path.last().map(String::as_str) != Some(c) {
                path.push(c.to_string());
            }
        }
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_probes_closes_or_gives_up_and_every_test_is_stored_once() {
    let sim = simulator(5, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(
        &url,
        &dir.path().join("server.log"),
        &["--breaker-cooldown-ms", "300", "--breaker-probes", "2"],
    );
    let api = server.api();
    // A: its first 20 requests fail with 500 (5 tests × 4 attempts), then it answers again.
    // B: every request fails with 500.
    let a = api
        .create_version(
            "comes back",
            &sim,
            "app-workflow.q80.outage0-19",
            "workflow",
            "blocking",
        )
        .await;
    let b = api
        .create_version(
            "stays down",
            &sim,
            "app-workflow.q80.500",
            "workflow",
            "blocking",
        )
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": kb_cases(12)}),
    )
    .await;
    // One test at a time per version, so the failures fall on the first five tests of each.
    let id = api
        .ok(
            "start_batch",
            json!({"name": "breaker", "version_ids": [a, b], "case_ids": null,
                   "concurrency": 2, "per_version_cap": 1}),
        )
        .await
        .as_i64()
        .unwrap();
    let (events, _) = api.read_progress(id, Duration::from_secs(180)).await;
    let (_, last) = events.last().expect("events");
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["completed_tests"], 24);

    // A: five errors in a row opened it; after the cool-down one probe went out, was answered
    // and closed it. B: opened, probed twice in vain, gave up (stays open). The stream
    // coalesces changes (100 ms), so a probe answered within that may not show as half_open;
    // the simulator's call count below proves the probes either way.
    let path_a = circuit_path(&events, a);
    assert!(
        path_a == ["closed", "open", "half_open", "closed"]
            || path_a == ["closed", "open", "closed"],
        "{path_a:?}"
    );
    let path_b = circuit_path(&events, b);
    assert_eq!(path_b[..2], ["closed", "open"], "{path_b:?}");
    assert_eq!(
        path_b.last().map(String::as_str),
        Some("open"),
        "{path_b:?}"
    );
    assert_eq!(
        path_b.iter().filter(|c| *c == "closed").count(),
        1,
        "B never closes again: {path_b:?}"
    );
    let by = results_by_version(&api, id, 24).await;
    assert_eq!(
        codes(&by[&a]),
        BTreeMap::from([
            ("answered".to_string(), 7),
            ("internal_server_error".to_string(), 5)
        ])
    );
    assert_eq!(
        codes(&by[&b]),
        BTreeMap::from([
            ("circuit_open".to_string(), 5),
            ("internal_server_error".to_string(), 5 + 2)
        ])
    );
    let not_sent = by[&b]
        .iter()
        .find(|r| r["error_code"] == "circuit_open")
        .unwrap();
    assert_eq!(not_sent["attempts"], 0, "{not_sent}");
    assert!(
        not_sent["error_message"]
            .as_str()
            .unwrap()
            .contains("re-run failed"),
        "{not_sent}"
    );
    // No call while a circuit was open: A made 20 failing + 7 answered calls, B 7 × 4.
    let stats = sim_stats(&sim).await;
    assert_eq!(stats["dify_calls"], 20 + 7 + 7 * 4, "{stats}");
    // The final event is the store's: per-version error counts include circuit_open.
    let vb = last["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version_id"] == b)
        .unwrap();
    assert_eq!(vb["failed_tests"], 12, "{vb}");

    let m = scrape_metrics(&server).await;
    assert_eq!(
        m.get(r#"dify_bench_test_errors_total{code="circuit_open"}"#)
            .copied(),
        Some(5.0),
        "{m:?}"
    );
    assert_eq!(
        m.get(r#"dify_bench_test_errors_total{code="internal_server_error"}"#)
            .copied(),
        Some(12.0),
        "{m:?}"
    );
    // 12 failed tests × 3 retries each.
    assert_eq!(
        m.get("dify_bench_retries_total").copied(),
        Some(36.0),
        "{m:?}"
    );
    assert_eq!(
        m.get("dify_bench_open_circuits").copied(),
        Some(0.0),
        "{m:?}"
    );
    // "Re-run failed" sends every error again, circuit_open ones included; A answers now.
    let n = api.ok("rerun_failed", json!({"id": id})).await;
    assert_eq!(n, 5 + 12);
    let (events, _) = api.read_progress(id, Duration::from_secs(180)).await;
    assert_eq!(events.last().unwrap().1["status"], "completed");
    let by = results_by_version(&api, id, 24).await;
    assert_eq!(
        codes(&by[&a]),
        BTreeMap::from([("answered".to_string(), 12)])
    );
    assert_eq!(
        codes(&by[&b]),
        BTreeMap::from([
            ("circuit_open".to_string(), 5),
            ("internal_server_error".to_string(), 7)
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_concurrency_keeps_a_batch_under_the_apps_ceiling() {
    // 1,000 tests at concurrency 32 against an app that admits 4 calls at once.
    let sim = simulator(10, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    let v = api
        .create_version(
            "ceiling 4",
            &sim,
            "app-workflow.q80.ceiling4",
            "workflow",
            "blocking",
        )
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": kb_cases(1000)}),
    )
    .await;
    let id = api
        .ok(
            "start_batch",
            json!({"name": "aimd", "version_ids": [v], "case_ids": null, "concurrency": 32}),
        )
        .await
        .as_i64()
        .unwrap();
    let (events, _) = api.read_progress(id, Duration::from_secs(300)).await;
    let (_, last) = events.last().expect("events");
    assert_eq!(last["status"], "completed", "{last}");
    let by = results_by_version(&api, id, 1000).await;
    assert_eq!(
        codes(&by[&v]),
        BTreeMap::from([("answered".to_string(), 1000)]),
        "no test ends throttled"
    );
    let stats = sim_stats(&sim).await;
    let (calls, throttled) = (
        stats["dify_calls"].as_u64().unwrap(),
        stats["dify_throttled"].as_u64().unwrap(),
    );
    eprintln!("aimd: {calls} calls, {throttled} throttled");
    assert_eq!(calls, 1000 + throttled, "{stats}");
    assert!(
        throttled * 100 <= calls * 5,
        "{throttled} of {calls} calls throttled (more than 5 %)"
    );
    // `/metrics` counted the same: every test, every throttle, one latency per answer.
    let m = scrape_metrics(&server).await;
    let version = format!("version=\"{v}\"");
    assert_eq!(
        m.get(r#"dify_bench_tests_finished_total{status="passed"}"#)
            .copied()
            .unwrap_or(0.0)
            + m.get(r#"dify_bench_tests_finished_total{status="failed"}"#)
                .copied()
                .unwrap_or(0.0),
        1000.0,
        "{m:?}"
    );
    assert_eq!(
        m.get(&format!("dify_bench_throttles_total{{{version}}}"))
            .copied()
            .unwrap_or(0.0),
        throttled as f64,
        "{m:?}"
    );
    assert_eq!(
        m.get(&format!(
            "dify_bench_dify_call_duration_seconds_count{{{version}}}"
        ))
        .copied(),
        Some(1000.0),
        "{m:?}"
    );
    assert_eq!(
        m.get("dify_bench_running_batches").copied(),
        Some(0.0),
        "{m:?}"
    );
    // The stream showed the limit coming down from 32 to the ceiling's neighbourhood.
    let limits: Vec<u64> = events
        .iter()
        .filter_map(|(_, e)| e["versions"][0]["in_flight_limit"].as_u64())
        .collect();
    assert_eq!(limits.first(), Some(&32), "{limits:?}");
    assert!(limits.iter().any(|&l| l <= 4), "{limits:?}");
    assert!(limits.iter().all(|&l| (1..=32).contains(&l)), "{limits:?}");
}
