//! Webhooks through the real server: a test-local receiver on 127.0.0.1 gets signed batch-end
//! and alert events; 5xx is retried until delivered, 4xx is not; the outbound policy refuses a
//! target at save time; the secret never shows again; only admins reach any of it.
//!
//! The signature is checked here with the `hmac` crate directly, not through the server's code.

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;
use dify_bench::server::simulator::FaultProfile;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: String,
}

/// A receiver: records every POST; each path answers the statuses of its script in turn, then
/// 200.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    scripts: Arc<Mutex<HashMap<String, Vec<u16>>>>,
}

impl Receiver {
    async fn start(scripts: &[(&str, &[u16])]) -> (Receiver, String) {
        let r = Receiver::default();
        for (path, codes) in scripts {
            r.scripts
                .lock()
                .unwrap()
                .insert(path.to_string(), codes.to_vec());
        }
        let app = axum::Router::new()
            .route("/{*path}", post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, format!("http://{addr}"))
    }

    fn at(&self, path: &str) -> Vec<Received> {
        let got = self.got.lock().unwrap();
        got.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Waits until `path` got `n` requests.
    async fn wait_for(&self, path: &str, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got = self.at(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} got {} of {n} requests",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State(r): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let path = uri.path().to_string();
    r.got.lock().unwrap().push(Received {
        path: path.clone(),
        headers,
        body,
    });
    let code = {
        let mut scripts = r.scripts.lock().unwrap();
        match scripts.get_mut(&path) {
            Some(codes) if !codes.is_empty() => codes.remove(0),
            _ => 200,
        }
    };
    StatusCode::from_u16(code).unwrap()
}

/// Checks `t=…,v1=…` over `t.body` with HMAC-SHA256 under `secret`; returns t.
fn verify(secret: &str, r: &Received) -> i64 {
    let header = r.headers["x-dify-bench-signature"].to_str().unwrap();
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("signature header `{header}`"));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", r.body).as_bytes());
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, want, "the signature does not verify");
    let t: i64 = t.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - t).abs() < 120, "signed at {t}, now {now}");
    t
}

const SECRET: &str = "s3cret-entered-by-the-admin-0123456789";

