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
        repetition: 0,
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
        trace: None,
        turns: Default::default(),
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
            repeats: 1,
            concurrency: 4,
            per_version_cap: Some(2),
            scoring: &scoring,
            versions: &versions,
            cases: &cases,
            created_by: None,
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
    assert_eq!(
        plan.versions[0].api_key.as_ref().unwrap().expose(),
        "app-aaaaaaaaaaaa1111"
    );
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
    // On PostgreSQL the live tallies (what instances relay) match the results, as they grew.
    if url.starts_with("postgres") {
        let live = store.live_tallies(batch).await.unwrap();
        let la = live.iter().find(|t| t.version_id == a.0).unwrap();
        assert_eq!(
            (la.completed, la.passed, la.errored, la.scored, la.timed),
            (2, 1, 0, 2, 2)
        );
        assert_eq!((la.score_sum, la.latency_sum), (120.0, 240.0));
        let lb = live.iter().find(|t| t.version_id == b.0).unwrap();
        assert_eq!((lb.completed, lb.errored), (1, 1));
    }
    // A re-run deletes the errored result (and, on PostgreSQL, recounts the live tallies under
    // a newer revision and puts the test back to be claimed).
    let rev_before = store
        .live_tallies(batch)
        .await
        .map(|l| l.iter().map(|t| t.rev).max());
    assert!(matches!(
        store.claim_for_rerun(batch).await.unwrap(),
        dify_bench::server::store::RerunClaim::Claimed { .. }
    ));
    if url.starts_with("postgres") {
        let live = store.live_tallies(batch).await.unwrap();
        let lb = live.iter().find(|t| t.version_id == b.0).unwrap();
        assert_eq!((lb.completed, lb.errored), (0, 0));
        assert!(lb.rev > rev_before.unwrap().unwrap());
    }
    store
        .mark_batch_finished(batch, BatchStatus::Completed, None)
        .await
        .unwrap();

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
    many(&store, &versions, url).await;
    selection(&store, &versions).await;
    refused_start(&store, &versions, url).await;
    store.close().await;
}

/// Rows in a table, read past the store (None for an in-memory or private temporary SQLite,
/// which only the store's own connection sees).
async fn raw_count(url: &str, table: &str) -> Option<i64> {
    use sqlx::Connection;
    let sql = format!("SELECT COUNT(*) FROM {table}");
    if url.contains(":memory:") || url == "sqlite:" {
        None
    } else if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let n = sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        Some(n)
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let n = sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        Some(n)
    }
}

