//! Two instances on one PostgreSQL (issue #13, its first steps): a cancel sent to the instance
//! that does not run a batch stops it on the one that does, through `LISTEN/NOTIFY`, within moments.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_sent_to_another_instance_stops_the_batch_where_it_runs() {
    let Some(url) = postgres_url("cancel_across_instances").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Slow answers: the batch runs for many seconds unless cancelled.
    let sim = simulator(300, FaultProfile::None).await;
    let a = Server::start(&url, &dir.path().join("a.log"), &[]);
    let b = Server::start(&url, &dir.path().join("b.log"), &[]);
    let (api_a, api_b) = (a.api(), b.api());
    let version = api_a
        .create_version("slow", &sim, "app-chat.q90.cluster", "chat", "blocking")
        .await;
    api_a
        .ok(
            "import_cases",
            json!({"format": "json", "content": ten_cases().to_string()}),
        )
        .await;
    let id = api_a
        .ok(
            "start_batch",
            json!({"version_ids": [version], "concurrency": 2, "repeats": 10}),
        )
        .await
        .as_i64()
        .unwrap();
    // Running on A: wait for its first results.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let batch = api_a.ok("get_batch", json!({"id": id})).await;
        if batch["completed_tests"].as_i64().unwrap() > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the batch never started: {batch}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Cancelled through B, which does not run it: A stops it.
    let asked = Instant::now();
    api_b.ok("cancel_batch", json!({"id": id})).await;
    let took = asked.elapsed();
    let batch = api_a.ok("get_batch", json!({"id": id})).await;
    assert_eq!(batch["status"], "cancelled", "{batch}");
    assert!(
        took < Duration::from_secs(2),
        "answered after {took:?}: A ended it itself"
    );
    // A logs what it heard (possibly a moment after its runner ended the batch).
    let heard = || {
        std::fs::read_to_string(dir.path().join("a.log"))
            .unwrap_or_default()
            .contains("batch cancelled from another instance")
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !heard() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs: String = ["a.log", "b.log"]
        .iter()
        .map(|f| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n=====\n");
    let relevant: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("cancel") || l.contains("listen") || l.contains("====="))
        .collect();
    assert!(
        heard(),
        "A heard the cancel from B:\n{}",
        relevant.join("\n")
    );
    // And A's calls stopped: no result is stored after the end.
    let done = batch["completed_tests"].as_i64().unwrap();
    assert!(done < 100, "cancelled mid-way: {batch}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let later = api_b.ok("get_batch", json!({"id": id})).await;
    assert_eq!(later["completed_tests"], done, "{later}");
    assert_eq!(later["status"], "cancelled");
}
