//! Durability: kill -9 the server mid-batch, start it again, and the batch completes by itself
//! with exactly one result per test.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::json;
use std::time::{Duration, Instant};

/// `repeats` runs every (version, case) that many times: the resume must then fill in exactly the
/// repetitions that have no result.
async fn resume_after_kill(database_url: &str, dir: &std::path::Path, repeats: u32) {
    let total = 20 * repeats as i64;
    let sim = simulator(60, FaultProfile::None).await;
    let log = dir.join("server.log");
    let mut first = Server::start(database_url, &log, &[]);
    let api = first.api();
    let a = api
        .create_version("a", &sim, "app-chat.q80.resume-a", "chat", "streaming")
        .await;
    let b = api
        .create_version(
            "b",
            &sim,
            "app-completion.q50.resume-b",
            "completion",
            "blocking",
        )
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": ten_cases().to_string()}),
    )
    .await;
    let id = api
        .ok(
            "start_batch",
            json!({"name": "resume me", "version_ids": [a, b], "concurrency": 2,
                   "repeats": repeats}),
        )
        .await
        .as_i64()
        .unwrap();

    // Let part of it run, then kill the process without any chance to clean up.
    let deadline = Instant::now() + Duration::from_secs(20);
    let done_before = loop {
        let batch = api.ok("get_batch", json!({"id": id})).await;
        let done = batch["completed_tests"].as_i64().unwrap();
        if done >= 4 {
            break done;
        }
        assert!(Instant::now() < deadline, "the batch made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    first.kill();

    let second = Server::start(database_url, &log, &[]);
    let api = second.api();
    let (events, _) = api.read_progress(id, Duration::from_secs(60)).await;
    let first_event = &events[0].1;
    assert!(
        first_event["completed_tests"].as_i64().unwrap() >= done_before,
        "progress after the restart starts from what was stored: {first_event}"
    );
    let last = &events.last().unwrap().1;
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["completed_tests"], total);
    assert_eq!(last["total_tests"], total);
    assert_eq!(last["repeats"], repeats);

    let report = api.ok("batch_results", json!({"id": id})).await;
    assert_one_result_per_test(&report, total as usize);
    assert_eq!(report["batch"]["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_batch_resumes_on_sqlite() {
    let (dir, url) = sqlite_url();
    resume_after_kill(&url, dir.path(), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_batch_resumes_on_postgres() {
    let Some(url) = postgres_url("resume").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    resume_after_kill(&url, dir.path(), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_batch_with_repeats_resumes_each_repetition_once_on_sqlite() {
    let (dir, url) = sqlite_url();
    resume_after_kill(&url, dir.path(), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_batch_with_repeats_resumes_each_repetition_once_on_postgres() {
    let Some(url) = postgres_url("resume_repeats").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    resume_after_kill(&url, dir.path(), 3).await;
}
