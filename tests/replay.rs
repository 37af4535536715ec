//! Replay's data, against the real binary and the simulator, on SQLite and PostgreSQL:
//! `batch_timeline` answers a finished batch's results as compact columns (every repetition, in
//! finish order), and `model::replay` played to the end of it reproduces the batch's final
//! progress event. A running batch is refused with 409, an unknown one with 404; no key leaks.

mod common;

use common::*;
use dify_bench::model::replay::{Replay, Timeline};
use dify_bench::model::{BatchStatus, Progress, VersionRunStatus};
use dify_bench::server::simulator::FaultProfile;
use serde_json::json;
use std::time::Duration;

const REPEATS: u64 = 2;

async fn timeline_end_to_end(database_url: &str, dir: &std::path::Path) {
    // 40 ms a call, so the batch is still running when the first timeline is asked for.
    let sim = simulator(40, FaultProfile::None).await;
    let server = Server::start(database_url, &dir.join("server.log"), &[]);
    let api = server.api();
    let good = api
        .create_version(
            "good",
            &sim,
            "app-chat.q100.replay-good",
            "chat",
            "blocking",
        )
        .await;
    let fair = api
        .create_version(
            "fair",
            &sim,
            "app-chat.q50.replay-fair",
            "chat",
            "streaming",
        )
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": ten_cases().to_string()}),
    )
    .await;
    let n_cases = api
        .ok("list_cases", json!({}))
        .await
        .as_array()
        .unwrap()
        .len() as u64;

    let id = api
        .ok(
            "start_batch",
            json!({"name": "replayed", "version_ids": [good, fair], "concurrency": 2,
                   "repeats": REPEATS}),
        )
        .await
        .as_i64()
        .unwrap();
    let (status, body) = api.call("batch_timeline", json!({"id": id})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("only a finished batch can be replayed"),
        "{body}"
    );

    let (events, _) = api.read_progress(id, Duration::from_secs(90)).await;
    let last: Progress = serde_json::from_value(events.last().unwrap().1.clone()).unwrap();
    assert_eq!(last.status, BatchStatus::Completed);
    let total = 2 * n_cases * REPEATS;
    assert_eq!(last.completed_tests, total);

    let (status, body) = api.call("batch_timeline", json!({"id": id})).await;
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    assert!(
        !text.contains("replay-good") && !text.contains("replay-fair"),
        "no key: {text}"
    );
    let timeline: Timeline = serde_json::from_value(body).unwrap();
    assert_eq!(timeline.tests.len() as u64, total, "every repetition");
    assert_eq!(timeline.repeats as u64, REPEATS);
    assert_eq!(timeline.cases.len() as u64, n_cases);
    assert_eq!(
        timeline
            .versions
            .iter()
            .map(|v| v.version_id.0)
            .collect::<Vec<_>>(),
        vec![good, fair],
        "launch order"
    );
    assert!(timeline
        .versions
        .iter()
        .all(|v| v.total_tests == n_cases * REPEATS));
    // Every call took ~40 ms: each test has a latency, so a start before its finish.
    assert!(timeline
        .tests
        .duration_ms
        .iter()
        .all(|d| d.is_some_and(|ms| ms >= 30)));
    let span: u64 = timeline.tests.finish_gap_ms.iter().sum();
    assert!(
        span <= timeline.duration_ms,
        "{span} > {}",
        timeline.duration_ms
    );
    // 40 tests at 2 in flight, 40 ms each: at least 0.8 s from start to end.
    assert!(timeline.duration_ms >= 700, "{}", timeline.duration_ms);

    let replay = Replay::new(timeline).unwrap();
    let start = replay.progress_at(0);
    assert_eq!(start.status, BatchStatus::Running);
    assert_eq!(start.completed_tests, 0);
    assert_eq!(start.total_tests, total);
    // The first call goes out a moment after the start; midway a test is under way.
    assert!(
        replay
            .progress_at(replay.duration_ms() / 2)
            .current_test_case
            .is_some(),
        "a test is under way midway"
    );
    // Monotonic on the way, the stored end at the end.
    let mut previous = 0;
    for step in 0..=20 {
        let p = replay.progress_at(replay.duration_ms() * step / 20);
        assert!(p.completed_tests >= previous);
        previous = p.completed_tests;
    }
    let end = replay.progress_at(replay.duration_ms());
    assert_eq!(end.status, BatchStatus::Completed);
    assert_eq!(end.progress, 100.0);
    assert_eq!(
        (end.completed_tests, end.passed_tests, end.failed_tests),
        (last.completed_tests, last.passed_tests, last.failed_tests)
    );
    for (r, l) in end.versions.iter().zip(&last.versions) {
        assert_eq!(r.version_id, l.version_id);
        assert_eq!(r.status, l.status);
        assert_ne!(r.status, VersionRunStatus::Running);
        assert_eq!(
            (r.completed_tests, r.failed_tests),
            (l.completed_tests, l.failed_tests)
        );
        assert_eq!(r.pass_rate, l.pass_rate);
        assert_eq!(r.avg_latency_ms, l.avg_latency_ms);
        // Scores travel rounded to 0.01: their mean may differ from the exact one by that.
        let (a, b) = (r.average_score.unwrap(), l.average_score.unwrap());
        assert!((a - b).abs() <= 0.01, "{a} vs {b}");
    }

    let (status, body) = api.call("batch_timeline", json!({"id": 999_999})).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("batch 999999 does not exist"));
    let (status, _) = server
        .api_as("viewer")
        .call("batch_timeline", json!({"id": id}))
        .await;
    assert_eq!(status, 200, "a viewer may replay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_on_sqlite() {
    let (dir, url) = sqlite_url();
    timeline_end_to_end(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_on_postgres() {
    let Some(url) = postgres_url("replay").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    timeline_end_to_end(&url, dir.path()).await;
}
