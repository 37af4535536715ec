//! The trends dashboard's figures and the batch history (filters, paging, delete): the store on
//! SQLite and PostgreSQL, then the server functions over HTTP.

mod common;

use common::*;
use dify_bench::model::dashboard::{day_start_ms, HistoryFilter};
use dify_bench::model::*;
use dify_bench::server::simulator::FaultProfile;
use dify_bench::server::store::{Deleted, NewBatch, RerunClaim, Store, VersionRecord};
use serde_json::json;
use std::time::Duration;

fn version(name: &str, key: &str) -> VersionDraft {
    VersionDraft {
        name: name.into(),
        base_url: "http://127.0.0.1:5001/v1".into(),
        api_key: Some(key.into()),
        app_mode: AppMode::Chat,
        ..Default::default()
    }
}

/// One result with the given latency, status and (for errors) code; priced in USD.
fn result(
    batch: BatchId,
    v: VersionId,
    c: CaseId,
    status: ResultStatus,
    score: Option<f64>,
    latency: Option<i64>,
    code: Option<&str>,
) -> TestResult {
    TestResult {
        batch_id: batch,
        version_id: v,
        case_id: c,
        repetition: 0,
        status,
        score,
        answer: score.map(|_| "answer".to_string()),
        latency_ms: latency,
        ttft_ms: latency.map(|l| l / 4),
        usage: Usage {
            prompt_tokens: latency.map(|_| 10),
            completion_tokens: latency.map(|_| 20),
            total_tokens: latency.map(|_| 30),
            total_price: latency.map(|_| 0.002),
            currency: latency.map(|_| "USD".into()),
        },
        dify: DifyIds::default(),
        error_code: code.map(str::to_string),
        error_message: None,
        attempts: 1,
        detail: ScoreDetail::default(),
        finished_at: 1,
        trace: None,
        turns: Default::default(),
    }
}

async fn batch(
    store: &Store,
    name: &str,
    by: Option<&str>,
    versions: &[VersionRecord],
    cases: &[TestCase],
) -> BatchId {
    store
        .create_batch(&NewBatch {
            name,
            repeats: 1,
            concurrency: 1,
            per_version_cap: None,
            scoring: &ScoringConfig::default(),
            versions,
            cases,
            created_by: by,
        })
        .await
        .unwrap()
}

/// Runs SQL behind the store's back (to age a batch, or count rows).
async fn raw(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let n = if sql.starts_with("SELECT") {
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        } else {
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected() as i64
        };
        conn.close().await.unwrap();
        n
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let n = if sql.starts_with("SELECT") {
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        } else {
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected() as i64
        };
        conn.close().await.unwrap();
        n
    }
}

