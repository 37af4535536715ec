//! Several instances on one PostgreSQL (issue #13): work shared by leases, cancels and progress
//! told over `LISTEN/NOTIFY`, an instance killed mid-batch, instances started together.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::json;
use std::time::{Duration, Instant};

async fn wait_for(
    api: &Api,
    id: i64,
    what: &str,
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let batch = api.ok("get_batch", json!({"id": id})).await;
        if done(&batch) {
            return batch;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in {limit:?}: {batch}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server's log without its colours (`batch=7` is `batch\x1b[0m\x1b[2m=\x1b[0m7` in it).
fn log_of(server: &Server) -> String {
    let raw = std::fs::read_to_string(&server.log).unwrap_or_default();
    let mut plain = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, ending with a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Results stored for a batch, counted in the database itself.
async fn stored_results(url: &str, id: i64) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM results WHERE batch_id = $1")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// Issue #13's acceptance, on PostgreSQL with three `serve` processes against one simulator:
/// a batch started on one instance is worked by all three, never above its concurrency; one
/// instance killed (-9) mid-batch loses nothing (its leases expire, the others finish its tests)
/// and nothing is stored twice; watchers on the survivors end on the same terminal event; a
/// cancel sent to one instance stops the calls of all within a second; and three instances
/// started together on an interrupted batch run each remaining test once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_batches_by_leases() {
    let Some(url) = postgres_url("three_instances").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = simulator(80, FaultProfile::None).await;
    let lease = ["--lease-ms", "1000"];
    let start = |name: &str| Server::start(&url, &dir.path().join(format!("{name}.log")), &lease);
    let (a, mut b, c) = (start("a"), start("b"), start("c"));
    let (api_a, api_c) = (a.api(), c.api());
    let version = api_a
        .create_version("shared", &sim, "app-chat.q90.cluster", "chat", "blocking")
        .await;
    api_a
        .ok(
            "import_cases",
            json!({"format": "json", "content": ten_cases().to_string()}),
        )
        .await;

    // 1. One batch, 200 tests at concurrency 6, started on A.
    let id = api_a
        .ok(
            "start_batch",
            json!({"version_ids": [version], "concurrency": 6, "repeats": 20}),
        )
        .await
        .as_i64()
        .unwrap();
    wait_for(
        &api_a,
        id,
        "the first results",
        Duration::from_secs(30),
        |b| b["completed_tests"].as_i64().unwrap() >= 6,
    )
    .await;
    // Watchers on the two instances that will survive, from the middle of the run.
    let watch_a = tokio::spawn({
        let api = api_a.clone();
        async move { api.read_progress(id, Duration::from_secs(90)).await }
    });
    let watch_c = tokio::spawn({
        let api = api_c.clone();
        async move { api.read_progress(id, Duration::from_secs(90)).await }
    });
    wait_for(
        &api_a,
        id,
        "a third of the batch",
        Duration::from_secs(30),
        |b| b["completed_tests"].as_i64().unwrap() >= 60,
    )
    .await;
    b.kill();
    let done = wait_for(
        &api_c,
        id,
        "the batch's end",
        Duration::from_secs(60),
        |b| b["status"] != "running",
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["completed_tests"], 200, "{done}");
    assert_eq!(stored_results(&url, id).await, 200, "one row per test");
    assert_one_result_per_test(&api_a.ok("batch_results", json!({"id": id})).await, 200);
    // Every instance worked it.
    for (name, log) in [("a", log_of(&a)), ("b", log_of(&b)), ("c", log_of(&c))] {
        assert!(
            log.contains(&format!("batch={id}")) && log.contains("claimed tests of the batch"),
            "instance {name} never claimed a test of the batch:\n{log}"
        );
    }
    // The concurrency held across the three instances.
    let stats = sim_stats(&sim).await;
    assert!(
        stats["dify_peak_in_flight"].as_u64().unwrap() <= 6,
        "{stats}"
    );
    assert!(stats["dify_calls"].as_u64().unwrap() >= 200, "{stats}");
    // The survivors' watchers end on the same terminal event, with the totals of the store.
    let (events_a, _) = watch_a.await.unwrap();
    let (events_c, _) = watch_c.await.unwrap();
    let (last_a, last_c) = (&events_a.last().unwrap().1, &events_c.last().unwrap().1);
    assert_eq!(last_a["status"], "completed", "{last_a}");
    assert_eq!(last_a, last_c, "the same terminal event on A and C");
    assert_eq!(last_a["completed_tests"], 200);
    // Whatever was taken over from B is reported on the batch page.
    let page = api_a.ok("batch_page", json!({"id": id})).await;
    let reclaimed = page["duplicate_work"]["reclaimed_tests"].as_i64().unwrap();
    assert!(
        reclaimed <= 6,
        "no more than B could hold: {page}",
        page = page["duplicate_work"]
    );

    // 2. A cancel sent to C stops the calls of A (and C) within a second.
    let id = api_a
        .ok(
            "start_batch",
            json!({"version_ids": [version], "concurrency": 4, "repeats": 20}),
        )
        .await
        .as_i64()
        .unwrap();
    wait_for(
        &api_a,
        id,
        "the second batch's first results",
        Duration::from_secs(30),
        |b| b["completed_tests"].as_i64().unwrap() >= 8,
    )
    .await;
    api_c.ok("cancel_batch", json!({"id": id})).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = sim_stats(&sim).await;
    assert_eq!(
        after["dify_in_flight"], 0,
        "calls still in flight a second after the cancel: {after}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sim_stats(&sim).await["dify_calls"],
        after["dify_calls"],
        "no call after the cancel"
    );
    for api in [&api_a, &api_c] {
        assert_eq!(
            api.ok("get_batch", json!({"id": id})).await["status"],
            "cancelled"
        );
    }

    // 3. Every instance killed mid-batch; three started together finish it, each remaining test
    //    sent once.
    let id = api_a
        .ok(
            "start_batch",
            json!({"version_ids": [version], "concurrency": 6, "repeats": 20}),
        )
        .await
        .as_i64()
        .unwrap();
    wait_for(
        &api_a,
        id,
        "the third batch's first results",
        Duration::from_secs(30),
        |b| b["completed_tests"].as_i64().unwrap() >= 30,
    )
    .await;
    drop((a, c));
    let stored = stored_results(&url, id).await;
    let remaining = 200 - stored;
    assert!(remaining > 100, "interrupted early enough: {stored} stored");
    let calls_before = sim_stats(&sim).await["dify_calls"].as_u64().unwrap();
    let (a, b, c) = (start("a2"), start("b2"), start("c2"));
    let done = wait_for(
        &b.api(),
        id,
        "the resumed batch's end",
        Duration::from_secs(60),
        |b| b["status"] != "running",
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(stored_results(&url, id).await, 200);
    let calls = sim_stats(&sim).await["dify_calls"].as_u64().unwrap() - calls_before;
    assert_eq!(
        calls, remaining as u64,
        "each remaining test sent once, by one of the three"
    );
    for (name, s) in [("a2", &a), ("b2", &b), ("c2", &c)] {
        assert!(
            log_of(s).contains(&format!("batch={id}")),
            "{name} joined the resumed batch"
        );
    }
}
