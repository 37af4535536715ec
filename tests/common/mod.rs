//! Shared helpers for the black-box tests: start the real `dify-bench` binary on a random port,
//! call its JSON API, read its progress stream, and get a PostgreSQL database when one is set up.
#![allow(dead_code)]

use dify_bench::server::simulator::{self, FaultProfile, SimConfig};
use futures::StreamExt;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The server binary, started with `serve`; killed on drop. It comes with an admin API token
/// made by the CLI (`dify-bench token create`), as a script or CI job would get one.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: std::path::PathBuf,
    pub database_url: String,
    pub token: String,
}

/// `dify-bench token create --role ROLE` against a database: the token's secret.
pub fn cli_token(database_url: &str, role: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dify-bench"))
        .args([
            "token",
            "create",
            "--name",
            &format!("tests-{role}"),
            "--role",
            role,
        ])
        .args(["--database-url", database_url])
        .output()
        .expect("run dify-bench token create");
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(token.starts_with("dbt_"), "token create printed `{token}`");
    token
}

/// A reqwest client that sends `Authorization: Bearer <token>` with every request.
pub fn bearer_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("a header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

impl Server {
    /// Starts `dify-bench serve` on 127.0.0.1:0 against `database_url`, waits for its listening
    /// line, and returns it. stderr (the log) goes to a file beside the database.
    pub fn start(database_url: &str, log: &std::path::Path, extra: &[&str]) -> Server {
        let token = cli_token(database_url, "admin");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the server log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_dify-bench"))
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .args(extra)
            // The simulators the tests start listen on 127.0.0.1 (`--allow-private-targets=false` undoes it).
            .env("DIFY_BENCH_ALLOW_PRIVATE_TARGETS", "true")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start dify-bench");
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server's stdout was not captured");
        };
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        loop {
            line.clear();
            let n = reader.read_line(&mut line).unwrap_or(0);
            if n == 0 {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server exited before listening; log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if let Some(url) = line.trim().strip_prefix("dify-bench listening on ") {
                let base = url.to_string();
                // Keep draining stdout so the server never blocks on a full pipe.
                std::thread::spawn(move || {
                    let mut sink = String::new();
                    while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                        sink.clear();
                    }
                });
                return Server {
                    child,
                    base,
                    log: log.to_path_buf(),
                    database_url: database_url.to_string(),
                    token,
                };
            }
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A client with the server's admin token.
    pub fn api(&self) -> Api {
        Api {
            base: self.base.clone(),
            http: bearer_client(&self.token),
        }
    }

    /// A client with a new token of `role` (`viewer`, `editor`, `admin`).
    pub fn api_as(&self, role: &str) -> Api {
        Api {
            base: self.base.clone(),
            http: bearer_client(&cli_token(&self.database_url, role)),
        }
    }

    /// A client with no credentials at all.
    pub fn anonymous(&self) -> Api {
        Api {
            base: self.base.clone(),
            http: reqwest::Client::new(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A JSON client for the server functions.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    /// POST /api/{name} with a JSON body; returns (status, parsed body).
    pub async fn call(&self, name: &str, body: Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}/api/{name}", self.base))
            .json(&body)
            .send()
            .await
            .expect("call the API");
        let status = res.status().as_u16();
        let text = res.text().await.expect("read the body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Like `call`, but the call must succeed.
    pub async fn ok(&self, name: &str, body: Value) -> Value {
        let (status, value) = self.call(name, body.clone()).await;
        assert_eq!(status, 200, "{name}({body}) answered {status}: {value}");
        value
    }

    pub async fn create_version(
        &self,
        name: &str,
        base_url: &str,
        key: &str,
        mode: &str,
        response: &str,
    ) -> i64 {
        let v = self
            .ok(
                "save_version",
                json!({"name": name, "base_url": base_url, "api_key": key,
                       "app_mode": mode, "response_mode": response}),
            )
            .await;
        v["id"].as_i64().expect("version id")
    }

    /// Reads the progress stream to its end (bounded by `limit`); returns every event's
    /// (id, data) and the raw text.
    pub async fn read_progress(&self, batch: i64, limit: Duration) -> (Vec<(u64, Value)>, String) {
        let res = self
            .http
            .get(format!("{}/api/batches/{batch}/progress", self.base))
            .send()
            .await
            .expect("open the progress stream");
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let mut raw = String::new();
        let mut stream = res.bytes_stream();
        let read = async {
            while let Some(chunk) = stream.next().await {
                raw.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
            }
        };
        tokio::time::timeout(limit, read)
            .await
            .expect("the progress stream did not end in time");
        (parse_sse(&raw), raw)
    }
}

/// Splits an SSE body into its `progress` events: (id, JSON data).
pub fn parse_sse(raw: &str) -> Vec<(u64, Value)> {
    raw.split("\n\n")
        .filter_map(|frame| {
            let mut id = None;
            let mut data = None;
            let mut event = None;
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_string());
                }
            }
            match (event.as_deref(), id, data) {
                (Some("progress"), Some(id), Some(data)) => Some((id, data)),
                _ => None,
            }
        })
        .collect()
}

/// A simulator on a random port; returns its `/v1` base URL.
pub async fn simulator(latency_ms: u64, faults: FaultProfile) -> String {
    let cfg = SimConfig {
        latency_ms,
        jitter_ms: latency_ms / 4,
        ttft_ms: None,
        token_delay_ms: 1,
        faults,
        seed: 7,
    };
    let addr: SocketAddr = simulator::spawn("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .expect("start the simulator");
    format!("http://{addr}/v1")
}

/// `GET /metrics` with the server's admin token, parsed: every sample line's `name{labels}` (as
/// written) → value. Comment lines (`# HELP`, `# TYPE`) are checked to be well-formed.
pub async fn scrape_metrics(server: &Server) -> std::collections::BTreeMap<String, f64> {
    let res = bearer_client(&server.token)
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = res.text().await.unwrap();
    let mut samples = std::collections::BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP ") || comment.starts_with("TYPE "),
                "a comment that is neither HELP nor TYPE: {line}"
            );
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("a sample without a value: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in: {line}"));
        samples.insert(key.to_string(), value);
    }
    samples
}

/// The simulator's request counters (`/v1/sim/stats`).
pub async fn sim_stats(sim: &str) -> Value {
    reqwest::get(format!("{sim}/sim/stats"))
        .await
        .expect("simulator stats")
        .json()
        .await
        .expect("stats JSON")
}

/// A fresh SQLite database URL in a temp dir (kept alive by the returned guard).
pub fn sqlite_url() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    (dir, url)
}

