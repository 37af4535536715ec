//! The trends dashboard and the batch history over 1,000 batches × 10 versions × 100 cases
//! (1,000,000 results), on SQLite and on PostgreSQL (when `TEST_POSTGRES_URL` is set, as under
//! `scripts/with-postgres.sh`). Issue #11's target: the dashboard's server function ≤ 300 ms.
//!
//! One batch is created through the store (its snapshots are the real thing); the other 999
//! batches, their snapshots and every result are written by SQL in a few statements (a result's
//! status, score, latency, time to first token, tokens and price drawn from a hash of its ids:
//! 2 % errors under three codes, a third failed, half the versions streamed), all finished a day
//! apart. Each figure is one warm-up and `BENCH_RUNS` (default 7) timed runs, median (min–max);
//! the first view, which computes and stores every run's figures, is timed once.
//!
//! What is timed for the dashboard is what its server function does — the version list, the
//! default selection, `run_points` — and the JSON of the answer.
//!
//!     cargo bench --features ssr --bench dashboard
//!     DIFY_BENCH_REQUIRE_PG=1 scripts/with-postgres.sh cargo bench --features ssr --bench dashboard

use dify_bench::model::dashboard::{DashboardView, HistoryFilter, HISTORY_PAGE_SIZE};
use dify_bench::model::{
    BatchStatus, CaseDraft, ScoreDetail, ScoringConfig, VersionDraft, VersionId,
};
use dify_bench::server::store::{NewBatch, Store};
use std::future::Future;
use std::time::Instant;

const BATCHES: i64 = 1000;
const VERSIONS: usize = 10;
const CASES: usize = 100;

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
}

/// Median (min–max) in ms of `runs()` timed calls after one warm-up.
async fn time<F, Fut>(mut f: F) -> String
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    f().await;
    let mut ms: Vec<f64> = Vec::new();
    for _ in 0..runs() {
        let t = Instant::now();
        f().await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    format!(
        "{:.1} ({:.1}–{:.1})",
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1]
    )
}

/// The SQL that copies the first batch into 999 more and writes every result (both backends).
fn fill_sql(template: i64, detail: &str) -> Vec<String> {
    let day = 86_400_000_i64;
    let t0 = 1_700_000_000_000_i64;
    let h = "((r.batch_id * 7919 + r.version_id * 104729 + r.case_id * 1299709) % 10007)";
    vec![
        format!(
            "INSERT INTO batches (name, status, concurrency, per_version_cap, scoring, repeats, \
               total_tests, created_at, started_at, finished_at, created_by) \
             WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {last}) \
             SELECT 'bench batch ' || CAST(n AS TEXT), 'completed', 8, NULL, \
               (SELECT scoring FROM batches WHERE id = {template}), 1, {total}, \
               {t0} + CAST(n AS BIGINT) * {day}, {t0} + CAST(n AS BIGINT) * {day}, \
               {t0} + CAST(n AS BIGINT) * {day} + 60000, \
               CASE WHEN n % 3 = 0 THEN 'alice' ELSE 'token:ci' END FROM s",
            last = BATCHES - 1,
            total = VERSIONS * CASES,
        ),
        format!(
            "INSERT INTO batch_versions (batch_id, version_id, position, config) \
             SELECT b.id, v.version_id, v.position, v.config FROM batches b \
             CROSS JOIN batch_versions v WHERE v.batch_id = {template} AND b.id <> {template}"
        ),
        format!(
            "INSERT INTO batch_cases (batch_id, case_id, position, snapshot) \
             SELECT b.id, c.case_id, c.position, c.snapshot FROM batches b \
             CROSS JOIN batch_cases c WHERE c.batch_id = {template} AND b.id <> {template}"
        ),
        format!(
            "INSERT INTO results (batch_id, version_id, case_id, repetition, status, score, \
               answer, latency_ms, ttft_ms, prompt_tokens, completion_tokens, total_tokens, \
               total_price, currency, error_code, attempts, detail, finished_at) \
             SELECT r.batch_id, r.version_id, r.case_id, 0, \
               CASE WHEN {h} % 50 = 0 THEN 'error' WHEN {h} % 3 = 0 THEN 'failed' \
                 ELSE 'passed' END, \
               CASE WHEN {h} % 50 = 0 THEN NULL ELSE CAST({h} % 100 AS DOUBLE PRECISION) END, \
               NULL, \
               CASE WHEN {h} % 50 = 0 THEN NULL ELSE 200 + {h} % 3000 + r.version_id * 10 END, \
               CASE WHEN {h} % 50 = 0 OR r.version_id % 2 = 1 THEN NULL ELSE 50 + {h} % 800 END, \
               300 + {h} % 400, 50 + {h} % 300, 350 + {h} % 400 + {h} % 300, \
               CAST(300 + {h} % 900 AS DOUBLE PRECISION) * 0.000001, 'USD', \
               CASE WHEN {h} % 50 <> 0 THEN NULL WHEN {h} % 7 = 0 THEN 'timeout' \
                 WHEN {h} % 7 = 1 THEN 'rate_limit_error' ELSE 'too_many_requests' END, \
               1, '{detail}', {t0} \
             FROM (SELECT v.batch_id, v.version_id, c.case_id FROM batch_versions v \
               JOIN batch_cases c ON c.batch_id = v.batch_id) r"
        ),
    ]
}

