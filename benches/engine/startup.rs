//! Section `startup` (issue #14): the server's side of a cold start, on a file SQLite store
//! (and PostgreSQL when `TEST_POSTGRES_URL` is set), in a fresh process per run.
//!
//! - **Import**: a JSON file of N cases through what `import_cases` does — parse and check every
//!   row ([`parse_cases`]), then store them all in one transaction (`insert_cases`).
//! - **start_batch** over all N cases of one version: from the call to its answer (the batch
//!   stored with its snapshots and running). The batch is cancelled right after.
//!
//! The whole `dify-bench run` process (exec to first Dify call, to exit, peak RSS) is measured
//! from outside by `scripts/bench-ci-process.sh`.

use super::*;
use dify_bench::server::import::{parse_cases, Format};

const SIZES: [usize; 2] = [1_000, 10_000];

pub fn section_startup(sim: &MockDify) {
    println!("## startup: importing N cases and start_batch over them (1 version), server side");
    println!("| backend | cases | parse ms | import ms (parse + store) | start_batch ms | runs (import / start_batch) |");
    println!("|---|---|---|---|---|---|");
    let mut backends = vec!["sqlite"];
    if std::env::var("TEST_POSTGRES_URL").is_ok() {
        backends.push("postgres");
    }
    for backend in backends {
        for n in SIZES {
            let rs = phase_runs("__startup", &[&sim.base, backend, &n.to_string()]);
            let list = |k: &str| {
                rs.iter()
                    .map(|r| format!("{:.0}", f(r, k)))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!(
                "| {backend} | {n} | {:.0} | {:.0} | {:.0} | {} / {} |",
                median(rs.iter().map(|r| f(r, "parse_ms"))),
                median(rs.iter().map(|r| f(r, "import_ms"))),
                median(rs.iter().map(|r| f(r, "start_ms"))),
                list("import_ms"),
                list("start_ms"),
            );
        }
    }
    println!();
}

pub async fn phase_startup(args: &[String]) -> Value {
    let sim = &args[0];
    let n: usize = args[2].parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = match args[1].as_str() {
        "sqlite" => format!("sqlite://{}/bench.db", dir.path().display()),
        "postgres" => fresh_pg_database().await,
        other => panic!("unknown backend {other}"),
    };
    let engine = http::engine_for(&url, OutboundPolicy::allowing_private())
        .await
        .unwrap();
    let file = serde_json::to_string(&case_drafts(n)).unwrap();
    let t0 = Instant::now();
    let drafts = parse_cases(Format::Json, &file).unwrap();
    let parse_ms = t0.elapsed().as_secs_f64() * 1e3;
    engine.store().insert_cases(&drafts).await.unwrap();
    let import_ms = t0.elapsed().as_secs_f64() * 1e3;
    let version = engine
        .store()
        .insert_version(&version_draft(0, sim, bench_key(0)))
        .await
        .unwrap();
    let t0 = Instant::now();
    let id = engine
        .start_batch(StartBatch {
            name: "startup".into(),
            version_ids: vec![version],
            concurrency: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    let start_ms = t0.elapsed().as_secs_f64() * 1e3;
    engine.cancel_batch(id).await.unwrap();
    json!({"parse_ms": parse_ms, "import_ms": import_ms, "start_ms": start_ms, "cases": n})
}