async fn suite(url: &str) {
    let store = Store::connect(url).await.expect("connect and migrate");
    let a = store
        .insert_version(&version("alpha", "app-aaaaaaaaaaaa1111"))
        .await
        .unwrap();
    let b = store
        .insert_version(&version("bravo", "app-bbbbbbbbbbbb2222"))
        .await
        .unwrap();
    let unused = store
        .insert_version(&version("never ran", "app-cccccccccccc3333"))
        .await
        .unwrap();
    let drafts: Vec<CaseDraft> = (0..4)
        .map(|i| {
            CaseDraft {
                query: format!("q{i}"),
                expected_answer: "a".into(),
                ..Default::default()
            }
            .normalized()
            .unwrap()
        })
        .collect();
    let case_ids = store.insert_cases(&drafts).await.unwrap();
    let cases: Vec<TestCase> = {
        let all = store.list_cases().await.unwrap();
        all.into_iter()
            .filter(|c| case_ids.contains(&c.id))
            .collect()
    };
    let va = store.get_version(a).await.unwrap().unwrap();
    let vb = store.get_version(b).await.unwrap().unwrap();
    let both = [va.clone(), vb.clone()];

    // Batch 1 (alice, both versions): alpha 3 passed + 1 error (timeout), bravo 2 passed, 1
    // failed, 1 error (too_many_requests). Batch 2 (bob, alpha only): all passed. Batch 3
    // (nobody, both): still running with one result.
    let b1 = batch(&store, "Nightly 1", Some("alice"), &both, &cases).await;
    let c = |i: usize| cases[i].id;
    let mut rows = Vec::new();
    for (i, lat) in [100, 200, 300].into_iter().enumerate() {
        rows.push(result(
            b1,
            a,
            c(i),
            ResultStatus::Passed,
            Some(80.0 + i as f64),
            Some(lat),
            None,
        ));
    }
    rows.push(result(
        b1,
        a,
        c(3),
        ResultStatus::Error,
        None,
        None,
        Some("timeout"),
    ));
    rows.push(result(
        b1,
        b,
        c(0),
        ResultStatus::Passed,
        Some(70.0),
        Some(1000),
        None,
    ));
    rows.push(result(
        b1,
        b,
        c(1),
        ResultStatus::Passed,
        Some(65.0),
        Some(2000),
        None,
    ));
    rows.push(result(
        b1,
        b,
        c(2),
        ResultStatus::Failed,
        Some(20.0),
        Some(3000),
        None,
    ));
    rows.push(result(
        b1,
        b,
        c(3),
        ResultStatus::Error,
        None,
        None,
        Some("too_many_requests"),
    ));
    store.insert_results(&rows).await.unwrap();
    store
        .mark_batch_finished(b1, BatchStatus::Completed, None)
        .await
        .unwrap();

    let b2 = batch(
        &store,
        "nightly 2 (50%_off)",
        Some("bob"),
        std::slice::from_ref(&va),
        &cases,
    )
    .await;
    let rows: Vec<TestResult> = (0..4)
        .map(|i| {
            result(
                b2,
                a,
                c(i),
                ResultStatus::Passed,
                Some(90.0),
                Some(50),
                None,
            )
        })
        .collect();
    store.insert_results(&rows).await.unwrap();
    store
        .mark_batch_finished(b2, BatchStatus::Completed, None)
        .await
        .unwrap();

    let b3 = batch(&store, "smoke", None, &both, &cases).await;
    assert!(store.mark_batch_running(b3).await.unwrap());
    store
        .insert_results(&[result(
            b3,
            b,
            c(0),
            ResultStatus::Passed,
            Some(99.0),
            Some(10),
            None,
        )])
        .await
        .unwrap();

    // ---- The dashboard's figures ----
    let versions = store.dashboard_versions().await.unwrap();
    let names: Vec<&str> = versions.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        ["alpha", "bravo"],
        "a version that never ran is not offered"
    );
    assert_eq!(store.newest_batch_versions().await.unwrap(), vec![a, b]);

    let (points, truncated) = store.run_points(&[a, b], None, None, 200).await.unwrap();
    assert!(!truncated);
    let keys: Vec<(BatchId, VersionId)> =
        points.iter().map(|p| (p.batch_id, p.version_id)).collect();
    assert_eq!(
        keys,
        [(b1, a), (b1, b), (b2, a), (b3, a), (b3, b)],
        "oldest batch first, then the batch's version order"
    );
    let p = &points[0];
    assert_eq!((p.results, p.passed, p.errored), (4, 3, 1));
    assert_eq!(p.pass_rate, Some(75.0));
    assert_eq!(p.mean_score, Some(81.0));
    assert_eq!(p.latency_p50_ms, Some(200.0));
    assert_eq!(p.latency_p95_ms, Some(290.0), "type 7, as the compare page");
    assert_eq!(p.ttft_p50_ms, Some(50.0));
    assert_eq!(p.mean_latency_ms, Some(200.0));
    assert_eq!(p.tokens_per_test, Some(30.0));
    assert_eq!(p.currency.as_deref(), Some("USD"));
    assert!((p.cost_per_test.unwrap() - 0.002).abs() < 1e-12);
    assert_eq!(p.error_rate(), Some(25.0));
    assert_eq!(
        p.errors,
        vec![ErrorCount {
            code: Some("timeout".into()),
            count: 1
        }]
    );
    assert_eq!(p.judge_score, None);
    assert_eq!(p.batch_name, "Nightly 1");
    let p = &points[1];
    assert_eq!((p.pass_rate, p.mean_score), (Some(50.0), Some(51.67)));
    assert_eq!(p.errors[0].code.as_deref(), Some("too_many_requests"));
    assert_eq!(points[2].pass_rate, Some(100.0));
    assert_eq!(
        (points[3].results, points[3].pass_rate),
        (0, None),
        "no result yet"
    );
    assert_eq!(points[4].results, 1);
    assert_eq!(points[4].batch_status, BatchStatus::Running);

    // Just-finished batches are computed, not stored; once settled they are stored, and read
    // back the same.
    assert_eq!(store.stored_run_stats().await.unwrap(), 0);
    raw(
        url,
        "UPDATE batches SET finished_at = 1 WHERE finished_at IS NOT NULL",
    )
    .await;
    let (again, _) = store.run_points(&[a, b], None, None, 200).await.unwrap();
    assert_eq!(
        store.stored_run_stats().await.unwrap(),
        3,
        "b1 × 2 + b2 × 1"
    );
    let (stored, _) = store.run_points(&[a, b], None, None, 200).await.unwrap();
    assert_eq!(again, points);
    assert_eq!(stored, points, "stored figures read back as computed");

    // One version, a date range, a limit.
    let (only_b, _) = store.run_points(&[b], None, None, 200).await.unwrap();
    assert_eq!(
        only_b.iter().map(|p| p.batch_id).collect::<Vec<_>>(),
        [b1, b3]
    );
    raw(
        url,
        &format!(
            "UPDATE batches SET created_at = {} WHERE id = {}",
            day_start_ms("2026-11-01").unwrap() + 5,
            b1.0
        ),
    )
    .await;
    let day = day_start_ms("2026-11-01").unwrap();
    let (in_range, _) = store
        .run_points(&[a, b], Some(day), Some(day + 86_400_000), 200)
        .await
        .unwrap();
    assert_eq!(in_range.len(), 2);
    assert!(in_range.iter().all(|p| p.batch_id == b1));
    let (newest, truncated) = store.run_points(&[a], None, None, 1).await.unwrap();
    assert!(truncated);
    assert_eq!(newest.iter().map(|p| p.batch_id).collect::<Vec<_>>(), [b3]);
    assert_eq!(
        store.run_points(&[], None, None, 10).await.unwrap().0,
        vec![]
    );
    assert!(store
        .run_points(&[unused], None, None, 10)
        .await
        .unwrap()
        .0
        .is_empty());

    // A re-run re-opens b1: its stored figures go.
    assert!(matches!(
        store.claim_for_rerun(b1).await.unwrap(),
        RerunClaim::Claimed { to_run: 2 }
    ));
    assert_eq!(
        store.stored_run_stats().await.unwrap(),
        1,
        "only b2's remain"
    );
    store
        .mark_batch_finished(b1, BatchStatus::Completed, None)
        .await
        .unwrap();

    // ---- History: filters, search, paging ----
    let all = HistoryFilter::default();
    assert_eq!(store.count_batches(&all).await.unwrap(), 3);
    let page: Vec<BatchId> = store
        .batch_history(&all, 0, 2)
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(page, [b3, b2], "newest first");
    let page2 = store.batch_history(&all, 2, 2).await.unwrap();
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0].id, b1);
    assert_eq!(page2[0].versions.len(), 2);
    assert_eq!(
        page2[0].completed_tests, 6,
        "b1's error results were deleted by the re-run"
    );
    let count = |f: HistoryFilter| {
        let store = store.clone();
        async move {
            let n = store.count_batches(&f).await.unwrap();
            let ids: Vec<BatchId> = store
                .batch_history(&f, 0, 50)
                .await
                .unwrap()
                .iter()
                .map(|b| b.id)
                .collect();
            assert_eq!(ids.len() as u64, n);
            ids
        }
    };
    let search = |s: &str| HistoryFilter {
        search: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(count(search("NIGHTLY")).await, [b2, b1], "any case");
    assert_eq!(count(search("50%_")).await, [b2], "% and _ are literal");
    assert_eq!(count(search("%")).await, [b2]);
    assert_eq!(count(search("zzz")).await, Vec::<BatchId>::new());
    let by = |who: &str| HistoryFilter {
        created_by: Some(who.into()),
        ..Default::default()
    };
    assert_eq!(count(by("alice")).await, [b1]);
    let status = HistoryFilter {
        status: Some(BatchStatus::Running),
        ..Default::default()
    };
    assert_eq!(count(status).await, [b3]);
    let of_b = HistoryFilter {
        version_id: Some(b),
        ..Default::default()
    };
    assert_eq!(count(of_b).await, [b3, b1]);
    let november = HistoryFilter {
        from_ms: Some(day),
        to_ms: Some(day + 86_400_000),
        ..Default::default()
    };
    assert_eq!(count(november).await, [b1]);
    let both_filters = HistoryFilter {
        version_id: Some(a),
        created_by: Some("bob".into()),
        search: Some("nightly".into()),
        ..Default::default()
    };
    assert_eq!(count(both_filters).await, [b2]);
    assert_eq!(store.batch_starters().await.unwrap(), ["alice", "bob"]);

    // ---- Delete ----
    assert_eq!(
        store.delete_batch(b3).await.unwrap(),
        Deleted::Open,
        "running"
    );
    assert!(store.batch_exists(b3).await.unwrap());
    // Stored figures of b1 again, so that the delete is seen to take them too.
    raw(
        url,
        "UPDATE batches SET finished_at = 1 WHERE finished_at IS NOT NULL",
    )
    .await;
    store.run_points(&[a, b], None, None, 200).await.unwrap();
    let before = raw(
        url,
        &format!("SELECT COUNT(*) FROM run_stats WHERE batch_id = {}", b1.0),
    )
    .await;
    assert_eq!(before, 2);
    assert_eq!(store.delete_batch(b1).await.unwrap(), Deleted::Deleted);
    assert!(!store.batch_exists(b1).await.unwrap());
    for table in ["results", "batch_versions", "batch_cases", "run_stats"] {
        let n = raw(
            url,
            &format!("SELECT COUNT(*) FROM {table} WHERE batch_id = {}", b1.0),
        )
        .await;
        assert_eq!(n, 0, "{table} rows of the deleted batch");
    }
    assert_eq!(
        store.list_results(b2).await.unwrap().len(),
        4,
        "other batches stay"
    );
    assert_eq!(store.delete_batch(b1).await.unwrap(), Deleted::NotFound);
    assert_eq!(store.count_batches(&all).await.unwrap(), 2);
}

