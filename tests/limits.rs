//! Black-box tests of the limits (`src/model/limits.rs`): each one crossed through the real
//! server, refused with a 400 or 503 that names the limit and its value, with nothing half-written,
//! and the server still answering `/healthz` and an ordinary call afterwards.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `/healthz` answers 200 and an ordinary API call works.
async fn still_serving(server: &Server) {
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), 200);
    server.api().ok("list_versions", json!({})).await;
}

/// A 400 from a server function, with its message.
async fn refused(api: &Api, name: &str, body: Value) -> String {
    let (status, value) = api.call(name, body.clone()).await;
    assert_eq!(status, 400, "{name}: {value}");
    assert_eq!(value["error"], "bad_request", "{value}");
    value["message"].as_str().expect("a message").to_string()
}

#[tokio::test]
async fn case_limits_are_refused_by_name_and_imports_stay_all_or_nothing() {
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();

    let regex = |p: &str| json!({"type": "regex", "pattern": p});
    let over: Vec<(Value, &str)> = vec![
        (
            json!({"query": "q", "assertions": vec![json!({"type": "max_latency_ms", "ms": 100}); 51]}),
            "`assertions` has 51 items; the limit is 50 per case",
        ),
        (
            json!({"query": "q", "assertions": [regex(&"a".repeat(1001))]}),
            "assertion 1: the regex is 1,001 characters; the limit is 1,000",
        ),
        (
            json!({"query": "q", "keywords": (0..101).map(|i| format!("k{i}")).collect::<Vec<_>>()}),
            "column `keywords` has 101 items; the limit is 100 per case",
        ),
        (
            json!({"query": "q", "name": "n".repeat(201)}),
            "column `name` is 201 characters; the limit is 200",
        ),
        (
            json!({"query": "q".repeat(20_001)}),
            "column `query` is 20,001 characters; the limit is 20,000",
        ),
        (
            json!({"query": "q", "expected_answer": "e".repeat(50_001)}),
            "column `expected_answer` is 50,001 characters; the limit is 50,000",
        ),
    ];
    for (body, message) in over {
        assert_eq!(refused(&api, "save_case", body).await, message);
    }
    // A regex that does not compile, and a short one whose compiled size is over the limit.
    let bad = refused(
        &api,
        "save_case",
        json!({"query": "q", "assertions": [regex("(")]}),
    )
    .await;
    assert!(bad.starts_with("assertion 1: invalid regex `(`: "), "{bad}");
    let huge = refused(
        &api,
        "save_case",
        json!({"query": "q", "assertions": [regex(r"\w{5000}")]}),
    )
    .await;
    assert!(
        huge.contains("compiled size exceeds 1048576 bytes"),
        "{huge}"
    );

    // Imports: the first row over a limit refuses the whole file, by its row or item number.
    let many = (0..101)
        .map(|i| format!("k{i}"))
        .collect::<Vec<_>>()
        .join(";");
    let csv = format!("query,keywords\nfine one,a\nover,{many}\nfine two,b\n");
    assert_eq!(
        refused(
            &api,
            "import_cases",
            json!({"format": "csv", "content": csv})
        )
        .await,
        "row 3: column `keywords` has 101 items; the limit is 100 per case"
    );
    let items = json!([
        {"query": "fine"},
        {"query": "over", "assertions": vec![regex("x"); 51]},
    ]);
    assert_eq!(
        refused(
            &api,
            "import_cases",
            json!({"format": "json", "content": items.to_string()})
        )
        .await,
        "item 2: `assertions` has 51 items; the limit is 50 per case"
    );
    let cases = api.ok("list_cases", json!({})).await;
    assert_eq!(cases, json!([]), "nothing of a refused import is stored");

    // At the limits, a case is accepted.
    api.ok(
        "save_case",
        json!({"query": "q".repeat(20_000), "assertions": vec![regex(&"a".repeat(1000)); 50],
               "keywords": (0..100).map(|i| format!("k{i}")).collect::<Vec<_>>()}),
    )
    .await;
    still_serving(&server).await;
}

