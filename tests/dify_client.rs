//! Black-box tests of the Dify client over real HTTP. The simulator (Dify's wire format) covers
//! every app mode × response mode and every fault token; a few hand-written raw-TCP servers cover
//! what the simulator never sends (chunks split inside UTF-8 with CRLF framing, a stalled stream,
//! a clean EOF without a terminal event, a Cloudflare 429 page, a Dify without `/info`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dify_bench::model::{AppMode, ResponseMode};
use dify_bench::server::dify::{codes, AppEndpoint, ClientConfig, DifyClient, Failure};
use dify_bench::server::outbound::OutboundPolicy;
use dify_bench::server::secret::Secret;
use dify_bench::server::simulator::{self, knowledge, FaultProfile, SimConfig};
use futures::future::join_all;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MAX_ATTEMPTS: u32 = 3;

async fn sim() -> String {
    let cfg = SimConfig {
        latency_ms: 20,
        jitter_ms: 0,
        ttft_ms: Some(15),
        token_delay_ms: 1,
        faults: FaultProfile::None,
        seed: 7,
    };
    let addr = simulator::spawn("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .expect("simulator binds");
    format!("http://{addr}/v1/")
}

fn config() -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        max_attempts: MAX_ATTEMPTS,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        user: "dify-bench-test".into(),
        // Every server here listens on 127.0.0.1; tests/outbound.rs covers the refusals.
        outbound: OutboundPolicy::allowing_private(),
        max_response_bytes: dify_bench::model::limits::MAX_RESPONSE_BYTES,
    }
}

fn client() -> DifyClient {
    DifyClient::new(config()).expect("client builds")
}

fn app(base: &str, key: &str, mode: AppMode, response_mode: ResponseMode) -> AppEndpoint {
    AppEndpoint {
        base_url: base.to_string(),
        api_key: Secret::new(key),
        app_mode: mode,
        response_mode,
        answer_field: None,
        inputs: Default::default(),
        workflow_id: None,
    }
}

fn question(i: usize) -> &'static str {
    let entries = knowledge::entries();
    entries[i % entries.len()].query
}

const MODES: [ResponseMode; 2] = [ResponseMode::Streaming, ResponseMode::Blocking];

#[tokio::test]
async fn every_app_mode_answers_blocking_and_streaming_alike() {
    let base = sim().await;
    let client = client();
    for (i, mode) in AppMode::ALL.into_iter().enumerate() {
        let key = format!("app-{mode}.q90.modes");
        let mut answers = Vec::new();
        for response_mode in MODES {
            let a = app(&base, &key, mode, response_mode);
            let got = client
                .call(&a, question(i), &json!({"extra": "x"}))
                .await
                .unwrap_or_else(|f| panic!("{mode} {response_mode:?}: {f}"));
            let label = format!("{mode} {response_mode:?}");
            assert!(!got.answer.trim().is_empty(), "{label}");
            assert_eq!(got.attempts, 1, "{label}");
            assert!(got.latency_ms >= 15, "{label}: {}", got.latency_ms);
            assert!(got.usage.total_tokens.is_some_and(|t| t > 0), "{label}");
            assert!(got.ids.task_id.is_some(), "{label}");
            // Agents are streamed whatever the version says.
            let streamed = response_mode == ResponseMode::Streaming || mode == AppMode::AgentChat;
            match got.ttft_ms {
                Some(ttft) => {
                    assert!(streamed, "{label}: ttft on a blocking call");
                    assert!(ttft >= 10 && ttft <= got.latency_ms, "{label}: {ttft}");
                }
                None => assert!(!streamed, "{label}: no ttft on a stream"),
            }
            match mode {
                AppMode::Workflow => assert!(got.ids.workflow_run_id.is_some(), "{label}"),
                AppMode::Completion => {
                    assert!(got.ids.message_id.is_some(), "{label}");
                    assert_eq!(got.usage.currency.as_deref(), Some("USD"), "{label}");
                }
                _ => {
                    assert!(got.ids.message_id.is_some(), "{label}");
                    assert!(got.ids.conversation_id.is_some(), "{label}");
                    assert!(got.usage.total_price.is_some_and(|p| p > 0.0), "{label}");
                }
            }
            if mode == AppMode::AdvancedChat && streamed {
                assert!(got.ids.workflow_run_id.is_some(), "{label}");
            }
            answers.push(got.answer);
        }
        // The simulator seeds the answer by (key, question): the concatenated deltas must equal
        // the blocking body's answer exactly.
        assert_eq!(answers[0], answers[1], "{mode}");
    }
}