#[tokio::test]
async fn dashboard_figures_and_history_on_sqlite() {
    let (_dir, url) = sqlite_url();
    suite(&url).await;
}

#[tokio::test]
async fn dashboard_figures_and_history_on_postgres() {
    let Some(url) = postgres_url("dashboard").await else {
        return;
    };
    suite(&url).await;
}

/// The server functions over HTTP: three demo-like batches against the simulator, the
/// dashboard's trends of them, bad input named, the history's paging and filters, and delete
/// by role (a viewer may not; a running batch is refused).
#[tokio::test]
async fn dashboard_history_and_delete_over_http() {
    let (dir, url) = sqlite_url();
    let sim = simulator(5, FaultProfile::None).await;
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    let a = api
        .create_version("chat q90", &sim, "app-chat.q90.dash-a", "chat", "streaming")
        .await;
    let b = api
        .create_version(
            "workflow q40",
            &sim,
            "app-workflow.q40.dash-b",
            "workflow",
            "blocking",
        )
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": ten_cases().to_string()}),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = api
            .ok(
                "start_batch",
                json!({"name": format!("trend {i}"), "version_ids": [a, b], "concurrency": 8}),
            )
            .await
            .as_i64()
            .unwrap();
        api.read_progress(id, Duration::from_secs(60)).await;
        ids.push(id);
    }

    // Default selection: the newest batch's versions.
    let d = api.ok("dashboard", json!({})).await;
    assert_eq!(d["selected"], json!([a, b]));
    let points = d["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    let batches: Vec<i64> = points
        .iter()
        .map(|p| p["batch_id"].as_i64().unwrap())
        .collect();
    assert_eq!(batches, [ids[0], ids[0], ids[1], ids[1], ids[2], ids[2]]);
    for p in points {
        assert_eq!(p["results"], 10);
        assert!(
            p["pass_rate"].is_number() && p["latency_p95_ms"].is_number(),
            "{p}"
        );
        assert!(p["mean_score"].as_f64().unwrap() > 0.0);
    }
    // The q90 chat version scores above the q40 workflow one in every batch.
    for pair in points.chunks(2) {
        assert!(
            pair[0]["mean_score"].as_f64() > pair[1]["mean_score"].as_f64(),
            "{pair:?}"
        );
    }
    assert!(
        points[0]["ttft_p50_ms"].is_number(),
        "streaming has a time to first token"
    );
    assert!(points[1]["ttft_p50_ms"].is_null(), "blocking has none");
    let only_a = api
        .ok("dashboard", json!({"version_ids": [a], "limit": 2}))
        .await;
    assert_eq!(only_a["points"].as_array().unwrap().len(), 2);
    assert_eq!(only_a["truncated"], true);
    let today = dify_bench::model::dashboard::day_of_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let ranged = api
        .ok(
            "dashboard",
            json!({"from": "2000-01-01", "to": "2000-01-02"}),
        )
        .await;
    assert_eq!(ranged["points"], json!([]));
    let ranged = api
        .ok("dashboard", json!({"from": today, "to": today}))
        .await;
    assert_eq!(ranged["points"].as_array().unwrap().len(), 6);
    for (body, needle) in [
        (
            json!({"from": "yesterday"}),
            "`from` must be a date as YYYY-MM-DD",
        ),
        (
            json!({"from": "2026-12-02", "to": "2026-12-01"}),
            "`to` is before `from`",
        ),
        (json!({"limit": 0}), "`limit` must be between 1 and 1000"),
        (
            json!({"version_ids": (1..=13).collect::<Vec<i64>>()}),
            "at most 12 versions",
        ),
    ] {
        let (s, e) = api.call("dashboard", body.clone()).await;
        assert_eq!(s, 400, "{body}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(needle),
            "{body}: {e}"
        );
    }

    // History: page size 20, so 23 batches make two pages.
    let first_case = api.ok("list_cases", json!({})).await[0]["id"].clone();
    for i in 3..23 {
        let id = api
            .ok(
                "start_batch",
                json!({"name": format!("bulk {i}"), "version_ids": [a], "case_ids": [first_case], "concurrency": 8}),
            )
            .await;
        api.read_progress(id.as_i64().unwrap(), Duration::from_secs(30))
            .await;
    }
    let h = api.ok("batch_history", json!({})).await;
    assert_eq!(h["total"], 23);
    assert_eq!(
        (h["page"].as_u64(), h["pages"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(h["batches"].as_array().unwrap().len(), 20);
    let last = api.ok("batch_history", json!({"page": 9})).await;
    assert_eq!(last["page"], 1, "past the end → the last page");
    assert_eq!(last["batches"].as_array().unwrap().len(), 3);
    assert_eq!(last["batches"][2]["id"], ids[0], "the oldest is last");
    let found = api.ok("batch_history", json!({"search": "TREND"})).await;
    assert_eq!(found["total"], 3);
    let by_b = api.ok("batch_history", json!({"version_id": b})).await;
    assert_eq!(by_b["total"], 3);
    let by_me = api
        .ok("batch_history", json!({"created_by": "token:tests-admin"}))
        .await;
    assert!(by_me["total"].as_u64().unwrap() >= 3, "{by_me}");
    assert!(
        h["starters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "token:tests-admin"),
        "{}",
        h["starters"]
    );
    let (s, e) = api
        .call("batch_history", json!({"status": "sleeping"}))
        .await;
    assert_eq!(s, 400, "{e}");

    // Delete: a viewer may not; an editor may; the batch and its results are gone.
    let (s, e) = server
        .api_as("viewer")
        .call("delete_batch", json!({"id": ids[0]}))
        .await;
    assert_eq!((s, e["error"].as_str()), (403, Some("forbidden")));
    server
        .api_as("editor")
        .ok("delete_batch", json!({"id": ids[0]}))
        .await;
    let (s, _) = api.call("get_batch", json!({"id": ids[0]})).await;
    assert_eq!(s, 404);
    let (s, _) = api.call("batch_results", json!({"id": ids[0]})).await;
    assert_eq!(s, 404);
    let (s, e) = api.call("delete_batch", json!({"id": ids[0]})).await;
    assert_eq!(s, 404, "{e}");
    let d = api.ok("dashboard", json!({"version_ids": [a, b]})).await;
    let points = d["points"].as_array().unwrap();
    assert_eq!(
        points.len(),
        2 * 2 + 20,
        "two trend batches × 2 versions, 20 of version a alone"
    );
    assert!(
        points.iter().all(|p| p["batch_id"] != ids[0]),
        "the deleted batch's points are gone"
    );

    // A running batch is refused with the way out named.
    let slow_sim = simulator(400, FaultProfile::None).await;
    let slow = api
        .create_version(
            "slow",
            &slow_sim,
            "app-chat.q90.dash-slow",
            "chat",
            "blocking",
        )
        .await;
    let running = api
        .ok(
            "start_batch",
            json!({"name": "long", "version_ids": [slow], "concurrency": 1}),
        )
        .await
        .as_i64()
        .unwrap();
    let (s, e) = api.call("delete_batch", json!({"id": running})).await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("cancel it first"),
        "{e}"
    );
    api.ok("cancel_batch", json!({"id": running})).await;
    api.read_progress(running, Duration::from_secs(30)).await;
    api.ok("delete_batch", json!({"id": running})).await;
}