/// A launch refused by a case whose plan does not compile leaves nothing: the batch is written
/// while the plans compile (on PostgreSQL its snapshots and work rows by COPY) and rolled back
/// when one fails, so no batch, no snapshot and no work row remains, on either backend. The bad
/// case is the last of thousands, so the writes have run before the refusal.
async fn refused_start(store: &Store, versions: &[VersionRecord], url: &str) {
    use dify_bench::server::dify::{ClientConfig, DifyClient};
    use dify_bench::server::progress::Registry;
    use dify_bench::server::runner::{Engine, EngineError, StartBatch};

    let mut drafts: Vec<CaseDraft> = (0..2_500)
        .map(|i| case(&format!("refused q{i}\twith a tab, a \\ and \\N")))
        .collect();
    // Stored as it is: the store does not check drafts (the API does), the engine's plan does.
    drafts.push(CaseDraft {
        name: "unclosed group".into(),
        assertions: vec![Assertion::Regex {
            pattern: "(".into(),
        }],
        ..drafts[0].clone()
    });
    let ids = store.insert_cases(&drafts).await.unwrap();
    let bad = *ids.last().unwrap();
    let tables = ["batches", "batch_versions", "batch_cases", "batch_work"];
    let mut before = Vec::new();
    for table in tables {
        // SQLite has no work rows (one instance serves it).
        if table != "batch_work" || url.starts_with("postgres") {
            before.push((table, raw_count(url, table).await));
        }
    }
    let batches = store.list_batches(1_000).await.unwrap().len();

    let engine = Engine::new(
        store.clone(),
        Registry::new(std::time::Duration::from_secs(60)),
        DifyClient::new(ClientConfig::default()).unwrap(),
    );
    let refused = engine
        .start_batch(StartBatch {
            name: "refused".into(),
            version_ids: vec![versions[0].version.id],
            case_ids: Some(ids.clone()),
            repeats: Some(2),
            ..Default::default()
        })
        .await;
    match refused {
        Err(EngineError::Invalid(m)) => assert!(
            m.starts_with(&format!(
                "case {bad} (unclosed group): assertion 1: invalid regex `(`"
            )),
            "{m}"
        ),
        other => panic!("a case whose regex does not compile was run: {other:?}"),
    }
    assert_eq!(store.list_batches(1_000).await.unwrap().len(), batches);
    for (table, n) in before {
        assert_eq!(
            raw_count(url, table).await,
            n,
            "{table}: a refused launch wrote nothing"
        );
    }
    // The store is usable afterwards (the transaction ended), and the other cases start.
    assert!(store.delete_case(bad).await.unwrap());
    let started = engine
        .start_batch(StartBatch {
            name: "the good ones".into(),
            version_ids: vec![versions[0].version.id],
            case_ids: Some(ids[..ids.len() - 1].to_vec()),
            ..Default::default()
        })
        .await
        .unwrap();
    engine.cancel_batch(started).await.unwrap();
    for _ in 0..200 {
        let batch = store.get_batch(started).await.unwrap().unwrap();
        if batch.status.is_terminal() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let stored = store.batch_cases(started).await.unwrap();
    assert_eq!(stored.len(), 2_500);
    assert_eq!(stored[7].query, "refused q7\twith a tab, a \\ and \\N");
}

/// A batch reads only the cases it runs: every enabled case, or the selected ones in the order
/// given, each once; a selected case that is missing or disabled is named (the first in order)
/// and nothing is written. What the batch stores is the cases as they were.
async fn selection(store: &Store, versions: &[dify_bench::server::store::VersionRecord]) {
    use dify_bench::server::dify::{ClientConfig, DifyClient};
    use dify_bench::server::progress::Registry;
    use dify_bench::server::runner::{Engine, EngineError, StartBatch};

    let drafts: Vec<CaseDraft> = (0..5)
        .map(|i| CaseDraft {
            enabled: Some(i != 2),
            ..case(&format!("selection q{i}"))
        })
        .collect();
    let ids = store.insert_cases(&drafts).await.unwrap();
    let all = store.list_cases().await.unwrap();
    let enabled: Vec<TestCase> = all.iter().filter(|c| c.enabled).cloned().collect();
    assert!(enabled.len() < all.len(), "some cases are disabled");
    assert_eq!(store.enabled_cases().await.unwrap(), enabled);

    // By ids: those that exist, once each, in id order, enabled or not.
    let by_id = |id: CaseId| all.iter().find(|c| c.id == id).unwrap().clone();
    let found = store
        .cases_with_ids(&[ids[4], CaseId(999_999), ids[2], ids[4], ids[0]])
        .await
        .unwrap();
    assert_eq!(found, vec![by_id(ids[0]), by_id(ids[2]), by_id(ids[4])]);
    assert!(store.cases_with_ids(&[]).await.unwrap().is_empty());
    assert!(store
        .cases_with_ids(&[CaseId(999_999)])
        .await
        .unwrap()
        .is_empty());

    let engine = Engine::new(
        store.clone(),
        Registry::new(std::time::Duration::from_secs(60)),
        DifyClient::new(ClientConfig::default()).unwrap(),
    );
    let start = |case_ids: Option<Vec<CaseId>>| StartBatch {
        name: "selection".into(),
        version_ids: vec![versions[0].version.id],
        case_ids,
        ..Default::default()
    };
    let batches = store.list_batches(1_000).await.unwrap().len();
    let missing = "test case 999999 does not exist".to_string();
    let disabled = format!(
        "test case {} (`{}`) is disabled",
        ids[2],
        by_id(ids[2]).name
    );
    for (selected, named) in [
        (vec![ids[0], CaseId(999_999)], &missing),
        (vec![ids[0], ids[2]], &disabled),
        (vec![CaseId(999_999), ids[2]], &missing),
        (vec![ids[2], CaseId(999_999)], &disabled),
    ] {
        match engine.start_batch(start(Some(selected.clone()))).await {
            Err(EngineError::Invalid(m)) => assert_eq!(&m, named, "{selected:?}"),
            other => panic!("{selected:?} was not refused: {other:?}"),
        }
    }
    assert_eq!(
        store.list_batches(1_000).await.unwrap().len(),
        batches,
        "a refused selection writes nothing"
    );

    let stop = |id: BatchId| {
        let engine = engine.clone();
        async move {
            let _ = engine.cancel_batch(id).await;
            for _ in 0..200 {
                if store
                    .get_batch(id)
                    .await
                    .unwrap()
                    .unwrap()
                    .status
                    .is_terminal()
                {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            panic!("batch {id} did not end");
        }
    };
    // Every enabled case, in id order, as stored; an edit afterwards changes nothing in it.
    let every = engine.start_batch(start(None)).await.unwrap();
    stop(every).await;
    assert_eq!(store.batch_cases(every).await.unwrap(), enabled);
    let mut edit = drafts[0].clone();
    edit.expected_answer = "edited after the launch".into();
    assert!(store.update_case(ids[0], &edit).await.unwrap());
    assert_eq!(store.batch_cases(every).await.unwrap(), enabled);

    // A selection in its own order, each case once.
    let some = engine
        .start_batch(start(Some(vec![ids[4], ids[0], ids[4], ids[1]])))
        .await
        .unwrap();
    stop(some).await;
    assert_eq!(
        store.batch_case_ids(some).await.unwrap(),
        vec![ids[4], ids[0], ids[1]]
    );
    let snapshots = store.batch_cases(some).await.unwrap();
    assert_eq!(snapshots[1].expected_answer, "edited after the launch");
    assert_eq!(snapshots[1], store.get_case(ids[0]).await.unwrap().unwrap());

    // A test set whose ids span 2,000 or more is read in two halves at once on a SQLite file
    // (in one statement on PostgreSQL and the single-connection stores): the same cases,
    // in id order, disabled ones (in both halves) left out.
    let many: Vec<CaseDraft> = (0..2_100)
        .map(|i| CaseDraft {
            enabled: Some(i % 500 != 7),
            ..case(&format!("selection many q{i}"))
        })
        .collect();
    store.insert_cases(&many).await.unwrap();
    let every = store.list_cases().await.unwrap();
    let every_enabled: Vec<TestCase> = every.iter().filter(|c| c.enabled).cloned().collect();
    assert!(
        every.len() - every_enabled.len() >= 5,
        "five of the many are disabled"
    );
    assert_eq!(store.enabled_cases().await.unwrap(), every_enabled);
}

/// Thousands of cases: the multi-row inserts span several statements, and the ids, the
/// snapshots and the plan handed to the runner at launch still line up with the drafts.
async fn many(store: &Store, versions: &[dify_bench::server::store::VersionRecord], url: &str) {
    let drafts: Vec<CaseDraft> = (0..3_000)
        .map(|i| CaseDraft {
            keywords: vec![format!("k{i}")],
            pass_threshold: (i % 3 == 0).then_some(50.0),
            enabled: Some(i % 7 != 0),
            ..case(&format!("bulk q{i:04}"))
        })
        .collect();
    let ids = store.insert_cases(&drafts).await.unwrap();
    assert_eq!(ids.len(), drafts.len());
    assert!(
        ids.windows(2).all(|w| w[0].0 < w[1].0),
        "ids in draft order"
    );
    let all = store.list_cases().await.unwrap();
    let by_id: std::collections::HashMap<CaseId, &TestCase> =
        all.iter().map(|c| (c.id, c)).collect();
    for (id, d) in ids.iter().zip(&drafts) {
        let c = by_id[id];
        assert_eq!(
            (&c.query, &c.keywords, c.pass_threshold, c.enabled),
            (&d.query, &d.keywords, d.pass_threshold, d.enabled.unwrap()),
        );
    }
    // Launched in an order that is not the ids'.
    let cases: Vec<TestCase> = ids.iter().rev().map(|id| by_id[id].clone()).collect();
    let scoring = ScoringConfig::default();
    let plan = store
        .create_batch_planned(&NewBatch {
            name: "many",
            repeats: 2,
            concurrency: 8,
            per_version_cap: None,
            scoring: &scoring,
            versions,
            cases: &cases,
            created_by: Some("alice"),
        })
        .await
        .unwrap();
    let stored = store.batch_plan(plan.batch.id).await.unwrap().unwrap();
    assert_eq!(plan.batch, stored.batch, "the plan is what is stored");
    if url.starts_with("postgres") {
        // The work rows instances claim from: every (version, repetition, case) once, in
        // dispatch order — versions in order, then repetition rounds, then cases in launch order.
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT version_id, case_id, repetition, seq FROM batch_work WHERE batch_id = $1 \
             ORDER BY seq",
        )
        .bind(plan.batch.id.0)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        let n = cases.len();
        let expected: Vec<(i64, i64, i64, i64)> = (0..versions.len() * 2 * n)
            .map(|s| {
                let version = versions[s / (2 * n)].version.id.0;
                (version, cases[s % n].id.0, ((s / n) % 2) as i64, s as i64)
            })
            .collect();
        assert_eq!(rows, expected, "the work rows, in dispatch order");
    }
    assert_eq!(plan.batch.total_tests, 2 * 3_000 * versions.len() as i64);
    assert_eq!(plan.cases, stored.cases);
    assert_eq!(plan.cases, cases);
    assert_eq!(plan.versions.len(), stored.versions.len());
    for (p, s) in plan.versions.iter().zip(&stored.versions) {
        assert_eq!(
            (
                p.version_id,
                &p.name,
                &p.base_url,
                p.api_key.as_ref().map(|k| k.expose()),
                p.app_mode,
                p.response_mode,
                &p.answer_field,
                &p.inputs
            ),
            (
                s.version_id,
                &s.name,
                &s.base_url,
                s.api_key.as_ref().map(|k| k.expose()),
                s.app_mode,
                s.response_mode,
                &s.answer_field,
                &s.inputs
            )
        );
    }
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
            repeats: 1,
            concurrency: 2,
            per_version_cap: None,
            scoring: &scoring,
            versions,
            cases: &cases,
            created_by: None,
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
            after = Some((last.version_id, last.case_id, last.repetition));
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

/// `run`'s store: SQLite's private temporary database (the empty file name), one connection.
#[tokio::test]
async fn store_on_sqlite_private_temporary() {
    suite("sqlite:").await;
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

// ---- Keys at rest -------------------------------------------------------------------------

use dify_bench::server::secret::{MasterKey, SecretKeyConfig};
use dify_bench::server::store::VersionRecord;

/// Distinctive keys: none of these may appear anywhere in the database in plain text.
const KEY_A: &str = "app-AtRestAlpha7f3e9c1d";
const KEY_A2: &str = "app-AtRestAlphaTwo0b4a";
const KEY_B: &str = "app-AtRestBravo55d2e8aa";
const KEY_LEGACY: &str = "app-AtRestLegacy9c0ffee";
const KEY_LEGACY_OLD: &str = "app-AtRestLegacyOld1234";
const ALL_KEYS: [&str; 5] = [KEY_A, KEY_A2, KEY_B, KEY_LEGACY, KEY_LEGACY_OLD];

fn file_key(path: &std::path::Path) -> SecretKeyConfig {
    SecretKeyConfig {
        key: None,
        file: Some(path.to_path_buf()),
    }
}

fn env_key(key: &MasterKey) -> SecretKeyConfig {
    SecretKeyConfig {
        key: Some(key.encode()),
        file: None,
    }
}

async fn one_batch(store: &Store, versions: &[VersionRecord], case: &TestCase) -> BatchId {
    store
        .create_batch(&NewBatch {
            name: "at rest",
            repeats: 1,
            concurrency: 1,
            per_version_cap: None,
            scoring: &ScoringConfig::default(),
            versions,
            cases: std::slice::from_ref(case),
            created_by: None,
        })
        .await
        .unwrap()
}

/// The key each of a batch's versions still holds in its snapshot.
async fn snapshot_keys(store: &Store, batch: BatchId) -> Vec<Option<String>> {
    let plan = store.batch_plan(batch).await.unwrap().unwrap();
    plan.versions
        .iter()
        .map(|v| v.api_key.as_ref().map(|k| k.expose().to_string()))
        .collect()
}

/// Runs raw SQL on the database behind the store's back (to plant what an older version wrote).
async fn raw_execute(url: &str, sql: &str, binds: &[&str]) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(*b);
        }
        q.execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(*b);
        }
        q.execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
}

/// Everything an attacker with the database (not the key) could read: the SQLite file and its
/// WAL byte for byte, or every text column of PostgreSQL's two key-holding tables.
async fn raw_contents(url: &str) -> String {
    use sqlx::Connection;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                all.extend_from_slice(&bytes);
            }
        }
        assert!(all.len() > 4096, "read the database file");
        return String::from_utf8_lossy(&all).into_owned();
    }
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let mut out = String::new();
    for sql in [
        "SELECT concat_ws('|', name, description, base_url, api_key, app_mode, response_mode, \
         answer_field, inputs) FROM versions",
        "SELECT config FROM batch_versions",
        "SELECT snapshot FROM batch_cases",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap();
        assert!(!rows.is_empty(), "{sql}");
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
    }
    conn.close().await.unwrap();
    out
}

