//! The store, the same suite on SQLite and PostgreSQL.

mod common;

use common::postgres_url;
use dify_bench::model::*;
use dify_bench::server::store::{NewBatch, Store, StoreError};

fn version(name: &str, key: &str) -> VersionDraft {
    VersionDraft {
        name: name.into(),
        base_url: "http://127.0.0.1:5001/v1".into(),
        api_key: Some(key.into()),
        app_mode: AppMode::AdvancedChat,
        inputs: Some(serde_json::json!({"lang": "zh-TW"})),
        ..Default::default()
    }
}

fn case(q: &str) -> CaseDraft {
    CaseDraft {
        query: q.into(),
        expected_answer: "每通道 2.5 Gbps".into(),
        keywords: vec!["2.5 Gbps".into(), "通道".into()],
        assertions: vec![Assertion::MaxLatencyMs { ms: 500 }],
        ..Default::default()
    }
    .normalized()
    .unwrap()
}

fn result(
    batch: BatchId,
    v: VersionId,
    c: CaseId,
    status: ResultStatus,
    score: Option<f64>,
) -> TestResult {
    TestResult {
        batch_id: batch,
        version_id: v,
        case_id: c,
        status,
        score,
        answer: score.map(|_| "答案".to_string()),
        latency_ms: Some(120),
        ttft_ms: Some(40),
        usage: Usage {
            prompt_tokens: Some(10),
            completion_tokens: Some(20),
            total_tokens: Some(30),
            total_price: Some(0.0012),
            currency: Some("USD".into()),
        },
        dify: DifyIds {
            task_id: Some("t".into()),
            message_id: Some("m".into()),
            conversation_id: None,
            workflow_run_id: None,
        },
        error_code: (status == ResultStatus::Error).then(|| "too_many_requests".into()),
        error_message: None,
        attempts: 2,
        detail: ScoreDetail {
            keywords_hit: vec!["通道".into()],
            ..Default::default()
        },
        finished_at: 1,
    }
}

