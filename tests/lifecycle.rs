//! The runner's lifecycle and its server-wide caps, against the real binary:
//!
//! - `rerun_failed` fired N times at once starts one runner (one 200, the rest 409), which a
//!   cancel then stops;
//! - a batch that stopped because results could not be saved says how to finish it, and a re-run
//!   does (the tests with no result included);
//! - SIGTERM mid-batch: the process exits 0, the batch stays unfinished (not `cancelled`), the
//!   answers received are stored, open progress streams end cleanly, and a restart finishes the
//!   batch with one result per test — no call sent twice but those cut in flight;
//! - each cap (running batches, calls in flight, tests per batch) is crossed, refused or held by
//!   name, and the server still serves.
//!
//! Dify is the simulator behind a test-local proxy ([`Proxy`]) that counts generation requests,
//! records the peak of those in flight, and can fail or hold them — 127.0.0.1 only.

mod common;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What the proxy does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Pass it to the simulator.
    Forward,
    /// Answer at once with Dify's 400 `invalid_param` (never retried).
    Fail,
    /// Keep it waiting until the mode changes.
    Hold,
    /// Keep requests waiting until this many are in flight at once, then forward them all.
    HoldUntil(usize),
}

/// A Dify stand-in on 127.0.0.1 in front of the simulator.
struct Proxy {
    upstream: String,
    mode: watch::Sender<Mode>,
    requests: AtomicUsize,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    http: reqwest::Client,
    base: String,
}