/// (token, code, HTTP status) for faults that are retried until attempts run out. `None` as code
/// means "depends on the response mode" and is checked separately.
#[tokio::test]
async fn transient_faults_are_retried_then_reported_with_difys_code() {
    let base = sim().await;
    let client = client();
    let cases: &[(&str, ResponseMode, &str, Option<u16>)] = &[
        (
            "500",
            ResponseMode::Blocking,
            "internal_server_error",
            Some(500),
        ),
        (
            "500",
            ResponseMode::Streaming,
            "internal_server_error",
            Some(500),
        ),
        (
            "429",
            ResponseMode::Blocking,
            "too_many_requests",
            Some(429),
        ),
        (
            "429",
            ResponseMode::Streaming,
            "too_many_requests",
            Some(429),
        ),
        (
            "429noretry",
            ResponseMode::Blocking,
            "too_many_requests",
            Some(429),
        ),
        (
            "504html",
            ResponseMode::Blocking,
            codes::GATEWAY_ERROR,
            Some(504),
        ),
        (
            "504html",
            ResponseMode::Streaming,
            codes::GATEWAY_ERROR,
            Some(504),
        ),
        (
            "cut",
            ResponseMode::Streaming,
            codes::STREAM_INCOMPLETE,
            Some(200),
        ),
        ("cut", ResponseMode::Blocking, codes::CONNECTION_ERROR, None),
        (
            "badjson",
            ResponseMode::Streaming,
            codes::INVALID_RESPONSE,
            Some(200),
        ),
        (
            "badjson",
            ResponseMode::Blocking,
            codes::INVALID_RESPONSE,
            Some(200),
        ),
        (
            "midstream_error",
            ResponseMode::Streaming,
            "internal_server_error",
            Some(500),
        ),
        (
            "midstream_error",
            ResponseMode::Blocking,
            "internal_server_error",
            Some(500),
        ),
    ];
    let mut calls = Vec::new();
    for &(token, response_mode, code, status) in cases {
        for mode in [AppMode::Chat, AppMode::AdvancedChat, AppMode::Workflow] {
            let a = app(
                &base,
                &format!("app-{mode}.q70.{token}"),
                mode,
                response_mode,
            );
            let client = client.clone();
            calls.push(async move {
                let label = format!("{token} {mode} {response_mode:?}");
                let f = client
                    .call(&a, question(3), &Value::Null)
                    .await
                    .err()
                    .unwrap_or_else(|| panic!("{label}: answered"));
                assert_eq!(f.code, code, "{label}: {f}");
                assert_eq!(f.http_status, status, "{label}: {f}");
                assert_eq!(f.attempts, MAX_ATTEMPTS, "{label}: {f}");
                assert!(f.message.chars().count() < 200, "{label}: {}", f.message);
                assert!(
                    !f.message.contains('<'),
                    "{label}: HTML leaked: {}",
                    f.message
                );
                f
            });
        }
    }
    let failures: Vec<Failure> = join_all(calls).await;
    let html = failures
        .iter()
        .find(|f| f.code == codes::GATEWAY_ERROR)
        .expect("a gateway failure");
    assert_eq!(
        html.message,
        "HTTP 504 Gateway Timeout (an HTML page, not a Dify error)"
    );
    // A mid-stream error keeps the ids of the stream it broke.
    let mid = failures.iter().find(|f| {
        f.code == "internal_server_error"
            && f.http_status == Some(500)
            && f.ids.message_id.is_some()
    });
    assert!(mid.is_some(), "a chat mid-stream error with its message id");
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let base = sim().await;
    let client = client();
    let cases: &[(&str, AppMode, ResponseMode, &str, u16)] = &[
        (
            "app-chat.q70.quota",
            AppMode::Chat,
            ResponseMode::Blocking,
            "rate_limit_error",
            429,
        ),
        (
            "app-workflow.q70.quota",
            AppMode::Workflow,
            ResponseMode::Streaming,
            "rate_limit_error",
            429,
        ),
        (
            "app-chat.q70.stream_error400",
            AppMode::Chat,
            ResponseMode::Streaming,
            "completion_request_error",
            400,
        ),
        (
            "app-chat.q70.stream_error400",
            AppMode::Chat,
            ResponseMode::Blocking,
            "completion_request_error",
            400,
        ),
        (
            "app-advanced-chat.q70.stream_error400",
            AppMode::AdvancedChat,
            ResponseMode::Streaming,
            "completion_request_error",
            400,
        ),
        (
            "app-disabled.q0",
            AppMode::Chat,
            ResponseMode::Blocking,
            "forbidden",
            403,
        ),
        (
            "app-not-a-real-key-0123456789",
            AppMode::Chat,
            ResponseMode::Streaming,
            "unauthorized",
            401,
        ),
        // The wrong endpoint family for the app: Dify's 400, not worth a retry.
        (
            "app-workflow.q70",
            AppMode::Chat,
            ResponseMode::Blocking,
            "not_chat_app",
            400,
        ),
    ];
    for &(key, mode, response_mode, code, status) in cases {
        let a = app(&base, key, mode, response_mode);
        let f = client
            .call(&a, question(1), &Value::Null)
            .await
            .unwrap_err();
        let label = format!("{key} {response_mode:?}");
        assert_eq!(
            (f.code.as_str(), f.http_status, f.attempts),
            (code, Some(status), 1),
            "{label}: {f}"
        );
        assert!(!f.message.is_empty(), "{label}");
        assert!(
            !format!("{f:?}{f}").contains("0123456789"),
            "{label}: key leaked"
        );
    }
}

