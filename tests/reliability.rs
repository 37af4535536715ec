//! The reliability suite, short forms (they run in `make test`, no timed assertions). The long
//! forms are the same tests at soak size: `make soak` sets DIFY_BENCH_SOAK=1 (see BENCHMARKS.md).
//!
//! - fault storm: a batch against the hostile simulator; every test ends passed, failed or
//!   errored with a code, retries stay within their bound, the batch completes, 0 panics;
//! - kill -9 loop: the server killed and restarted during one batch; it completes with every
//!   result exactly once, and progress after each restart never goes back;
//! - SSE churn: connect / disconnect cycles on a live batch; the server's fds and RSS return;
//! - secrets: a full batch; every response, SSE event, page, log line and export is searched
//!   for the API keys.

mod common;

use common::*;
use dify_bench::server::dify::ClientConfig;
use dify_bench::server::runner::MAX_THROTTLES_PER_TEST;
use dify_bench::server::simulator::FaultProfile;
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;

fn soak() -> bool {
    std::env::var("DIFY_BENCH_SOAK").as_deref() == Ok("1")
}

fn add(seen: &mut String, body: &Value) {
    seen.push_str(&format!("{body}\n"));
}

fn server_log(server: &Server) -> String {
    std::fs::read_to_string(&server.log).unwrap_or_default()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_storm_every_test_ends_with_a_status_and_retries_stay_bounded() {
    // Short: 4 versions x 50 cases; soak: 10 versions x 1,000 cases = 10,000 tests.
    let (versions, per_version) = if soak() { (10, 1000) } else { (4, 50) };
    let sim = simulator(20, FaultProfile::Hostile).await;
    let (_dir, url) = sqlite_url();
    let log = _dir.path().join("server.log");
    let server = Server::start(&url, &log, &[]);
    let api = server.api();
    let modes = [
        ("chat", "streaming"),
        ("advanced-chat", "streaming"),
        ("workflow", "blocking"),
        ("chat", "blocking"),
    ];
    let mut ids = Vec::new();
    for i in 0..versions {
        let (mode, response) = modes[i % modes.len()];
        let key = format!("app-{mode}.q{}.storm-{i:02}", 50 + i * 4);
        ids.push(
            api.create_version(&format!("storm {i}"), &sim, &key, mode, response)
                .await,
        );
    }
    api.ok(
        "import_cases",
        json!({"format": "json", "content": kb_cases(per_version)}),
    )
    .await;
    // 10 in flight per app: above the hostile simulator's ceiling of 8, so 429s come from it too.
    let id = api
        .ok(
            "start_batch",
            json!({"name": "fault storm", "version_ids": ids, "case_ids": null,
                   "concurrency": 10 * versions, "per_version_cap": 10}),
        )
        .await
        .as_i64()
        .unwrap();
    let (events, _) = api.read_progress(id, Duration::from_secs(1800)).await;
    let (_, last) = events.last().expect("events");
    let total = (versions * per_version) as u64;
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["completed_tests"], total);

    let report = api.ok("batch_results", json!({"id": id})).await;
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len() as u64, total, "one result per test");
    // A throttled call goes back to wait (adaptive concurrency) and is sent again, at most
    // MAX_THROTTLES_PER_TEST times; every call makes at most max_attempts attempts.
    let max = (ClientConfig::default().max_attempts * MAX_THROTTLES_PER_TEST) as i64;
    let (mut passed, mut failed, mut errored, mut retried) = (0, 0, 0, 0);
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for r in results {
        let attempts = r["attempts"].as_i64().unwrap();
        assert!((1..=max).contains(&attempts), "attempts {attempts}: {r}");
        if attempts > 1 {
            retried += 1;
        }
        match r["status"].as_str().unwrap() {
            "passed" => passed += 1,
            "failed" => failed += 1,
            "error" => {
                errored += 1;
                let code = r["error_code"].as_str().unwrap_or_default();
                assert!(!code.is_empty(), "an error without a code: {r}");
                assert!(
                    r["error_message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{r}"
                );
                *codes.entry(code.to_string()).or_default() += 1;
            }
            other => panic!("status {other}: {r}"),
        }
    }
    eprintln!(
        "fault storm: {total} tests: {passed} passed, {failed} failed, {errored} errored \
         {codes:?}; {retried} retried"
    );
    assert_eq!(last["passed_tests"], passed);
    assert_eq!(last["failed_tests"], errored);
    assert!(retried > 0, "the hostile profile made no test retry");
    let log = server_log(&server);
    assert!(
        !log.contains("panicked"),
        "a panic in the server log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loop_the_batch_completes_with_every_result_once() {
    let kills = if soak() { 10 } else { 3 };
    let per_version = if soak() { 200 } else { 40 };
    let sim = simulator(40, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let log = dir.path().join("server.log");
    let mut server = Server::start(&url, &log, &[]);
    let api = server.api();
    let a = api
        .create_version("kill a", &sim, "app-chat.q80.kill-a", "chat", "streaming")
        .await;
    let b = api
        .create_version(
            "kill b",
            &sim,
            "app-workflow.q60.kill-b",
            "workflow",
            "blocking",
        )
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": kb_cases(per_version)}),
    )
    .await;
    let id = api
        .ok(
            "start_batch",
            json!({"name": "kill loop", "version_ids": [a, b], "case_ids": null, "concurrency": 4}),
        )
        .await
        .as_i64()
        .unwrap();
    let total = 2 * per_version as u64;
    let mut seen = 0u64;
    for round in 0..kills {
        // Let a few more tests finish, then kill -9 mid-batch.
        let target = seen + (total / (kills as u64 + 2)).max(1);
        let done = read_until(&server.api(), id, |e| {
            e["completed_tests"].as_u64().unwrap() >= target || e["status"] != "running"
        })
        .await;
        let first = done.first().cloned().unwrap_or_default();
        let first_done = first["completed_tests"].as_u64().unwrap_or(0);
        assert!(
            first_done >= seen,
            "round {round}: progress went back after the restart ({first_done} < {seen})"
        );
        assert!(first_done <= total);
        seen = done
            .iter()
            .map(|e| e["completed_tests"].as_u64().unwrap())
            .max()
            .unwrap_or(seen);
        if done.last().is_some_and(|e| e["status"] != "running") {
            break;
        }
        server.kill(); // SIGKILL
        server = Server::start(&url, &log, &[]);
    }
    let (events, _) = server
        .api()
        .read_progress(id, Duration::from_secs(600))
        .await;
    let (_, last) = events.last().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["completed_tests"], total);
    let report = server.api().ok("batch_results", json!({"id": id})).await;
    assert_one_result_per_test(&report, total as usize);
    assert!(!server_log(&server).contains("panicked"));
}

