//! Black-box tests of the HTTP surface: the real binary on a random port, the simulator as Dify.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const KEY_A: &str = "app-chat.q90.http-test-alpha";
const KEY_B: &str = "app-workflow.q40.http-test-bravo";

/// The seed's small batch: 2 versions × 10 cases, watched over SSE to the end, every field of
/// every event checked, and the terminal event checked against the stored results.
async fn two_by_ten(database_url: &str, log: &std::path::Path) {
    let sim = simulator(20, FaultProfile::None).await;
    let server = Server::start(database_url, log, &[]);
    let api = server.api();

    let a = api
        .create_version("v1.1 chat", &sim, KEY_A, "chat", "streaming")
        .await;
    let b = api
        .create_version("v1.2 workflow", &sim, KEY_B, "workflow", "blocking")
        .await;
    let imported = api
        .ok(
            "import_cases",
            json!({"format": "json", "content": ten_cases().to_string()}),
        )
        .await;
    assert_eq!(imported["imported"], 10);

    let id = api
        .ok(
            "start_batch",
            json!({"name": "Batch test 2x10", "version_ids": [a, b], "case_ids": null, "concurrency": 4}),
        )
        .await
        .as_i64()
        .expect("a batch id");

    let (events, raw) = api.read_progress(id, Duration::from_secs(60)).await;
    assert!(
        raw.starts_with("retry: 3000\nevent: progress\nid: "),
        "first frame: {raw:.80}"
    );
    assert!(!events.is_empty());
    let ids: Vec<u64> = events.iter().map(|(i, _)| *i).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let mut last_done = 0;
    for (_, e) in &events {
        for field in [
            "batch_id",
            "batch_name",
            "status",
            "progress",
            "completed_tests",
            "total_tests",
            "failed_tests",
            "passed_tests",
            "current_version",
            "current_test_case",
            "estimated_remaining_time",
            "elapsed_time",
            "error_message",
            "versions",
        ] {
            assert!(e.get(field).is_some(), "event lacks `{field}`: {e}");
        }
        assert_eq!(e["batch_id"], id);
        assert_eq!(e["total_tests"], 20);
        let done = e["completed_tests"].as_u64().unwrap();
        assert!(done >= last_done, "completed never goes back");
        last_done = done;
        for v in e["versions"].as_array().unwrap() {
            for field in [
                "version_id",
                "version_name",
                "progress",
                "status",
                "completed_tests",
                "total_tests",
                "failed_tests",
                "average_score",
                "pass_rate",
                "avg_latency_ms",
            ] {
                assert!(v.get(field).is_some(), "version lacks `{field}`: {v}");
            }
        }
    }
    let (_, last) = events.last().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["progress"], 100.0);
    assert_eq!(last["completed_tests"], 20);
    assert_eq!(last["estimated_remaining_time"], 0.0);
    assert!(last["current_test_case"].is_null());

    // The terminal event agrees with what is stored.
    let report = api.ok("batch_results", json!({"id": id})).await;
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 20, "one result per test");
    let count = |status: &str| results.iter().filter(|r| r["status"] == status).count() as u64;
    assert_eq!(last["passed_tests"].as_u64().unwrap(), count("passed"));
    assert_eq!(last["failed_tests"].as_u64().unwrap(), count("error"));
    let mut by_version: HashMap<i64, Vec<&Value>> = HashMap::new();
    for r in results {
        by_version
            .entry(r["version_id"].as_i64().unwrap())
            .or_default()
            .push(r);
    }
    for v in last["versions"].as_array().unwrap() {
        let vid = v["version_id"].as_i64().unwrap();
        let rs = &by_version[&vid];
        assert_eq!(v["completed_tests"], rs.len() as u64);
        assert_eq!(v["total_tests"], 10);
        assert_eq!(v["status"], "completed");
        let scores: Vec<f64> = rs.iter().filter_map(|r| r["score"].as_f64()).collect();
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        assert!(
            (v["average_score"].as_f64().unwrap() - mean).abs() < 0.01,
            "{v} vs {mean}"
        );
        let passed = rs.iter().filter(|r| r["status"] == "passed").count() as f64;
        let rate = passed * 100.0 / rs.len() as f64;
        assert!((v["pass_rate"].as_f64().unwrap() - rate).abs() < 0.01);
        let lat: Vec<f64> = rs.iter().filter_map(|r| r["latency_ms"].as_f64()).collect();
        let lat_mean = lat.iter().sum::<f64>() / lat.len() as f64;
        assert!((v["avg_latency_ms"].as_f64().unwrap() - lat_mean).abs() < 0.01);
    }
    // Quality shows: the q90 version outscores the q40 one.
    let score_of = |vid: i64| {
        last["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["version_id"] == vid)
            .unwrap()["average_score"]
            .as_f64()
            .unwrap()
    };
    assert!(
        score_of(a) > score_of(b),
        "q90 {} vs q40 {}",
        score_of(a),
        score_of(b)
    );
    let batch = api.ok("get_batch", json!({"id": id})).await;
    assert_eq!(batch["status"], "completed");
    assert_eq!(batch["completed_tests"], 20);

    // A finished batch answers one terminal snapshot and ends.
    let (again, _) = api.read_progress(id, Duration::from_secs(5)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1["status"], "completed");
    assert_eq!(again[0].1["passed_tests"], last["passed_tests"]);

    // Keys never leave the server.
    let everything = format!(
        "{raw}{report}{batch}{}{}",
        api.ok("list_versions", json!({})).await,
        api.ok("list_batches", json!({})).await
    );
    for key in [KEY_A, KEY_B] {
        assert!(!everything.contains(key), "a key leaked into a response");
    }
    drop(server);
    let log_text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        !log_text.contains(KEY_A) && !log_text.contains(KEY_B),
        "a key leaked into the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_versions_by_ten_cases_on_sqlite() {
    let (dir, url) = sqlite_url();
    two_by_ten(&url, &dir.path().join("server.log")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_versions_by_ten_cases_on_postgres() {
    let Some(url) = postgres_url("two_by_ten").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    two_by_ten(&url, &dir.path().join("server.log")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_message_and_nothing_changes() {
    let sim = simulator(5, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    let v = api
        .create_version("ok", &sim, KEY_A, "chat", "blocking")
        .await;
    api.ok(
        "import_cases",
        json!({"format": "csv", "content": "query\nq1\nq2\n"}),
    )
    .await;

    let refused = |status: u16, body: &Value, needle: &str| {
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "bad_request", "{body}");
        let msg = body["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "`{msg}` should mention `{needle}`");
    };
    let (s, b) = api.call("start_batch", json!({"version_ids": []})).await;
    refused(s, &b, "at least one version");
    let (s, b) = api.call("start_batch", json!({"version_ids": [999]})).await;
    refused(s, &b, "version 999 does not exist");
    let (s, b) = api
        .call("start_batch", json!({"version_ids": [v], "concurrency": 0}))
        .await;
    refused(s, &b, "concurrency");
    let (s, b) = api
        .call("start_batch", json!({"version_ids": [v], "case_ids": []}))
        .await;
    refused(s, &b, "at least one test case");
    let (s, b) = api
        .call(
            "start_batch",
            json!({"version_ids": [v], "pass_threshold": 101}),
        )
        .await;
    refused(s, &b, "pass_threshold");
    api.ok("set_version_enabled", json!({"id": v, "enabled": false}))
        .await;
    let (s, b) = api.call("start_batch", json!({"version_ids": [v]})).await;
    refused(s, &b, "disabled");
    let (s, b) = api.call("start_batch", json!({"version_ids": "one"})).await;
    refused(s, &b, "invalid arguments");
    let (s, b) = api
        .call(
            "save_version",
            json!({"name": "x", "base_url": "localhost:5001", "api_key": "k"}),
        )
        .await;
    refused(s, &b, "base_url");
    let (s, b) = api
        .call("save_version", json!({"name": "x", "base_url": &sim}))
        .await;
    refused(s, &b, "api_key is required");
    let (s, b) = api
        .call(
            "save_version",
            json!({"name": "ok", "base_url": &sim, "api_key": "app-xyz-123456789"}),
        )
        .await;
    assert_eq!(s, 409, "duplicate names conflict: {b}");
    let (s, b) = api
        .call(
            "import_cases",
            json!({"format": "csv", "content": "query,keywords\nq3,a\n ,b\nq5,c\n"}),
        )
        .await;
    refused(s, &b, "row 3: column `query` is empty");
    assert_eq!(
        api.ok("list_cases", json!({}))
            .await
            .as_array()
            .unwrap()
            .len(),
        2,
        "nothing imported"
    );
    let (s, b) = api.call("delete_case", json!({"id": 4242})).await;
    assert_eq!((s, b["error"].as_str()), (404, Some("not_found")));
    let (s, b) = api.call("cancel_batch", json!({"id": 4242})).await;
    assert_eq!((s, b["error"].as_str()), (404, Some("not_found")));

    // Oversize bodies are refused from their Content-Length, before a byte of them is read. (A
    // client still streaming the body would race the server's close, so only the head is sent.)
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = server.base.trim_start_matches("http://");
        let mut tcp = tokio::net::TcpStream::connect(host).await.unwrap();
        let head = format!(
            "POST /api/import_cases HTTP/1.1\r\nHost: {host}\r\n\
             Authorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            server.token,
            11 * 1024 * 1024
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("the server answers without waiting for the body")
            .unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "oversize bodies are refused: {answer}"
        );
    }

    let res = api
        .http
        .get(format!("{}/api/batches/4242/progress", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert_eq!(body["message"], "batch 4242 does not exist");
    let res = api
        .http
        .get(format!("{}/api/batches/abc/progress", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = api
        .http
        .get(format!("{}/api/nope", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let health: Value = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_batch_promptly_and_batches_run_side_by_side() {
    let sim = simulator(150, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    let v = api
        .create_version("slow", &sim, KEY_A, "chat", "streaming")
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": ten_cases().to_string()}),
    )
    .await;

    let slow = api
        .ok(
            "start_batch",
            json!({"name": "to cancel", "version_ids": [v], "concurrency": 1}),
        )
        .await
        .as_i64()
        .unwrap();
    let other = api
        .ok(
            "start_batch",
            json!({"name": "alongside", "version_ids": [v], "concurrency": 5}),
        )
        .await
        .as_i64()
        .unwrap();
    let running = api.ok("running_batches", json!({})).await;
    assert!(running.as_array().unwrap().contains(&json!(slow)));

    tokio::time::sleep(Duration::from_millis(400)).await;
    let started = std::time::Instant::now();
    api.ok("cancel_batch", json!({"id": slow})).await;
    let (events, _) = api.read_progress(slow, Duration::from_secs(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cancel took {:?}",
        started.elapsed()
    );
    let last = &events.last().unwrap().1;
    assert_eq!(last["status"], "cancelled");
    assert_eq!(last["versions"][0]["status"], "cancelled");
    let done = last["completed_tests"].as_u64().unwrap();
    assert!(done < 10, "cancelled early, {done} done");
    let stored = api.ok("batch_results", json!({"id": slow})).await;
    assert_eq!(stored["results"].as_array().unwrap().len() as u64, done);
    let (s, b) = api.call("cancel_batch", json!({"id": slow})).await;
    assert_eq!(s, 409, "{b}");

    // The other batch was not disturbed.
    let (events, _) = api.read_progress(other, Duration::from_secs(30)).await;
    let last = &events.last().unwrap().1;
    assert_eq!(last["status"], "completed");
    assert_eq!(last["completed_tests"], 10);
    assert_eq!(last["batch_name"], "alongside");
}

/// GET the progress stream with `Last-Event-ID: last` and read it to its end: (status, body).
async fn progress_after(api: &Api, batch: i64, last: &str, limit: Duration) -> (u16, String) {
    let res = api
        .http
        .get(format!("{}/api/batches/{batch}/progress", api.base))
        .header("last-event-id", last)
        .send()
        .await
        .expect("open the progress stream");
    let status = res.status().as_u16();
    let body = tokio::time::timeout(limit, res.text())
        .await
        .expect("the progress stream did not end in time")
        .expect("read the progress stream");
    (status, body)
}

/// The first event of the progress stream, the connection dropped after it.
async fn first_event(api: &Api, batch: i64) -> (u64, Value) {
    use futures::StreamExt;
    let res = api
        .http
        .get(format!("{}/api/batches/{batch}/progress", api.base))
        .send()
        .await
        .expect("open the progress stream");
    let mut stream = res.bytes_stream();
    let mut raw = String::new();
    let read = async {
        while let Some(chunk) = stream.next().await {
            raw.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
            if let Some(first) = parse_sse(&raw).into_iter().next() {
                return first;
            }
        }
        panic!("the stream ended without an event: {raw}");
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no first event in time")
}

/// A reconnecting client (`Last-Event-ID`) is sent no event it has: on a running batch, only
/// newer ones; on a finished batch it has the end of, 204 (EventSource's "stop reconnecting"),
/// both while the batch is in memory and from the store after a restart. Garbage is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_progress_stream_honours_last_event_id() {
    // Every test starts at once and none ends for over a second: the snapshot read after the
    // starts stays the latest event for a while, so the reconnect meets one it already has.
    let sim = simulator(1500, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let log = dir.path().join("server.log");
    let server = Server::start(&url, &log, &[]);
    let api = server.api();
    let v = api
        .create_version("slow", &sim, KEY_A, "chat", "blocking")
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": ten_cases().to_string()}),
    )
    .await;
    let id = api
        .ok(
            "start_batch",
            json!({"name": "reconnects", "version_ids": [v], "concurrency": 10}),
        )
        .await
        .as_i64()
        .unwrap();

    // Past the coalescing window of the tests' starts, before any of them ends.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (seen, _) = first_event(&api, id).await;
    let (status, raw) = progress_after(&api, id, &seen.to_string(), Duration::from_secs(60)).await;
    assert_eq!(status, 200);
    assert!(raw.starts_with("retry: 3000\n"), "{raw:.80}");
    let events = parse_sse(&raw);
    let ids: Vec<u64> = events.iter().map(|(i, _)| *i).collect();
    assert!(
        ids.iter().all(|&i| i > seen),
        "{seen} was seen, then {ids:?}"
    );
    let (end, last) = events.last().expect("events after the reconnect").clone();
    assert_eq!(last["status"], "completed");
    assert_eq!(last["completed_tests"], 10);

    // Finished, still in memory: the end already seen is the end of reconnecting.
    let (status, body) = progress_after(&api, id, &end.to_string(), Duration::from_secs(5)).await;
    assert_eq!((status, body.as_str()), (204, ""));
    let (status, raw) =
        progress_after(&api, id, &(end - 1).to_string(), Duration::from_secs(5)).await;
    assert_eq!(status, 200);
    assert_eq!(parse_sse(&raw), vec![(end, last.clone())]);
    for garbage in ["soon", "-1", ""] {
        let (status, raw) = progress_after(&api, id, garbage, Duration::from_secs(5)).await;
        assert_eq!(status, 200, "Last-Event-ID `{garbage}`");
        assert_eq!(parse_sse(&raw).len(), 1, "Last-Event-ID `{garbage}`: {raw}");
    }

    // After a restart the batch is read from the store, with an id of its own.
    drop(server);
    let server = Server::start(&url, &log, &[]);
    let api = server.api();
    let (events, _) = api.read_progress(id, Duration::from_secs(5)).await;
    let [(stored, snapshot)] = &events[..] else {
        panic!("one snapshot of a finished batch, got {events:?}");
    };
    assert_eq!(snapshot["status"], "completed");
    let (status, body) =
        progress_after(&api, id, &stored.to_string(), Duration::from_secs(5)).await;
    assert_eq!((status, body.as_str()), (204, ""));
    let (status, raw) =
        progress_after(&api, id, &(stored - 1).to_string(), Duration::from_secs(5)).await;
    assert_eq!(status, 200);
    assert_eq!(parse_sse(&raw).len(), 1);
}

const KEY_QUOTA: &str = "app-chat.q80.quota.http-page-charlie";

/// The batch page and the exports against the full report of a finished batch: 3 versions (one
/// failing every test) × 60 cases, so 2 pages.
async fn batch_page_and_exports(database_url: &str, log: &std::path::Path) {
    let sim = simulator(5, FaultProfile::None).await;
    let server = Server::start(database_url, log, &[]);
    let api = server.api();
    let a = api
        .create_version("page chat", &sim, KEY_A, "chat", "streaming")
        .await;
    let b = api
        .create_version("page workflow, q40", &sim, KEY_B, "workflow", "blocking")
        .await;
    let c = api
        .create_version("page quota", &sim, KEY_QUOTA, "chat", "blocking")
        .await;
    let kb = dify_bench::server::simulator::knowledge::entries();
    let drafts: Vec<Value> = (0..60)
        .map(|i| {
            let e = &kb[i % kb.len()];
            json!({"name": format!("case {i:02}, {}", e.name), "query": e.query,
                   "expected_answer": e.expected_answer, "keywords": e.keywords})
        })
        .collect();
    let imported = api
        .ok(
            "import_cases",
            json!({"format": "json", "content": Value::Array(drafts).to_string()}),
        )
        .await;
    assert_eq!(imported["imported"], 60);
    let id = api
        .ok(
            "start_batch",
            json!({"name": "paged", "version_ids": [a, b, c], "concurrency": 8}),
        )
        .await
        .as_i64()
        .unwrap();
    let (events, _) = api.read_progress(id, Duration::from_secs(120)).await;
    assert_eq!(events.last().unwrap().1["status"], "completed");

    let report = api.ok("batch_results", json!({"id": id})).await;
    let cases = report["cases"].as_array().unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!((cases.len(), results.len()), (60, 180));

    // Page 0 (the default) and page 1 hold the cases in launch order, with every outcome.
    let first = api.ok("batch_page", json!({"id": id})).await;
    assert_eq!(
        first,
        api.ok("batch_page", json!({"id": id, "page": 0})).await
    );
    let second = api.ok("batch_page", json!({"id": id, "page": 1})).await;
    for (view, page, range) in [(&first, 0, 0..50), (&second, 1, 50..60)] {
        assert_eq!(view["page"], page);
        assert_eq!(view["pages"], 2);
        assert_eq!(view["page_size"], 50);
        assert_eq!(view["total_cases"], 60);
        assert_eq!(view["batch"], report["batch"]);
        assert_eq!(view["cases"].as_array().unwrap(), &cases[range.clone()]);
        let ids: Vec<&Value> = cases[range].iter().map(|c| &c["id"]).collect();
        let expected: Vec<Value> = results
            .iter()
            .filter(|r| ids.contains(&&r["case_id"]))
            .map(|r| {
                // One repetition per test: the cell is that result.
                json!({"version_id": r["version_id"], "case_id": r["case_id"],
                       "status": r["status"], "score": r["score"], "runs": 1,
                       "passed": i64::from(r["status"] == "passed")})
            })
            .collect();
        assert_eq!(view["cells"].as_array().unwrap(), &expected, "page {page}");
        assert_eq!(view["has_errors"], true);
    }
    // Past the end: the last page, saying so.
    let clamped = api.ok("batch_page", json!({"id": id, "page": 99})).await;
    assert_eq!(clamped, second);

    // The summaries agree with the full report.
    let summaries = first["summaries"].as_array().unwrap();
    assert_eq!(summaries.len(), 3);
    for (s, vid) in summaries.iter().zip([a, b, c]) {
        assert_eq!(s["version_id"], vid, "in the batch's version order");
        let rs: Vec<&Value> = results.iter().filter(|r| r["version_id"] == vid).collect();
        let count = |st: &str| rs.iter().filter(|r| r["status"] == st).count() as u64;
        assert_eq!(s["completed"], rs.len() as u64);
        assert_eq!(s["passed"], count("passed"));
        assert_eq!(s["errors"], count("error"));
        let mean =
            |xs: Vec<f64>| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
        let close = |got: &Value, want: Option<f64>| match want {
            None => assert!(got.is_null(), "{got} should be null"),
            Some(w) => assert!((got.as_f64().unwrap() - w).abs() < 0.01, "{got} vs {w}"),
        };
        close(
            &s["average_score"],
            mean(rs.iter().filter_map(|r| r["score"].as_f64()).collect()),
        );
        close(
            &s["pass_rate"],
            Some(count("passed") as f64 * 100.0 / rs.len() as f64),
        );
        close(
            &s["avg_latency_ms"],
            mean(rs.iter().filter_map(|r| r["latency_ms"].as_f64()).collect()),
        );
    }
    assert_eq!(
        summaries[2]["errors"], 60,
        "the quota version failed every test"
    );
    assert!(summaries[2]["average_score"].is_null());
    run_totals_agree(&first, results, &[a, b, c]);

    // One cell's details, in full.
    let one = &results[0];
    let detail = api
        .ok(
            "batch_result",
            json!({"id": id, "version_id": one["version_id"], "case_id": one["case_id"]}),
        )
        .await;
    assert_eq!(&detail, one);
    let none = api
        .ok(
            "batch_result",
            json!({"id": id, "version_id": a, "case_id": 424242}),
        )
        .await;
    assert!(none.is_null(), "no such test: null");

    // Unknown batches and bad arguments.
    for (name, body) in [
        ("batch_page", json!({"id": 4242})),
        (
            "batch_result",
            json!({"id": 4242, "version_id": a, "case_id": 1}),
        ),
    ] {
        let (s, b) = api.call(name, body).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (404, Some("not_found")),
            "{name}: {b}"
        );
        assert_eq!(b["message"], "batch 4242 does not exist");
    }
    let (s, b) = api.call("batch_page", json!({"id": id, "page": -1})).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("bad_request")), "{b}");
    let (s, _) = api.call("batch_page", json!({"id": "five"})).await;
    assert_eq!(s, 400);

    // The exports: every result, as downloads.
    let get = |path: String| {
        let http = api.http.clone();
        let url = format!("{}{path}", server.base);
        async move { http.get(url).send().await.expect("GET an export") }
    };
    let res = get(format!("/api/batches/{id}/results.csv")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        res.headers()["content-disposition"],
        format!("attachment; filename=\"batch-{id}.csv\"").as_str()
    );
    let text = res.text().await.unwrap();
    assert!(text.starts_with(
        "batch_id,version_id,version,case_id,case,status,score,latency_ms,ttft_ms,prompt_tokens,\
         completion_tokens,total_tokens,keywords_hit,keywords_missed,error_code,error_message,answer,\
         total_price,currency,repetition,judge_score,judge_verdict,judge_reason,embedding_score\n"
    ));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), results.len(), "one row per result");
    for (row, r) in rows.iter().zip(results) {
        assert_eq!(row[0], id.to_string());
        assert_eq!(row[1], r["version_id"].to_string());
        assert_eq!(row[3], r["case_id"].to_string());
        assert_eq!(&row[5], r["status"].as_str().unwrap());
        assert_eq!(&row[16], r["answer"].as_str().unwrap_or(""));
        let price = r["usage"]["total_price"].as_f64();
        assert_eq!(row[17].parse::<f64>().ok(), price, "the price column");
        assert_eq!(&row[18], r["usage"]["currency"].as_str().unwrap_or(""));
        assert_eq!(&row[19], "1", "one repetition, counted from 1");
        let case = cases.iter().find(|c| c["id"] == r["case_id"]).unwrap();
        assert_eq!(&row[4], case["name"].as_str().unwrap());
    }
    assert!(rows.iter().any(|r| &r[2] == "page workflow, q40"));
    assert!(rows.iter().any(|r| &r[14] == "rate_limit_error"));

    let res = get(format!("/api/batches/{id}/results.json")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(
        res.headers()["content-disposition"],
        format!("attachment; filename=\"batch-{id}.json\"").as_str()
    );
    let exported: Value = res.json().await.unwrap();
    assert_eq!(
        exported, report,
        "the JSON export is batch_results' document"
    );

    // JUnit XML, streamed suite by suite: the same document `run --junit` writes.
    let res = get(format!("/api/batches/{id}/results.junit.xml")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/xml");
    assert_eq!(
        res.headers()["content-disposition"],
        format!("attachment; filename=\"batch-{id}.junit.xml\"").as_str()
    );
    let xml = res.text().await.unwrap();
    let whole: dify_bench::model::BatchReport = serde_json::from_value(report.clone()).unwrap();
    assert_eq!(xml, dify_bench::server::junit::report(&whole));
    assert_eq!(xml.matches("<testcase ").count(), results.len());

    for (path, status, error) in [
        ("/api/batches/4242/results.csv", 404, "not_found"),
        ("/api/batches/4242/results.json", 404, "not_found"),
        ("/api/batches/abc/results.csv", 400, "invalid_id"),
        ("/api/batches/abc/results.json", 400, "invalid_id"),
        ("/api/batches/4242/results.junit.xml", 404, "not_found"),
    ] {
        let res = get(path.to_string()).await;
        assert_eq!(res.status(), status, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], error, "{path}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // Keys never leave the server.
    let everything = format!("{first}{second}{detail}{text}{exported}");
    for key in [KEY_A, KEY_B, KEY_QUOTA] {
        assert!(!everything.contains(key), "a key leaked");
    }
}

/// `batch_page`'s `run_totals` against sums and percentiles taken here from every result of
/// the full report (the percentiles with the same type-7 function the compare page uses).
fn run_totals_agree(view: &Value, results: &[Value], versions: &[i64]) {
    use dify_bench::server::compare::stats::percentiles;
    let totals = view["run_totals"].as_array().expect("run_totals");
    assert_eq!(totals.len(), versions.len());
    for (t, vid) in totals.iter().zip(versions) {
        assert_eq!(t["version_id"], *vid, "in the batch's version order");
        let rs: Vec<&Value> = results.iter().filter(|r| r["version_id"] == *vid).collect();
        assert_eq!(t["results"], rs.len() as u64);
        let sum = |field: &str| {
            let xs: Vec<i64> = rs
                .iter()
                .filter_map(|r| r["usage"][field].as_i64())
                .collect();
            (!xs.is_empty()).then(|| xs.iter().sum::<i64>())
        };
        for field in ["prompt_tokens", "completion_tokens", "total_tokens"] {
            assert_eq!(t[field].as_i64(), sum(field), "{field}: {t}");
        }
        let mut cost: Vec<(Option<&str>, f64, u64)> = Vec::new();
        for r in &rs {
            let Some(price) = r["usage"]["total_price"].as_f64() else {
                continue;
            };
            let currency = r["usage"]["currency"].as_str();
            match cost.iter_mut().find(|c| c.0 == currency) {
                Some(c) => (c.1, c.2) = (c.1 + price, c.2 + 1),
                None => cost.push((currency, price, 1)),
            }
        }
        let got = t["cost"].as_array().unwrap();
        assert_eq!(got.len(), cost.len(), "{t}");
        for (g, (currency, amount, n)) in got.iter().zip(&cost) {
            assert_eq!(g["currency"].as_str(), *currency);
            assert!(
                (g["amount"].as_f64().unwrap() - amount).abs() < 1e-9,
                "{g} vs {amount}"
            );
            assert_eq!(g["results"], *n);
        }
        for (field, column) in [("latency_ms", "latency_ms"), ("ttft_ms", "ttft_ms")] {
            let mut xs: Vec<f64> = rs.iter().filter_map(|r| r[column].as_f64()).collect();
            match percentiles(&mut xs) {
                None => assert!(t[field].is_null(), "{field}: {t}"),
                Some(p) => {
                    assert_eq!(t[field]["count"], p.count as u64);
                    assert!((t[field]["p50"].as_f64().unwrap() - p.p50).abs() < 1e-9);
                    assert!((t[field]["p95"].as_f64().unwrap() - p.p95).abs() < 1e-9);
                }
            }
        }
        let mut errors: HashMap<Option<&str>, u64> = HashMap::new();
        for r in rs.iter().filter(|r| r["status"] == "error") {
            *errors.entry(r["error_code"].as_str()).or_default() += 1;
        }
        let got = t["errors"].as_array().unwrap();
        assert_eq!(got.len(), errors.len(), "{t}");
        for e in got {
            assert_eq!(
                errors.get(&e["code"].as_str()),
                Some(&e["count"].as_u64().unwrap())
            );
        }
    }
    // What the three versions are: streamed and priced in USD, blocking, failing on quota.
    assert!(totals[0]["ttft_ms"]["p95"].as_f64().is_some());
    assert_eq!(totals[0]["cost"][0]["currency"], "USD");
    assert!(
        totals[1]["ttft_ms"].is_null(),
        "blocking: no time to first token"
    );
    assert_eq!(
        totals[2]["errors"],
        json!([{"code": "rate_limit_error", "count": 60}])
    );
    assert!(totals[2]["latency_ms"].is_null() && totals[2]["cost"] == json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_page_and_exports_on_sqlite() {
    let (dir, url) = sqlite_url();
    batch_page_and_exports(&url, &dir.path().join("server.log")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_page_and_exports_on_postgres() {
    let Some(url) = postgres_url("batch_page").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    batch_page_and_exports(&url, &dir.path().join("server.log")).await;
}