#[tokio::test]
async fn flaky1_succeeds_on_the_second_attempt() {
    let base = sim().await;
    let client = client();
    for mode in [AppMode::Chat, AppMode::Workflow, AppMode::AgentChat] {
        for response_mode in MODES {
            // One key per call: the simulator counts attempts per (key, question).
            let key = format!("app-{mode}.q80.flaky1.{response_mode:?}");
            let a = app(&base, &key, mode, response_mode);
            let got = client.call(&a, question(2), &Value::Null).await;
            let got = got.unwrap_or_else(|f| panic!("{key}: {f}"));
            assert_eq!(got.attempts, 2, "{key}");
            assert!(!got.answer.is_empty(), "{key}");
        }
    }
}

#[tokio::test]
async fn both_chatflow_end_orders_and_unknown_events_are_tolerated() {
    let base = sim().await;
    let client = client();
    for (key, mode) in [
        ("app-advanced-chat.q85.endorder", AppMode::AdvancedChat),
        ("app-advanced-chat.q85.ok", AppMode::AdvancedChat),
        ("app-chat.q85.unknown_events", AppMode::Chat),
        ("app-agent-chat.q85.unknown_events", AppMode::AgentChat),
        ("app-completion.q85.unknown_events", AppMode::Completion),
        (
            "app-advanced-chat.q85.unknown_events",
            AppMode::AdvancedChat,
        ),
        ("app-workflow.q85.unknown_events", AppMode::Workflow),
    ] {
        let streamed = client
            .call(
                &app(&base, key, mode, ResponseMode::Streaming),
                question(4),
                &Value::Null,
            )
            .await
            .unwrap_or_else(|f| panic!("{key}: {f}"));
        let blocking = client
            .call(
                &app(&base, key, mode, ResponseMode::Blocking),
                question(4),
                &Value::Null,
            )
            .await;
        assert_eq!(streamed.attempts, 1, "{key}");
        assert!(streamed.usage.total_tokens.is_some(), "{key}");
        assert!(
            !streamed.answer.contains("[draft"),
            "{key}: message_replace ignored"
        );
        if let Ok(blocking) = blocking {
            assert_eq!(streamed.answer, blocking.answer, "{key}");
        } else {
            assert_eq!(mode, AppMode::AgentChat, "only agents are always streamed");
        }
    }
}

