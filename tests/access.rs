//! Access, black-box: every route walked with no credentials, a viewer, an editor and an admin;
//! the attacks of issue 8 that live at the HTTP edge (cross-origin `text/plain` POST, a rebinding
//! `Host`, CORS) refused with nothing changed; revocation that takes effect at once, open
//! progress streams included; sign-in throttling; the security headers; the first-run rules.

mod common;

use common::*;
use dify_bench::server::auth::policy::{Access, OTHER, PAGES, SERVER_FNS};
use dify_bench::server::simulator::FaultProfile;
use futures::StreamExt;
use reqwest::header::{HeaderMap, CONTENT_TYPE, LOCATION};
use serde_json::{json, Value};
use std::time::Duration;

const KEY: &str = "app-chat.q90.access-test-key";

fn role_rank(role: &str) -> u8 {
    match role {
        "viewer" => 1,
        "editor" => 2,
        "admin" => 3,
        _ => 0,
    }
}

fn needed_rank(access: Access) -> u8 {
    match access {
        Access::Public => 0,
        Access::Role(r) => role_rank(r.as_str()),
    }
}

/// Every server function in `src/api/` must have a row in the access table: a new one without
/// a row fails here (the server would also refuse to start).
#[test]
fn every_server_function_in_the_source_is_in_the_access_table() {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("src/api").expect("src/api") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for part in text.split("endpoint = \"").skip(1) {
            found.push(part.split('"').next().unwrap().to_string());
        }
    }
    assert!(found.len() >= 30, "found only {found:?}");
    for name in &found {
        assert!(
            SERVER_FNS.iter().any(|(n, _)| n == name),
            "server function `{name}` is missing from server/auth/policy.rs"
        );
    }
    for (name, _) in SERVER_FNS {
        assert!(
            found.iter().any(|f| f == name),
            "`{name}` is listed but gone"
        );
    }
}