fn assert_no_key_in(contents: &str, when: &str) {
    for key in ALL_KEYS {
        assert!(
            !contents.contains(key),
            "{when}: {key} is stored in plain text"
        );
        // The distinctive middle, in case of a partial copy.
        assert!(
            !contents.contains(&key[4..16]),
            "{when}: part of {key} is stored"
        );
    }
}

/// The whole life of stored keys on one backend: sealed on insert, in snapshots, after an
/// upgrade from plain text, forgotten by finished batches, rotated, and refused under a wrong key.
async fn keys_at_rest(url: &str, key_file: &std::path::Path) {
    let keys = file_key(key_file);
    let store = Store::open(url, &keys).await.unwrap();
    assert!(key_file.exists(), "the key file is created on first start");
    let a = store.insert_version(&version("a", KEY_A)).await.unwrap();
    let b = store.insert_version(&version("b", KEY_B)).await.unwrap();
    let legacy = store
        .insert_version(&version("legacy", "app-placeholder-0000"))
        .await
        .unwrap();
    let case_id = store.insert_cases(&[case("q")]).await.unwrap()[0];
    let case = store.get_case(case_id).await.unwrap().unwrap();
    let records = store.list_versions().await.unwrap();

    // A finished batch and a queued one, both with a snapshot of every version.
    let finished = one_batch(&store, &records, &case).await;
    store
        .mark_batch_finished(finished, BatchStatus::Completed, None)
        .await
        .unwrap();
    let queued = one_batch(&store, &records, &case).await;
    let old = one_batch(&store, &records, &case).await;
    store
        .mark_batch_finished(old, BatchStatus::Cancelled, None)
        .await
        .unwrap();
    assert_eq!(
        snapshot_keys(&store, finished).await,
        [
            Some(KEY_A.into()),
            Some(KEY_B.into()),
            Some("app-placeholder-0000".into())
        ],
        "a finished batch keeps keys that are still current"
    );
    store.close().await;

    // What a database from before encryption holds: plain keys, in the version and the
    // snapshots (one snapshot with the key the version had before).
    raw_execute(
        url,
        "UPDATE versions SET api_key = $1 WHERE name = 'legacy'",
        &[KEY_LEGACY],
    )
    .await;
    let legacy_config = |key: &str| {
        serde_json::json!({"name": "legacy", "base_url": "http://127.0.0.1:5001/v1",
            "api_key": key, "app_mode": "advanced-chat", "response_mode": "streaming",
            "answer_field": null, "inputs": {}})
        .to_string()
    };
    for (batch, key) in [
        (finished, KEY_LEGACY),
        (queued, KEY_LEGACY),
        (old, KEY_LEGACY_OLD),
    ] {
        raw_execute(
            url,
            &format!(
                "UPDATE batch_versions SET config = $1 WHERE batch_id = {} AND version_id = {}",
                batch.0, legacy.0
            ),
            &[&legacy_config(key)],
        )
        .await;
    }
    assert!(
        raw_contents(url).await.contains(KEY_LEGACY),
        "the plain key was planted"
    );

    // The next start seals them, once; a second start changes nothing.
    let store = Store::open(url, &keys).await.unwrap();
    drop(Store::open(url, &keys).await.unwrap());
    let rec = store.get_version(legacy).await.unwrap().unwrap();
    assert_eq!(rec.api_key.expose(), KEY_LEGACY);
    assert_eq!(rec.version.api_key_hint, "app-…ffee");
    assert_eq!(
        snapshot_keys(&store, finished).await[2].as_deref(),
        Some(KEY_LEGACY)
    );
    assert_eq!(
        snapshot_keys(&store, queued).await[2].as_deref(),
        Some(KEY_LEGACY)
    );
    assert_eq!(
        snapshot_keys(&store, old).await[2],
        None,
        "a finished batch's key that is no longer the version's is forgotten at start-up"
    );

    // Replacing a key and deleting a version: finished batches forget the old key, the queued
    // one keeps it (it has yet to run).
    let mut edit = version("a", KEY_A2);
    edit.enabled = None;
    assert!(store.update_version(a, &edit).await.unwrap());
    assert!(store.delete_version(b).await.unwrap());
    assert_eq!(
        snapshot_keys(&store, finished).await,
        [None, None, Some(KEY_LEGACY.into())]
    );
    assert_eq!(
        snapshot_keys(&store, queued).await,
        [
            Some(KEY_A.into()),
            Some(KEY_B.into()),
            Some(KEY_LEGACY.into())
        ]
    );
    let listed = store.get_batch(finished).await.unwrap().unwrap();
    assert_eq!(
        listed.versions[0].api_key_hint, "…",
        "a removed key has no hint"
    );
    // The queued batch finishes after the key changed: then it forgets the old key too.
    store
        .mark_batch_finished(queued, BatchStatus::Completed, None)
        .await
        .unwrap();
    assert_eq!(
        snapshot_keys(&store, queued).await,
        [None, None, Some(KEY_LEGACY.into())]
    );
    let before_rotation = store.get_version(a).await.unwrap().unwrap();
    assert_eq!(before_rotation.api_key.expose(), KEY_A2);
    assert_no_key_in(&raw_contents(url).await, "while the store is open");
    store.close().await;
    assert_no_key_in(&raw_contents(url).await, "after sealing");

    // Rotation: a new key file, every key still readable, the old key refused by id.
    let old_key = MasterKey::parse(&std::fs::read_to_string(key_file).unwrap()).unwrap();
    let store = Store::open(url, &keys).await.unwrap();
    let new_key = MasterKey::generate().unwrap();
    let done = store.rotate_secret_key(&new_key).await.unwrap();
    assert_eq!((done.versions, done.snapshots), (2, 2), "{done:?}");
    assert_eq!(&done.old_key_id, old_key.id());
    let on_disk = MasterKey::parse(&std::fs::read_to_string(key_file).unwrap()).unwrap();
    assert_eq!(on_disk.id(), new_key.id(), "the key file holds the new key");
    let store = Store::open(url, &keys).await.unwrap();
    assert_eq!(
        store
            .get_version(a)
            .await
            .unwrap()
            .unwrap()
            .api_key
            .expose(),
        KEY_A2
    );
    assert_eq!(
        snapshot_keys(&store, finished).await[2].as_deref(),
        Some(KEY_LEGACY)
    );
    store.close().await;
    assert_no_key_in(&raw_contents(url).await, "after rotation");

    let err = Store::open(url, &env_key(&old_key))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "this database was encrypted with another secret key (id {})",
            new_key.id()
        )) && err.contains("set DIFY_BENCH_SECRET_KEY or --secret-key-file"),
        "{err}"
    );
    // The env var opens it too, and a lost key file is not silently replaced.
    let store = Store::open(url, &env_key(&new_key)).await.unwrap();
    assert_eq!(
        store
            .get_version(legacy)
            .await
            .unwrap()
            .unwrap()
            .api_key
            .expose(),
        KEY_LEGACY
    );
    store.close().await;
    let lost = key_file.with_file_name("lost.key");
    let err = Store::open(url, &file_key(&lost))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    assert!(
        !lost.exists(),
        "no key is written for a database it cannot open"
    );
}

