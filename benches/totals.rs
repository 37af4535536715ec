//! How long a batch's run totals (`Store::run_totals`: tokens, cost per currency, latency and
//! time-to-first-token p50 / p95, errors by code) take on a 100,000-result batch, on SQLite and
//! on PostgreSQL (when `TEST_POSTGRES_URL` is set, as under `scripts/with-postgres.sh`).
//!
//! The batch is written straight into the store (100 versions × 1,000 cases, answers from the
//! simulator's knowledge base, half the versions streamed, 2 % errors, one version priced in
//! RMB), then each figure is one warm-up and `BENCH_RUNS` (default 7) timed runs, median (min–max).
//! Beside the whole call: each of its two queries alone, the tallies the cards already read
//! (`batch_with_tallies`), and the alternatives: the sums without the value lists (what the
//! lists cost), and a row per result instead of the lists, without and with an extra covering
//! index (what an index would buy).
//!
//!     cargo bench --features ssr --bench totals
//!     DIFY_BENCH_REQUIRE_PG=1 scripts/with-postgres.sh cargo bench --features ssr --bench totals

use dify_bench::model::{
    BatchId, CaseDraft, DifyIds, ResultStatus, ScoreDetail, ScoringConfig, TestResult, Usage,
    VersionDraft,
};
use dify_bench::server::compare::stats::SplitMix64;
use dify_bench::server::simulator::knowledge;
use dify_bench::server::store::totals::{ERRORS, SUMS as SUMS_AND_LISTS};
use dify_bench::server::store::{NewBatch, Store};
use std::future::Future;
use std::time::Instant;

const VERSIONS: usize = 100;
const CASES: usize = 1000;

// The store's two queries (SUMS_AND_LISTS and ERRORS, from src/server/store/totals.rs) are timed
// one by one, beside the alternatives they were chosen over.
const SUMS_ONLY: &str = "SELECT version_id, currency, COUNT(*) AS results, \
     CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens, \
     CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens, \
     CAST(SUM(total_tokens) AS BIGINT) AS total_tokens, \
     SUM(total_price) AS price, COUNT(total_price) AS priced \
     FROM results WHERE batch_id = $1 GROUP BY version_id, currency";
const ROW_PER_RESULT: &str =
    "SELECT version_id, latency_ms, ttft_ms FROM results WHERE batch_id = $1";
const SUMS_INDEX: &str = "CREATE INDEX bench_sums_idx ON results (batch_id, version_id, currency, \
     prompt_tokens, completion_tokens, total_tokens, total_price, latency_ms, ttft_ms)";
const EXTRA_INDEX: &str =
    "CREATE INDEX bench_times_idx ON results (batch_id, version_id, latency_ms, ttft_ms)";

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

async fn fill(store: &Store) -> BatchId {
    let mut versions = Vec::new();
    for i in 0..VERSIONS {
        let id = store
            .insert_version(&VersionDraft {
                name: format!("v{i:03}"),
                base_url: "http://127.0.0.1:9/v1".into(),
                api_key: Some(format!("app-bench-totals-{i:04}")),
                ..Default::default()
            })
            .await
            .unwrap();
        versions.push(store.get_version(id).await.unwrap().unwrap());
    }
    let kb = knowledge::entries();
    let drafts: Vec<CaseDraft> = (0..CASES)
        .map(|i| CaseDraft {
            query: format!("{} #{i}", kb[i % kb.len()].query),
            ..Default::default()
        })
        .collect();
    store.insert_cases(&drafts).await.unwrap();
    let cases = store.list_cases().await.unwrap();
    let scoring = ScoringConfig::default();
    let batch = store
        .create_batch(&NewBatch {
            name: "totals bench",
            repeats: 1,
            concurrency: 100,
            per_version_cap: None,
            scoring: &scoring,
            versions: &versions,
            cases: &cases,
            created_by: None,
        })
        .await
        .unwrap();
    let mut rng = SplitMix64::new(7);
    let codes = ["too_many_requests", "timeout", "rate_limit_error"];
    for (vi, v) in versions.iter().enumerate() {
        let results: Vec<TestResult> = cases
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                let error = rng.below(50) == 0;
                let answer = kb[ci % kb.len()].expected_answer.to_string();
                let prompt = 300 + rng.below(400) as i64;
                let completion = 50 + rng.below(300) as i64;
                TestResult {
                    batch_id: batch,
                    version_id: v.version.id,
                    case_id: c.id,
                    repetition: 0,
                    status: if error {
                        ResultStatus::Error
                    } else if rng.below(3) == 0 {
                        ResultStatus::Failed
                    } else {
                        ResultStatus::Passed
                    },
                    score: (!error).then(|| rng.below(100) as f64),
                    answer: (!error).then_some(answer),
                    latency_ms: (!error).then(|| 200 + rng.below(3000) as i64),
                    ttft_ms: (!error && vi % 2 == 0).then(|| 50 + rng.below(800) as i64),
                    usage: if error {
                        Usage::default()
                    } else {
                        Usage {
                            prompt_tokens: Some(prompt),
                            completion_tokens: Some(completion),
                            total_tokens: Some(prompt + completion),
                            total_price: Some((prompt + 2 * completion) as f64 * 1e-6),
                            currency: Some(if vi == 1 { "RMB" } else { "USD" }.into()),
                        }
                    },
                    dify: DifyIds {
                        task_id: Some(format!("task-{vi}-{ci}")),
                        message_id: Some(format!("msg-{vi}-{ci}")),
                        ..Default::default()
                    },
                    error_code: error.then(|| codes[rng.below(3) as usize].to_string()),
                    error_message: error.then(|| "the bench says so".to_string()),
                    attempts: 1,
                    detail: ScoreDetail::default(),
                    finished_at: 1_700_000_000_000,
                    trace: None,
                    turns: Default::default(),
                }
            })
            .collect();
        store.insert_results(&results).await.unwrap();
    }
    batch
}