/// Reading a version's input form uses its stored key, so it is for editors (who write cases),
/// not viewers; the route walk below holds the server to it.
#[test]
fn the_input_form_is_for_editors() {
    let access = SERVER_FNS
        .iter()
        .find(|(n, _)| *n == "version_input_form")
        .map(|(_, a)| *a);
    assert_eq!(access, Some(Access::Role(dify_bench::model::Role::Editor)));
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_table_says_on_sqlite() {
    let (dir, url) = sqlite_url();
    route_walk(&url, &dir.path().join("server.log")).await;
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_table_says_on_postgres() {
    let Some(url) = postgres_url("access_route_walk").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    route_walk(&url, &dir.path().join("server.log")).await;
}

async fn route_walk(url: &str, log: &std::path::Path) {
    let server = Server::start(url, log, &[]);
    let clients = [
        ("nobody", server.anonymous()),
        ("viewer", server.api_as("viewer")),
        ("editor", server.api_as("editor")),
        ("admin", server.api()),
    ];
    for (name, access) in SERVER_FNS {
        for (who, api) in &clients {
            let (status, body) = api.call(name, json!({})).await;
            let need = needed_rank(*access);
            let have = role_rank(who);
            if need == 0 || have >= need {
                assert!(
                    status != 401 && status != 403,
                    "{who} → /api/{name}: {status} {body}"
                );
            } else if *who == "nobody" {
                assert_eq!(status, 401, "{who} → /api/{name}: {body}");
                assert_eq!(body["error"], "unauthorized");
            } else {
                assert_eq!(status, 403, "{who} → /api/{name}: {body}");
                assert_eq!(body["error"], "forbidden");
            }
        }
    }
    // An unlisted function name needs an admin (fail closed); an admin meets the 404.
    let (s, _) = clients[1].1.call("not_a_function", json!({})).await;
    assert_eq!(s, 403);
    let (s, _) = clients[3].1.call("not_a_function", json!({})).await;
    assert_eq!(s, 404);

    for (path, access) in PAGES.iter().chain(OTHER) {
        let path = path.replace(":id", "1").replace('*', "dify-bench.css");
        for (who, api) in &clients {
            let res = api
                .http
                .get(format!("{}{path}", server.base))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let need = needed_rank(*access);
            if need == 0 || role_rank(who) >= need {
                assert!(
                    status != 401 && status != 403 && status != 303,
                    "{who} → {path}: {status}"
                );
            } else if *who == "nobody" {
                // reqwest follows the redirect to the sign-in page; pages say so, APIs 401.
                if dify_bench::server::auth::policy::is_page(&path) {
                    assert_eq!(status, 200, "{who} → {path}");
                    assert!(
                        res.url().path() == "/login",
                        "{who} → {path}: {}",
                        res.url()
                    );
                } else {
                    assert_eq!(status, 401, "{who} → {path}");
                }
            } else {
                assert_eq!(status, 403, "{who} → {path}");
            }
        }
    }
    // Without following: a page redirects to /login with the way back.
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = raw
        .get(format!("{}/batches/3?page=2", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()[LOCATION],
        "/login?next=%2Fbatches%2F3%3Fpage%3D2"
    );
}

/// Whether a response body stream ends (or breaks) within `limit`.
async fn ends_within(
    mut stream: impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    limit: Duration,
) -> bool {
    tokio::time::timeout(limit, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await
    .is_ok()
}

/// A session cookie from the real sign-in.
async fn sign_in(base: &str, user: &str, password: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "sign in as {user}");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_string()
}

fn with_cookie(cookie: &str) -> reqwest::Client {
    let mut h = HeaderMap::new();
    h.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(h)
        .build()
        .unwrap()
}

#[tokio::test]
async fn cross_site_writes_and_rebinding_hosts_are_refused_with_nothing_changed() {
    let sim = simulator(5, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let admin = server.api();
    admin
        .ok(
            "create_user",
            json!({"username": "alice", "password": "alice-password", "role": "admin"}),
        )
        .await;
    let cookie = sign_in(&server.base, "alice", "alice-password").await;
    let browser = with_cookie(&cookie);
    let save = |ct: &'static str, origin: Option<&'static str>, site: Option<&'static str>| {
        let mut req = browser
            .post(format!("{}/api/save_version", server.base))
            .header(CONTENT_TYPE, ct)
            .body(
                json!({"name": "planted", "base_url": sim, "api_key": KEY, "app_mode": "chat"})
                    .to_string(),
            );
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        req.send()
    };
    // The "simple request" a page on any origin can send without a preflight.
    let res = save(
        "text/plain",
        Some("http://evil.example"),
        Some("cross-site"),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 415);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_media_type");
    // JSON from another origin (it would need a preflight, which gets no CORS headers).
    let res = save("application/json", Some("http://evil.example"), None)
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = save("application/json", None, Some("cross-site"))
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = save("application/json", Some("null"), None).await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        admin.ok("list_versions", json!({})).await,
        json!([]),
        "nothing was saved"
    );
    // The same request from the server's own page works.
    let own = server.base.to_string();
    let res = browser
        .post(format!("{}/api/list_versions", server.base))
        .header("origin", own)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // DNS rebinding: the attacker's name resolves to us, so the Host header carries it.
    let port = server.base.rsplit(':').next().unwrap().to_string();
    for host in [
        format!("evil.example:{port}"),
        "rebind.attacker.test".to_string(),
    ] {
        let res = browser
            .post(format!("{}/api/list_versions", server.base))
            .header("host", host.clone())
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 421, "Host {host}");
        let page = browser
            .get(format!("{}/", server.base))
            .header("host", host.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 421, "Host {host}");
    }
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let res = browser
            .post(format!("{}/api/list_versions", server.base))
            .header("host", host.clone())
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "Host {host}");
    }
}

