//! The LLM judge end to end, against the real binary and the simulator's OpenAI-compatible judge,
//! on SQLite and PostgreSQL: a correct paraphrase passes on the judge and fails on words, a
//! negation that reuses the words fails on the judge; a second identical batch (and repeats) make
//! no judge call; a judge outage leaves every test stored with a judge error and the batch
//! completes; every reply shape is read or refused; reviews change the reviewed pass rate and feed
//! calibration; promoting an answer makes a new case revision; the judge's key never leaves.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::{json, Value};
use std::time::Duration;

const JUDGE_KEY: &str = "sk-judge.x.s3cr3t-judge-value-4242";
const QUESTION: &str = "What is the maximum lane rate of MIPI D-PHY v2.5?";
const EXPECTED: &str = "MIPI D-PHY v2.5 supports up to 4.5 Gbps per data lane.";
/// Right, in other words: few words shared with the expected answer.
const PARAPHRASE: &str = "Each lane tops out at 4.5 Gbps in version 2.5.";
/// Wrong, in the expected answer's own words.
const NEGATION: &str = "MIPI D-PHY v2.5 does not support up to 4.5 Gbps per data lane.";

async fn judge_calls(sim: &str) -> u64 {
    sim_stats(sim).await["chat_completions"].as_u64().unwrap()
}

/// `save_judge` with `body`: the new judge's id.
async fn add_judge(api: &Api, body: Value) -> i64 {
    api.ok("save_judge", body).await["id"].as_i64().unwrap()
}

/// Runs a batch to its end and returns (its id, the terminal progress event, its results).
async fn run(api: &Api, body: Value) -> (i64, Value, Vec<Value>) {
    let id = api.ok("start_batch", body).await.as_i64().unwrap();
    let (events, raw) = api.read_progress(id, Duration::from_secs(60)).await;
    assert!(!raw.contains(JUDGE_KEY), "the judge's key is in the stream");
    let last = events.last().unwrap().1.clone();
    assert_eq!(last["status"], "completed", "{last}");
    let report = api.ok("batch_results", json!({"id": id})).await;
    let results = report["results"].as_array().unwrap().clone();
    (id, last, results)
}

fn result_of(results: &[Value], case: i64) -> &Value {
    results
        .iter()
        .find(|r| r["case_id"] == case)
        .expect("a result for the case")
}

