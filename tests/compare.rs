//! Comparing runs through the real server: two simulator versions of known different quality
//! (the worse one is found significantly worse, its regressions listed first), the same version
//! run twice (no detectable difference, and the baseline defaults to the previous run), and bad
//! references refused with a message.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_worse_version_is_found_worse_and_a_rerun_is_no_different() {
    let sim = simulator(5, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    let good = api
        .create_version(
            "good",
            &sim,
            "app-chat.q90.compare-good",
            "chat",
            "blocking",
        )
        .await;
    let bad = api
        .create_version("bad", &sim, "app-chat.q30.compare-bad", "chat", "blocking")
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": knowledge_cases().to_string()}),
    )
    .await;
    let run = |versions: Vec<i64>, name: &'static str| {
        let api = api.clone();
        async move {
            let id = api
                .ok(
                    "start_batch",
                    json!({"name": name, "version_ids": versions, "concurrency": 8}),
                )
                .await
                .as_i64()
                .unwrap();
            api.read_progress(id, Duration::from_secs(60)).await;
            id
        }
    };
    let first = run(vec![good, bad], "both").await;
    let view = api
        .ok(
            "compare_runs",
            json!({"base_batch": first, "base_version": good,
                   "cand_batch": first, "cand_version": bad}),
        )
        .await;
    let s = &view["summary"];
    assert_eq!(s["verdict"], "worse", "{}", s["sentence"]);
    assert!(
        s["sentence"]
            .as_str()
            .unwrap()
            .starts_with("B is worse than A: pass rate −"),
        "{}",
        s["sentence"]
    );
    assert!(s["pass_rate"]["p_value"].as_f64().unwrap() < 0.05);
    let ci = &s["pass_rate"]["ci"];
    assert!(
        ci["hi"].as_f64().unwrap() < 0.0,
        "the interval is wholly below 0: {ci}"
    );
    let regressed = s["classes"]["regressed"].as_u64().unwrap();
    assert!(regressed > 0);
    let rows = view["rows"].as_array().unwrap();
    assert_eq!(rows[0]["class"], "regressed", "regressions come first");
    assert_eq!(view["a"]["version_name"], "good");
    assert_eq!(view["b"]["version_name"], "bad");
    // Swapping the runs swaps the verdict.
    let swapped = api
        .ok(
            "compare_runs",
            json!({"base_batch": first, "base_version": bad,
                   "cand_batch": first, "cand_version": good}),
        )
        .await;
    assert_eq!(swapped["summary"]["verdict"], "better");
    // One class at a time.
    let only = api
        .ok(
            "compare_runs",
            json!({"base_batch": first, "base_version": good,
                   "cand_batch": first, "cand_version": bad, "class": "regressed"}),
        )
        .await;
    assert_eq!(only["total_rows"].as_u64().unwrap(), regressed);
    assert!(only["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["class"] == "regressed"));

    // The good version again: compared with its previous run by default, and no different.
    let second = run(vec![good], "again").await;
    let again = api
        .ok(
            "compare_runs",
            json!({"cand_batch": second, "cand_version": good}),
        )
        .await;
    assert_eq!(
        again["a"]["batch_id"], first,
        "the previous run is the baseline"
    );
    assert_eq!(
        again["summary"]["verdict"], "no_detectable_difference",
        "{}",
        again["summary"]["sentence"]
    );
    assert!(again["summary"]["sentence"]
        .as_str()
        .unwrap()
        .starts_with("No detectable difference"));

    // Bad references name the problem.
    let (s, b) = api
        .call(
            "compare_runs",
            json!({"base_batch": 999, "base_version": good, "cand_batch": first, "cand_version": bad}),
        )
        .await;
    assert_eq!(
        (s, b["message"].as_str()),
        (404, Some("batch 999 does not exist"))
    );
    let (s, b) = api
        .call(
            "compare_runs",
            json!({"cand_batch": first, "cand_version": good}),
        )
        .await;
    assert_eq!(s, 404, "no earlier run: {b}");
    assert!(
        b["message"].as_str().unwrap().contains("no run before"),
        "{b}"
    );
    let (s, b) = api
        .call(
            "compare_runs",
            json!({"base_batch": first, "base_version": good, "cand_batch": second,
                   "cand_version": bad}),
        )
        .await;
    assert_eq!(s, 404, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("did not run in batch"),
        "{b}"
    );
    let (s, _) = api
        .call(
            "compare_runs",
            json!({"cand_batch": first, "cand_version": bad, "base_batch": first,
                   "base_version": good, "class": "worse"}),
        )
        .await;
    assert_eq!(s, 400);
    // A viewer may read comparisons; the page renders.
    let viewer = server.api_as("viewer");
    let html = viewer
        .http
        .get(format!(
            "{}/compare?base={first}:{good}&cand={first}:{bad}",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("data-testid=\"verdict\""),
        "the compare page renders its verdict"
    );
    assert!(html.contains("B is worse than A"));
}
