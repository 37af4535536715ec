//! The CI gate, run as a real process: `run --baseline report.json` against a better and a worse
//! candidate (exit 0 and 1, the Markdown naming the regressed cases), `run --server` landing its
//! batch in the server's history with stable case ids and comparing there against a
//! `BATCH:VERSION` baseline, and every way of getting the server or the baseline wrong
//! answered with exit 2 and a message naming the problem (never the token).

mod common;

use common::*;
use dify_bench::server::simulator::{self, FaultProfile};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every answer carries the expected content, or a fifth of it: 21 cases are enough for the
/// difference to be significant (in `tests/compare.rs` q90 against q30 is).
const KEY_STRONG: &str = "app-chat.q100.gate-strong";
const KEY_WEAK: &str = "app-chat.q20.gate-weak";

/// The simulator's whole knowledge base as a cases file, and a config of one version, `bot`,
/// whose key comes from GATE_KEY (so one config runs either quality); with `weak_too`, a second
/// version `bot-weak` keyed by GATE_KEY_WEAK.
fn config(dir: &Path, sim: &str, weak_too: bool) -> PathBuf {
    let cases: Vec<Value> = simulator::knowledge::entries()
        .iter()
        .map(|e| {
            json!({"name": e.name, "query": e.query, "expected_answer": e.expected_answer,
                   "keywords": e.keywords, "category": e.category})
        })
        .collect();
    std::fs::write(dir.join("cases.json"), Value::Array(cases).to_string()).unwrap();
    let mut text = format!(
        r#"
name = "gate"
cases = "cases.json"
concurrency = 8
[[versions]]
name = "bot"
base_url = "{sim}"
api_key = "env:GATE_KEY"
app_mode = "chat"
response_mode = "blocking"
"#
    );
    if weak_too {
        text.push_str(&format!(
            r#"
[[versions]]
name = "bot-weak"
base_url = "{sim}"
api_key = "env:GATE_KEY_WEAK"
app_mode = "chat"
response_mode = "blocking"
"#
        ));
    }
    let path = dir.join(if weak_too { "two.toml" } else { "one.toml" });
    std::fs::write(&path, text).unwrap();
    path
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `dify-bench run ARGS` with GATE_KEY = `key` and, when given, DIFY_BENCH_TOKEN = `token`.
async fn run(args: Vec<String>, key: &'static str, token: Option<String>) -> Out {
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dify-bench"));
        cmd.arg("run")
            .args(&args)
            .env("GATE_KEY", key)
            .env("GATE_KEY_WEAK", KEY_WEAK)
            .env_remove("DIFY_BENCH_TOKEN")
            .env_remove("RUST_LOG");
        if let Some(t) = token {
            cmd.env("DIFY_BENCH_TOKEN", t);
        }
        let out = cmd.output().expect("run dify-bench");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Names of the cases that passed in report `a` and not in report `b` (one version each).
fn regressed(a: &Value, b: &Value) -> BTreeSet<String> {
    let passed = |r: &Value| -> HashSet<String> {
        let names: std::collections::HashMap<i64, String> = r["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_i64().unwrap(),
                    c["name"].as_str().unwrap().into(),
                )
            })
            .collect();
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["status"] == "passed")
            .map(|x| names[&x["case_id"].as_i64().unwrap()].clone())
            .collect()
    };
    let (pa, pb) = (passed(a), passed(b));
    pa.difference(&pb).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_baseline_passes_a_better_candidate_and_fails_a_worse_one() {
    let sim = simulator(5, FaultProfile::None).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = path(&config(dir.path(), &sim, false));
    let strong = dir.path().join("strong.json");
    let weak = dir.path().join("weak.json");
    let md_worse = dir.path().join("worse.md");
    let md_better = dir.path().join("better.md");

    let out = run(
        args(&["--config", &cfg, "--json", &path(&strong)]),
        KEY_STRONG,
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    // The worse candidate against the strong report: exit 1, the regressions named.
    let out = run(
        args(&[
            "--config",
            &cfg,
            "--baseline",
            &path(&strong),
            "--json",
            &path(&weak),
            "--markdown",
            &path(&md_worse),
        ]),
        KEY_WEAK,
        None,
    )
    .await;
    assert_eq!(
        out.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr
            .contains("FAIL: `bot` is significantly worse than its baseline `bot`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("B is worse than A: pass rate −"),
        "{}",
        out.stdout
    );
    let (a, b) = (read_json(&strong), read_json(&weak));
    let expected = regressed(&a, &b);
    assert!(expected.len() > 10, "q100 → q20 regresses most cases");
    let md = std::fs::read_to_string(&md_worse).unwrap();
    assert!(md.starts_with("## ❌ dify-bench: failed"), "{md}");
    assert!(md.contains("> B is worse than A"), "{md}");
    assert!(
        md.contains(&format!("**Regressed cases** ({}):", expected.len())),
        "{md}"
    );
    let listed: Vec<&String> = expected
        .iter()
        .filter(|n| md.contains(&format!("| {n} | pass ")))
        .collect();
    assert_eq!(listed.len(), 10, "the first ten are listed:\n{md}");
    assert!(
        md.contains(&format!("…and {} more.", expected.len() - 10)),
        "{md}"
    );
    // The report carries the comparison, and what a later comparison needs per case.
    let c = &b["comparisons"][0];
    assert_eq!(c["view"]["summary"]["verdict"], "worse");
    assert_eq!(
        c["view"]["total_rows"].as_u64().unwrap() as usize,
        expected.len()
    );
    assert!(b.get("server").is_none(), "it ran in-process");
    let case = &b["cases"][0];
    for field in [
        "id",
        "name",
        "query",
        "expected_answer",
        "keywords",
        "assertions",
    ] {
        assert!(case.get(field).is_some(), "cases[].{field}");
    }
    let result = &b["results"][0];
    for field in [
        "case_id",
        "status",
        "score",
        "latency_ms",
        "ttft_ms",
        "usage",
    ] {
        assert!(result.get(field).is_some(), "results[].{field}");
    }

    // The strong candidate against the weak report: better, exit 0.
    let out = run(
        args(&[
            "--config",
            &cfg,
            "--baseline",
            &path(&weak),
            "--markdown",
            &path(&md_better),
        ]),
        KEY_STRONG,
        None,
    )
    .await;
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.contains("B is better than A"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("no version is significantly worse than its baseline"),
        "{}",
        out.stderr
    );
    let md = std::fs::read_to_string(&md_better).unwrap();
    assert!(
        md.starts_with("## ✅ dify-bench: no regression against the baseline"),
        "{md}"
    );
    assert!(!md.contains("Regressed cases"), "{md}");
}

/// The ids of the cases a batch ran, from its `batch_results`.
async fn batch_case_ids(api: &Api, batch: i64) -> BTreeSet<i64> {
    let report = api.ok("batch_results", json!({ "id": batch })).await;
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_run_lands_in_its_history_and_is_gated_there() {
    let sim = simulator(5, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    let base = server.base.clone();
    let one = path(&config(dir.path(), &sim, false));
    let two = path(&config(dir.path(), &sim, true));
    let editor = cli_token(&url, "editor");
    let a_json = dir.path().join("a.json");
    let a_xml = dir.path().join("a.xml");

    // First run, admin token: the version and the cases are created on the server.
    let out = run(
        args(&[
            "--config",
            &one,
            "--server",
            &base,
            "--json",
            &path(&a_json),
            "--junit",
            &path(&a_xml),
        ]),
        KEY_STRONG,
        Some(server.token.clone()),
    )
    .await;
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let a = read_json(&a_json);
    let batch_a = a["batch"]["id"].as_i64().unwrap();
    let bot = a["batch"]["versions"][0]["version_id"].as_i64().unwrap();
    assert_eq!(a["server"], base.as_str());
    assert!(
        out.stderr.contains(&format!(
            "batch {batch_a} started: {base}/batches/{batch_a}"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("test cases: 0 reused, 0 updated, 21 created"),
        "{}",
        out.stderr
    );
    // The launch check is read from the server (`batch_identity`): these cases need no input.
    assert!(
        !out.stderr.contains("launch check") && !out.stderr.contains("warning: version"),
        "{}",
        out.stderr
    );
    assert!(a.get("missing_inputs").is_none(), "no warning: {a}");
    assert!(
        out.stdout.lines().any(|l| l.starts_with("bot ")),
        "{}",
        out.stdout
    );
    let junit = std::fs::read_to_string(&a_xml).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 21);

    // In the server's history, as a client of the API sees it.
    let batches = api.ok("list_batches", json!({})).await;
    let listed = batches
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == batch_a)
        .expect("the batch is in the history");
    assert_eq!(listed["status"], "completed");
    assert_eq!(listed["name"], "gate");
    assert_eq!(listed["total_tests"], 21);
    let ids_a = batch_case_ids(&api, batch_a).await;
    assert_eq!(ids_a.len(), 21);

    // A second version the server lacks cannot be created with an editor's token.
    let out = run(
        args(&["--config", &two, "--server", &base]),
        KEY_STRONG,
        Some(editor.clone()),
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("creating version `bot-weak`")
            && out.stderr.contains("403")
            && out.stderr.contains("admin"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(&editor), "the token is never printed");

    // An admin creates it; both versions run against the first run of `bot` on the server.
    let md = dir.path().join("c.md");
    let out = run(
        args(&[
            "--config",
            &two,
            "--server",
            &base,
            "--baseline",
            &format!("{batch_a}:{bot}"),
            "--markdown",
            &path(&md),
        ]),
        KEY_STRONG,
        Some(server.token.clone()),
    )
    .await;
    assert_eq!(
        out.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr
            .contains("FAIL: `bot-weak` is significantly worse than its baseline `bot`"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("FAIL: `bot` is"),
        "bot is as good as before: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("test cases: 21 reused, 0 updated, 0 created"),
        "{}",
        out.stderr
    );
    let batches = api.ok("list_batches", json!({})).await;
    let batch_c = batches[0]["id"].as_i64().unwrap();
    assert_ne!(batch_c, batch_a);
    assert_eq!(
        batch_case_ids(&api, batch_c).await,
        ids_a,
        "the same cases file runs the same case ids"
    );
    assert_eq!(
        api.ok("list_cases", json!({}))
            .await
            .as_array()
            .unwrap()
            .len(),
        21
    );
    let md = std::fs::read_to_string(&md).unwrap();
    let weak_id = api
        .ok("list_versions", json!({}))
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "bot-weak")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert!(
        md.contains(&format!(
            "[compare]({base}/compare?base={batch_a}:{bot}&cand={batch_c}:{weak_id})"
        )),
        "{md}"
    );
    assert!(md.contains(&format!("({base}/batches/{batch_c})")), "{md}");

    // An editor's token is enough once the versions exist; a report written by an earlier
    // server run is a baseline too, and links to the compare page of the same server.
    let md = dir.path().join("d.md");
    let out = run(
        args(&[
            "--config",
            &one,
            "--server",
            &base,
            "--baseline",
            &path(&a_json),
            "--markdown",
            &path(&md),
        ]),
        KEY_STRONG,
        Some(editor.clone()),
    )
    .await;
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.contains(&format!(
            "[compare]({base}/compare?base={batch_a}:{bot}&cand="
        )),
        "{md}"
    );

    // The same name with another key is another app: refused, not silently changed.
    let out = run(
        args(&["--config", &one, "--server", &base]),
        KEY_WEAK,
        Some(editor.clone()),
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("version `bot`")
            && out.stderr.contains("differs from the config")
            && out.stderr.contains("API key is another")
            && out.stderr.contains("--update-versions"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(KEY_WEAK) && !out.stderr.contains(KEY_STRONG));

    // Asked to, an admin overwrites it; and a case edited in the file is updated in place.
    let cases_file = dir.path().join("cases.json");
    let mut cases: Value =
        serde_json::from_str(&std::fs::read_to_string(&cases_file).unwrap()).unwrap();
    cases[0]["expected_answer"] = json!("A different expected answer.");
    std::fs::write(&cases_file, cases.to_string()).unwrap();
    let out = run(
        args(&["--config", &one, "--server", &base, "--update-versions"]),
        KEY_WEAK,
        Some(server.token.clone()),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("updated version `bot` ({bot})")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("test cases: 20 reused, 1 updated, 0 created"),
        "{}",
        out.stderr
    );
    let versions = api.ok("list_versions", json!({})).await;
    let stored = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == bot)
        .unwrap();
    assert!(stored["api_key_hint"].as_str().unwrap().ends_with("weak"));
    let batch_e = api.ok("list_batches", json!({})).await[0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(batch_case_ids(&api, batch_e).await, ids_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_server_token_or_baseline_is_a_usage_error_that_names_it() {
    let sim = simulator(5, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let base = server.base.clone();
    let one = path(&config(dir.path(), &sim, false));

    let bad = "dbt_not-a-real-token-0000000000".to_string();
    let out = run(
        args(&["--config", &one, "--server", &base]),
        KEY_STRONG,
        Some(bad.clone()),
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("refused the API token (401"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("DIFY_BENCH_TOKEN"), "{}", out.stderr);
    assert!(!out.stderr.contains(&bad) && !out.stdout.contains(&bad));

    // The same token given as a flag is not echoed either.
    let out = run(
        args(&["--config", &one, "--server", &base, "--token", &bad]),
        KEY_STRONG,
        None,
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(!out.stderr.contains(&bad), "{}", out.stderr);

    let viewer = cli_token(&url, "viewer");
    let out = run(
        args(&["--config", &one, "--server", &base]),
        KEY_STRONG,
        Some(viewer),
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("is a viewer's") && out.stderr.contains("needs an editor token"),
        "{}",
        out.stderr
    );

    let out = run(
        args(&["--config", &one, "--server", &base]),
        KEY_STRONG,
        None,
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("needs an API token"), "{}", out.stderr);

    // Nothing listens on port 9 of loopback (discard, never served here).
    let out = run(
        args(&["--config", &one, "--server", "http://127.0.0.1:9"]),
        KEY_STRONG,
        Some(server.token.clone()),
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("cannot reach the dify-bench server at http://127.0.0.1:9"),
        "{}",
        out.stderr
    );

    let out = run(
        args(&["--config", &one, "--baseline", "12:3"]),
        KEY_STRONG,
        None,
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("give --server URL"), "{}", out.stderr);

    let missing = dir.path().join("missing.json");
    let out = run(
        args(&["--config", &one, "--baseline", &path(&missing)]),
        KEY_STRONG,
        None,
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("cannot read the baseline report"),
        "{}",
        out.stderr
    );

    let out = run(
        args(&["--config", &one, "--server", &base, "--baseline", "999:1"]),
        KEY_STRONG,
        Some(server.token.clone()),
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("batch 999 does not exist"),
        "{}",
        out.stderr
    );
    // None of it started a batch.
    let batches = server.api().ok("list_batches", json!({})).await;
    assert_eq!(batches.as_array().unwrap().len(), 0);
}
