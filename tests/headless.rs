//! `dify-bench run --config FILE`: the headless CI mode, run as a real process.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use std::process::Command;

const KEY_GOOD: &str = "app-advanced-chat.q90.headless-good";
const KEY_WEAK: &str = "app-chat.q30.headless-weak";

fn config(dir: &std::path::Path, base_url: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("cases.json"),
        serde_json::to_string(&ten_cases()).unwrap(),
    )
    .unwrap();
    let text = format!(
        r#"
name = "headless"
cases = "cases.json"
concurrency = 4
[[versions]]
name = "good"
base_url = "{base_url}"
api_key = "env:HEADLESS_KEY_GOOD"
app_mode = "advanced-chat"
[[versions]]
name = "weak"
base_url = "{base_url}"
api_key = "env:HEADLESS_KEY_WEAK"
app_mode = "chat"
response_mode = "blocking"
"#
    );
    let path = dir.join("ci.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> (i32, String, String) {
    run_with_token(args, None)
}

/// `run` with a server token (for `--server`).
fn run_with_token(args: &[&str], token: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dify-bench"));
    cmd.arg("run")
        .args(args)
        .env("HEADLESS_KEY_GOOD", KEY_GOOD)
        .env("HEADLESS_KEY_WEAK", KEY_WEAK)
        .env_remove("DIFY_BENCH_TOKEN")
        .env_remove("RUST_LOG");
    if let Some(t) = token {
        cmd.env("DIFY_BENCH_TOKEN", t);
    }
    let out = cmd.output().expect("run dify-bench");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_run_reports_and_sets_the_exit_code() {
    let sim = simulator(10, FaultProfile::None).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sim);
    let cfg = cfg.to_str().unwrap();
    let json_out = dir.path().join("report.json");
    let junit_out = dir.path().join("report.xml");

    let (code, stdout, stderr) = tokio::task::spawn_blocking({
        let (cfg, j, x) = (cfg.to_string(), json_out.clone(), junit_out.clone());
        move || {
            run(&[
                "--config",
                &cfg,
                "--min-pass-rate",
                "0",
                "--json",
                j.to_str().unwrap(),
                "--junit",
                x.to_str().unwrap(),
            ])
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("version") && stdout.contains("pass rate"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("good ") && l.contains(" 10 ")),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.starts_with("weak ")), "{stdout}");
    assert!(stderr.contains("OK: pass rate"), "{stderr}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_out).unwrap()).unwrap();
    assert_eq!(report["results"].as_array().unwrap().len(), 20);
    assert_eq!(report["batch"]["status"], "completed");

    // Each run's totals: printed after the summary, and in the report beside the results.
    let header = stdout
        .lines()
        .position(|l| {
            l.starts_with("version ") && l.contains("tokens (prompt / completion / total)")
        })
        .unwrap_or_else(|| panic!("no totals table:\n{stdout}"));
    assert!(stdout
        .lines()
        .nth(header)
        .unwrap()
        .contains("ttft p50 / p95"));
    let good_line = stdout.lines().nth(header + 1).unwrap();
    let weak_line = stdout.lines().nth(header + 2).unwrap();
    assert!(
        good_line.starts_with("good ") && good_line.contains(" USD"),
        "{stdout}"
    );
    assert!(
        good_line.matches(" ms").count() == 2,
        "latency and ttft: {good_line}"
    );
    assert!(
        weak_line.starts_with("weak ") && weak_line.matches(" ms").count() == 1,
        "{stdout}"
    );
    let totals = report["run_totals"]
        .as_array()
        .expect("run_totals in the report");
    assert_eq!(totals.len(), 2);
    for (t, v) in totals
        .iter()
        .zip(report["batch"]["versions"].as_array().unwrap())
    {
        assert_eq!(t["version_id"], v["version_id"]);
        let rs: Vec<&serde_json::Value> = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["version_id"] == v["version_id"])
            .collect();
        assert_eq!(t["results"], 10);
        let tokens: i64 = rs
            .iter()
            .filter_map(|r| r["usage"]["total_tokens"].as_i64())
            .sum();
        assert_eq!(t["total_tokens"], tokens);
        let usd: f64 = rs
            .iter()
            .filter_map(|r| r["usage"]["total_price"].as_f64())
            .sum();
        assert_eq!(t["cost"][0]["currency"], "USD");
        assert!((t["cost"][0]["amount"].as_f64().unwrap() - usd).abs() < 1e-9);
        assert_eq!(t["latency_ms"]["count"], 10);
    }
    assert_eq!(totals[0]["ttft_ms"]["count"], 10, "good streams");
    assert!(
        totals[1]["ttft_ms"].is_null(),
        "weak is blocking: {}",
        totals[1]
    );
    let junit = std::fs::read_to_string(&junit_out).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 2);
    assert_eq!(junit.matches("<testcase ").count(), 20);
    for out in [&stdout, &stderr, &junit, &report.to_string()] {
        assert!(
            !out.contains(KEY_GOOD) && !out.contains(KEY_WEAK),
            "a key leaked"
        );
    }

    // A q30 version cannot reach 100 %: exit 1.
    let (code, _, stderr) = tokio::task::spawn_blocking({
        let cfg = cfg.to_string();
        move || run(&["--config", &cfg, "--min-pass-rate", "100"])
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("FAIL: pass rate"), "{stderr}");
}

#[test]
fn configuration_errors_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "http://127.0.0.1:9/v1");
    let (code, _, stderr) = run(&["--config", "/nonexistent/ci.toml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read the config file"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_dify-bench"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env_remove("HEADLESS_KEY_GOOD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HEADLESS_KEY_GOOD is not set"), "{stderr}");

    let (code, _, _) = run(&["--config", cfg.to_str().unwrap(), "--min-pass-rate", "abc"]);
    assert_eq!(code, 2, "usage errors exit 2");
}

/// The launch check's warning (`missing_inputs`: cases that leave out an input the app's form
/// requires, which Dify refuses with 400) reaches the console, the Markdown comment and the
/// `--json` report of a headless run, in-process and on a server (`--server`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_that_leave_out_required_inputs_are_warned_about() {
    let sim = simulator(5, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    for on_server in [false, true] {
        let token = on_server.then(|| server.token.clone());
        let base = on_server.then(|| server.base.clone());
        missing_inputs_run(&sim, dir.path(), base, token).await;
    }
}

async fn missing_inputs_run(
    sim: &str,
    dir: &std::path::Path,
    server: Option<String>,
    token: Option<String>,
) {
    let cases = serde_json::json!([
        {"name": "with a region", "query": "What is USB4?", "inputs": {"region": "eu"}},
        {"name": "no region", "query": "What is PCIe?"},
        {"name": "no region either", "query": "What is HDMI?"},
    ]);
    std::fs::write(dir.join("cases.json"), cases.to_string()).unwrap();
    // The simulator's `strictform` chat app requires a `region` select.
    let cfg = dir.join("ci.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
name = "missing inputs"
cases = "cases.json"
[[versions]]
name = "strict"
base_url = "{sim}"
api_key = "app-chat.q90.strictform.headless-missing"
app_mode = "chat"
response_mode = "blocking"
"#
        ),
    )
    .unwrap();
    let (md, json) = (dir.join("c.md"), dir.join("r.json"));
    let (code, _, stderr) = tokio::task::spawn_blocking({
        let (cfg, md, json) = (cfg.clone(), md.clone(), json.clone());
        move || {
            let mut args = vec![
                "--config".to_string(),
                cfg.to_str().unwrap().to_string(),
                "--min-pass-rate".into(),
                "0".into(),
                "--markdown".into(),
                md.to_str().unwrap().to_string(),
                "--json".into(),
                json.to_str().unwrap().to_string(),
            ];
            if let Some(base) = server {
                args.extend(["--server".to_string(), base]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_with_token(&args, token.as_deref())
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "warning: version `strict`: 2 cases leave out inputs the app's form requires — Dify \
             refuses such calls with 400: `no region` (region), `no region either` (region)"
        ),
        "{stderr}"
    );
    let comment = std::fs::read_to_string(&md).unwrap();
    assert!(
        comment.contains(
            "> ⚠️ **2 cases leave out inputs the app's form requires** (version **strict**): \
             no region (region), no region either (region) — Dify refuses such calls with 400"
        ),
        "{comment}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let warnings = report["missing_inputs"].as_array().expect("missing_inputs");
    assert_eq!(warnings.len(), 1, "{report}");
    assert_eq!(warnings[0]["version"], "strict");
    assert_eq!(warnings[0]["cases"], 2);
    let names: Vec<&str> = warnings[0]["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["case_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["no region", "no region either"]);
    assert_eq!(
        warnings[0]["listed"][0]["variables"],
        serde_json::json!(["region"])
    );
    // The cases that fit the form give no warning: the first case ran.
    let with_region = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "error")
        .count();
    assert_eq!(with_region, 1, "{report}");
}
