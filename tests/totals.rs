//! A run's totals (`Store::run_totals`), the same suite on SQLite and PostgreSQL: sums per
//! version and currency, p50 / p95 of latency and time to first token, errors by code. Every
//! expected value is worked out by hand in the comments next to its data.

mod common;

use common::postgres_url;
use dify_bench::model::*;
use dify_bench::server::store::{NewBatch, Store};

fn version(name: &str, key: &str) -> VersionDraft {
    VersionDraft {
        name: name.into(),
        base_url: "http://127.0.0.1:5001/v1".into(),
        api_key: Some(key.into()),
        ..Default::default()
    }
}

/// One stored result with only what the totals read set.
struct Row {
    status: ResultStatus,
    latency: Option<i64>,
    ttft: Option<i64>,
    tokens: (Option<i64>, Option<i64>, Option<i64>),
    price: Option<(f64, Option<&'static str>)>,
    code: Option<&'static str>,
}

fn ok(
    latency: i64,
    ttft: Option<i64>,
    tokens: (i64, i64),
    price: (f64, Option<&'static str>),
) -> Row {
    Row {
        status: ResultStatus::Passed,
        latency: Some(latency),
        ttft,
        tokens: (Some(tokens.0), Some(tokens.1), Some(tokens.0 + tokens.1)),
        price: Some(price),
        code: None,
    }
}

fn error(code: Option<&'static str>) -> Row {
    Row {
        status: ResultStatus::Error,
        latency: None,
        ttft: None,
        tokens: (None, None, None),
        price: None,
        code,
    }
}

fn result(batch: BatchId, v: VersionId, c: CaseId, row: &Row) -> TestResult {
    TestResult {
        batch_id: batch,
        version_id: v,
        case_id: c,
        repetition: 0,
        status: row.status,
        score: (row.status != ResultStatus::Error).then_some(70.0),
        answer: None,
        latency_ms: row.latency,
        ttft_ms: row.ttft,
        usage: Usage {
            prompt_tokens: row.tokens.0,
            completion_tokens: row.tokens.1,
            total_tokens: row.tokens.2,
            total_price: row.price.map(|p| p.0),
            currency: row.price.and_then(|p| p.1.map(str::to_string)),
        },
        dify: DifyIds::default(),
        error_code: row.code.map(str::to_string),
        error_message: row.code.map(|c| format!("{c} happened")),
        attempts: 1,
        detail: ScoreDetail::default(),
        finished_at: 1,
        trace: None,
        turns: Default::default(),
    }
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-9
}

async fn suite(url: &str) {
    let store = Store::connect(url).await.expect("connect and migrate");
    let mut records = Vec::new();
    for (name, key) in [
        ("streamed", "app-aaaaaaaaaaaa1111"),
        ("blocking", "app-bbbbbbbbbbbb2222"),
        ("not run", "app-cccccccccccc3333"),
    ] {
        let id = store.insert_version(&version(name, key)).await.unwrap();
        records.push(store.get_version(id).await.unwrap().unwrap());
    }
    let case_ids = store
        .insert_cases(
            &(0..8)
                .map(|i| {
                    CaseDraft {
                        query: format!("q{i}"),
                        ..Default::default()
                    }
                    .normalized()
                    .unwrap()
                })
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    let mut cases = Vec::new();
    for id in &case_ids {
        cases.push(store.get_case(*id).await.unwrap().unwrap());
    }
    let scoring = ScoringConfig::default();
    let new_batch = |name| NewBatch {
        repeats: 1,
        name,
        concurrency: 1,
        per_version_cap: None,
        scoring: &scoring,
        versions: &records,
        cases: &cases,
        created_by: None,
    };
    let batch = store.create_batch(&new_batch("totals")).await.unwrap();
    let other = store.create_batch(&new_batch("another")).await.unwrap();
    let (a, b) = (records[0].version.id, records[1].version.id);

    let usd = |x| (x, Some("USD"));
    // Version "streamed", 8 results:
    //   latency 100 200 400 800 1600 (3 errors have none); ttft 10 20 40 160 (case 3 has none);
    //   prompt 10+11+12+13+14 = 60, completion 20+21+22+23+24 = 110, total 170;
    //   USD 0.001 + 0.002 + 0.004 = 0.007 over 3, RMB 0.5 over 1, no currency 0.25 over 1;
    //   errors: too_many_requests × 2, timeout × 1.
    let streamed = [
        ok(100, Some(10), (10, 20), usd(0.001)),
        ok(200, Some(20), (11, 21), usd(0.002)),
        Row {
            status: ResultStatus::Failed,
            ..ok(400, Some(40), (12, 22), (0.5, Some("RMB")))
        },
        ok(800, None, (13, 23), usd(0.004)),
        error(Some("too_many_requests")),
        error(Some("timeout")),
        error(Some("too_many_requests")),
        ok(1600, Some(160), (14, 24), (0.25, None)),
    ];
    // Version "blocking", 4 results: latency 300 100 200 (stored out of order), no ttft,
    // prompt 5 × 3 = 15, no completion reported, total 15, no price; one error without a code.
    let blocking = [
        Row {
            tokens: (Some(5), None, Some(5)),
            price: None,
            ..ok(300, None, (0, 0), usd(0.0))
        },
        Row {
            tokens: (Some(5), None, Some(5)),
            price: None,
            ..ok(100, None, (0, 0), usd(0.0))
        },
        error(None),
        Row {
            tokens: (Some(5), None, Some(5)),
            price: None,
            ..ok(200, None, (0, 0), usd(0.0))
        },
    ];
    let mut results = Vec::new();
    for (c, row) in case_ids.iter().zip(&streamed) {
        results.push(result(batch, a, *c, row));
        // The same version in another batch: not this run's, must not be counted.
        results.push(result(
            other,
            a,
            *c,
            &ok(99_999, Some(99_999), (1000, 1000), usd(9.0)),
        ));
    }
    for (c, row) in case_ids.iter().zip(&blocking) {
        results.push(result(batch, b, *c, row));
    }
    store.insert_results(&results).await.unwrap();

    let versions = store.get_batch(batch).await.unwrap().unwrap().versions;
    let totals = store.run_totals(batch, &versions).await.unwrap();
    assert_eq!(
        totals.iter().map(|t| t.version_id).collect::<Vec<_>>(),
        versions.iter().map(|v| v.version_id).collect::<Vec<_>>(),
        "one per version, in the batch's order"
    );

    let s = &totals[0];
    assert_eq!(s.results, 8);
    assert_eq!(
        (s.prompt_tokens, s.completion_tokens, s.total_tokens),
        (Some(60), Some(110), Some(170))
    );
    let cost: Vec<(Option<&str>, i64)> = s
        .cost
        .iter()
        .map(|c| (c.currency.as_deref(), c.results))
        .collect();
    assert_eq!(
        cost,
        vec![(Some("RMB"), 1), (Some("USD"), 3), (None, 1)],
        "currencies apart, by name, a price without one last"
    );
    assert!(close(s.cost[0].amount, 0.5), "{:?}", s.cost);
    assert!(close(s.cost[1].amount, 0.007), "{:?}", s.cost);
    assert!(close(s.cost[2].amount, 0.25), "{:?}", s.cost);
    // Type 7 over n sorted values: h = (n − 1)·q, x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
    // Latency, n = 5: p50 h = 2 → 400; p95 h = 3.8 → 800 + 0.8 × 800 = 1440.
    let latency = s.latency_ms.expect("latency percentiles");
    assert_eq!(latency.count, 5);
    assert!(
        close(latency.p50, 400.0) && close(latency.p95, 1440.0),
        "{latency:?}"
    );
    // Ttft, n = 4: p50 h = 1.5 → 20 + 0.5 × 20 = 30; p95 h = 2.85 → 40 + 0.85 × 120 = 142.
    let ttft = s.ttft_ms.expect("ttft percentiles");
    assert_eq!(ttft.count, 4);
    assert!(close(ttft.p50, 30.0) && close(ttft.p95, 142.0), "{ttft:?}");
    assert_eq!(
        s.errors,
        vec![
            ErrorCount {
                code: Some("too_many_requests".into()),
                count: 2
            },
            ErrorCount {
                code: Some("timeout".into()),
                count: 1
            },
        ],
        "the most frequent first"
    );

    let k = &totals[1];
    assert_eq!(k.results, 4);
    assert_eq!(
        (k.prompt_tokens, k.completion_tokens, k.total_tokens),
        (Some(15), None, Some(15))
    );
    assert!(k.cost.is_empty(), "no price reported: {:?}", k.cost);
    // Latency sorted 100 200 300: p50 h = 1 → 200; p95 h = 1.9 → 200 + 0.9 × 100 = 290.
    let latency = k.latency_ms.expect("latency percentiles");
    assert_eq!(latency.count, 3);
    assert!(
        close(latency.p50, 200.0) && close(latency.p95, 290.0),
        "{latency:?}"
    );
    assert_eq!(k.ttft_ms, None, "a blocking run has no time to first token");
    assert_eq!(
        k.errors,
        vec![ErrorCount {
            code: None,
            count: 1
        }]
    );

    assert_eq!(totals[2], RunTotals::empty(records[2].version.id));

    // The other batch's run: 8 × 9.0 USD, 8 × 2000 tokens, every latency 99,999.
    let other_totals = store.run_totals(other, &versions[..1]).await.unwrap();
    assert_eq!(other_totals[0].total_tokens, Some(16_000));
    assert!(close(other_totals[0].cost[0].amount, 72.0));
    assert_eq!(other_totals[0].latency_ms.map(|p| p.p95), Some(99_999.0));
    // A batch with no results at all.
    let fresh = store.create_batch(&new_batch("fresh")).await.unwrap();
    assert!(store
        .run_totals(fresh, &versions)
        .await
        .unwrap()
        .iter()
        .all(|t| t.results == 0 && t.latency_ms.is_none() && t.cost.is_empty()));
    store.close().await;
}

#[tokio::test]
async fn run_totals_on_sqlite() {
    suite("sqlite::memory:").await;
}

#[tokio::test]
async fn run_totals_on_postgres() {
    let Some(url) = postgres_url("run_totals").await else {
        return;
    };
    suite(&url).await;
}