impl Proxy {
    /// Starts a proxy in front of `sim` (a simulator's `/v1` URL); returns it with its own URL.
    async fn spawn(sim: &str, mode: Mode) -> Arc<Proxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let proxy = Arc::new(Proxy {
            upstream: sim.trim_end_matches("/v1").to_string(),
            mode: watch::Sender::new(mode),
            requests: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            http: reqwest::Client::new(),
            base: format!("http://{addr}/v1"),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(proxy.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        proxy
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// Counts a request in flight for as long as it is held.
struct InFlight(Arc<Proxy>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(State(proxy): State<Arc<Proxy>>, req: Request) -> Response {
    // A launch reads the app's `GET /info` and `/parameters` beside the batch: not generation
    // calls, so neither counted, failed nor held.
    if req.method() == axum::http::Method::GET {
        return forward(&proxy, req).await;
    }
    proxy.requests.fetch_add(1, Ordering::SeqCst);
    let now = proxy.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _in_flight = InFlight(proxy.clone());
    proxy.peak.fetch_max(now, Ordering::SeqCst);
    let mode_now = *proxy.mode.borrow();
    if let Mode::HoldUntil(n) = mode_now {
        if now >= n {
            proxy.set(Mode::Forward);
        }
    }
    let mut mode = proxy.mode.subscribe();
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Forward => break,
            Mode::Fail => {
                let body = json!({"code": "invalid_param", "message": "refused by the test",
                                  "status": 400});
                return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
            }
            Mode::Hold | Mode::HoldUntil(_) => {
                if mode.changed().await.is_err() {
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
            }
        }
    }
    forward(&proxy, req).await
}

/// Passes a request to the simulator and its answer back.
async fn forward(proxy: &Proxy, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, 1 << 20).await {
        Ok(b) => b,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = proxy
        .http
        .request(parts.method, format!("{}{path}", proxy.upstream))
        .body(body);
    for name in ["authorization", "content-type"] {
        if let Some(v) = parts.headers.get(name) {
            out = out.header(name, v);
        }
    }
    let Ok(res) = out.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = res.status();
    let content_type = res.headers().get("content-type").cloned();
    let bytes = res.bytes().await.unwrap_or_default();
    let mut answer = (status, bytes).into_response();
    if let Some(ct) = content_type {
        answer.headers_mut().insert("content-type", ct);
    }
    answer
}

/// Waits (bounded) until `ready` holds.
async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn import(api: &Api, n: usize) {
    api.ok(
        "import_cases",
        json!({"format": "json", "content": kb_cases(n)}),
    )
    .await;
}

async fn start(api: &Api, versions: &[i64], extra: Value) -> (u16, Value) {
    let mut body = json!({"name": "lifecycle", "version_ids": versions});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    api.call("start_batch", body).await
}

async fn batch(api: &Api, id: i64) -> Value {
    api.ok("get_batch", json!({"id": id})).await
}

async fn running_batches(server: &Server) -> i64 {
    let health: Value = reqwest::get(format!("{}/healthz", server.base))
        .await
        .expect("healthz")
        .json()
        .await
        .expect("healthz JSON");
    health["running_batches"].as_i64().expect("running_batches")
}

// --- 1. rerun_failed claims the batch once ----------------------------------------------------

async fn concurrent_reruns_start_one_runner(database_url: &str, dir: &std::path::Path) {
    let sim = simulator(5, FaultProfile::None).await;
    let proxy = Proxy::spawn(&sim, Mode::Fail).await;
    let server = Server::start(database_url, &dir.join("server.log"), &[]);
    let api = server.api();
    let v = api
        .create_version("v", &proxy.base, "app-chat.q80.rerun", "chat", "blocking")
        .await;
    import(&api, 10).await;
    let (status, id) = start(&api, &[v], json!({"concurrency": 2})).await;
    assert_eq!(status, 200, "{id}");
    let id = id.as_i64().unwrap();
    let (events, _) = api.read_progress(id, Duration::from_secs(60)).await;
    let last = &events.last().unwrap().1;
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["failed_tests"], 10, "every call failed: {last}");

    // Now every call is held, so a runner stays running until it is cancelled.
    proxy.set(Mode::Hold);
    let sent_before = proxy.requests();
    let calls = (0..8).map(|_| api.call("rerun_failed", json!({"id": id})));
    let answers = futures::future::join_all(calls).await;
    let won: Vec<&(u16, Value)> = answers.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(won.len(), 1, "exactly one re-run starts: {answers:?}");
    assert_eq!(won[0].1, json!(10), "it runs the 10 failed tests");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 409, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("already running"), "{message}");
    }

    // One runner at concurrency 2: two calls, held.
    until("the re-run's calls", || proxy.in_flight() == 2).await;
    assert_eq!(running_batches(&server).await, 1);
    api.ok("cancel_batch", json!({"id": id})).await;
    let (events, _) = api.read_progress(id, Duration::from_secs(60)).await;
    assert_eq!(events.last().unwrap().1["status"], "cancelled");
    assert_eq!(batch(&api, id).await["status"], "cancelled");
    assert_eq!(
        proxy.requests() - sent_before,
        2,
        "one runner sent its two calls, and no other runner sent any"
    );

    // The batch is whole again: a re-run finishes it, one result per test.
    proxy.set(Mode::Forward);
    let n = api.ok("rerun_failed", json!({"id": id})).await;
    assert_eq!(n, json!(10), "8 errors and the 2 cancelled calls");
    let (events, _) = api.read_progress(id, Duration::from_secs(60)).await;
    assert_eq!(events.last().unwrap().1["status"], "completed");
    let report = api.ok("batch_results", json!({"id": id})).await;
    assert_one_result_per_test(&report, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reruns_start_one_runner_on_sqlite() {
    let (dir, url) = sqlite_url();
    concurrent_reruns_start_one_runner(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reruns_start_one_runner_on_postgres() {
    let Some(url) = postgres_url("lifecycle_rerun").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    concurrent_reruns_start_one_runner(&url, dir.path()).await;
}

// --- 2. an `error` batch says how to finish it, and that works ---------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_results_cannot_be_saved_says_how_to_finish_it_and_a_rerun_does() {
    use sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr;
    let (dir, url) = sqlite_url();
    let sim = simulator(5, FaultProfile::None).await;
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    let v = api
        .create_version("v", &sim, "app-chat.q80.unsaved", "chat", "blocking")
        .await;
    import(&api, 10).await;
    let listed = api.ok("list_cases", json!({})).await;
    let doomed = listed[5]["id"].as_i64().unwrap();

    // The database refuses one test's result: the writer retries, then gives up.
    let db = sqlx::SqlitePool::connect_with(SqliteConnectOptions::from_str(&url).unwrap())
        .await
        .expect("open the server's database");
    sqlx::query(&format!(
        "CREATE TRIGGER refuse_one BEFORE INSERT ON results WHEN NEW.case_id = {doomed} \
         BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END"
    ))
    .execute(&db)
    .await
    .expect("create the trigger");

    let (status, id) = start(&api, &[v], json!({"concurrency": 1})).await;
    assert_eq!(status, 200, "{id}");
    let id = id.as_i64().unwrap();
    let (events, _) = api.read_progress(id, Duration::from_secs(60)).await;
    let last = &events.last().unwrap().1;
    assert_eq!(last["status"], "error", "{last}");
    let stored = batch(&api, id).await;
    assert_eq!(stored["status"], "error");
    let message = stored["error_message"].as_str().unwrap_or_default();
    assert!(message.contains("Re-run failed tests"), "{message}");
    assert!(!message.contains("resumes on restart"), "{message}");
    assert!(
        !message.contains("disk full"),
        "database details stay in the log: {message}"
    );
    let completed = stored["completed_tests"].as_i64().unwrap();
    assert!(completed < 10, "the batch stopped short: {stored}");

    // The database recovers; the re-run runs exactly the tests that have no result.
    sqlx::query("DROP TRIGGER refuse_one")
        .execute(&db)
        .await
        .expect("drop the trigger");
    db.close().await;
    let n = api.ok("rerun_failed", json!({"id": id})).await;
    assert_eq!(
        n,
        json!(10 - completed),
        "tests without a result are re-run"
    );
    let (events, _) = api.read_progress(id, Duration::from_secs(60)).await;
    assert_eq!(events.last().unwrap().1["status"], "completed");
    let report = api.ok("batch_results", json!({"id": id})).await;
    assert_one_result_per_test(&report, 10);
    assert_eq!(report["batch"]["error_message"], Value::Null);
}

// --- 3. graceful shutdown ----------------------------------------------------------------------

/// The log without its colour codes.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ … letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `calls_cancelled` and `answers_unsaved` of the runner's "interrupted by shutdown" log line.
fn interrupted_counts(log: &str, batch: i64) -> (usize, usize) {
    let log = plain(log);
    let line = log
        .lines()
        .find(|l| l.contains("interrupted by shutdown") && l.contains(&format!("batch={batch}")))
        .unwrap_or_else(|| panic!("no interruption logged for batch {batch}:\n{log}"));
    let field = |name: &str| -> usize {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in `{line}`"))
    };
    (field("calls_cancelled"), field("answers_unsaved"))
}

async fn sigterm_stops_the_batch_and_a_restart_finishes_it(
    database_url: &str,
    dir: &std::path::Path,
) {
    const CASES: usize = 30;
    let sim = simulator(20, FaultProfile::None).await;
    let fast = Proxy::spawn(&sim, Mode::Forward).await;
    let slow = Proxy::spawn(&sim, Mode::Hold).await;
    let log = dir.join("server.log");
    let mut first = Server::start(database_url, &log, &[]);
    let api = first.api();
    let a = api
        .create_version("fast", &fast.base, "app-chat.q80.fast", "chat", "blocking")
        .await;
    let b = api
        .create_version("slow", &slow.base, "app-chat.q80.held", "chat", "blocking")
        .await;
    import(&api, CASES).await;
    let (status, id) = start(
        &api,
        &[a, b],
        json!({"concurrency": 4, "per_version_cap": 2}),
    )
    .await;
    assert_eq!(status, 200, "{id}");
    let id = id.as_i64().unwrap();

    // A watcher is connected when the signal comes.
    let watcher = tokio::spawn({
        let api = api.clone();
        async move { api.read_progress(id, Duration::from_secs(60)).await }
    });
    // Part of the fast version is stored; the slow version's two calls are held.
    let deadline = Instant::now() + Duration::from_secs(30);
    let stored_before = loop {
        let done = batch(&api, id).await["completed_tests"].as_i64().unwrap();
        if done >= 4 && slow.in_flight() == 2 {
            break done;
        }
        assert!(Instant::now() < deadline, "the batch made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let pid = i32::try_from(first.child.id()).expect("a pid");
    // SAFETY: sends a signal to the child process this test started and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = first.child.try_wait().expect("wait for the server") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after SIGTERM; held calls must be cancelled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "the server exits 0 on SIGTERM: {exit:?}");

    // The open stream ended cleanly, without a terminal event: the batch is not over.
    let (events, _) = watcher.await.expect("the watcher");
    let last = &events.last().unwrap().1;
    assert!(
        ["running", "queued"].contains(&last["status"].as_str().unwrap_or_default()),
        "{last}"
    );

    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let (cancelled, unsaved) = interrupted_counts(&text, id);
    assert!(
        cancelled >= 2,
        "the slow version's held calls were cancelled"
    );
    let store = dify_bench::server::store::Store::connect(database_url)
        .await
        .expect("open the store");
    let stored = store
        .get_batch(dify_bench::model::BatchId(id))
        .await
        .expect("read the batch")
        .expect("the batch exists");
    store.close().await;
    assert!(
        matches!(
            stored.status,
            dify_bench::model::BatchStatus::Running | dify_bench::model::BatchStatus::Queued
        ),
        "left to resume, not {:?}",
        stored.status
    );
    assert!(stored.completed_tests >= stored_before);
    // Every call sent so far has its answer stored, was cancelled in flight, or is counted as
    // received but not stored.
    assert_eq!(
        fast.requests() + slow.requests(),
        stored.completed_tests as usize + cancelled + unsaved,
        "requests sent = results stored + calls cancelled + answers not stored"
    );

    // Restart: the batch resumes by itself and finishes; only the tests without a result are sent.
    slow.set(Mode::Forward);
    let second = Server::start(database_url, &log, &[]);
    let api = second.api();
    let (events, _) = api.read_progress(id, Duration::from_secs(60)).await;
    assert_eq!(events.last().unwrap().1["status"], "completed");
    let report = api.ok("batch_results", json!({"id": id})).await;
    assert_one_result_per_test(&report, 2 * CASES);
    assert_eq!(
        fast.requests() + slow.requests(),
        2 * CASES + cancelled + unsaved,
        "no answer received before the signal was asked for again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_batch_and_a_restart_finishes_it_on_sqlite() {
    let (dir, url) = sqlite_url();
    sigterm_stops_the_batch_and_a_restart_finishes_it(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_batch_and_a_restart_finishes_it_on_postgres() {
    let Some(url) = postgres_url("lifecycle_sigterm").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    sigterm_stops_the_batch_and_a_restart_finishes_it(&url, dir.path()).await;
}

// --- 4. the server-wide caps -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_beyond_the_running_cap_is_refused_by_name_until_one_ends() {
    let (dir, url) = sqlite_url();
    let sim = simulator(5, FaultProfile::None).await;
    let proxy = Proxy::spawn(&sim, Mode::Hold).await;
    let server = Server::start(
        &url,
        &dir.path().join("server.log"),
        &["--max-running-batches", "2"],
    );
    let api = server.api();
    let v = api
        .create_version("v", &proxy.base, "app-chat.q80.cap", "chat", "blocking")
        .await;
    import(&api, 3).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, id) = start(&api, &[v], json!({})).await;
        assert_eq!(status, 200, "{id}");
        ids.push(id.as_i64().unwrap());
    }
    let (status, body) = start(&api, &[v], json!({})).await;
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("--max-running-batches"), "{message}");
    assert!(message.contains("= 2"), "{message}");
    // Nothing was written for the refused launch, and the server still serves.
    let listed = api.ok("list_batches", json!({"limit": 10})).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));

    // Once one ends, a place is free again.
    api.ok("cancel_batch", json!({"id": ids[0]})).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while running_batches(&server).await > 1 {
        assert!(Instant::now() < deadline, "the cancelled batch did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = start(&api, &[v], json!({})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_batches_at_concurrency_50_never_exceed_the_calls_in_flight_cap() {
    const CAP: usize = 6;
    let (dir, url) = sqlite_url();
    let sim = simulator(2, FaultProfile::None).await;
    // Requests are held until CAP are in flight at once, so the cap is surely reached.
    let proxy = Proxy::spawn(&sim, Mode::HoldUntil(CAP)).await;
    let cap = CAP.to_string();
    let server = Server::start(
        &url,
        &dir.path().join("server.log"),
        &["--max-calls-in-flight", &cap, "--max-running-batches", "10"],
    );
    let api = server.api();
    let v = api
        .create_version("v", &proxy.base, "app-chat.q80.peak", "chat", "blocking")
        .await;
    import(&api, 10).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (status, id) = start(&api, &[v], json!({"concurrency": 50})).await;
        assert_eq!(status, 200, "{id}");
        ids.push(id.as_i64().unwrap());
    }
    for id in ids {
        let (events, _) = api.read_progress(id, Duration::from_secs(60)).await;
        assert_eq!(events.last().unwrap().1["status"], "completed");
    }
    assert_eq!(proxy.requests(), 100);
    assert_eq!(
        proxy.peak(),
        CAP,
        "500 calls wanted at once; the server's cap held them to {CAP}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_more_tests_than_the_cap_is_refused_before_anything_is_written() {
    let (dir, url) = sqlite_url();
    let sim = simulator(2, FaultProfile::None).await;
    let server = Server::start(
        &url,
        &dir.path().join("server.log"),
        &["--max-tests-per-batch", "15"],
    );
    let api = server.api();
    let a = api
        .create_version("a", &sim, "app-chat.q80.size-a", "chat", "blocking")
        .await;
    let b = api
        .create_version("b", &sim, "app-chat.q80.size-b", "chat", "blocking")
        .await;
    import(&api, 10).await;
    let (status, body) = start(&api, &[a, b], json!({})).await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("= 20 tests"), "{message}");
    assert!(message.contains("--max-tests-per-batch"), "{message}");
    let listed = api.ok("list_batches", json!({"limit": 10})).await;
    assert_eq!(listed, json!([]), "nothing was written");

    let (status, id) = start(&api, &[a], json!({})).await;
    assert_eq!(status, 200, "a batch within the cap runs: {id}");
    let (events, _) = api
        .read_progress(id.as_i64().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(events.last().unwrap().1["status"], "completed");
}

#[test]
fn a_cap_of_zero_is_refused_at_start_naming_the_flag() {
    let (_dir, url) = sqlite_url();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dify-bench"))
        .args(["serve", "--addr", "127.0.0.1:0", "--database-url", &url])
        .args(["--max-calls-in-flight", "0"])
        .output()
        .expect("run dify-bench");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--max-calls-in-flight"), "{stderr}");
}
