//! The outbound policy against the attacks it exists for, over real sockets: the real server (and
//! the real Dify client) against listeners of this test on 127.0.0.1, each counting what reaches
//! it. Refused targets (loopback without the flag, a name resolving to loopback, cloud metadata
//! even with the flag), redirects never followed, `base_url`s that could aim a call elsewhere, and
//! a far side's page never echoed.
//!
//! Nothing here may leave the machine, even if the policy is broken: every test first points
//! `HTTP(S)_PROXY` at a local trap (loopback is exempt through `NO_PROXY`), so a request the policy
//! should have refused lands in the trap, is counted, and fails the test.

mod common;

use common::*;
use dify_bench::model::{AppMode, ResponseMode};
use dify_bench::server::dify::{codes, AppEndpoint, ClientConfig, DifyClient};
use dify_bench::server::outbound::{AllowedHost, OutboundPolicy};
use dify_bench::server::secret::Secret;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "app-outbound-test-key-0001";
/// Good enough for `/info` and for a blocking chat call alike.
const DIFY_OK: &str = r#"{"name":"listener","mode":"chat","answer":"ok","metadata":{}}"#;
const MARKER: &str = "FAR-SIDE-MARKER-5f1c";

static TRAP: Once = Once::new();
static TRAP_HITS: AtomicUsize = AtomicUsize::new(0);

/// Routes every request that is not for loopback through a local trap (this process and the
/// servers it starts inherit the variables). Called first by every test: `Once` holds the others
/// until the environment is set, so nothing reads it while it changes.
fn trap_off_machine_requests() {
    TRAP.call_once(|| {
        let trap = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the trap");
        let proxy = format!("http://{}", trap.local_addr().expect("trap address"));
        std::thread::spawn(move || {
            for conn in trap.incoming() {
                TRAP_HITS.fetch_add(1, Ordering::SeqCst);
                drop(conn);
            }
        });
        for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
            std::env::set_var(var, &proxy);
            std::env::set_var(var.to_ascii_lowercase(), &proxy);
        }
        for var in ["NO_PROXY", "no_proxy"] {
            std::env::set_var(var, "127.0.0.1,localhost,::1");
        }
    });
}

fn assert_nothing_left_the_machine() {
    assert_eq!(
        TRAP_HITS.load(Ordering::SeqCst),
        0,
        "a request went past the policy towards another machine"
    );
}

/// A listener on 127.0.0.1 answering every request with `response`, counting connections.
struct Listener {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Listener {
    async fn answering(response: String) -> Listener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a listener");
        let addr = listener.local_addr().expect("listener address");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    read_request(&mut socket).await;
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Listener { addr, hits }
    }

    fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn dify_ok() -> String {
    response("200 OK", "Content-Type: application/json\r\n", DIFY_OK)
}

/// Reads one request's head and its Content-Length body.
async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
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
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn version(api: &Api, name: &str, base_url: &str) -> i64 {
    api.create_version(name, base_url, KEY, "chat", "blocking")
        .await
}

async fn test_connection(api: &Api, id: i64) -> Value {
    api.ok("test_connection", json!({"id": id})).await
}

/// One case, one batch over `versions`, watched to its end. Returns the stored report and the
/// progress stream's raw text.
async fn run_batch(api: &Api, versions: &[i64]) -> (Value, String) {
    let cases = json!([{"query": "What does dify-bench do?", "expected_answer": "tests"}]);
    api.ok(
        "import_cases",
        json!({"format": "json", "content": cases.to_string()}),
    )
    .await;
    let id = api
        .ok(
            "start_batch",
            json!({"name": "outbound", "version_ids": versions, "case_ids": null, "concurrency": 4}),
        )
        .await
        .as_i64()
        .expect("a batch id");
    let (_, raw) = api.read_progress(id, Duration::from_secs(120)).await;
    launch_reads_done(api, id, versions.len()).await;
    (api.ok("batch_results", json!({"id": id})).await, raw)
}

/// Waits until the launch's reads of each version's app (`GET /info`, `GET /parameters`, made
/// beside the batch) are recorded, so the listeners' counts are final.
async fn launch_reads_done(api: &Api, batch: i64, versions: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list = api.ok("batch_identity", json!({"id": batch})).await;
        let recorded = list.as_array().map_or(0, |l| {
            l.iter()
                .filter(|v| v["identity"]["recorded_at"].as_i64() > Some(0))
                .count()
        });
        if recorded == versions {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "not recorded: {list}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn result_of(report: &Value, version: i64) -> &Value {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["version_id"] == version)
        .unwrap_or_else(|| panic!("no result for version {version}: {report}"))
}

fn client(outbound: OutboundPolicy) -> DifyClient {
    DifyClient::new(ClientConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(10),
        max_attempts: 4,
        outbound,
        ..ClientConfig::default()
    })
    .expect("client builds")
}

fn endpoint(base_url: &str) -> AppEndpoint {
    AppEndpoint {
        base_url: base_url.into(),
        api_key: Secret::new(KEY),
        app_mode: AppMode::Chat,
        response_mode: ResponseMode::Blocking,
        answer_field: None,
        inputs: Default::default(),
        workflow_id: None,
    }
}

/// (a) and (d): without the flag, neither `127.0.0.1` nor `localhost` (a name: the resolver's
/// path) is called; with exactly that target allowed, the same versions reach the listener.
#[tokio::test]
async fn without_the_flag_loopback_targets_are_refused_by_address_and_by_name() {
    trap_off_machine_requests();
    let listener = Listener::answering(dify_ok()).await;
    let literal = listener.base();
    let name = format!("http://localhost:{}/v1", listener.port());

    let (dir, url) = sqlite_url();
    let server = Server::start(
        &url,
        &dir.path().join("server.log"),
        &["--allow-private-targets=false"],
    );
    let api = server.api();
    let by_address = version(&api, "by address", &literal).await;
    let by_name = version(&api, "by name", &name).await;

    let report = test_connection(&api, by_address).await;
    assert_eq!(report["ok"], false, "{report}");
    let message = report["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("target_refused: 127.0.0.1 is a loopback address;"),
        "{message}"
    );
    assert!(message.contains("--allow-private-targets"), "{message}");
    assert!(
        message.contains(&format!("--allow-host 127.0.0.1:{}", listener.port())),
        "{message}"
    );
    let report = test_connection(&api, by_name).await;
    let message = report["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("target_refused: localhost resolves to"),
        "{message}"
    );
    assert!(message.contains("a loopback address"), "{message}");

    let (results, _) = run_batch(&api, &[by_address, by_name]).await;
    let r = result_of(&results, by_address);
    assert_eq!(r["error_code"], codes::TARGET_REFUSED, "{r}");
    assert_eq!(r["attempts"], 0, "refused before sending: {r}");
    let r = result_of(&results, by_name);
    assert_eq!(r["error_code"], codes::TARGET_REFUSED, "{r}");
    assert_eq!(
        r["attempts"], 1,
        "refused at connect time, never retried: {r}"
    );
    assert_eq!(listener.hits(), 0, "a refused target received a connection");
    drop(server);

    // The control: allowed one by one, the same targets are reached.
    let (dir, url) = sqlite_url();
    let literal_entry = format!("127.0.0.1:{}", listener.port());
    let name_entry = format!("localhost:{}", listener.port());
    let server = Server::start(
        &url,
        &dir.path().join("server.log"),
        &[
            "--allow-private-targets=false",
            "--allow-host",
            &literal_entry,
            "--allow-host",
            &name_entry,
        ],
    );
    let api = server.api();
    for base in [&literal, &name] {
        let id = version(&api, base, base).await;
        let report = test_connection(&api, id).await;
        assert_eq!(report["ok"], true, "{base}: {report}");
        assert_eq!(report["app_name"], "listener");
    }
    assert_eq!(listener.hits(), 2);
    assert_nothing_left_the_machine();
}

/// (b): link-local, metadata and unspecified addresses are refused with the flag on, before any
/// connection (the trap and the listener see nothing; 0 attempts).
#[tokio::test]
async fn metadata_and_link_local_are_refused_even_with_the_flag() {
    trap_off_machine_requests();
    let listener = Listener::answering(dify_ok()).await;
    let (dir, url) = sqlite_url();
    // `Server::start` allows private targets; said again here, since it is the point.
    let server = Server::start(
        &url,
        &dir.path().join("server.log"),
        &["--allow-private-targets"],
    );
    let api = server.api();
    // 0.0.0.0 reaches the local listener on Linux if it is called at all.
    let unspecified = format!("http://0.0.0.0:{}/v1", listener.port());
    let targets = [
        (
            "http://169.254.169.254/latest/meta-data",
            "a cloud metadata address",
        ),
        (
            "http://[::ffff:169.254.169.254]/v1",
            "a cloud metadata address",
        ),
        ("http://[fd00:ec2::254]/v1", "a cloud metadata address"),
        ("http://100.100.100.200/v1", "a cloud metadata address"),
        ("http://169.254.1.1/v1", "a link-local address"),
        ("http://[fe80::1]/v1", "a link-local address"),
        (unspecified.as_str(), "the unspecified address"),
    ];
    let mut ids = Vec::new();
    for (base, class) in targets {
        let id = version(&api, base, base).await;
        let report = test_connection(&api, id).await;
        let message = report["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("target_refused: "), "{base}: {message}");
        assert!(message.contains(class), "{base}: {message}");
        assert!(
            message.contains("no setting changes that"),
            "{base}: {message}"
        );
        ids.push(id);
    }
    let (results, _) = run_batch(&api, &ids).await;
    for id in ids {
        let r = result_of(&results, id);
        assert_eq!(r["error_code"], codes::TARGET_REFUSED, "{r}");
        assert_eq!(r["attempts"], 0, "{r}");
    }
    assert_eq!(listener.hits(), 0);
    assert_nothing_left_the_machine();
}

/// (b) and (d) at the client itself: the metadata address fails with 0 attempts whatever the
/// policy allows; a name that resolves to loopback fails at connect time, once, not retried.
#[tokio::test]
async fn the_client_refuses_before_connecting_and_never_retries_a_refusal() {
    trap_off_machine_requests();
    let open = client(OutboundPolicy::allowing_private());
    for base in [
        "http://169.254.169.254/latest",
        "https://169.254.169.254/v1",
        "http://[::ffff:a9fe:a9fe]/v1",
    ] {
        let f = open
            .call(&endpoint(base), "q", &Value::Null)
            .await
            .unwrap_err();
        assert_eq!(
            (f.code.as_str(), f.attempts),
            (codes::TARGET_REFUSED, 0),
            "{f}"
        );
        let f = open.info(&endpoint(base)).await.unwrap_err();
        assert_eq!(
            (f.code.as_str(), f.attempts),
            (codes::TARGET_REFUSED, 0),
            "{f}"
        );
    }

    let listener = Listener::answering(dify_ok()).await;
    let name = format!("http://localhost:{}/v1", listener.port());
    let strict = client(OutboundPolicy::default());
    let f = strict
        .call(&endpoint(&name), "q", &Value::Null)
        .await
        .unwrap_err();
    assert_eq!(
        (f.code.as_str(), f.attempts),
        (codes::TARGET_REFUSED, 1),
        "{f}"
    );
    assert_eq!(f.http_status, None);
    assert!(f.message.starts_with("localhost resolves to"), "{f}");
    // Allowed on another port only: still refused, before sending.
    let other_port = client(OutboundPolicy {
        allow_private: false,
        allow_hosts: vec![format!("localhost:{}", listener.port().wrapping_add(1))
            .parse::<AllowedHost>()
            .expect("an entry")],
    });
    let f = other_port
        .call(&endpoint(&name), "q", &Value::Null)
        .await
        .unwrap_err();
    assert_eq!(
        (f.code.as_str(), f.attempts),
        (codes::TARGET_REFUSED, 0),
        "{f}"
    );
    assert_eq!(listener.hits(), 0);
    // And allowed: the same call is answered.
    let allowed = client(OutboundPolicy {
        allow_private: false,
        allow_hosts: vec![format!("localhost:{}", listener.port())
            .parse::<AllowedHost>()
            .expect("an entry")],
    });
    let answer = allowed
        .call(&endpoint(&name), "q", &Value::Null)
        .await
        .expect("an allowed target answers");
    assert_eq!(answer.answer, "ok");
    assert_eq!(listener.hits(), 1);
    assert_nothing_left_the_machine();
}

/// (c): a 302 (and a 307 to a POST) to another loopback listener is a `redirect_refused` failure
/// naming the status, made once, and the redirect's target receives nothing — though with only the
/// first listener allowed, following it would have been the way around the policy.
#[tokio::test]
async fn redirects_are_refused_never_followed() {
    trap_off_machine_requests();
    let target = Listener::answering(dify_ok()).await;
    let redirect = |status: &str| {
        let location = format!(
            "Location: http://127.0.0.1:{}/v1/chat-messages\r\n",
            target.port()
        );
        response(status, &location, "")
    };
    let found = Listener::answering(redirect("302 Found")).await;
    let (dir, url) = sqlite_url();
    let allowed = format!("127.0.0.1:{}", found.port());
    let server = Server::start(
        &url,
        &dir.path().join("server.log"),
        &["--allow-private-targets=false", "--allow-host", &allowed],
    );
    let api = server.api();
    let id = version(&api, "redirects", &found.base()).await;
    let report = test_connection(&api, id).await;
    let message = report["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("redirect_refused: HTTP 302 Found is a redirect"),
        "{message}"
    );
    let (results, _) = run_batch(&api, &[id]).await;
    let r = result_of(&results, id);
    assert_eq!(r["error_code"], codes::REDIRECT_REFUSED, "{r}");
    assert_eq!(r["attempts"], 1, "{r}");
    assert_eq!(
        found.hits(),
        4,
        "test_connection once, the launch's /info and /parameters once each, the batch's call once"
    );
    assert_eq!(target.hits(), 0, "the redirect was followed");

    let temporary = Listener::answering(redirect("307 Temporary Redirect")).await;
    let f = client(OutboundPolicy::allowing_private())
        .call(&endpoint(&temporary.base()), "q", &Value::Null)
        .await
        .unwrap_err();
    assert_eq!(
        (f.code.as_str(), f.attempts, f.http_status),
        (codes::REDIRECT_REFUSED, 1, Some(307)),
        "{f}"
    );
    assert_eq!(temporary.hits(), 1);
    assert_eq!(target.hits(), 0, "the redirect was followed");
    assert_nothing_left_the_machine();
}

/// (e): a base URL with credentials, a query or a fragment is refused by `save_version` with a 400
/// naming the problem, on create and on update (the key-theft path: keep the key, swap the URL),
/// and the stored version keeps its URL.
#[tokio::test]
async fn base_urls_with_credentials_query_or_fragment_are_refused() {
    trap_off_machine_requests();
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    let good = "http://127.0.0.1:9/v1";
    let id = version(&api, "kept", good).await;
    let cases = [
        (
            "http://admin:hunter2@127.0.0.1:9/v1",
            "user name or password",
        ),
        ("https://user@dify.example.com/v1", "user name or password"),
        ("http://127.0.0.1:9/admin/delete?id=", "has a query string"),
        ("http://127.0.0.1:9/v1?x=1", "has a query string"),
        ("http://127.0.0.1:9/anything#", "has a fragment"),
        ("http://127.0.0.1:9/v1#top", "has a fragment"),
    ];
    for (base, why) in cases {
        for target in [None, Some(id)] {
            let (status, body) = api
                .call(
                    "save_version",
                    json!({"id": target, "name": "bad", "base_url": base, "api_key": KEY}),
                )
                .await;
            assert_eq!(status, 400, "{base}: {body}");
            let message = body["message"].as_str().unwrap_or_default();
            assert!(message.starts_with("base_url: "), "{base}: {message}");
            assert!(message.contains(why), "{base}: {message}");
            assert!(!message.contains("hunter2"), "a password echoed: {message}");
        }
    }
    let versions = api.ok("list_versions", json!({})).await;
    let versions = versions.as_array().expect("versions");
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0]["base_url"], good);
    assert_nothing_left_the_machine();
}