#[tokio::test]
async fn slow_first_byte_times_out_per_attempt() {
    let base = sim().await;
    let client = DifyClient::new(ClientConfig {
        request_timeout: Duration::from_millis(300),
        max_attempts: 2,
        ..config()
    })
    .unwrap();
    for response_mode in MODES {
        let a = app(&base, "app-chat.q70.slow", AppMode::Chat, response_mode);
        let started = Instant::now();
        let f = client
            .call(&a, question(5), &Value::Null)
            .await
            .unwrap_err();
        assert_eq!(
            (f.code.as_str(), f.attempts, f.http_status),
            (codes::TIMEOUT, 2, None)
        );
        assert!(f.message.contains("300 ms"), "{}", f.message);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn workflow_answer_field_picks_the_output() {
    let base = sim().await;
    let client = client();
    let mut a = app(
        &base,
        "app-workflow.q90",
        AppMode::Workflow,
        ResponseMode::Blocking,
    );
    let default = client.call(&a, question(6), &Value::Null).await.unwrap();
    a.answer_field = Some("answer".into());
    let named = client.call(&a, question(6), &Value::Null).await.unwrap();
    assert_eq!(default.answer, named.answer);
    // A field the app does not output: the streamed text chunks are the answer instead.
    a.answer_field = Some("no_such_output".into());
    a.response_mode = ResponseMode::Streaming;
    let fallback = client.call(&a, question(6), &Value::Null).await.unwrap();
    assert_eq!(fallback.answer, default.answer);
}

#[tokio::test]
async fn info_names_the_app_and_reports_auth_errors() {
    let base = sim().await;
    let client = client();
    let info = client
        .info(&app(
            &base,
            "app-advanced-chat.q60",
            AppMode::Chat,
            ResponseMode::Blocking,
        ))
        .await
        .unwrap();
    assert_eq!(info.mode.as_deref(), Some("advanced-chat"));
    assert!(info.name.is_some());
    let f = client
        .info(&app(
            &base,
            "app-wrong",
            AppMode::Chat,
            ResponseMode::Blocking,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (f.code.as_str(), f.http_status, f.attempts),
        ("unauthorized", Some(401), 1)
    );
}

#[tokio::test]
async fn hostile_profile_only_yields_known_outcomes() {
    let cfg = SimConfig {
        latency_ms: 10,
        jitter_ms: 5,
        ttft_ms: Some(5),
        token_delay_ms: 1,
        faults: FaultProfile::Hostile,
        seed: 11,
    };
    let addr = simulator::spawn("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap();
    let base = format!("http://{addr}/v1");
    let client = DifyClient::new(ClientConfig {
        max_attempts: 4,
        ..config()
    })
    .unwrap();
    let calls = (0..60).map(|i| {
        let mode = AppMode::ALL[i % 5];
        let response_mode = MODES[(i / 5) % 2];
        // Every call on one key per mode, so the concurrency ceiling (8 per app) is met too.
        let a = app(
            &base,
            &format!("app-{mode}.q60.hostile"),
            mode,
            response_mode,
        );
        let client = client.clone();
        async move { client.call(&a, question(i), &Value::Null).await }
    });
    let results = join_all(calls).await;
    let transient = [
        "too_many_requests",
        "internal_server_error",
        codes::GATEWAY_ERROR,
        codes::STREAM_INCOMPLETE,
        codes::CONNECTION_ERROR,
        codes::INVALID_RESPONSE,
    ];
    let mut answered = 0;
    for r in &results {
        match r {
            Ok(a) => {
                answered += 1;
                assert!(!a.answer.is_empty() && (1..=4).contains(&a.attempts));
            }
            Err(f) => {
                assert!(transient.contains(&f.code.as_str()), "{f}");
                assert_eq!(f.attempts, 4, "{f}");
            }
        }
    }
    assert!(answered >= 45, "only {answered} of 60 answered");
}

// ---- Raw servers for what the simulator never sends --------------------------------------------

enum Step {
    Send(Vec<u8>),
    Wait(u64),
}

fn send(s: impl AsRef<[u8]>) -> Step {
    Step::Send(s.as_ref().to_vec())
}

fn head(status: &str, content_type: &str, extra: &str) -> Step {
    send(format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\n{extra}\r\n"
    ))
}

/// Answers request number `n` (0-based) for `path` with the given steps, then closes; the body is
/// delimited by the close, as a streaming proxy would send it.
async fn raw_server<F>(respond: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn(usize, &str) -> Vec<Step> + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let respond = Arc::new(respond);
    let counter = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let respond = Arc::clone(&respond);
            tokio::spawn(async move {
                let path = read_request(&mut socket).await;
                for step in respond(n, &path) {
                    match step {
                        Step::Send(bytes) => {
                            if socket.write_all(&bytes).await.is_err() {
                                return;
                            }
                            let _ = socket.flush().await;
                        }
                        Step::Wait(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                    }
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/v1"), count)
}

/// Reads one request (head and Content-Length body) and returns its path.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return String::new(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    head.split_whitespace().nth(1).unwrap_or("").to_string()
}

#[tokio::test]
async fn stream_split_inside_utf8_with_crlf_comments_and_bare_pings() {
    let stream = "event: ping\r\n\r\n: a comment\r\n\
        data: {\"event\": \"message\", \"task_id\": \"t\", \"message_id\": \"m\", \"answer\": \"速率为\"}\r\n\r\n\
        data: {\"event\":\"ping\"}\r\n\r\n\
        data: {\"event\": \"agent_thought\", \"id\": \"x\", \"thought\": \"…\"}\r\n\r\n\
        data: {\"event\":\"message\",\"answer\":\"5 Gbps，\\u4f4e\\u5ef6\\u8fdf\"}\r\n\r\n\
        data: {\"event\":\"message_end\",\"metadata\":{\"usage\":{\"total_tokens\":\"12\",\"total_price\":0.25}}}\r\n\r\n";
    let bytes = stream.as_bytes().to_vec();
    let (base, _) = raw_server(move |_, _| {
        let mut steps = vec![head("200 OK", "text/event-stream; charset=utf-8", "")];
        // Three bytes at a time: every multi-byte character and every CRLF gets split somewhere.
        for piece in bytes.chunks(3) {
            steps.push(Step::Send(piece.to_vec()));
            steps.push(Step::Wait(1));
        }
        steps
    })
    .await;
    let got = client()
        .call(
            &app(&base, "app-x", AppMode::Chat, ResponseMode::Streaming),
            "q",
            &Value::Null,
        )
        .await
        .unwrap();
    assert_eq!(got.answer, "速率为5 Gbps，低延迟");
    assert_eq!(got.usage.total_tokens, Some(12));
    assert_eq!(got.usage.total_price, Some(0.25));
    assert_eq!(got.ids.message_id.as_deref(), Some("m"));
    assert!(got.ttft_ms.is_some());
}

#[tokio::test]
async fn retry_after_is_honoured_and_a_cloudflare_429_page_is_retried() {
    let (base, count) = raw_server(|n, _| match n {
        0 => vec![
            head(
                "429 Too Many Requests",
                "application/json",
                "Retry-After: 1\r\n",
            ),
            send(r#"{"code":"too_many_requests","message":"Too many requests.","status":429}"#),
        ],
        1 => vec![
            head("429 Too Many Requests", "text/html", ""),
            send("<html><title>Access denied | error code: 1015</title></html>"),
        ],
        _ => vec![
            head("200 OK", "application/json", ""),
            send(r#"{"event":"message","answer":"ok","metadata":{}}"#),
        ],
    })
    .await;
    let client = DifyClient::new(ClientConfig {
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_secs(5),
        ..config()
    })
    .unwrap();
    let started = Instant::now();
    let got = client
        .call(
            &app(&base, "app-x", AppMode::Chat, ResponseMode::Blocking),
            "q",
            &Value::Null,
        )
        .await
        .unwrap();
    assert_eq!((got.answer.as_str(), got.attempts), ("ok", 3));
    assert_eq!(count.load(Ordering::SeqCst), 3);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After ignored: {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert!(
        got.latency_ms < 900,
        "latency must not include backoff: {}",
        got.latency_ms
    );
}

#[tokio::test]
async fn a_stalled_stream_is_an_idle_timeout() {
    let (base, count) = raw_server(|_, _| {
        vec![
            head("200 OK", "text/event-stream", ""),
            send("data: {\"event\":\"message\",\"task_id\":\"t9\",\"answer\":\"half\"}\n\n"),
            Step::Wait(2_000),
        ]
    })
    .await;
    let client = DifyClient::new(ClientConfig {
        idle_timeout: Duration::from_millis(150),
        max_attempts: 2,
        ..config()
    })
    .unwrap();
    let f = client
        .call(
            &app(&base, "app-x", AppMode::Chat, ResponseMode::Streaming),
            "q",
            &Value::Null,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (f.code.as_str(), f.attempts),
        (codes::IDLE_TIMEOUT, 2),
        "{f}"
    );
    assert_eq!(f.ids.task_id.as_deref(), Some("t9"));
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_clean_eof_without_a_terminal_event_is_an_incomplete_stream() {
    let (base, _) = raw_server(|_, _| {
        vec![
            head("200 OK", "text/event-stream", ""),
            send("event: ping\n\ndata: {\"event\":\"message\",\"answer\":\"half\"}\n\n"),
        ]
    })
    .await;
    let f = client()
        .call(
            &app(&base, "app-x", AppMode::Chat, ResponseMode::Streaming),
            "q",
            &Value::Null,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (f.code.as_str(), f.attempts),
        (codes::STREAM_INCOMPLETE, MAX_ATTEMPTS)
    );
}

#[tokio::test]
async fn an_html_200_is_an_invalid_response() {
    let (base, _) = raw_server(|_, _| {
        vec![
            head("200 OK", "text/html", ""),
            send("<!doctype html><html><title>Dify</title><body>the web app</body></html>"),
        ]
    })
    .await;
    let f = client()
        .call(
            &app(&base, "app-x", AppMode::Chat, ResponseMode::Blocking),
            "q",
            &Value::Null,
        )
        .await
        .unwrap_err();
    assert_eq!(f.code, codes::INVALID_RESPONSE);
    assert_eq!(
        f.message,
        "HTTP 200 OK with an HTML page where Dify sends JSON"
    );
    assert_eq!(f.attempts, MAX_ATTEMPTS);
}

/// A server that answers every request with `head`, then `piece` over and over until the client
/// hangs up; it counts the connections it served.
async fn endless_server(head: &'static str, piece: &'static [u8]) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                read_request(&mut socket).await;
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                while socket.write_all(piece).await.is_ok() {}
            });
        }
    });
    (format!("http://{addr}/v1"), count)
}

#[tokio::test]
async fn a_response_past_the_size_limit_is_not_read_further_nor_retried() {
    let client = DifyClient::new(ClientConfig {
        max_response_bytes: 64 << 10,
        ..config()
    })
    .unwrap();
    // Endless bodies: only stopping at the limit ends these calls before request_timeout.
    let frame: &'static [u8] = b"data: {\"event\":\"message\",\"answer\":\"0123456789abcdef\"}\n\n";
    let cases: [(&str, &'static [u8], ResponseMode, &str); 2] = [
        (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
            frame,
            ResponseMode::Streaming,
            "the stream is larger than 64 KiB",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
            b"[1,2,3,4,5,6,7,8,9,10,",
            ResponseMode::Blocking,
            "the response is larger than 64 KiB",
        ),
    ];
    for (head, piece, mode, message) in cases {
        let (base, count) = endless_server(head, piece).await;
        let f = client
            .call(&app(&base, "app-x", AppMode::Chat, mode), "q", &Value::Null)
            .await
            .unwrap_err();
        assert_eq!(f.code, codes::RESPONSE_TOO_LARGE, "{mode:?}: {f}");
        assert!(f.message.starts_with(message), "{mode:?}: {f}");
        assert_eq!((f.attempts, f.http_status), (1, Some(200)), "{mode:?}: {f}");
        assert_eq!(count.load(Ordering::SeqCst), 1, "{mode:?}: not retried");
    }
    // A body announced as larger than the limit is refused before it is read.
    let (base, _) = raw_server(|_, _| {
        vec![
            head("200 OK", "application/json", "Content-Length: 1000000\r\n"),
            send("{"),
        ]
    })
    .await;
    let f = client
        .call(
            &app(&base, "app-x", AppMode::Chat, ResponseMode::Blocking),
            "q",
            &Value::Null,
        )
        .await
        .unwrap_err();
    assert_eq!(f.code, codes::RESPONSE_TOO_LARGE, "{f}");
}

#[tokio::test]
async fn info_falls_back_to_parameters_on_old_difys() {
    let (base, _) = raw_server(|_, path| {
        if path.starts_with("/v1/parameters?user=") {
            vec![head("200 OK", "application/json", ""), send(r#"{"user_input_form":[]}"#)]
        } else {
            vec![
                head("404 NOT FOUND", "application/json", ""),
                send(r#"{"code":"not_found","message":"The requested URL was not found.","status":404}"#),
            ]
        }
    })
    .await;
    let info = client()
        .info(&app(&base, "app-x", AppMode::Chat, ResponseMode::Blocking))
        .await
        .unwrap();
    assert_eq!(info, Default::default());
}

#[tokio::test]
async fn request_body_carries_merged_inputs_and_the_user() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 65536];
            let mut len = 0;
            // Enough for this small request: read until the JSON body closes.
            while let Ok(n) = socket.read(&mut buf[len..]).await {
                if n == 0 {
                    break;
                }
                len += n;
                let text = String::from_utf8_lossy(&buf[..len]).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    if let Ok(v) = serde_json::from_str::<Value>(body) {
                        assert!(
                            head.contains("authorization: Bearer app-inputs-key-123"),
                            "{head}"
                        );
                        sink.lock().unwrap().push(v);
                        break;
                    }
                }
            }
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"data\":{\"status\":\"succeeded\",\"outputs\":{\"text\":\"T\",\"n\":1}}}")
                .await;
            let _ = socket.shutdown().await;
        }
    });
    let mut a = app(
        &format!("http://{addr}/v1"),
        " app-inputs-key-123\n",
        AppMode::Workflow,
        ResponseMode::Blocking,
    );
    a.inputs.insert("lang".into(), json!("en"));
    a.inputs.insert("top_k".into(), json!(3));
    let got = client()
        .call(&a, "what?", &json!({"lang": "zh"}))
        .await
        .unwrap();
    assert_eq!(got.answer, "T");
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(
        bodies,
        vec![
            json!({"inputs": {"lang": "zh", "top_k": 3, "query": "what?"},
                    "response_mode": "blocking", "user": "dify-bench-test"})
        ]
    );
}
