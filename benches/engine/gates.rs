//! Section `gates` (issue #11): adaptive concurrency against Dify's app-level ceiling.
//!
//! One batch of 1 version × 1,000 cases at concurrency 32 against an app that admits 4 calls in
//! flight (the simulator's `ceiling4` key, 429 `too_many_requests` above it), answering in
//! L = 20 ms: the ideal is 1,000 ÷ 4 × L = 5.0 s. Run with adaptive concurrency (the default)
//! and with `--adaptive-concurrency=false` (a fixed 32, each throttle retried inside its call
//! with backoff, as before): wall time from `start_batch` to the terminal event, Dify calls,
//! throttled calls, and tests that ended in error.

use super::*;

const GATES_LATENCY_MS: u64 = 20;
const GATES_SIM_ADDR: &str = "127.0.0.1:5079";
const GATES_CASES: usize = 1000;
const GATES_CONCURRENCY: u32 = 32;
const CEILING: u32 = 4;

pub fn section_gates() {
    println!("## k. Adaptive concurrency against an app's ceiling");
    let ideal = GATES_CASES as f64 / f64::from(CEILING) * GATES_LATENCY_MS as f64 / 1000.0;
    println!(
        "simulator: `mock-dify` at latency {GATES_LATENCY_MS} ms, key `ceiling{CEILING}` (429 \
         above {CEILING} calls in flight); one batch of {GATES_CASES} tests at concurrency \
         {GATES_CONCURRENCY}; ideal N ÷ {CEILING} × L = {ideal:.1} s; SQLite"
    );
    println!("| mode | wall s (median) | × ideal | Dify calls | throttled | throttled % | tests in error | runs |");
    println!("|---|---|---|---|---|---|---|---|");
    let rt = rt();
    for (label, extra) in [
        ("adaptive (default)", &[][..]),
        (
            "fixed 32 (`--adaptive-concurrency=false`)",
            &["--adaptive-concurrency=false"][..],
        ),
    ] {
        let mut walls = Vec::new();
        let mut last = None;
        for _ in 0..runs() {
            // A fresh simulator per run: its counters and ceiling start at zero.
            let sim = MockDify::start(GATES_SIM_ADDR, GATES_LATENCY_MS);
            let dir = tempfile::tempdir().unwrap();
            let db = format!("sqlite://{}/gates.db", dir.path().display());
            let server = Served::start_with(&db, Stdio::null(), extra);
            let measured = rt.block_on(one_run(&server, &sim.base));
            walls.push(measured.wall_s);
            last = Some(measured);
            drop(server);
            drop(sim);
        }
        let m = median(walls.iter().copied());
        let runs: Vec<String> = walls.iter().map(|w| format!("{w:.2}")).collect();
        let last = last.expect("at least one run");
        println!(
            "| {label} | {m:.2} | {:.2} | {} | {} | {:.1} | {} | {} |",
            m / ideal,
            last.calls,
            last.throttled,
            last.throttled as f64 * 100.0 / last.calls.max(1) as f64,
            last.errors,
            runs.join(" ")
        );
    }
    println!("(calls, throttles and errors: the last run)\n");
}

struct Measured {
    wall_s: f64,
    calls: u64,
    throttled: u64,
    errors: u64,
}

async fn one_run(server: &Served, sim: &str) -> Measured {
    let http = bearer_client(&server.token, true);
    let key = format!("app-workflow.q90.ceiling{CEILING}");
    let version = server
        .version_with_cases(&http, sim, ("ceiling", &key, "workflow"), GATES_CASES)
        .await;
    let started = Instant::now();
    let id = server
        .call(
            &http,
            "start_batch",
            json!({"version_ids": [version], "concurrency": GATES_CONCURRENCY}),
        )
        .await
        .as_i64()
        .unwrap();
    let end = loop {
        let b = server.call(&http, "get_batch", json!({"id": id})).await;
        if b["status"] != "running" && b["status"] != "queued" {
            break b;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let wall_s = started.elapsed().as_secs_f64();
    assert_eq!(end["status"], "completed", "{end}");
    let stats = sim_stats(sim).await;
    Measured {
        wall_s,
        calls: stats["dify_calls"].as_u64().unwrap_or(0),
        throttled: stats["dify_throttled"].as_u64().unwrap_or(0),
        errors: end["failed_tests"].as_u64().unwrap_or(0),
    }
}