/// Reads the progress stream until `stop` holds for an event (or the stream ends); returns the
/// events read.
async fn read_until(api: &Api, id: i64, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
    let res = api
        .http
        .get(format!("{}/api/batches/{id}/progress", api.base))
        .send()
        .await
        .unwrap();
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    let read = async {
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { break };
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                for (_, e) in parse_sse(&frame) {
                    let stop_here = stop(&e);
                    out.push(e);
                    if stop_here {
                        return;
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(300), read)
        .await
        .expect("the progress stream stalled");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_churn_leaves_fds_and_memory_at_baseline() {
    let cycles = if soak() { 10_000 } else { 400 };
    // A batch that keeps running throughout: one call in flight, 200 ms each.
    let sim = simulator(200, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let pid = server.child.id();
    let api = server.api();
    let v = api
        .create_version("churn", &sim, "app-chat.q80.churn", "chat", "blocking")
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": kb_cases(if soak() { 2000 } else { 300 })}),
    )
    .await;
    let id = api
        .ok(
            "start_batch",
            json!({"name": "churn", "version_ids": [v], "case_ids": null, "concurrency": 1}),
        )
        .await
        .as_i64()
        .unwrap();
    // A fresh connection per cycle, so every cycle opens and closes a socket on the server.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", server.token).parse().unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let url = format!("{}/api/batches/{id}/progress", server.base);
    let cycle = |http: reqwest::Client, url: String| async move {
        let res = http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let mut s = res.bytes_stream();
        let first = s.next().await.expect("a first event").unwrap();
        assert!(first.starts_with(b"retry: 3000\n"));
        // Dropping the stream closes the connection mid-stream.
    };
    // Warm up (pools, caches), then the baseline. The warm-up includes a wave as wide as the
    // measured ones: every stream's credential is checked in the database, so the server's
    // connection pool grows to its working size under a wave (each SQLite connection holds
    // a few fds); that is the pool's size, not a leak.
    for _ in 0..20 {
        cycle(http.clone(), url.clone()).await;
    }
    let wave: Vec<_> = (0..50)
        .map(|_| tokio::spawn(cycle(http.clone(), url.clone())))
        .collect();
    for t in wave {
        t.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (fds0, rss0) = (open_fds(pid), rss_kb(pid));
    let mut done = 0;
    while done < cycles {
        let wave: Vec<_> = (0..50.min(cycles - done))
            .map(|_| tokio::spawn(cycle(http.clone(), url.clone())))
            .collect();
        done += wave.len();
        for t in wave {
            t.await.unwrap();
        }
    }
    // The server notices a gone client at its next write (an event at least every 15 s, here
    // every ~200 ms), so fds return shortly after; wait for it rather than time it.
    let mut fds1 = open_fds(pid);
    for _ in 0..200 {
        if fds1 <= fds0 + 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        fds1 = open_fds(pid);
    }
    let rss1 = rss_kb(pid);
    eprintln!(
        "sse churn: {cycles} cycles; fds {fds0} -> {fds1}; RSS {rss0} kB -> {rss1} kB ({:+} kB)",
        rss1 - rss0
    );
    assert!(fds1 <= fds0 + 10, "fds leak: {fds0} before, {fds1} after");
    // Generous: allocator caches may keep some, but a leak of ~10 KB per stream would show.
    assert!(
        rss1 - rss0 < 8 * 1024 + cycles as i64 * 4,
        "RSS grew by {} kB",
        rss1 - rss0
    );
    let status = api.ok("get_batch", json!({"id": id})).await;
    assert_eq!(status["status"], "running", "the batch ran throughout");
    api.ok("cancel_batch", json!({"id": id})).await;
    assert!(!server_log(&server).contains("panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_leave_the_server() {
    let sim = simulator(10, FaultProfile::Flaky).await;
    let (dir, url) = sqlite_url();
    let log = dir.path().join("server.log");
    // The always-failing app opens its circuit: probes after a short cool-down.
    let server = Server::start(&url, &log, &["--breaker-cooldown-ms", "200"]);
    let api = server.api();
    // The distinctive middle parts never appear even in a hint (which shows the last 4 only).
    let keys = [
        ("app-chat.q85.SeCrEtAlpha7731", "SeCrEtAlpha"),
        ("app-workflow.q60.SeCrEtBravo9942", "SeCrEtBravo"),
        ("app-chat.q70.500.SeCrEtCharlie", "SeCrEtCharl"),
    ];
    let mut seen = String::new();
    let mut ids = Vec::new();
    for (i, (key, _)) in keys.iter().enumerate() {
        let (mode, response) = if key.contains("workflow") {
            ("workflow", "blocking")
        } else {
            ("chat", "streaming")
        };
        let (status, v) = api
            .call(
                "save_version",
                json!({"name": format!("secret {i}"), "base_url": sim, "api_key": key,
                       "app_mode": mode, "response_mode": response}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        add(&mut seen, &v);
        ids.push(v["id"].as_i64().unwrap());
    }
    // A rejected update echoes nothing of the key either.
    let (_, v) = api
        .call(
            "save_version",
            json!({"name": "", "base_url": "not a url", "api_key": keys[0].0}),
        )
        .await;
    add(&mut seen, &v);
    for &id in &ids {
        let (_, v) = api.call("test_connection", json!({"id": id})).await;
        add(&mut seen, &v);
    }
    add(
        &mut seen,
        &api.ok(
            "import_cases",
            json!({"format": "json", "content": kb_cases(10)}),
        )
        .await,
    );
    let batch = api
        .ok(
            "start_batch",
            json!({"name": "secrets", "version_ids": ids, "case_ids": null, "concurrency": 4}),
        )
        .await;
    add(&mut seen, &batch);
    let id = batch.as_i64().unwrap();
    let (_, raw) = api.read_progress(id, Duration::from_secs(120)).await;
    seen.push_str(&raw);
    for (name, body) in [
        ("list_versions", json!({})),
        ("get_batch", json!({"id": id})),
        ("list_batches", json!({})),
        ("running_batches", json!({})),
        ("batch_results", json!({"id": id})),
        ("latest_version_results", json!({})),
        ("export_cases", json!({"format": "json"})),
        ("export_cases", json!({"format": "csv"})),
    ] {
        let (_, v) = api.call(name, body).await;
        add(&mut seen, &v);
    }
    // A stored (no longer tracked) batch's stream, and the pages.
    let (_, raw) = api.read_progress(id, Duration::from_secs(10)).await;
    seen.push_str(&raw);
    for path in ["/", "/cases", "/batches", &format!("/batches/{id}")] {
        let res = api
            .http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        // Read what arrives even if a page's stream breaks off (the UI is not under test here;
        // one such cut was seen once and not reproduced in 1,800 loads, so name the page).
        let mut body = res.bytes_stream();
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(e) => {
                    eprintln!("warning: the page {path} broke off: {e:?}");
                    break;
                }
            }
        }
    }
    seen.push_str(&server_log(&server));
    assert!(seen.len() > 10_000, "captured too little to mean anything");
    for (key, middle) in keys {
        assert!(!seen.contains(key), "the key {key} leaked");
        assert!(!seen.contains(middle), "part of the key {key} leaked");
    }
    // At rest too: the database file and its WAL hold the keys sealed only.
    let mut at_rest = Vec::new();
    for name in ["bench.db", "bench.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
            at_rest.extend_from_slice(&bytes);
        }
    }
    let at_rest = String::from_utf8_lossy(&at_rest);
    assert!(at_rest.len() > 4096, "read the database file");
    for (key, middle) in keys {
        assert!(
            !at_rest.contains(middle),
            "the database holds {key} in plain text"
        );
    }

    // The headless CLI: its output, log and both reports.
    let cfg = dir.path().join("ci.toml");
    std::fs::write(dir.path().join("cases.json"), kb_cases(5)).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "cases = \"cases.json\"\n[[versions]]\nname = \"a\"\nbase_url = \"{sim}\"\n\
             api_key = \"env:SECRET_KEY_A\"\n[[versions]]\nname = \"c\"\nbase_url = \"{sim}\"\n\
             api_key = \"env:SECRET_KEY_C\"\n"
        ),
    )
    .unwrap();
    let (json_out, junit_out) = (dir.path().join("r.json"), dir.path().join("r.xml"));
    let out = tokio::task::spawn_blocking({
        let (cfg, j, x) = (cfg.clone(), json_out.clone(), junit_out.clone());
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_dify-bench"))
                .arg("run")
                .arg("--config")
                .arg(&cfg)
                .arg("--json")
                .arg(&j)
                .arg("--junit")
                .arg(&x)
                .env("SECRET_KEY_A", keys[0].0)
                .env("SECRET_KEY_C", keys[2].0)
                .env("RUST_LOG", "debug,sqlx=warn,hyper=warn")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let mut cli = String::from_utf8_lossy(&out.stdout).into_owned();
    cli.push_str(&String::from_utf8_lossy(&out.stderr));
    cli.push_str(&std::fs::read_to_string(&json_out).unwrap());
    cli.push_str(&std::fs::read_to_string(&junit_out).unwrap());
    for (key, middle) in [keys[0], keys[2]] {
        assert!(!cli.contains(key), "headless output leaked {key}");
        assert!(
            !cli.contains(middle),
            "headless output leaked part of {key}"
        );
    }
}

/// The progress JSON is serialised once per event, not once per watcher: every watcher of a
/// batch receives the same `Arc<Event>`, whose frame is one shared buffer (the SSE route sends
/// `event.frame.clone()`, a reference-count increment).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_serialised_once_per_event_not_per_watcher() {
    use dify_bench::model::{BatchId, ResultStatus, VersionId};
    use dify_bench::server::progress::{BatchStart, Finished, Registry, VersionStart};
    use std::sync::Arc;
    let reg = Registry::new(Duration::from_secs(60));
    reg.init_batch(BatchStart {
        batch_id: BatchId(1),
        name: "once".into(),
        repeats: 1,
        judged: false,
        started_at_ms: 0,
        versions: (1..=10)
            .map(|v| VersionStart::fresh(VersionId(v), format!("v{v}"), 100))
            .collect(),
    });
    let mut watchers: Vec<_> = (0..100)
        .map(|_| reg.subscribe(BatchId(1)).unwrap())
        .collect();
    for w in &mut watchers {
        w.borrow_and_update();
    }
    reg.test_started(BatchId(1), VersionId(3), "case");
    reg.test_finished(
        BatchId(1),
        VersionId(3),
        Finished {
            status: ResultStatus::Passed,
            score: Some(90.0),
            latency_ms: Some(20),
            judge: None,
        },
    );
    // The publisher may run between the start and the finish (another worker thread), so the
    // event that carries the finish can be the second one: wait for it.
    for w in &mut watchers {
        while w.borrow_and_update().progress().completed_tests < 1 {
            tokio::time::timeout(Duration::from_secs(10), w.changed())
                .await
                .expect("an event within the coalescing window")
                .unwrap();
        }
    }
    let first = watchers[0].borrow().clone();
    assert_eq!(first.progress().completed_tests, 1);
    for w in &watchers {
        let e = w.borrow().clone();
        assert!(
            Arc::ptr_eq(&e, &first),
            "one event object for every watcher"
        );
        assert_eq!(e.frame.as_ptr(), first.frame.as_ptr(), "one frame buffer");
    }
}