async fn judge_end_to_end(database_url: &str, dir: &std::path::Path) {
    let sim = simulator(2, FaultProfile::None).await;
    let log = dir.join("server.log");
    let server = Server::start(database_url, &log, &[]);
    let api = server.api();

    // Bad input is refused by name, and nothing is written.
    let (status, body) = api
        .call(
            "save_judge",
            json!({"name": "no model", "kind": "openai", "base_url": sim, "api_key": JUDGE_KEY}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("model is empty"),
        "{body}"
    );
    assert_eq!(api.ok("list_judges", json!({})).await, json!([]));

    let judge = api
        .ok(
            "save_judge",
            json!({"name": "sim judge", "kind": "openai", "base_url": sim,
                   "model": "sim-judge", "api_key": JUDGE_KEY, "concurrency": 16}),
        )
        .await;
    let judge_id = judge["id"].as_i64().unwrap();
    assert_eq!(judge["api_key_hint"], "sk-…4242", "{judge}");
    let probe = api.ok("test_judge", json!({"id": judge_id})).await;
    assert_eq!(probe["ok"], true, "{probe}");
    let embedder = add_judge(
        &api,
        json!({"name": "sim embeddings", "kind": "embeddings", "base_url": sim,
               "model": "sim-embed", "api_key": JUDGE_KEY}),
    )
    .await;

    // The scripted app answers each case's `sim_answer` word for word.
    let version = api
        .create_version(
            "scripted",
            &sim,
            "app-chat.q100.scripted.j",
            "chat",
            "blocking",
        )
        .await;
    let cases = json!([
        {"name": "paraphrase", "query": QUESTION, "expected_answer": EXPECTED,
         "keywords": ["4.5 Gbps", "per data lane"], "inputs": {"sim_answer": PARAPHRASE}},
        {"name": "negation", "query": QUESTION, "expected_answer": EXPECTED,
         "keywords": ["4.5 Gbps", "per data lane"], "inputs": {"sim_answer": NEGATION}},
    ]);
    api.ok(
        "import_cases",
        json!({"format": "json", "content": cases.to_string()}),
    )
    .await;
    let listed = api.ok("list_cases", json!({})).await;
    let id_of = |name: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (para, neg) = (id_of("paraphrase"), id_of("negation"));

    // A judge that does not exist, or is an embeddings endpoint, is refused by name.
    for (judge, message) in [
        (json!({"judge_id": 999}), "judge 999 does not exist"),
        (json!({"judge_id": embedder}), "is an embeddings endpoint"),
    ] {
        let (status, body) = api
            .call(
                "start_batch",
                json!({"version_ids": [version], "judge": judge}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{body}"
        );
    }

    // Words alone: the paraphrase fails and the negation passes.
    let (_, lexical, results) = run(&api, json!({"version_ids": [version]})).await;
    assert!(
        lexical.get("judge").is_none(),
        "no judge, no judge tallies: {lexical}"
    );
    assert_eq!(result_of(&results, para)["status"], "failed");
    assert_eq!(result_of(&results, neg)["status"], "passed");

    // The judge alone decides: the paraphrase passes, the negation fails.
    let judged_batch = json!({"version_ids": [version], "keyword_weight": 0.0,
        "similarity_weight": 0.0,
        "judge": {"judge_id": judge_id, "rubric": "correctness", "weight": 1.0},
        "embedding": {"judge_id": embedder, "weight": 0.0}});
    let before = judge_calls(&sim).await;
    let (judged_id, last, results) = run(&api, judged_batch.clone()).await;
    let results_judged = results.clone();
    assert_eq!(
        judge_calls(&sim).await - before,
        2,
        "one judge call per answer"
    );
    let p = result_of(&results, para);
    let n = result_of(&results, neg);
    assert_eq!(p["status"], "passed", "{p}");
    assert_eq!(n["status"], "failed", "{n}");
    assert_eq!(p["detail"]["judge"]["passed"], true, "{p}");
    assert!(
        p["detail"]["similarity_score"].as_f64().unwrap() < 60.0,
        "{p}"
    );
    assert_eq!(n["detail"]["judge"]["passed"], false, "{n}");
    assert!(
        n["detail"]["keyword_score"].as_f64().unwrap() >= 60.0,
        "{n}"
    );
    assert!(
        n["detail"]["judge"]["reason"]
            .as_str()
            .unwrap()
            .contains("4.5 Gbps"),
        "the reason names the contradicted fact: {n}"
    );
    assert!(p["detail"]["embedding_score"].as_f64().is_some(), "{p}");
    assert_eq!(last["judge"]["judged"], 2, "{last}");
    assert_eq!(last["judge"]["cached"], 0, "{last}");
    assert_eq!(last["judge"]["errors"], 0, "{last}");
    assert!(
        last["versions"][0]["judge"]["average_score"].is_number(),
        "{last}"
    );

    // The same batch again, and with repeats: every judgement from the cache, no call at all.
    let before = sim_stats(&sim).await;
    let (_, again, results) = run(&api, judged_batch.clone()).await;
    let mut repeated = judged_batch.clone();
    repeated["repeats"] = json!(3);
    let (_, thrice, _) = run(&api, repeated).await;
    let after = sim_stats(&sim).await;
    assert_eq!(
        after["chat_completions"], before["chat_completions"],
        "no judge call"
    );
    assert_eq!(
        after["embeddings"], before["embeddings"],
        "no embedding call"
    );
    assert_eq!(again["judge"]["cached"], 2, "{again}");
    assert_eq!(thrice["judge"]["cached"], 6, "{thrice}");
    assert_eq!(result_of(&results, para)["detail"]["judge"]["cached"], true);

    // The review queue lists both (the judge and the words disagree); reviews take them off it
    // and change the reviewed pass rate; calibration counts them.
    let queue = api.ok("review_queue", json!({"batch_id": judged_id})).await;
    let queued: Vec<i64> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["case_id"].as_i64().unwrap())
        .collect();
    assert!(queued.contains(&para) && queued.contains(&neg), "{queue}");
    for q in queue.as_array().unwrap() {
        let stored = result_of(&results_judged, q["case_id"].as_i64().unwrap());
        assert_eq!(q["status"], stored["status"], "the stored status: {q}");
    }
    assert!(queue[0]["reasons"]
        .as_array()
        .unwrap()
        .contains(&json!("disagreement")));
    let page = api.ok("batch_page", json!({"id": judged_id})).await;
    assert_eq!(page["summaries"][0]["pass_rate"], 50.0);
    assert_eq!(page["summaries"][0]["reviewed_pass_rate"], 50.0);
    let review = api
        .ok(
            "set_review",
            json!({"batch_id": judged_id, "version_id": version, "case_id": neg,
                   "verdict": "pass", "comment": "close enough"}),
        )
        .await;
    assert_eq!(review["verdict"], "pass");
    assert_eq!(review["reviewed_by"], "token:tests-admin");
    let page = api.ok("batch_page", json!({"id": judged_id})).await;
    assert_eq!(
        page["summaries"][0]["pass_rate"], 50.0,
        "the automatic rate stays"
    );
    assert_eq!(page["summaries"][0]["reviewed_pass_rate"], 100.0);
    assert_eq!(page["summaries"][0]["reviewed"], 1);
    api.ok(
        "set_review",
        json!({"batch_id": judged_id, "version_id": version, "case_id": para,
               "verdict": "pass"}),
    )
    .await;
    let queue = api.ok("review_queue", json!({"batch_id": judged_id})).await;
    assert_eq!(queue, json!([]), "reviewed results leave the queue");
    let (status, _) = api
        .call(
            "set_review",
            json!({"batch_id": judged_id, "version_id": version, "case_id": 9999,
                   "verdict": "pass"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .api_as("viewer")
        .call(
            "set_review",
            json!({"batch_id": judged_id, "version_id": version, "case_id": para,
                   "verdict": "fail"}),
        )
        .await;
    assert_eq!(status, 403, "viewers do not review");

    // Calibration: judge (pass, fail) against human (pass, pass): 1 of 2 agree, κ = 0 (the
    // human is constant, so chance agreement equals the observed one).
    let report = api.ok("judge_calibration", json!({"id": judge_id})).await;
    let c = &report["rubrics"][0];
    assert_eq!(c["rubric"], "correctness", "{report}");
    assert_eq!(c["reviews"], 2);
    assert_eq!(c["confusion"], json!([[1, 0], [1, 0]]));
    assert_eq!(c["agreement"], 0.5);
    assert_eq!(c["kappa"], 0.0);

    // Promoting the paraphrase makes it the expected answer of a new revision; the batch keeps
    // its snapshot.
    let promoted = api
        .ok(
            "promote_answer",
            json!({"batch_id": judged_id, "version_id": version, "case_id": para}),
        )
        .await;
    assert_eq!(promoted["revision"], 2, "{promoted}");
    assert_eq!(promoted["expected_answer"], PARAPHRASE);
    let revisions = api.ok("case_revisions", json!({"case_id": para})).await;
    assert_eq!(revisions[0]["revision"], 1, "{revisions}");
    assert_eq!(revisions[0]["case"]["expected_answer"], EXPECTED);
    assert!(revisions[0]["note"]
        .as_str()
        .unwrap()
        .contains(&format!("batch {judged_id}")));
    let snap = api
        .ok("batch_case", json!({"id": judged_id, "case_id": para}))
        .await;
    assert_eq!(
        snap["expected_answer"], EXPECTED,
        "the batch keeps its snapshot"
    );

    // The key never leaves: not in a response, an export, or the log.
    let base = server.base.clone();
    let client = server.api().http;
    let mut everything = format!(
        "{}{}{}{}",
        api.ok("list_judges", json!({})).await,
        api.ok("batch_results", json!({"id": judged_id})).await,
        api.ok("judge_calibration", json!({"id": judge_id})).await,
        api.ok("batch_page", json!({"id": judged_id})).await,
    );
    for export in ["results.csv", "results.json", "results.junit.xml"] {
        let text = client
            .get(format!("{base}/api/batches/{judged_id}/{export}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if export == "results.csv" {
            // The judge's columns: the negation's row says fail, and why.
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            let headers = reader.headers().unwrap().clone();
            let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
            let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
            let neg_row = rows
                .iter()
                .find(|r| r[col("case_id")] == neg.to_string())
                .unwrap();
            assert_eq!(&neg_row[col("judge_verdict")], "fail");
            assert!(neg_row[col("judge_reason")].contains("4.5 Gbps"));
            assert!(!neg_row[col("embedding_score")].is_empty());
        }
        everything.push_str(&text);
    }
    assert!(everything.contains("sk-…4242"), "the hint is shown");
    assert!(
        !everything.contains(JUDGE_KEY),
        "the judge's key leaked into a response"
    );
    drop(server);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !log_text.contains(JUDGE_KEY),
        "the judge's key leaked into the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judge_end_to_end_on_sqlite() {
    let (dir, url) = sqlite_url();
    judge_end_to_end(&url, dir.path()).await;
    // Sealed at rest: the key is nowhere in the database file.
    let bytes = std::fs::read(dir.path().join("bench.db")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains(JUDGE_KEY),
        "the judge's key is stored in plain text"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judge_end_to_end_on_postgres() {
    let Some(url) = postgres_url("judge_end_to_end").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    judge_end_to_end(&url, dir.path()).await;
}

/// A judge that goes down mid-batch: the batch completes, every test is stored with its other
/// scores and a judge error where the judge was gone — none counted as a Dify failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_judge_outage_mid_batch_leaves_judge_errors_and_the_batch_completes() {
    let (dir, url) = sqlite_url();
    let sim = simulator(2, FaultProfile::None).await;
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    // Three judgements, then 503 on every call (retried, then given up).
    let judge = add_judge(
        &api,
        json!({"name": "failing", "kind": "openai", "base_url": sim, "model": "m",
                   "api_key": "sk-judge.outage3", "concurrency": 1}),
    )
    .await;
    let version = api
        .create_version("q100", &sim, "app-chat.q100.outage", "chat", "blocking")
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": ten_cases().to_string()}),
    )
    .await;
    let (_, last, results) = run(
        &api,
        json!({"version_ids": [version], "concurrency": 10,
               "judge": {"judge_id": judge, "weight": 1.0}}),
    )
    .await;
    assert_eq!(results.len(), 10, "every test is stored");
    assert_eq!(last["completed_tests"], 10);
    assert_eq!(
        last["failed_tests"], 0,
        "a judge error is not a Dify failure"
    );
    assert_eq!(last["judge"]["judged"], 3, "{last}");
    assert_eq!(last["judge"]["errors"], 7, "{last}");
    let errored: Vec<&Value> = results
        .iter()
        .filter(|r| r["detail"]["judge"]["error"].is_string())
        .collect();
    assert_eq!(errored.len(), 7);
    for r in errored {
        assert!(r["score"].is_number(), "keeps its other scores: {r}");
        assert_ne!(r["status"], "error", "{r}");
        let e = r["detail"]["judge"]["error"].as_str().unwrap();
        assert!(e.contains("the judge call failed"), "{e}");
    }
    // Errors are not cached: once the judge is back (a new key), they are judged.
    let queue = api
        .ok("review_queue", json!({"batch_id": last["batch_id"]}))
        .await;
    assert!(
        queue
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["reasons"]
                .as_array()
                .unwrap()
                .contains(&json!("judge_error")))
            .count()
            == 7,
        "judge errors are in the review queue: {queue}"
    );
}

/// Every reply shape the judge may take: strict JSON, fenced JSON and "Score: 4/5" text are
/// judgements; prose without a score is a judge error naming what was wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reply_shape_is_read_or_refused_by_name() {
    let (dir, url) = sqlite_url();
    let sim = simulator(1, FaultProfile::None).await;
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    for (token, ok) in [
        ("", true),
        (".fenced", true),
        (".text", true),
        (".malformed", false),
    ] {
        let id = add_judge(
            &api,
            json!({"name": format!("shape{token}"), "kind": "openai", "base_url": sim,
                       "model": "m", "api_key": format!("sk-judge{token}")}),
        )
        .await;
        let probe = api.ok("test_judge", json!({"id": id})).await;
        assert_eq!(probe["ok"], ok, "{token}: {probe}");
        if !ok {
            let m = probe["message"].as_str().unwrap();
            assert!(
                m.contains("not a judgement") && m.contains("no score"),
                "{m}"
            );
        }
    }
    // The outbound policy holds for judges as for Dify: a metadata address is never called.
    let id = add_judge(
        &api,
        json!({"name": "metadata", "kind": "openai", "base_url": "http://169.254.169.254/v1",
               "model": "m", "api_key": "sk-judge"}),
    )
    .await;
    let probe = api.ok("test_judge", json!({"id": id})).await;
    assert_eq!(probe["ok"], false, "{probe}");
    assert!(
        probe["message"]
            .as_str()
            .unwrap()
            .contains("target_refused"),
        "{probe}"
    );
    // A Dify app as the judge: the simulator's `judge` app grades from its inputs.
    let id = add_judge(
        &api,
        json!({"name": "dify judge", "kind": "dify_app", "base_url": sim,
                   "app_mode": "workflow", "api_key": "app-workflow.q100.judge"}),
    )
    .await;
    let probe = api.ok("test_judge", json!({"id": id})).await;
    assert_eq!(probe["ok"], true, "{probe}");
    let embed = add_judge(
        &api,
        json!({"name": "embed", "kind": "embeddings", "base_url": sim, "model": "e",
                   "api_key": "sk-judge"}),
    )
    .await;
    let probe = api.ok("test_judge", json!({"id": embed})).await;
    assert_eq!(probe["ok"], true, "{probe}");
    assert!(
        probe["message"]
            .as_str()
            .unwrap()
            .contains("256-dimensional"),
        "{probe}"
    );
}

/// `dify-bench run` with a `[judge]` section: in-process, the judge alone decides (the paraphrase
/// passes, the negation fails, so 50% and exit 1 under a 60% gate); with `--server`, the server's
/// judge of that name is created once and then reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ci_run_grades_with_the_judge_of_its_config() {
    let sim = simulator(2, FaultProfile::None).await;
    let dir = tempfile::tempdir().unwrap();
    let cases = json!([
        {"name": "paraphrase", "query": QUESTION, "expected_answer": EXPECTED,
         "keywords": ["4.5 Gbps", "per data lane"], "inputs": {"sim_answer": PARAPHRASE}},
        {"name": "negation", "query": QUESTION, "expected_answer": EXPECTED,
         "keywords": ["4.5 Gbps", "per data lane"], "inputs": {"sim_answer": NEGATION}},
    ]);
    std::fs::write(dir.path().join("cases.json"), cases.to_string()).unwrap();
    let config = dir.path().join("ci.toml");
    std::fs::write(
        &config,
        format!(
            r#"
cases = "cases.json"
min_pass_rate = 60

[scoring]
keyword_weight = 0
similarity_weight = 0

[judge]
name = "ci judge"
base_url = "{sim}"
model = "sim-judge"
api_key = "env:CI_JUDGE_KEY"
rubric = "correctness"
weight = 1

[[versions]]
name = "scripted"
base_url = "{sim}"
api_key = "app-chat.q100.scripted.ci"
app_mode = "chat"
response_mode = "blocking"
"#
        ),
    )
    .unwrap();
    let run = |extra: Vec<String>| {
        let (config, report) = (config.clone(), dir.path().join("report.json"));
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_dify-bench"))
                .arg("run")
                .arg("--config")
                .arg(&config)
                .arg("--json")
                .arg(&report)
                .args(extra)
                .env("CI_JUDGE_KEY", JUDGE_KEY)
                .env_remove("RUST_LOG")
                .output()
                .unwrap();
            let report: Value =
                serde_json::from_str(&std::fs::read_to_string(&report).unwrap_or_default())
                    .unwrap_or(Value::Null);
            (
                out.status.code(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
                report,
            )
        })
    };
    let (code, stderr, report) = run(vec![]).await.unwrap();
    assert_eq!(code, Some(1), "50% < 60%: {stderr}");
    assert!(
        stderr.contains("scripted: mean 50.0, 2 judged (0 from the cache), 0 judge errors"),
        "the summary has the judge's line: {stderr}"
    );
    assert!(!stderr.contains(JUDGE_KEY), "{stderr}");
    let status_of = |name: &str| {
        let case = report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["id"]
            .clone();
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["case_id"] == case)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status_of("paraphrase"), "passed", "{report}");
    assert_eq!(status_of("negation"), "failed", "{report}");

    // On a server: the judge is created there on the first run, reused on the second.
    let (db, url) = sqlite_url();
    let server = Server::start(&url, &db.path().join("server.log"), &[]);
    let remote = |_: ()| {
        vec![
            "--server".to_string(),
            server.base.clone(),
            "--token".to_string(),
            server.token.clone(),
        ]
    };
    let (code, stderr, _) = run(remote(())).await.unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("created judge `ci judge`"), "{stderr}");
    let (code, stderr, _) = run(remote(())).await.unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("created judge"), "reused: {stderr}");
    let judges = server.api().ok("list_judges", json!({})).await;
    assert_eq!(judges.as_array().unwrap().len(), 1, "{judges}");
}

