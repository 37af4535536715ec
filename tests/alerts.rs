//! Live alerts through the real server against the simulator: raised in the progress stream while
//! the batch runs, stored with the batch (its page, and the stream of a finished batch), each
//! kind once per version.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::{json, Value};
use std::time::Duration;

async fn run(api: &Api, name: &str, version: i64) -> (i64, Vec<(u64, Value)>) {
    let id = api
        .ok(
            "start_batch",
            json!({"name": name, "version_ids": [version], "case_ids": null, "concurrency": 1}),
        )
        .await
        .as_i64()
        .unwrap();
    let (events, _) = api.read_progress(id, Duration::from_secs(120)).await;
    assert_eq!(events.last().unwrap().1["status"], "completed");
    (id, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_starts_failing_raises_an_error_spike_once_and_it_is_kept() {
    // 30 ms a call: the 19 tests after the alert take ~0.6 s, several progress events.
    let sim = simulator(30, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    // Its key is deleted in Dify after 10 requests: every later test fails at once with 401.
    let v = api
        .create_version(
            "revoked",
            &sim,
            "app-workflow.q80.revoked10",
            "workflow",
            "blocking",
        )
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": kb_cases(40)}),
    )
    .await;
    let (id, events) = run(&api, "spike", v).await;
    // Raised mid-batch (tests run one at a time: at the 21st, 11 of the last 20 failed), once.
    let first = events
        .iter()
        .find(|(_, e)| e["alerts"].as_array().is_some_and(|a| !a.is_empty()))
        .map(|(_, e)| e.clone())
        .expect("an event with an alert");
    assert!(
        first["completed_tests"].as_u64().unwrap() < 40,
        "raised while the batch ran: {first}"
    );
    let last = &events.last().unwrap().1;
    let alerts = last["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["kind"], "error_spike");
    assert_eq!(a["version_id"], v);
    assert_eq!(a["message"], "11 of its last 20 tests ended in error");
    assert!(a["since"].as_i64().unwrap() > 0);
    // Stored with the batch: the page, and the stream of the finished batch.
    let page = api.ok("batch_page", json!({"id": id})).await;
    assert_eq!(page["alerts"], last["alerts"]);
    let (again, _) = api.read_progress(id, Duration::from_secs(10)).await;
    assert_eq!(again.last().unwrap().1["alerts"], last["alerts"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_worse_than_its_previous_run_raises_a_pass_rate_drop() {
    let sim = simulator(5, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    let v = api
        .create_version("app", &sim, "app-workflow.q95.drop", "workflow", "blocking")
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": kb_cases(30)}),
    )
    .await;
    let (_, before) = run(&api, "good", v).await;
    let good = &before.last().unwrap().1;
    assert!(
        good["alerts"].is_null(),
        "nothing to compare with yet: {good}"
    );
    assert!(good["passed_tests"].as_u64().unwrap() >= 20, "{good}");
    // The same version, its app changed for the worse (a new key: far weaker answers).
    api.ok(
        "save_version",
        json!({"id": v, "name": "app", "base_url": sim, "api_key": "app-workflow.q5.drop",
               "app_mode": "workflow", "response_mode": "blocking"}),
    )
    .await;
    let (_, after) = run(&api, "worse", v).await;
    let last = &after.last().unwrap().1;
    let kinds: Vec<&str> = last["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["pass_rate_drop"], "{last}");
    let message = last["alerts"][0]["message"].as_str().unwrap();
    assert!(message.contains("in its previous run"), "{message}");
}