macro_rules! raw_timings {
    ($pool:expr, $batch:expr, $backend:expr) => {{
        let pool = $pool;
        let b = $batch.0;
        for (name, sql) in [
            ("its sums and value lists query", SUMS_AND_LISTS),
            ("its errors query", ERRORS),
            ("the sums without the value lists", SUMS_ONLY),
            ("instead of the lists: a row per result (latency, ttft)", ROW_PER_RESULT),
        ] {
            let t = time(|| async {
                sqlx::query(sql).bind(b).fetch_all(&pool).await.unwrap();
            })
            .await;
            println!("| {} | {name} | {t} |", $backend);
        }
        sqlx::query(EXTRA_INDEX).execute(&pool).await.unwrap();
        let t = time(|| async {
            sqlx::query(ROW_PER_RESULT).bind(b).fetch_all(&pool).await.unwrap();
        })
        .await;
        println!("| {} | a row per result, with an index on (batch, version, latency, ttft) | {t} |", $backend);
        sqlx::query("DROP INDEX bench_times_idx").execute(&pool).await.unwrap();
        sqlx::query(SUMS_INDEX).execute(&pool).await.unwrap();
        let t = time(|| async {
            sqlx::query(SUMS_AND_LISTS).bind(b).fetch_all(&pool).await.unwrap();
        })
        .await;
        println!("| {} | the sums and value lists, with an index covering every column they read | {t} |", $backend);
        sqlx::query("DROP INDEX bench_sums_idx").execute(&pool).await.unwrap();
    }};
}

async fn bench(backend: &str, url: &str) {
    let store = Store::connect(url).await.unwrap();
    let t = Instant::now();
    let batch = fill(&store).await;
    eprintln!(
        "{backend}: 100,000 results written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let versions = store.get_batch(batch).await.unwrap().unwrap().versions;
    let totals = store.run_totals(batch, &versions).await.unwrap();
    assert_eq!(totals.iter().map(|t| t.results).sum::<i64>(), 100_000);
    let t = time(|| async {
        store.run_totals(batch, &versions).await.unwrap();
    })
    .await;
    println!("| {backend} | `run_totals` (both queries, parsing, percentiles) | {t} |");
    let t = time(|| async {
        store.batch_with_tallies(batch).await.unwrap();
    })
    .await;
    println!("| {backend} | `batch_with_tallies` (what the cards read before) | {t} |");
    if backend == "sqlite" {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        raw_timings!(pool, batch, backend);
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query("ANALYZE results").execute(&pool).await.unwrap();
        raw_timings!(pool, batch, backend);
    }
    store.close().await;
}

/// A fresh database on the server `TEST_POSTGRES_URL` names.
async fn fresh_pg(admin: &str) -> String {
    use sqlx::Connection;
    let name = format!("bench_totals_{}", std::process::id());
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
        "## Run totals of one batch of {VERSIONS} versions × {CASES} cases = 100,000 results \
         (ms, median of {} (min–max))",
        runs()
    );
    println!("| backend | what | ms |");
    println!("|---|---|---|");
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