/// The faithfulness rubric reads what Dify retrieved (`retriever_resources`), from a blocking body
/// and from a stream alike; the language rubric fails a Traditional Chinese question answered in
/// the expected answer's words only when the script differs (here it does not: it passes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faithfulness_is_judged_against_what_dify_retrieved() {
    let (dir, url) = sqlite_url();
    let sim = simulator(2, FaultProfile::None).await;
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    let judge = add_judge(
        &api,
        json!({"name": "faithful", "kind": "openai", "base_url": sim, "model": "m",
                   "api_key": "sk-judge"}),
    )
    .await;
    let blocking = api
        .create_version(
            "blocking",
            &sim,
            "app-chat.q100.faith-b",
            "chat",
            "blocking",
        )
        .await;
    let streaming = api
        .create_version(
            "streaming",
            &sim,
            "app-chat.q100.faith-s",
            "chat",
            "streaming",
        )
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": ten_cases().to_string()}),
    )
    .await;
    for rubric in ["faithfulness", "language"] {
        let (_, last, results) = run(
            &api,
            json!({"version_ids": [blocking, streaming], "concurrency": 8,
                   "judge": {"judge_id": judge, "rubric": rubric, "weight": 1.0}}),
        )
        .await;
        assert_eq!(last["judge"]["errors"], 0, "{last}");
        assert_eq!(results.len(), 20);
        for r in &results {
            let j = &r["detail"]["judge"];
            assert_eq!(j["rubric"], rubric, "{r}");
            assert_eq!(j["passed"], true, "{r}");
            if rubric == "faithfulness" {
                assert!(
                    j["reason"].as_str().unwrap().contains("retrieved context"),
                    "judged against the context: {j}"
                );
            }
        }
    }
}