async fn deliveries(api: &Api, hook: i64) -> Vec<Value> {
    api.ok("webhook_deliveries", json!({"id": hook}))
        .await
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until the hook's newest delivery is no longer pending.
async fn settled(api: &Api, hook: i64, limit: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let log = deliveries(api, hook).await;
        if let Some(d) = log.first() {
            if d["status"] != "pending" {
                return d.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

fn start(url: &str, dir: &std::path::Path) -> Server {
    Server::start(
        url,
        &dir.join("server.log"),
        &[
            "--webhook-retry-base-ms",
            "60",
            "--public-url",
            "http://bench.example.com",
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_batch_and_an_alert_arrive_signed_with_slack_text() {
    let (receiver, base) = Receiver::start(&[]).await;
    let sim = simulator(5, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = start(&url, dir.path());
    let api = server.api();
    let hook = api
        .ok(
            "save_webhook",
            json!({"name": "ops", "url": format!("{base}/ends"),
                   "events": ["batch.completed", "batch.failed", "batch.cancelled", "alert.raised"],
                   "secret": SECRET}),
        )
        .await;
    assert!(hook.get("generated_secret").is_none(), "{hook}");
    let hook_id = hook["webhook"]["id"].as_i64().unwrap();
    assert_eq!(hook["webhook"]["secret_hint"], "s3cret-…6789");
    // Only batch ends: never told of alerts.
    let quiet = api
        .ok(
            "save_webhook",
            json!({"name": "ends only", "url": format!("{base}/quiet"),
                   "events": ["batch.completed"], "secret": SECRET}),
        )
        .await;
    // Disabled: never told of anything.
    api.ok(
        "save_webhook",
        json!({"name": "off", "url": format!("{base}/off"), "enabled": false,
               "events": ["batch.completed", "alert.raised"], "secret": SECRET}),
    )
    .await;

    // 10 tests whose key is revoked after 2: an error spike (error_spike needs > 10 of 20; 40
    // cases, sequential), and a completed batch.
    let v = api
        .create_version(
            "revoked",
            &sim,
            "app-workflow.q80.revoked10",
            "workflow",
            "blocking",
        )
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": kb_cases(40)}),
    )
    .await;
    let batch = api
        .ok(
            "start_batch",
            json!({"name": "nightly <main>", "version_ids": [v], "case_ids": null, "concurrency": 1}),
        )
        .await
        .as_i64()
        .unwrap();
    let (events, _) = api.read_progress(batch, Duration::from_secs(120)).await;
    assert_eq!(events.last().unwrap().1["status"], "completed");

    let got = receiver.wait_for("/ends", 2, Duration::from_secs(20)).await;
    let by_event = |e: &str| {
        got.iter()
            .find(|r| r.headers["x-dify-bench-event"] == e)
            .unwrap_or_else(|| panic!("no {e} among {got:?}"))
            .clone()
    };
    let end = by_event("batch.completed");
    verify(SECRET, &end);
    assert_eq!(end.headers["content-type"], "application/json");
    assert_eq!(end.headers["x-dify-bench-delivery"].len(), 32);
    let body: Value = serde_json::from_str(&end.body).unwrap();
    assert_eq!(body["event"], "batch.completed");
    assert_eq!(body["batch"]["id"], batch);
    assert_eq!(body["batch"]["status"], "completed");
    let ver = &body["batch"]["versions"][0];
    assert_eq!(ver["id"], v);
    assert_eq!(ver["total"], 40);
    assert_eq!(ver["completed"], 40);
    let (passed, errors) = (
        ver["passed"].as_i64().unwrap(),
        ver["errors"].as_i64().unwrap(),
    );
    assert_eq!(errors, 30, "the key was revoked after 10 calls");
    assert_eq!(
        body["text"],
        format!(
            "[dify-bench] Batch #{batch} \"nightly &lt;main&gt;\" completed: revoked {:.1}% \
             ({passed}/40, 30 errors) — http://bench.example.com/batches/{batch}",
            passed as f64 * 100.0 / 40.0
        )
    );
    assert_eq!(
        body["batch"]["url"],
        format!("http://bench.example.com/batches/{batch}")
    );

    let alert = by_event("alert.raised");
    verify(SECRET, &alert);
    let body: Value = serde_json::from_str(&alert.body).unwrap();
    assert_eq!(body["alert"]["kind"], "error_spike");
    assert_eq!(body["alert"]["version_id"], v);
    assert_eq!(body["alert"]["version_name"], "revoked");
    assert!(
        body["text"].as_str().unwrap().starts_with(&format!(
            "[dify-bench] Alert in batch #{batch} \"nightly &lt;main&gt;\": revoked error_spike — "
        )),
        "{body}"
    );
    assert_ne!(
        end.headers["x-dify-bench-delivery"],
        alert.headers["x-dify-bench-delivery"]
    );

    // The batch-end-only hook got the end alone; the disabled one nothing.
    let quiet_got = receiver
        .wait_for("/quiet", 1, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.at("/quiet").len(), 1, "{quiet_got:?}");
    assert_eq!(
        quiet_got[0].headers["x-dify-bench-event"],
        "batch.completed"
    );
    assert!(receiver.at("/off").is_empty());
    assert_eq!(receiver.at("/ends").len(), 2, "each event once");

    // The log says so.
    let log = deliveries(&api, hook_id).await;
    assert_eq!(log.len(), 2, "{log:?}");
    for d in &log {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["http_status"], 200);
    }
    let quiet_id = quiet["webhook"]["id"].as_i64().unwrap();
    assert_eq!(deliveries(&api, quiet_id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundreds_are_retried_until_delivered_and_a_400_is_not() {
    let (receiver, base) = Receiver::start(&[("/flaky", &[500, 500]), ("/bad", &[400, 400])]).await;
    let (dir, url) = sqlite_url();
    let server = start(&url, dir.path());
    let api = server.api();
    let save = |name: &str, path: &str| json!({"name": name, "url": format!("{base}{path}"), "events": ["batch.completed"]});
    let flaky = api.ok("save_webhook", save("flaky", "/flaky")).await;
    let secret = flaky["generated_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{flaky}");
    let flaky = flaky["webhook"]["id"].as_i64().unwrap();
    let test = api.ok("test_webhook", json!({"id": flaky})).await;
    assert_eq!(test["event"], "webhook.test");
    assert_eq!(test["status"], "pending");

    let d = settled(&api, flaky, Duration::from_secs(20)).await;
    assert_eq!(d["status"], "delivered", "{d}");
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["http_status"], 200);
    let got = receiver.at("/flaky");
    assert_eq!(got.len(), 3);
    // The same delivery each time, signed afresh, with the generated secret.
    for r in &got {
        verify(&secret, r);
        assert_eq!(
            r.headers["x-dify-bench-delivery"],
            got[0].headers["x-dify-bench-delivery"]
        );
        assert_eq!(r.headers["x-dify-bench-event"], "webhook.test");
    }

    let bad = api.ok("save_webhook", save("bad", "/bad")).await["webhook"]["id"]
        .as_i64()
        .unwrap();
    api.ok("test_webhook", json!({"id": bad})).await;
    let d = settled(&api, bad, Duration::from_secs(20)).await;
    assert_eq!(d["status"], "failed", "{d}");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["http_status"], 400);
    assert!(
        d["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 400 (not retried)"),
        "{d}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.at("/bad").len(), 1, "a 400 is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_targets_secrets_and_access() {
    let (_receiver, base) = Receiver::start(&[]).await;
    let (dir, url) = sqlite_url();
    let server = start(&url, dir.path());
    let api = server.api();

    // The metadata address is refused whatever the flags; nothing is saved.
    let (status, body) = api
        .call(
            "save_webhook",
            json!({"name": "imds", "url": "http://169.254.169.254/latest",
                   "events": ["batch.completed"], "secret": SECRET}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains("outbound policy") && msg.contains("metadata"),
        "{msg}"
    );
    assert_eq!(api.ok("list_webhooks", json!({})).await, json!([]));
    // Bad input is named.
    let (status, body) = api
        .call(
            "save_webhook",
            json!({"name": "x", "url": format!("{base}/x"), "events": [], "secret": SECRET}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("event"),
        "{body}"
    );

    let saved = api
        .ok(
            "save_webhook",
            json!({"name": "ops", "url": format!("{base}/x"),
                   "events": ["alert.raised"], "secret": SECRET}),
        )
        .await;
    let id = saved["webhook"]["id"].as_i64().unwrap();
    api.ok("test_webhook", json!({"id": id})).await;
    settled(&api, id, Duration::from_secs(20)).await;
    // Updated without a secret: kept.
    let updated = api
        .ok(
            "save_webhook",
            json!({"id": id, "name": "ops2", "url": format!("{base}/x"), "events": ["alert.raised"]}),
        )
        .await;
    assert!(updated.get("generated_secret").is_none());
    assert_eq!(updated["webhook"]["secret_hint"], "s3cret-…6789");

    // The secret is nowhere: not in the API's answers, nor the admin page, nor the log.
    let mut seen = Vec::new();
    for (name, body) in [
        ("list_webhooks", json!({})),
        ("webhook_deliveries", json!({"id": id})),
        ("test_webhook", json!({"id": id})),
    ] {
        seen.push(api.call(name, body).await.1.to_string());
    }
    seen.push(updated.to_string());
    let page = api
        .http
        .get(format!("{}/admin", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("dify-bench"), "the admin page rendered");
    seen.push(page);
    tokio::time::sleep(Duration::from_millis(300)).await;
    seen.push(std::fs::read_to_string(&server.log).unwrap());
    for text in &seen {
        assert!(!text.contains(SECRET), "the secret leaked: {text}");
        assert!(!text.contains("0123456789"), "part of the secret leaked");
    }
    // Nor in the database in plain text.
    for file in ["bench.db", "bench.db-wal"] {
        let db = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&db).contains(SECRET),
            "the secret is stored in plain text in {file}"
        );
    }

    // Only admins: an editor and a viewer get 403, nobody 401.
    for role in ["editor", "viewer"] {
        let other = server.api_as(role);
        for (name, body) in [
            ("list_webhooks", json!({})),
            (
                "save_webhook",
                json!({"name": "x", "url": format!("{base}/y"), "events": ["alert.raised"]}),
            ),
            ("test_webhook", json!({"id": id})),
            ("webhook_deliveries", json!({"id": id})),
            ("delete_webhook", json!({"id": id})),
        ] {
            let (status, body) = other.call(name, body).await;
            assert_eq!(status, 403, "{role} → {name}: {body}");
        }
    }
    let (status, _) = server.anonymous().call("list_webhooks", json!({})).await;
    assert_eq!(status, 401);

    api.ok("delete_webhook", json!({"id": id})).await;
    assert_eq!(api.ok("list_webhooks", json!({})).await, json!([]));
    let (status, _) = api.call("webhook_deliveries", json!({"id": id})).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_delivery_survives_a_restart() {
    // A port with nothing listening yet: the first attempts fail to connect.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (dir, url) = sqlite_url();
    let flags = ["--webhook-retry-base-ms", "300", "--webhook-attempts", "20"];
    let mut server = Server::start(&url, &dir.path().join("server.log"), &flags);
    let api = server.api();
    let id = api
        .ok(
            "save_webhook",
            json!({"name": "later", "url": format!("http://127.0.0.1:{port}/later"),
                   "events": ["batch.completed"], "secret": SECRET}),
        )
        .await["webhook"]["id"]
        .as_i64()
        .unwrap();
    api.ok("test_webhook", json!({"id": id})).await;
    // Wait for a failed attempt, still pending.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let first = loop {
        let d = deliveries(&api, id).await[0].clone();
        if d["attempts"].as_i64().unwrap() >= 1 {
            break d;
        }
        assert!(tokio::time::Instant::now() < deadline, "no attempt: {d}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(first["status"], "pending", "{first}");
    assert!(
        first["error"]
            .as_str()
            .unwrap()
            .contains("cannot reach the receiver"),
        "{first}"
    );
    assert!(first["http_status"].is_null());
    server.kill();

    // The receiver comes up while the server is down; the restarted server sends the delivery.
    let got = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/{*path}", post(receive))
        .with_state(Receiver {
            got: got.clone(),
            ..Receiver::default()
        });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let server = Server::start(&url, &dir.path().join("server2.log"), &flags);
    let api = server.api();
    let d = settled(&api, id, Duration::from_secs(30)).await;
    assert_eq!(d["status"], "delivered", "{d}");
    assert!(d["attempts"].as_i64().unwrap() >= 2, "{d}");
    assert_eq!(d["delivery_id"], first["delivery_id"]);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    verify(SECRET, &got[0]);
    assert_eq!(
        got[0].headers["x-dify-bench-delivery"],
        first["delivery_id"].as_str().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_send_each_delivery_once() {
    let Some(url) = postgres_url("webhooks_once").await else {
        return;
    };
    let (receiver, base) = Receiver::start(&[]).await;
    let sim = simulator(2, FaultProfile::None).await;
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--webhook-retry-base-ms", "60", "--lease-ms", "2000"];
    let a = Server::start(&url, &dir.path().join("a.log"), &flags);
    let b = Server::start(&url, &dir.path().join("b.log"), &flags);
    let (api_a, api_b) = (a.api(), b.api());
    let hook = api_a
        .ok(
            "save_webhook",
            json!({"name": "once", "url": format!("{base}/once"),
                   "events": ["batch.completed"], "secret": SECRET}),
        )
        .await["webhook"]["id"]
        .as_i64()
        .unwrap();
    let v1 = api_a
        .create_version("one", &sim, "app-chat.q90", "chat", "blocking")
        .await;
    let v2 = api_a
        .create_version("two", &sim, "app-chat.q70", "chat", "blocking")
        .await;
    api_a
        .ok(
            "import_cases",
            json!({"format": "json", "content": kb_cases(30)}),
        )
        .await;
    let batch = api_a
        .ok(
            "start_batch",
            json!({"name": "shared", "version_ids": [v1, v2], "case_ids": null, "concurrency": 8}),
        )
        .await
        .as_i64()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let b = api_b.ok("get_batch", json!({"id": batch})).await;
        if b["status"] == "completed" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not completed: {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // 20 test deliveries queued on both instances at once: both senders compete for them.
    let mut queued = Vec::new();
    for i in 0..20 {
        let api = if i % 2 == 0 { &api_a } else { &api_b };
        queued.push(api.ok("test_webhook", json!({"id": hook})).await["delivery_id"].clone());
    }
    let got = receiver
        .wait_for("/once", 21, Duration::from_secs(30))
        .await;
    // Both instances poll at least every second: give a duplicate the time to show.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got_now = receiver.at("/once");
    assert_eq!(got_now.len(), 21, "each delivery once: {got:?}");
    let ids: std::collections::HashSet<String> = got_now
        .iter()
        .map(|r| {
            r.headers["x-dify-bench-delivery"]
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 21);
    for q in &queued {
        assert!(ids.contains(q.as_str().unwrap()));
    }
    let ends: Vec<_> = got_now
        .iter()
        .filter(|r| r.headers["x-dify-bench-event"] == "batch.completed")
        .collect();
    assert_eq!(
        ends.len(),
        1,
        "the batch's end is queued once, by one instance"
    );
    let body: Value = serde_json::from_str(&ends[0].body).unwrap();
    assert_eq!(body["batch"]["id"], batch);
    assert_eq!(body["batch"]["versions"][0]["completed"], 30);
    assert_eq!(body["batch"]["versions"][1]["completed"], 30);
    for r in &got_now {
        verify(SECRET, r);
    }
    let log = deliveries(&api_b, hook).await;
    assert_eq!(log.len(), 21);
    assert!(
        log.iter()
            .all(|d| d["status"] == "delivered" && d["attempts"] == 1),
        "{log:?}"
    );
}
