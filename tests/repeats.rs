//! Repeats, against the real binary and the simulator, on SQLite and PostgreSQL: a batch with
//! `repeats` runs every (version, case) that many times, stores each repetition once, counts them
//! all in the progress stream (which says `repeats`), sums them up per cell and per version, lists
//! them in a cell's detail, and exports them (CSV `repetition`, JUnit `#k`). Bad counts are
//! refused by name before anything is written.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

const REPEATS: i64 = 3;

async fn repeats_end_to_end(database_url: &str, dir: &std::path::Path) {
    let sim = simulator(2, FaultProfile::None).await;
    let server = Server::start(database_url, &dir.join("server.log"), &[]);
    let api = server.api();
    // q100 answers every case in full: every repetition passes, so no case is flaky.
    let good = api
        .create_version("good", &sim, "app-chat.q100.rep-good", "chat", "blocking")
        .await;
    let fair = api
        .create_version("fair", &sim, "app-chat.q50.rep-fair", "chat", "streaming")
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": ten_cases().to_string()}),
    )
    .await;
    let cases = api.ok("list_cases", json!({})).await;
    let n_cases = cases.as_array().unwrap().len() as i64;

    // Out of range: refused by name, and no batch is written.
    for bad in [0, 21] {
        let (status, body) = api
            .call(
                "start_batch",
                json!({"version_ids": [good], "repeats": bad}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("repeats must be between 1 and 20"),
            "{message}"
        );
    }
    assert_eq!(api.ok("list_batches", json!({})).await, json!([]));

    let id = api
        .ok(
            "start_batch",
            json!({"name": "thrice", "version_ids": [good, fair], "concurrency": 8,
                   "repeats": REPEATS}),
        )
        .await
        .as_i64()
        .unwrap();
    let total = 2 * n_cases * REPEATS;
    let (events, _) = api.read_progress(id, Duration::from_secs(60)).await;
    let first = &events[0].1;
    assert_eq!(first["repeats"], REPEATS, "{first}");
    assert_eq!(first["total_tests"], total, "{first}");
    let last = &events.last().unwrap().1;
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["completed_tests"], total);
    for v in last["versions"].as_array().unwrap() {
        assert_eq!(v["total_tests"], n_cases * REPEATS, "{v}");
    }

    // Stored once per repetition, repetitions 0..REPEATS of every (version, case).
    let report = api.ok("batch_results", json!({"id": id})).await;
    assert_one_result_per_test(&report, total as usize);
    assert_eq!(report["batch"]["repeats"], REPEATS);
    assert_eq!(report["batch"]["total_tests"], total);
    let reps: BTreeSet<i64> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repetition"].as_i64().unwrap())
        .collect();
    assert_eq!(reps, (0..REPEATS).collect());

    // The matrix sums each test's repetitions up; its counts agree with the stored results.
    let page = api.ok("batch_page", json!({"id": id})).await;
    let mut passed_by_test: HashMap<(i64, i64), i64> = HashMap::new();
    for r in report["results"].as_array().unwrap() {
        let key = (
            r["version_id"].as_i64().unwrap(),
            r["case_id"].as_i64().unwrap(),
        );
        *passed_by_test.entry(key).or_default() += i64::from(r["status"] == "passed");
    }
    let cells = page["cells"].as_array().unwrap();
    assert_eq!(cells.len() as i64, 2 * n_cases);
    let mut flaky_fair = 0;
    for c in cells {
        let key = (
            c["version_id"].as_i64().unwrap(),
            c["case_id"].as_i64().unwrap(),
        );
        assert_eq!(c["runs"], REPEATS, "{c}");
        let passed = passed_by_test[&key];
        assert_eq!(c["passed"], passed, "{c}");
        let expected_status = match passed {
            p if p == REPEATS => "passed",
            _ => "failed",
        };
        assert_eq!(c["status"], expected_status, "{c}");
        if key.0 == fair && passed > 0 && passed < REPEATS {
            flaky_fair += 1;
        }
    }
    let stats = page["repeat_stats"].as_array().unwrap();
    assert_eq!(stats.len(), 2, "{page}");
    assert_eq!(stats[0]["version_id"], good, "in the batch's version order");
    assert_eq!(stats[0]["complete"], n_cases);
    assert_eq!(stats[0]["all_passed"], n_cases, "q100 passes every repeat");
    assert_eq!(stats[0]["flaky"], 0);
    assert_eq!(stats[1]["version_id"], fair);
    assert_eq!(stats[1]["flaky"], flaky_fair, "{stats:?}");

    // A cell's detail lists every repetition, in order.
    let case = cases[0]["id"].as_i64().unwrap();
    let detail = api
        .ok(
            "batch_result_repeats",
            json!({"id": id, "version_id": fair, "case_id": case}),
        )
        .await;
    let detail = detail.as_array().unwrap();
    assert_eq!(detail.len() as i64, REPEATS);
    for (i, r) in detail.iter().enumerate() {
        assert_eq!(r["repetition"], i as i64);
        assert_eq!(r["case_id"], case);
    }
    let none = api
        .ok(
            "batch_result_repeats",
            json!({"id": id, "version_id": fair, "case_id": 987654}),
        )
        .await;
    assert_eq!(none, json!([]));
    let (status, _) = api
        .call(
            "batch_result_repeats",
            json!({"id": 987654, "version_id": fair, "case_id": case}),
        )
        .await;
    assert_eq!(status, 404);

    // Exports: the CSV's last column counts repeats from 1; JUnit names each repetition.
    let csv = api
        .http
        .get(format!("{}/api/batches/{id}/results.csv", api.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header = rows.headers().unwrap().clone();
    let at = header.iter().position(|h| h == "repetition").unwrap();
    assert_eq!(at, 19, "after the first export's columns: {header:?}");
    let seen: BTreeSet<String> = rows.records().map(|r| r.unwrap()[at].to_string()).collect();
    assert_eq!(seen, ["1", "2", "3"].map(String::from).into());
    let junit = api
        .http
        .get(format!("{}/api/batches/{id}/results.junit.xml", api.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(junit.matches("<testcase ").count() as i64, total);
    assert!(
        junit.contains(" #3\""),
        "{}",
        &junit[..junit.len().min(600)]
    );

    // The comparison of the two runs reads every repetition of each case.
    let view = api
        .ok(
            "compare_runs",
            json!({"base_batch": id, "base_version": good, "cand_batch": id,
                   "cand_version": fair}),
        )
        .await;
    assert_eq!(view["summary"]["single_runs"], false, "{}", view["summary"]);
    for row in view["rows"].as_array().unwrap() {
        assert_eq!(row["total_a"], REPEATS, "{row}");
        assert_eq!(row["total_b"], REPEATS, "{row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_on_sqlite() {
    let (dir, url) = sqlite_url();
    repeats_end_to_end(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_on_postgres() {
    let Some(url) = postgres_url("repeats").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    repeats_end_to_end(&url, dir.path()).await;
}

/// A batch stored before repeats existed (schema 0007) reads as one repetition per test after
/// the migration: its results keep their meaning, and a new repetition can be stored beside one.
#[tokio::test]
async fn results_from_before_repeats_become_repetition_zero() {
    use sqlx::migrate::Migrator;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use std::str::FromStr;
    let (_dir, url) = sqlite_url();
    let options = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    // Every migration up to 0007, then a batch and a result as the old code wrote them.
    let all = Migrator::new(std::path::Path::new("migrations/sqlite"))
        .await
        .unwrap();
    let mut old = Migrator::new(std::path::Path::new("migrations/sqlite"))
        .await
        .unwrap();
    old.migrations = all
        .migrations
        .iter()
        .filter(|m| m.version <= 7)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    old.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO batches (id, name, status, concurrency, scoring, total_tests, created_at) \
         VALUES (1, 'old', 'completed', 1, '{}', 1, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO results (batch_id, version_id, case_id, status, score, attempts, detail, \
         finished_at) VALUES (1, 1, 1, 'passed', 90.0, 1, '{}', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    all.run(&pool).await.unwrap();
    let row: (i64, i64, String) = sqlx::query_as(
        "SELECT b.repeats, r.repetition, r.status FROM results r \
                        JOIN batches b ON b.id = r.batch_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row, (1, 0, "passed".to_string()));
    // The key now includes the repetition: a second one of the same test is a new row, the
    // same one again is refused.
    let insert = |rep: i64| {
        sqlx::query(
            "INSERT INTO results (batch_id, version_id, case_id, repetition, status, attempts, \
             detail, finished_at) VALUES (1, 1, 1, $1, 'failed', 1, '{}', 0)",
        )
        .bind(rep)
        .execute(&pool)
    };
    insert(1).await.unwrap();
    assert!(insert(0).await.is_err(), "(batch, version, case, 0) exists");
    let index: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'results_tally_idx'",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    assert_eq!(index.as_deref(), Some("results_tally_idx"));
}