#[tokio::test]
async fn keys_are_encrypted_at_rest_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/db/bench.db", dir.path().display());
    keys_at_rest(&url, &dir.path().join("db/secret.key")).await;
}

#[tokio::test]
async fn keys_are_encrypted_at_rest_on_postgres() {
    let Some(url) = postgres_url("keys_at_rest").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    keys_at_rest(&url, &dir.path().join("secret.key")).await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_file_its_wal_and_the_key_file_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("fresh");
    let url = format!("sqlite://{}/bench.db", folder.display());
    // Whatever the umask: the modes are set, not inherited.
    let store = Store::open(&url, &SecretKeyConfig::default())
        .await
        .unwrap();
    store.insert_version(&version("v", KEY_A)).await.unwrap();
    assert_eq!(mode(&folder), 0o700);
    for name in ["bench.db", "bench.db-wal", "bench.db-shm", "secret.key"] {
        assert_eq!(mode(&folder.join(name)), 0o600, "{name}");
    }
    store.close().await;

    // A database made before this change, open to everyone: tightened at the next start.
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = folder.join("bench.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::open(&url, &SecretKeyConfig::default())
        .await
        .unwrap();
    assert_eq!((mode(&folder), mode(&db)), (0o700, 0o600));
    assert_eq!(store.list_versions().await.unwrap().len(), 1);
    store.close().await;
}