/// (f): a far side that is not Dify (an HTML 500 page, a JSON 403 of its own) is named by its
/// status line; its text appears in no test_connection message, stored result, progress event,
/// export or log line.
#[tokio::test]
async fn a_far_side_page_is_never_echoed() {
    trap_off_machine_requests();
    let page = format!(
        "<!doctype html><html><head><title>{MARKER}</title></head>\
         <body><pre>{MARKER} ami-id instance-id iam/security-credentials/</pre></body></html>"
    );
    let html = Listener::answering(response(
        "500 Internal Server Error",
        "Content-Type: text/html\r\n",
        &page,
    ))
    .await;
    let own_json = format!(r#"{{"message":"{MARKER}","error":"{MARKER}","detail":"{MARKER}"}}"#);
    let json = Listener::answering(response(
        "403 Forbidden",
        "Content-Type: application/json\r\n",
        &own_json,
    ))
    .await;
    let (dir, url) = sqlite_url();
    let log = dir.path().join("server.log");
    let server = Server::start(&url, &log, &[]);
    let api = server.api();
    let html_version = version(&api, "html", &html.base()).await;
    let json_version = version(&api, "json", &json.base()).await;

    for (id, status_line) in [
        (html_version, "HTTP 500 Internal Server Error (an HTML page"),
        (json_version, "HTTP 403 Forbidden (JSON that is not Dify's"),
    ] {
        let report = test_connection(&api, id).await;
        assert_eq!(report["ok"], false, "{report}");
        let message = report["message"].as_str().unwrap_or_default();
        assert!(message.contains(status_line), "{message}");
        assert!(!report.to_string().contains(MARKER), "echoed: {report}");
    }
    let (results, raw) = run_batch(&api, &[html_version, json_version]).await;
    let r = result_of(&results, html_version);
    assert_eq!(r["error_code"], codes::GATEWAY_ERROR, "{r}");
    assert_eq!(
        r["error_message"],
        "HTTP 500 Internal Server Error (an HTML page, not a Dify error)"
    );
    let r = result_of(&results, json_version);
    assert_eq!(r["error_code"], codes::HTTP_ERROR, "{r}");
    assert!(html.hits() > 1, "the 500 is retried: {}", html.hits());
    // test_connection, the launch's /info and /parameters, and one call: the 403 is not retried.
    assert_eq!(json.hits(), 4, "the 403 is not retried");
    assert!(!results.to_string().contains(MARKER), "stored: {results}");
    assert!(!raw.contains(MARKER), "progress stream: {raw}");
    let batch = results["batch"]["id"].as_i64().expect("batch id");
    for export in ["results.csv", "results.json"] {
        let text = api
            .http
            .get(format!("{}/api/batches/{batch}/{export}", api.base))
            .send()
            .await
            .expect("export")
            .text()
            .await
            .expect("export body");
        assert!(!text.contains(MARKER), "{export}: {text}");
    }
    drop(server);
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!logged.contains(MARKER), "server log: {logged}");
    assert_nothing_left_the_machine();
}
