//! Section `cluster` (issue #13): several `dify-bench serve` processes on one PostgreSQL.
//!
//! - **Throughput** with 1, 2 and 3 instances: one batch of 1 version × 300 cases × 10 repeats
//!   (3,000 tests) at concurrency 300 — spread across the instances by their fair share —
//!   against a simulator answering in L = 200 ms, so that the CPU is not the limit. Wall time
//!   from `start_batch` to the terminal event, against the ideal ⌈N ÷ c⌉ × L = 2.0 s.
//! - **Staleness across instances**: during the 3-instance runs, two watchers on the instance
//!   the batch was started on and one on another. For every event a watcher of the first
//!   instance receives, how long until the other watcher has seen at least that many completed
//!   tests: the second watcher of the same instance gives the same-instance figure, the watcher
//!   of the other instance the cross-instance one.
//! - **Claim overhead**, in this process on the store: 10,000 tests claimed 64 at a time by one
//!   instance, then their results stored 64 at a time (work rows deleted, tallies updated, in the
//!   result transaction) — database time per test, against storing the same results in a batch
//!   of a store with no instance (the single-instance path).

use super::*;
use dify_bench::server::store::InstanceId;

const CLUSTER_LATENCY_MS: u64 = 200;
const CLUSTER_SIM_ADDR: &str = "127.0.0.1:5078";
const CASES: usize = 300;
const REPEATS: u32 = 10;
const CONCURRENCY: u32 = 300;

pub fn section_cluster() {
    println!("## h. Several instances on one PostgreSQL");
    let Ok(admin) = std::env::var("TEST_POSTGRES_URL") else {
        println!("skipped: TEST_POSTGRES_URL is not set (`make bench` starts a PostgreSQL)\n");
        return;
    };
    let sim = MockDify::start(CLUSTER_SIM_ADDR, CLUSTER_LATENCY_MS);
    let tests = CASES as u64 * u64::from(REPEATS);
    let ideal = tests.div_ceil(u64::from(CONCURRENCY)) as f64 * CLUSTER_LATENCY_MS as f64 / 1000.0;
    println!(
        "simulator: `mock-dify` at latency {CLUSTER_LATENCY_MS} ms; one batch of {tests} tests at \
         concurrency {CONCURRENCY}; ideal ⌈N/c⌉ × L = {ideal:.1} s; lease 10 s (default)"
    );
    println!("| instances | wall s (median) | × ideal | runs |");
    println!("|---|---|---|---|");
    let rt = rt();
    let mut same = Vec::new();
    let mut cross = Vec::new();
    for n in 1..=3 {
        let mut walls = Vec::new();
        for run in 0..runs() {
            let db = rt.block_on(fresh_database(&admin, &format!("bench_cluster_{n}_{run}")));
            let servers: Vec<Served> = (0..n)
                .map(|_| Served::start_with(&db, Stdio::null(), &[]))
                .collect();
            let measured = rt.block_on(one_run(&servers, &sim.base, n == 3));
            walls.push(measured.wall_s);
            same.extend(measured.same_ms);
            cross.extend(measured.cross_ms);
        }
        let runs: Vec<String> = walls.iter().map(|w| format!("{w:.2}")).collect();
        let m = median(walls.iter().copied());
        println!("| {n} | {m:.2} | {:.2} | {} |", m / ideal, runs.join(" "));
    }
    println!();
    println!(
        "staleness of a watcher behind the first watcher of the starting instance (3 instances):"
    );
    println!("| watcher | p50 ms | p99 ms | events |");
    println!("|---|---|---|---|");
    println!(
        "| same instance | {:.1} | {:.1} | {} |",
        pct(&same, 50.0),
        pct(&same, 99.0),
        same.len()
    );
    println!(
        "| another instance | {:.1} | {:.1} | {} |",
        pct(&cross, 50.0),
        pct(&cross, 99.0),
        cross.len()
    );
    println!();
    let claims = rt.block_on(claim_overhead(&admin));
    println!(
        "claim overhead (in process, PostgreSQL on this machine, 10,000 tests, groups of 64):"
    );
    println!("| step | µs per test |");
    println!("|---|---|");
    for (label, us) in claims {
        println!("| {label} | {us:.1} |");
    }
    println!();
}

struct Measured {
    wall_s: f64,
    same_ms: Vec<f64>,
    cross_ms: Vec<f64>,
}

async fn one_run(servers: &[Served], sim: &str, watch: bool) -> Measured {
    let http = bearer_client(&servers[0].token, true);
    let version = servers[0]
        .version_with_cases(
            &http,
            sim,
            ("cluster", "app-chat.q90.cluster", "chat"),
            CASES,
        )
        .await;
    let started = Instant::now();
    let id = servers[0]
        .call(
            &http,
            "start_batch",
            json!({"version_ids": [version], "concurrency": CONCURRENCY, "repeats": REPEATS}),
        )
        .await
        .as_i64()
        .unwrap();
    // Watchers: two on the starting instance, one on the last.
    let watcher = |server: &Served| {
        let http = bearer_client(&server.token, true);
        let url = server.url(&format!("/api/batches/{id}/progress"));
        tokio::spawn(async move { arrivals(&http, &url, started).await })
    };
    let first = watcher(&servers[0]);
    let others = watch.then(|| (watcher(&servers[0]), watcher(&servers[servers.len() - 1])));
    let first = first.await.unwrap();
    let wall_s = first.last().map_or(f64::NAN, |a| a.0);
    let end = servers[0].call(&http, "get_batch", json!({"id": id})).await;
    assert!(
        end["status"] == "completed" && end["failed_tests"] == 0,
        "a run whose tests failed measures nothing: {end}"
    );
    let (mut same_ms, mut cross_ms) = (Vec::new(), Vec::new());
    if let Some((same, cross)) = others {
        same_ms = lags(&first, &same.await.unwrap());
        cross_ms = lags(&first, &cross.await.unwrap());
    }
    Measured {
        wall_s,
        same_ms,
        cross_ms,
    }
}