async fn fill(store: &Store, url: &str) {
    let mut versions = Vec::new();
    for i in 0..VERSIONS {
        let id = store
            .insert_version(&VersionDraft {
                name: format!("v{i:02}"),
                base_url: "http://127.0.0.1:9/v1".into(),
                api_key: Some(format!("app-bench-dashboard-{i:04}")),
                ..Default::default()
            })
            .await
            .unwrap();
        versions.push(store.get_version(id).await.unwrap().unwrap());
    }
    let drafts: Vec<CaseDraft> = (0..CASES)
        .map(|i| CaseDraft {
            query: format!("question #{i}"),
            ..Default::default()
        })
        .collect();
    store.insert_cases(&drafts).await.unwrap();
    let cases = store.list_cases().await.unwrap();
    let template = store
        .create_batch(&NewBatch {
            name: "bench batch 0",
            repeats: 1,
            concurrency: 8,
            per_version_cap: None,
            scoring: &ScoringConfig::default(),
            versions: &versions,
            cases: &cases,
            created_by: Some("alice"),
        })
        .await
        .unwrap();
    store
        .mark_batch_finished(template, BatchStatus::Completed, None)
        .await
        .unwrap();
    let detail = serde_json::to_string(&ScoreDetail::default()).unwrap();
    let mut sql = fill_sql(template.0, &detail);
    // Every batch finished long ago (so its figures are stored once computed).
    sql.push(format!(
        "UPDATE batches SET created_at = 1700000000000, started_at = 1700000000000, \
         finished_at = 1700000060000 WHERE id = {}",
        template.0
    ));
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        for s in &sql {
            sqlx::query(s).execute(&pool).await.unwrap();
        }
        sqlx::query("ANALYZE").execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        for s in &sql {
            sqlx::query(s).execute(&pool).await.unwrap();
        }
        sqlx::query("ANALYZE").execute(&pool).await.unwrap();
        pool.close().await;
    }
}

/// What the `dashboard` server function does for these arguments, its answer as JSON included.
async fn dashboard(store: &Store, versions: Option<Vec<VersionId>>, limit: u32) -> usize {
    let all = store.dashboard_versions().await.unwrap();
    let selected = match versions {
        Some(v) => v,
        None => store.newest_batch_versions().await.unwrap(),
    };
    let (points, truncated) = store
        .run_points(&selected, None, None, limit)
        .await
        .unwrap();
    let d = DashboardView {
        versions: all,
        selected,
        points,
        truncated,
    };
    serde_json::to_vec(&d).unwrap().len()
}