#[tokio::test]
async fn csv_exports_neutralize_formulas_and_read_back_unchanged() {
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    api.ok(
        "save_case",
        json!({"name": "@risky", "query": "=1+1 equals?", "expected_answer": "-2 or +2",
               "keywords": ["=HYPERLINK(\"http://evil.example\")", "two"],
               "category": "'=quoted already"}),
    )
    .await;
    let exported = api.ok("export_cases", json!({"format": "csv"})).await;
    let text = exported.as_str().expect("CSV text");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let row = reader.records().next().expect("a row").expect("a CSV row");
    assert_eq!(&row[0], "'@risky");
    assert_eq!(&row[1], "'=1+1 equals?");
    assert_eq!(&row[2], "'-2 or +2");
    assert_eq!(&row[3], "'=HYPERLINK(\"http://evil.example\");two");
    assert_eq!(&row[4], "''=quoted already");

    let back = api
        .ok(
            "import_cases",
            json!({"format": "csv", "content": text, "dry_run": true}),
        )
        .await;
    let case = &back["cases"][0];
    assert_eq!(case["name"], "@risky");
    assert_eq!(case["query"], "=1+1 equals?");
    assert_eq!(case["expected_answer"], "-2 or +2");
    assert_eq!(
        case["keywords"],
        json!(["=HYPERLINK(\"http://evil.example\")", "two"])
    );
    assert_eq!(case["category"], "'=quoted already");
}

/// A chat app whose blocking answer is `answer`, with a 1,000-character task id.
async fn dify_answering(answer: String) -> String {
    use axum::routing::post;
    let body = json!({
        "event": "message", "task_id": "t".repeat(1000), "message_id": "m-1",
        "conversation_id": "c-1", "mode": "chat", "answer": answer,
        "metadata": {"usage": {"total_tokens": 12}},
    });
    let app = axum::Router::new().route(
        "/v1/chat-messages",
        post(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/v1")
}

#[tokio::test]
async fn an_answer_past_the_stored_size_is_truncated_with_a_marker() {
    // The keyword is past the cut: the test passes only if scoring saw the whole answer.
    let answer = format!("=HYPERLINK(\"x\") {} needle", "a".repeat(300 << 10));
    let dify = dify_answering(answer.clone()).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    let v = api
        .create_version("big", &dify, "app-big-answer-0001", "chat", "blocking")
        .await;
    api.ok("save_case", json!({"query": "q", "keywords": ["needle"]}))
        .await;
    let id = api
        .ok(
            "start_batch",
            json!({"name": "big", "version_ids": [v], "case_ids": null, "concurrency": 1}),
        )
        .await
        .as_i64()
        .expect("a batch id");
    let (events, _) = api.read_progress(id, Duration::from_secs(60)).await;
    assert_eq!(events.last().expect("events").1["status"], "completed");

    let report = api.ok("batch_results", json!({"id": id})).await;
    let result = &report["results"][0];
    assert_eq!(result["status"], "passed", "scored on the whole answer");
    let stored = result["answer"].as_str().expect("an answer");
    assert!(stored.len() <= 256 << 10, "{} bytes stored", stored.len());
    assert!(stored.starts_with("=HYPERLINK(\"x\") aaa"));
    assert!(!stored.contains("needle"));
    assert!(
        stored.ends_with("a…[truncated: 300 KiB → 256 KiB]"),
        "{}",
        &stored[stored.len() - 40..]
    );
    let task_id = result["dify"]["task_id"].as_str().expect("a task id");
    assert!(task_id.len() <= 256);
    assert!(
        task_id.ends_with("…[truncated: 1000 B → 256 B]"),
        "{task_id}"
    );

    // The CSV export carries the stored answer, neutralised.
    let csv = api
        .http
        .get(format!("{}/api/batches/{id}/results.csv", server.base))
        .send()
        .await
        .expect("GET results.csv")
        .text()
        .await
        .expect("the CSV");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let row = reader.records().next().expect("a row").expect("a CSV row");
    assert_eq!(&row[16], format!("'{stored}"));
    still_serving(&server).await;
}

/// A Dify that accepts calls and never answers them: a batch against it runs until cancelled.
async fn silent_dify() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}/v1")
}

async fn running_batch(api: &Api, version: i64, name: &str) -> i64 {
    api.ok(
        "start_batch",
        json!({"name": name, "version_ids": [version], "case_ids": null, "concurrency": 1}),
    )
    .await
    .as_i64()
    .expect("a batch id")
}

async fn open_progress(api: &Api, batch: i64) -> reqwest::Response {
    api.http
        .get(format!("{}/api/batches/{batch}/progress", api.base))
        .send()
        .await
        .expect("GET progress")
}

/// A 503 with `Retry-After` and a JSON body; returns (error, message).
async fn unavailable(res: reqwest::Response) -> (String, String) {
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    let body: Value = res.json().await.expect("a JSON body");
    (
        body["error"].as_str().expect("error").to_string(),
        body["message"].as_str().expect("message").to_string(),
    )
}