/// Every event of a progress stream until its end: (seconds since `t0`, completed tests).
async fn arrivals(http: &reqwest::Client, url: &str, t0: Instant) -> Vec<(f64, u64)> {
    use futures::StreamExt;
    let res = http.get(url).send().await.unwrap();
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        let at = t0.elapsed().as_secs_f64();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                let v: Value = serde_json::from_str(data).unwrap_or_default();
                out.push((at, v["completed_tests"].as_u64().unwrap_or(0)));
            }
        }
    }
    out
}

/// For each event of `reference`, how long until `other` had seen at least as many completed
/// tests (ms; an event `other` saw first counts 0).
fn lags(reference: &[(f64, u64)], other: &[(f64, u64)]) -> Vec<f64> {
    reference
        .iter()
        .filter(|(_, n)| *n > 0)
        .filter_map(|&(t, n)| {
            let seen = other.iter().find(|(_, m)| *m >= n)?;
            Some(((seen.0 - t) * 1000.0).max(0.0))
        })
        .collect()
}

async fn fresh_database(admin: &str, name: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    format!("{base}/{name}")
}

/// Database time per test of the shared-work path: claiming, then storing results with their
/// work rows and tallies; and storing the same results where no instance claims (rows written
/// by a store with no work rows to settle, the single-instance path on PostgreSQL).
async fn claim_overhead(admin: &str) -> Vec<(&'static str, f64)> {
    let db = fresh_database(admin, "bench_cluster_claims").await;
    let store = Store::connect(&db).await.unwrap();
    let (batch, results) = claim_batch(&store, 1, 500, 20).await;
    let me: InstanceId = store.register_instance("bench", 1).await.unwrap();
    let t = Instant::now();
    let mut claimed = Vec::new();
    loop {
        let got = store.claim_tests(batch, me, 64, 10_000).await.unwrap();
        if got.tests.is_empty() {
            break;
        }
        claimed.extend(got.tests);
        // Keep the batch's concurrency from capping the claims: settle as the runner does.
        let keys: std::collections::HashSet<_> = claimed
            .iter()
            .map(|c| (c.version_id, c.case_id, c.repetition))
            .collect();
        let done: Vec<TestResult> = results
            .iter()
            .filter(|r| keys.contains(&(r.version_id, r.case_id, r.repetition)))
            .cloned()
            .collect();
        store.insert_results(&done).await.unwrap();
        claimed.clear();
    }
    let both = t.elapsed().as_secs_f64();
    let n = results.len() as f64;
    // The result transactions alone, on a second batch with nothing claimed.
    let (batch2, results2) = claim_batch(&store, 2, 500, 20).await;
    let t = Instant::now();
    for chunk in results2.chunks(64) {
        store.insert_results(chunk).await.unwrap();
    }
    let store_only = t.elapsed().as_secs_f64();
    let _ = batch2;
    vec![
        ("claim + store (shared work)", both * 1e6 / n),
        ("store only (same transactions)", store_only * 1e6 / n),
        ("claim (difference)", (both - store_only) * 1e6 / n),
    ]
}

/// A batch (the `n`th) of 1 version × `cases` × `repeats` stored with its work rows (concurrency 64, so a
/// claim of 64 is never capped), and a passed result for each of its tests.
async fn claim_batch(
    store: &Store,
    n: usize,
    cases: usize,
    repeats: u32,
) -> (BatchId, Vec<TestResult>) {
    let version = store
        .insert_version(&version_draft(
            n,
            "http://127.0.0.1:9/v1",
            format!("app-claims-{}", unix_us()),
        ))
        .await
        .unwrap();
    let drafts: Vec<CaseDraft> = case_drafts(cases)
        .into_iter()
        .map(|mut c| {
            c.name = format!("{} {}", c.name, unix_us());
            c
        })
        .collect();
    let ids = store.insert_cases(&drafts).await.unwrap();
    let mut cases = Vec::new();
    for id in ids {
        cases.push(store.get_case(id).await.unwrap().unwrap());
    }
    let versions = vec![store.get_version(version).await.unwrap().unwrap()];
    let batch = store
        .create_batch(&NewBatch {
            name: "claims",
            concurrency: 64,
            per_version_cap: None,
            scoring: &Default::default(),
            repeats,
            versions: &versions,
            cases: &cases,
            created_by: None,
        })
        .await
        .unwrap();
    store.mark_batch_running(batch).await.unwrap();
    let results = (0..repeats)
        .flat_map(|rep| cases.iter().map(move |c| (c.id, rep)))
        .map(|(case_id, repetition)| TestResult {
            batch_id: batch,
            version_id: version,
            case_id,
            repetition,
            status: ResultStatus::Passed,
            score: Some(90.0),
            answer: Some("answer".into()),
            latency_ms: Some(200),
            ttft_ms: None,
            usage: Usage::default(),
            dify: Default::default(),
            error_code: None,
            error_message: None,
            attempts: 1,
            detail: ScoreDetail::default(),
            finished_at: 0,
            trace: None,
            turns: Default::default(),
        })
        .collect();
    (batch, results)
}