async fn suite(url: &str) {
    let store = Store::connect(url).await.expect("connect and migrate");
    // Connecting again runs the migrations again: a no-op.
    Store::connect(url)
        .await
        .expect("migrations are idempotent");

    // Versions: keys are stored but only hinted; names are unique.
    let a = store
        .insert_version(&version("v1.1", "app-aaaaaaaaaaaa1111"))
        .await
        .unwrap();
    let b = store
        .insert_version(&version("v1.2", "app-bbbbbbbbbbbb2222"))
        .await
        .unwrap();
    let dup = store
        .insert_version(&version("v1.1", "app-cccccccccccc3333"))
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(ref m)) if m.contains("v1.1")),
        "{dup:?}"
    );
    let rec = store.get_version(a).await.unwrap().unwrap();
    assert_eq!(rec.api_key.expose(), "app-aaaaaaaaaaaa1111");
    assert_eq!(rec.version.api_key_hint, "app-…1111");
    assert_eq!(rec.version.inputs["lang"], "zh-TW");
    assert!(rec.version.enabled);

    // Updating without a key keeps the key.
    let mut edit = version("v1.1 renamed", "");
    edit.api_key = None;
    assert!(store.update_version(a, &edit).await.unwrap());
    let rec = store.get_version(a).await.unwrap().unwrap();
    assert_eq!(rec.version.name, "v1.1 renamed");
    assert_eq!(rec.api_key.expose(), "app-aaaaaaaaaaaa1111");
    assert!(store.set_version_enabled(b, false).await.unwrap());
    assert!(!store.get_version(b).await.unwrap().unwrap().version.enabled);
    assert!(!store
        .set_version_enabled(VersionId(999), true)
        .await
        .unwrap());

    // Cases, all-or-nothing.
    let ids = store
        .insert_cases(&[case("MIPI D-PHY 基本參數查詢"), case("q2")])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    let cases = store.list_cases().await.unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].keywords, vec!["2.5 Gbps", "通道"]);
    assert_eq!(
        cases[0].assertions,
        vec![Assertion::MaxLatencyMs { ms: 500 }]
    );

    // A batch snapshots its versions and cases.
    let versions = vec![
        store.get_version(a).await.unwrap().unwrap(),
        store.get_version(b).await.unwrap().unwrap(),
    ];
    let scoring = ScoringConfig::default();
    let batch = store
        .create_batch(&NewBatch {
            name: "Batch test",
            concurrency: 4,
            per_version_cap: Some(2),
            scoring: &scoring,
            versions: &versions,
            cases: &cases,
        })
        .await
        .unwrap();
    assert_eq!(store.unfinished_batches().await.unwrap(), vec![batch]);
    store
        .update_version(a, &version("edited later", "app-dddddddddddd4444"))
        .await
        .unwrap();
    store.delete_case(cases[1].id).await.unwrap();
    let plan = store.batch_plan(batch).await.unwrap().unwrap();
    assert_eq!(
        plan.versions[0].name, "v1.1 renamed",
        "history is not rewritten"
    );
    assert_eq!(plan.versions[0].api_key.expose(), "app-aaaaaaaaaaaa1111");
    assert_eq!(
        plan.cases.len(),
        2,
        "a deleted case stays in the batch's snapshot"
    );
    assert_eq!(plan.batch.total_tests, 4);
    assert_eq!(plan.batch.per_version_cap, Some(2));
    assert_eq!(plan.batch.status, BatchStatus::Queued);

    // Results are unique per (batch, version, case); a repeated write keeps the first.
    let (c1, c2) = (cases[0].id, cases[1].id);
    store
        .insert_results(&[
            result(batch, a, c1, ResultStatus::Passed, Some(80.0)),
            result(batch, a, c2, ResultStatus::Failed, Some(40.0)),
            result(batch, b, c1, ResultStatus::Error, None),
        ])
        .await
        .unwrap();
    store
        .insert_results(&[result(batch, a, c1, ResultStatus::Failed, Some(1.0))])
        .await
        .unwrap();
    let stored = store.list_results(batch).await.unwrap();
    assert_eq!(stored.len(), 3);
    let first = stored
        .iter()
        .find(|r| r.version_id == a && r.case_id == c1)
        .unwrap();
    assert_eq!(first.status, ResultStatus::Passed);
    assert_eq!(
        first,
        &result(batch, a, c1, ResultStatus::Passed, Some(80.0)),
        "round trip"
    );
    assert_eq!(store.result_keys(batch).await.unwrap().len(), 3);

    let tallies = store.version_tallies(batch).await.unwrap();
    let ta = tallies.iter().find(|t| t.version_id == a.0).unwrap();
    assert_eq!(
        (ta.completed, ta.passed, ta.errored, ta.scored, ta.timed),
        (2, 1, 0, 2, 2)
    );
    assert_eq!(ta.score_sum, Some(120.0));
    assert_eq!(ta.latency_sum, Some(240.0));
    let tb = tallies.iter().find(|t| t.version_id == b.0).unwrap();
    assert_eq!((tb.completed, tb.errored, tb.scored), (1, 1, 0));

    store.mark_batch_running(batch).await.unwrap();
    store
        .mark_batch_finished(batch, BatchStatus::Completed, None)
        .await
        .unwrap();
    let got = store.get_batch(batch).await.unwrap().unwrap();
    assert_eq!(got.status, BatchStatus::Completed);
    assert_eq!(
        (got.completed_tests, got.passed_tests, got.failed_tests),
        (3, 1, 1)
    );
    assert_eq!(got.average_score, Some(60.0));
    assert_eq!(got.pass_rate, Some(33.33));
    assert!(got.started_at.is_some() && got.finished_at.is_some());
    assert!(store.unfinished_batches().await.unwrap().is_empty());
    assert_eq!(store.delete_error_results(batch).await.unwrap(), 1);

    let list = store.list_batches(10).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].versions.len(), 2);
    assert_eq!(list[0].versions[1].api_key_hint, "app-…2222");
    assert!(store.get_batch(BatchId(999)).await.unwrap().is_none());
    store.close().await;
}

#[tokio::test]
async fn store_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    // A nested folder that does not exist yet: the store creates it.
    let url = format!("sqlite://{}/nested/data/bench.db", dir.path().display());
    suite(&url).await;
}

#[tokio::test]
async fn store_on_sqlite_in_memory() {
    suite("sqlite::memory:").await;
}

#[tokio::test]
async fn store_on_postgres() {
    let Some(url) = postgres_url("store").await else {
        return;
    };
    suite(&url).await;
}

#[tokio::test]
async fn a_bad_database_url_is_refused_with_its_reason() {
    let err = Store::connect("mysql://root:hunter2@localhost/db")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("unsupported DATABASE_URL"), "{msg}");
    assert!(!msg.contains("hunter2"), "passwords are not echoed: {msg}");
}