/// A fresh, empty PostgreSQL database, when `scripts/with-postgres.sh` provides a server.
/// Without one, the test is skipped with a message — unless DIFY_BENCH_REQUIRE_PG=1 (as in
/// `make test`), where a missing server is a failure.
pub async fn postgres_url(test: &str) -> Option<String> {
    let Ok(admin) = std::env::var("TEST_POSTGRES_URL") else {
        if std::env::var("DIFY_BENCH_REQUIRE_PG").as_deref() == Ok("1") {
            panic!("{test}: TEST_POSTGRES_URL is not set; run under scripts/with-postgres.sh");
        }
        eprintln!("{test}: skipped on PostgreSQL (TEST_POSTGRES_URL is not set)");
        return None;
    };
    use sqlx::Connection;
    let name = format!(
        "t_{}_{}",
        test.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        std::process::id()
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await
        .expect("drop the test database");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create the test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}

/// Every entry of the simulator's knowledge base as a test case, as import JSON.
pub fn knowledge_cases() -> Value {
    let cases: Vec<Value> = simulator::knowledge::entries()
        .iter()
        .map(|e| {
            json!({"name": e.name, "query": e.query, "expected_answer": e.expected_answer,
                   "keywords": e.keywords, "category": e.category})
        })
        .collect();
    Value::Array(cases)
}

/// `n` cases cycling through the simulator's knowledge base, each named apart, as import JSON.
pub fn kb_cases(n: usize) -> String {
    let kb = simulator::knowledge::entries();
    let v: Vec<Value> = (0..n)
        .map(|i| {
            let e = &kb[i % kb.len()];
            json!({"name": format!("{} #{i:05}", e.name), "query": e.query,
                   "expected_answer": e.expected_answer, "keywords": e.keywords})
        })
        .collect();
    Value::Array(v).to_string()
}

/// Ten test cases (five of them from the simulator's knowledge base) as import JSON.
pub fn ten_cases() -> Value {
    let kb = simulator::knowledge::entries();
    let cases: Vec<Value> = kb
        .iter()
        .take(10)
        .map(|e| {
            json!({"name": e.name, "query": e.query, "expected_answer": e.expected_answer,
                   "keywords": e.keywords, "category": e.category})
        })
        .collect();
    Value::Array(cases)
}

/// A `batch_results` report holds exactly `total` results, one per (version, case).
pub fn assert_one_result_per_test(report: &Value, total: usize) {
    let results = report["results"].as_array().expect("a results array");
    assert_eq!(results.len(), total, "results = total");
    let keys: std::collections::HashSet<(i64, i64, i64)> = results
        .iter()
        .map(|r| {
            (
                r["version_id"].as_i64().unwrap(),
                r["case_id"].as_i64().unwrap(),
                r["repetition"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys.len(),
        total,
        "no (version, case, repetition) has two results"
    );
}