#[tokio::test]
async fn cors_is_for_listed_origins_with_a_token_only() {
    let (dir, url) = sqlite_url();
    let server = Server::start(
        &url,
        &dir.path().join("server.log"),
        &["--cors-origins", "https://app.example"],
    );
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("{}/api/list_versions", server.base),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
    };
    let ok = preflight("https://app.example").await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(ok
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
    let refused = preflight("https://evil.example").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // The listed origin with a token: allowed, with CORS headers.
    let res = bearer_client(&server.token)
        .post(format!("{}/api/list_versions", server.base))
        .header("origin", "https://app.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    // The listed origin with a cookie only: the cookie is no credential there (a write is
    // refused as cross-origin, a read finds nobody signed in).
    server
        .api()
        .ok(
            "create_user",
            json!({"username": "bob", "password": "bob-password-1", "role": "admin"}),
        )
        .await;
    let cookie = sign_in(&server.base, "bob", "bob-password-1").await;
    let res = with_cookie(&cookie)
        .post(format!("{}/api/list_versions", server.base))
        .header("origin", "https://app.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("API token"),
        "{body}"
    );
    let res = with_cookie(&cookie)
        .get(format!("{}/api/batches/1/results.csv", server.base))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn revoking_and_removing_take_effect_at_once_even_on_open_streams_on_sqlite() {
    let (dir, url) = sqlite_url();
    revocation(&url, &dir.path().join("server.log")).await;
}

#[tokio::test]
async fn revoking_and_removing_take_effect_at_once_even_on_open_streams_on_postgres() {
    let Some(url) = postgres_url("access_revocation").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    revocation(&url, &dir.path().join("server.log")).await;
}

async fn revocation(url: &str, log: &std::path::Path) {
    // Slow enough that the batch is still running when each stream is cut (checked below): a
    // stream that ended because its batch did would prove nothing.
    let sim = simulator(800, FaultProfile::None).await;
    let url = url.to_string();
    let server = Server::start(&url, log, &[]);
    let admin = server.api();
    let v = admin
        .create_version("slow", &sim, KEY, "chat", "blocking")
        .await;
    admin
        .ok(
            "import_cases",
            json!({"format": "json", "content": ten_cases().to_string()}),
        )
        .await;
    let id = admin
        .ok(
            "start_batch",
            json!({"name": "long", "version_ids": [v], "concurrency": 1}),
        )
        .await
        .as_i64()
        .unwrap();

    // A viewer token's stream ends once the token is revoked.
    let token = cli_token(&url, "viewer");
    let viewer = bearer_client(&token);
    let stream_of = |http: reqwest::Client| {
        let url = format!("{}/api/batches/{id}/progress", server.base);
        async move {
            let res = http.get(url).send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.bytes_stream()
        }
    };
    let mut stream = stream_of(viewer.clone()).await;
    assert!(stream.next().await.is_some(), "a first frame");
    let tokens = admin.ok("list_tokens", json!({})).await;
    let tid = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "tests-viewer")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    admin.ok("revoke_token", json!({"id": tid})).await;
    assert!(
        ends_within(stream, Duration::from_secs(10)).await,
        "the revoked token's stream did not end"
    );
    let running = |admin: Api| async move {
        admin.ok("get_batch", json!({"id": id})).await["status"].clone()
    };
    assert_eq!(running(admin.clone()).await, "running");
    let res = viewer
        .post(format!("{}/api/list_versions", server.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // A removed user's session: 401 at once, and its stream ends.
    admin
        .ok(
            "create_user",
            json!({"username": "carol", "password": "carol-password", "role": "viewer"}),
        )
        .await;
    let carol = with_cookie(&sign_in(&server.base, "carol", "carol-password").await);
    let mut stream = stream_of(carol.clone()).await;
    assert!(stream.next().await.is_some());
    admin.ok("delete_user", json!({"username": "carol"})).await;
    assert!(
        ends_within(stream, Duration::from_secs(10)).await,
        "the removed user's stream did not end"
    );
    assert_eq!(running(admin.clone()).await, "running");
    let res = carol
        .post(format!("{}/api/list_versions", server.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // A token revoked from the CLI (another process) is refused at once too.
    let token = cli_token(&url, "editor");
    let editor = bearer_client(&token);
    let tokens = admin.ok("list_tokens", json!({})).await;
    let tid = tokens.as_array().unwrap()[0]["id"].as_i64().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dify-bench"))
        .args(["token", "revoke", &tid.to_string(), "--database-url", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = editor
        .post(format!("{}/api/list_versions", server.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    admin.ok("cancel_batch", json!({"id": id})).await;
}

#[tokio::test]
async fn sign_in_is_throttled_and_the_last_admin_stays() {
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let admin = server.api();
    admin
        .ok(
            "create_user",
            json!({"username": "dave", "password": "dave-password-1", "role": "admin"}),
        )
        .await;
    let http = reqwest::Client::new();
    let login = |password: &'static str| {
        http.post(format!("{}/api/login", server.base))
            .json(&json!({"username": "dave", "password": password}))
            .send()
    };
    for _ in 0..5 {
        let res = login("wrong-password").await.unwrap();
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["message"], "wrong username or password");
    }
    let res = login("dave-password-1").await.unwrap();
    assert_eq!(
        res.status(),
        429,
        "the right password is refused while throttled"
    );
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("try again in"),
        "{body}"
    );
    // An unknown user gets the same answer as a wrong password.
    let res = http
        .post(format!("{}/api/login", server.base))
        .json(&json!({"username": "nobody-here", "password": "whatever-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // dave is the only admin *user* (tokens are not users): he cannot be removed or demoted.
    let (s, b) = admin.call("delete_user", json!({"username": "dave"})).await;
    assert_eq!((s, b["error"].as_str()), (409, Some("conflict")), "{b}");
    let (s, _) = admin
        .call(
            "set_user_role",
            json!({"username": "dave", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, 409);
    // Bad input names the problem.
    let (s, b) = admin
        .call(
            "create_user",
            json!({"username": "e e", "password": "long-enough-pw", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(b["message"].as_str().unwrap().contains("username"), "{b}");
    let (s, b) = admin
        .call(
            "create_user",
            json!({"username": "erin", "password": "short", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(b["message"].as_str().unwrap().contains("too short"), "{b}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let http = bearer_client(&server.token);
    for (path, page) in [
        ("/", true),
        ("/login", true),
        ("/healthz", false),
        ("/pkg/dify-bench.css", false),
    ] {
        let res = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if page {
            // The hydration script carries the nonce the policy names.
            let nonce = csp
                .split("'nonce-")
                .nth(1)
                .and_then(|s| s.split('\'').next())
                .unwrap_or_else(|| panic!("{path}: no nonce in {csp}"))
                .to_string();
            let html = res.text().await.unwrap();
            assert!(html.contains(&format!("nonce=\"{nonce}\"")), "{path}");
        }
    }
    let (s, _) = server.api().call("list_versions", json!({})).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_public_address_with_no_user_refuses_to_start() {
    let (dir, url) = sqlite_url();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dify-bench"))
        .args(["serve", "--addr", "0.0.0.0:0", "--database-url", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dify-bench user add"), "{err}");
    drop(dir);
}

#[tokio::test]
async fn who_created_and_changed_what_is_recorded() {
    let sim = simulator(5, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let admin = server.api();
    let v = admin
        .create_version("authored", &sim, KEY, "chat", "blocking")
        .await;
    admin
        .ok(
            "import_cases",
            json!({"format": "json", "content": ten_cases().to_string()}),
        )
        .await;
    admin
        .ok(
            "create_user",
            json!({"username": "frank", "password": "frank-password", "role": "admin"}),
        )
        .await;
    let frank = with_cookie(&sign_in(&server.base, "frank", "frank-password").await);
    let res = frank
        .post(format!("{}/api/set_version_enabled", server.base))
        .json(&json!({"id": v, "enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let versions = admin.ok("list_versions", json!({})).await;
    assert_eq!(versions[0]["created_by"], "token:tests-admin");
    assert_eq!(versions[0]["updated_by"], "frank");
    let cases = admin.ok("list_cases", json!({})).await;
    assert!(cases
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["created_by"] == "token:tests-admin"));
    let res = frank
        .post(format!("{}/api/start_batch", server.base))
        .json(&json!({"name": "by frank", "version_ids": [v]}))
        .send()
        .await
        .unwrap();
    let id: i64 = res.json().await.unwrap();
    let batch = admin.ok("get_batch", json!({"id": id})).await;
    assert_eq!(batch["created_by"], "frank");
    admin.read_progress(id, Duration::from_secs(30)).await;
    let page = frank
        .get(format!("{}/batches/{id}", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-testid=\"started-by\""),
        "the batch page names who started it"
    );
}

/// The key theft of issue 8: point a version at another host and ask the server to call it.
/// The version keeps its host (the save is refused), and a listener at the new host, allowed by
/// the outbound policy so that only the key rule stands in the way, receives nothing.
#[tokio::test]
async fn a_stored_key_is_never_sent_to_a_new_host() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let sim = simulator(5, FaultProfile::None).await;
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_addr = trap.local_addr().unwrap();
    let arrived = Arc::new(AtomicUsize::new(0));
    let seen = arrived.clone();
    tokio::spawn(async move {
        while let Ok((_sock, _)) = trap.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    let (dir, url) = sqlite_url();
    let allow = trap_addr.to_string();
    let server = Server::start(
        &url,
        &dir.path().join("server.log"),
        &["--allow-host", &allow],
    );
    let admin = server.api();
    let v = admin
        .create_version("victim", &sim, KEY, "chat", "blocking")
        .await;
    let evil = format!("http://{trap_addr}/v1");
    for base in [
        evil.clone(),
        format!("http://localhost:{}/v1", trap_addr.port()),
    ] {
        let (s, b) = admin
            .call(
                "save_version",
                json!({"id": v, "name": "victim", "base_url": base, "app_mode": "chat"}),
            )
            .await;
        assert_eq!(s, 400, "{b}");
        assert!(
            b["message"].as_str().unwrap().contains("API key again"),
            "{b}"
        );
    }
    let report = admin.ok("test_connection", json!({"id": v})).await;
    assert_eq!(
        report["ok"], true,
        "the version still calls its own host: {report}"
    );
    let versions = admin.ok("list_versions", json!({})).await;
    assert_eq!(versions[0]["base_url"], sim);
    // Same host, another path: allowed without the key (it goes where it always went).
    let (s, b) = admin
        .call(
            "save_version",
            json!({"id": v, "name": "victim", "base_url": format!("{sim}/"), "app_mode": "chat"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        arrived.load(Ordering::SeqCst),
        0,
        "a connection reached the trap"
    );
}