async fn bench(backend: &str, url: &str) {
    let store = Store::connect(url).await.unwrap();
    let t = Instant::now();
    fill(&store, url).await;
    eprintln!(
        "{backend}: {BATCHES} batches, {} results written in {:.1} s",
        BATCHES as usize * VERSIONS * CASES,
        t.elapsed().as_secs_f64()
    );
    let ten: Vec<VersionId> = store
        .dashboard_versions()
        .await
        .unwrap()
        .iter()
        .map(|v| v.version_id)
        .collect();
    assert_eq!(ten.len(), VERSIONS);

    // The first view computes every run's figures from the million results and stores them.
    let t = Instant::now();
    let bytes = dashboard(&store, Some(ten.clone()), 1000).await;
    println!(
        "| {backend} | first view, 10 versions × 1,000 batches: every run's figures computed from \
         the results and stored (once) | {:.1} | {} KB |",
        t.elapsed().as_secs_f64() * 1000.0,
        bytes / 1024
    );
    assert_eq!(
        store.stored_run_stats().await.unwrap(),
        BATCHES * VERSIONS as i64
    );

    let s = &store;
    for (what, versions, limit) in [
        (
            "default view: the newest batch's 10 versions, newest 200 batches",
            None,
            200,
        ),
        (
            "10 versions × all 1,000 batches (10,000 points)",
            Some(ten.clone()),
            1000,
        ),
        ("1 version × all 1,000 batches", Some(vec![ten[3]]), 1000),
    ] {
        let size = std::cell::Cell::new(0);
        let size_ref = &size;
        let t = time(move || {
            let (store, versions) = (s.clone(), versions.clone());
            async move {
                size_ref.set(dashboard(&store, versions, limit).await);
            }
        })
        .await;
        println!(
            "| {backend} | dashboard: {what} | {t} | {} KB |",
            size.get() / 1024
        );
    }

    let all = HistoryFilter::default();
    let search = HistoryFilter {
        search: Some("BATCH 99".into()),
        ..Default::default()
    };
    let by_version = HistoryFilter {
        version_id: Some(ten[5]),
        created_by: Some("alice".into()),
        ..Default::default()
    };
    for (what, filter, page) in [
        ("history: first page, no filter", &all, 0u64),
        ("history: page 50 (the last), no filter", &all, 49),
        ("history: search `BATCH 99` (11 matches)", &search, 0),
        ("history: version and who started it", &by_version, 0),
    ] {
        let t = time(move || {
            let store = s.clone();
            async move {
                let n = store.count_batches(filter).await.unwrap();
                let page = page.min(n.div_ceil(HISTORY_PAGE_SIZE).saturating_sub(1));
                let b = store
                    .batch_history(filter, page * HISTORY_PAGE_SIZE, HISTORY_PAGE_SIZE)
                    .await
                    .unwrap();
                assert!(!b.is_empty());
                store.batch_starters().await.unwrap();
            }
        })
        .await;
        println!("| {backend} | {what} | {t} | |");
    }
    store.close().await;
}

/// A fresh database on the server `TEST_POSTGRES_URL` names.
async fn fresh_pg(admin: &str) -> String {
    use sqlx::Connection;
    let name = format!("bench_dashboard_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    format!("{base}/{name}")
}

#[tokio::main]
async fn main() {
    println!(
        "## The dashboard and the history over {BATCHES} batches × {VERSIONS} versions × {CASES} \
         cases = 1,000,000 results (ms, median of {} (min–max); answer size as JSON)",
        runs()
    );
    println!("| backend | what | ms | JSON |");
    println!("|---|---|---|---|");
    let dir = tempfile::tempdir().unwrap();
    bench(
        "sqlite",
        &format!("sqlite://{}/bench.db", dir.path().display()),
    )
    .await;
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(admin) => bench("postgres", &fresh_pg(&admin).await).await,
        Err(_) => println!("(PostgreSQL skipped: run under scripts/with-postgres.sh)"),
    }
}
