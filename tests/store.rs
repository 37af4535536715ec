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
    assert_eq!(
        (
            list[0].completed_tests,
            list[0].passed_tests,
            list[0].failed_tests
        ),
        (2, 1, 0),
        "the list counts the batch's results (the errored one was deleted)"
    );
    assert!(store.list_batches(0).await.unwrap().is_empty());
    assert_eq!(list[0].versions.len(), 2);
    assert_eq!(list[0].versions[1].api_key_hint, "app-…2222");
    assert!(store.get_batch(BatchId(999)).await.unwrap().is_none());

    paging(&store, &versions).await;
    store.close().await;
}

/// The batch page's and the exports' reads: case pages in launch order, one page's results, and
/// keyset pages that together are exactly `list_results`.
async fn paging(store: &Store, versions: &[dify_bench::server::store::VersionRecord]) {
    let ids = store
        .insert_cases(
            &(0..7)
                .map(|i| case(&format!("page q{i}")))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    // Launched in an order that is not the ids' order.
    let mut cases: Vec<TestCase> = Vec::new();
    for id in ids.iter().rev() {
        cases.push(store.get_case(*id).await.unwrap().unwrap());
    }
    let scoring = ScoringConfig::default();
    let batch = store
        .create_batch(&NewBatch {
            name: "paged",
            concurrency: 2,
            per_version_cap: None,
            scoring: &scoring,
            versions,
            cases: &cases,
        })
        .await
        .unwrap();
    let (a, b) = (versions[0].version.id, versions[1].version.id);

    assert_eq!(store.batch_case_count(batch).await.unwrap(), 7);
    assert_eq!(store.batch_case_count(BatchId(999)).await.unwrap(), 0);
    let all = store.batch_cases(batch).await.unwrap();
    assert_eq!(all, cases, "launch order");
    let mut paged = Vec::new();
    for offset in [0, 3, 6] {
        paged.extend(store.batch_cases_page(batch, offset, 3).await.unwrap());
    }
    assert_eq!(paged, all, "pages of 3 are the whole snapshot, in order");
    assert!(store
        .batch_cases_page(batch, 7, 3)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.batch_cases_page(batch, 5, 100).await.unwrap().len(),
        2
    );

    // Every case of version a, the odd-positioned ones of version b; one error.
    let mut results = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let status = if i == 2 {
            ResultStatus::Error
        } else {
            ResultStatus::Passed
        };
        let score = (i != 2).then_some(50.0 + i as f64);
        results.push(result(batch, a, c.id, status, score));
        if i % 2 == 1 {
            results.push(result(batch, b, c.id, ResultStatus::Failed, Some(10.0)));
        }
    }
    store.insert_results(&results).await.unwrap();
    let listed = store.list_results(batch).await.unwrap();
    assert_eq!(listed.len(), 10);

    let page: Vec<CaseId> = all[..3].iter().map(|c| c.id).collect();
    let got = store.results_for_cases(batch, &page).await.unwrap();
    let expected: Vec<&TestResult> = listed
        .iter()
        .filter(|r| page.contains(&r.case_id))
        .collect();
    assert_eq!(got.len(), 4, "3 of version a, 1 of version b");
    assert_eq!(
        got.iter().collect::<Vec<_>>(),
        expected,
        "ordered by (version, case)"
    );
    let cells = store.result_cells_for_cases(batch, &page).await.unwrap();
    let outcomes: Vec<(VersionId, CaseId, ResultStatus, Option<f64>)> = expected
        .iter()
        .map(|r| (r.version_id, r.case_id, r.status, r.score))
        .collect();
    assert_eq!(
        cells
            .iter()
            .map(|c| (c.version_id, c.case_id, c.status, c.score))
            .collect::<Vec<_>>(),
        outcomes,
        "cells are the results' outcomes, in the same order"
    );
    assert!(store
        .result_cells_for_cases(batch, &[])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.get_result(batch, a, page[0]).await.unwrap().as_ref(),
        listed
            .iter()
            .find(|r| r.version_id == a && r.case_id == page[0])
    );
    assert!(
        store.get_result(batch, b, page[0]).await.unwrap().is_none(),
        "not run"
    );
    assert!(store.batch_exists(batch).await.unwrap());
    assert!(!store.batch_exists(BatchId(999)).await.unwrap());
    assert!(store
        .results_for_cases(batch, &[])
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .results_for_cases(batch, &[CaseId(424242)])
        .await
        .unwrap()
        .is_empty());

    for limit in [1, 3, 4, 10, 11] {
        let mut streamed = Vec::new();
        let mut after = None;
        loop {
            let page = store.results_page(batch, after, limit).await.unwrap();
            assert!(page.len() as u64 <= limit);
            let Some(last) = page.last() else { break };
            after = Some((last.version_id, last.case_id));
            streamed.extend(page);
        }
        assert_eq!(streamed, listed, "keyset pages of {limit}");
    }
    assert!(store
        .results_page(BatchId(999), None, 10)
        .await
        .unwrap()
        .is_empty());

    // Summary cards from the tallies, with the progress stream's meanings and rounding.
    let tallies = store.version_tallies(batch).await.unwrap();
    let sa = tallies
        .iter()
        .find(|t| t.version_id == a.0)
        .unwrap()
        .summary();
    assert_eq!(sa.version_id, a);
    assert_eq!((sa.completed, sa.passed, sa.errors), (7, 6, 1));
    // Scores 50, 51, 53, 54, 55, 56 (the error has none): 319 / 6.
    assert_eq!(sa.average_score, Some(53.17));
    assert_eq!(sa.pass_rate, Some(85.71));
    assert_eq!(sa.avg_latency_ms, Some(120.0));
    let sb = tallies
        .iter()
        .find(|t| t.version_id == b.0)
        .unwrap()
        .summary();
    assert_eq!((sb.completed, sb.passed, sb.errors), (3, 0, 0));
    assert_eq!((sb.average_score, sb.pass_rate), (Some(10.0), Some(0.0)));
    // The batch's counts are the tallies' sums.
    let (got, with) = store.batch_with_tallies(batch).await.unwrap().unwrap();
    assert_eq!(with, tallies);
    assert_eq!(
        (got.completed_tests, got.passed_tests, got.failed_tests),
        (10, 6, 1)
    );
    assert_eq!(got.average_score, Some(38.78), "(319 + 3 × 10) / 9");
    assert_eq!(got.pass_rate, Some(60.0));
    assert_eq!(Some(got), store.get_batch(batch).await.unwrap());
    assert!(store
        .batch_with_tallies(BatchId(999))
        .await
        .unwrap()
        .is_none());
    let none = dify_bench::server::store::VersionTally::default().summary();
    assert_eq!(
        (none.average_score, none.pass_rate, none.avg_latency_ms),
        (None, None, None)
    );
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