#[tokio::test]
async fn progress_streams_past_their_limits_get_503_with_retry_after() {
    let dify = silent_dify().await;
    let (dir, url) = sqlite_url();
    let server = Server::start(
        &url,
        &dir.path().join("server.log"),
        &[
            "--max-progress-streams",
            "3",
            "--max-watchers-per-batch",
            "2",
        ],
    );
    let api = server.api();
    let v = api
        .create_version("silent", &dify, "app-silent-000001", "chat", "blocking")
        .await;
    api.ok("save_case", json!({"query": "q"})).await;
    let a = running_batch(&api, v, "a").await;
    let b = running_batch(&api, v, "b").await;

    let a1 = open_progress(&api, a).await;
    let a2 = open_progress(&api, a).await;
    assert_eq!((a1.status().as_u16(), a2.status().as_u16()), (200, 200));
    let (error, message) = unavailable(open_progress(&api, a).await).await;
    assert_eq!(error, "too_many_watchers");
    assert!(
        message.starts_with(&format!(
            "batch {a} has 2 watchers, the limit per batch (--max-watchers-per-batch"
        )),
        "{message}"
    );
    let b1 = open_progress(&api, b).await;
    assert_eq!(b1.status(), 200);
    let (error, message) = unavailable(open_progress(&api, b).await).await;
    assert_eq!(error, "too_many_progress_streams");
    assert!(
        message.starts_with(
            "this server has 3 progress streams open, its limit (--max-progress-streams"
        ),
        "{message}"
    );
    still_serving(&server).await;

    // A watcher that goes away gives its place back (once the server sees the connection close).
    drop(a1);
    let a3 = open_when_free(&api, a).await;

    // Streams of a batch that ends (here: cancelled) end with its terminal event.
    api.ok("cancel_batch", json!({"id": a})).await;
    api.ok("cancel_batch", json!({"id": b})).await;
    for res in [a2, a3, b1] {
        let text = tokio::time::timeout(Duration::from_secs(30), res.text())
            .await
            .expect("the stream ends")
            .expect("the stream's text");
        assert!(text.contains("\"status\":\"cancelled\""), "{text}");
    }
    let last = open_when_free(&api, b)
        .await
        .text()
        .await
        .expect("a snapshot");
    assert!(last.contains("\"status\":\"cancelled\""), "{last}");
    still_serving(&server).await;
}

/// The progress stream of `batch`, once a place is free (503 until then).
async fn open_when_free(api: &Api, batch: i64) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = open_progress(api, batch).await;
        if res.status() == 200 {
            return res;
        }
        assert_eq!(res.status(), 503);
        assert!(
            Instant::now() < deadline,
            "no place came free for batch {batch}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `GET /healthz` on `socket` and returns the response head (and whatever body came with it).
async fn healthz_over(socket: &mut TcpStream, host: &str) -> String {
    socket
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .expect("send a request");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn connections_past_the_limit_get_503_and_the_server_recovers() {
    let (dir, url) = sqlite_url();
    let server = Server::start(
        &url,
        &dir.path().join("server.log"),
        &["--max-connections", "4"],
    );
    let host = server.base.trim_start_matches("http://").to_string();
    // Connections held open one by one until the server refuses one: at most 4 can be held
    // (fewer if something else still holds one).
    let mut held = Vec::new();
    let refusal = loop {
        assert!(
            held.len() <= 4,
            "{} connections held, none refused",
            held.len()
        );
        let mut socket = TcpStream::connect(&host).await.expect("connect");
        let head = healthz_over(&mut socket, &host).await;
        if head.starts_with("HTTP/1.1 200") {
            held.push(socket);
            continue;
        }
        // The whole refusal: the server closes after it.
        let mut rest = Vec::new();
        let _ = socket.read_to_end(&mut rest).await;
        break format!("{head}{}", String::from_utf8_lossy(&rest));
    };
    assert!(
        refusal.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{refusal}"
    );
    assert!(refusal.contains("\r\nretry-after: 5\r\n"), "{refusal}");
    let (_, body) = refusal.split_once("\r\n\r\n").expect("a head and a body");
    let body: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(body["error"], "too_many_connections");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("this server has 4 connections open, its limit (--max-connections"),
        "{body}"
    );

    // Closing the held connections makes room again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut socket = TcpStream::connect(&host).await.expect("connect");
        if healthz_over(&mut socket, &host)
            .await
            .starts_with("HTTP/1.1 200")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never took connections again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    still_serving(&server).await;
}
