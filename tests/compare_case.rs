//! Opening a case of a comparison through the real server (`compare_case`): two simulator versions
//! of different quality answer the same cases; a regressed case comes back with both answers,
//! both scores' breakdowns and timings, and a word-level diff whose runs spell each answer — in
//! English and in Chinese; with repeats, every repetition in order. Unknown runs and cases are
//! refused with a message; a viewer may read, an anonymous caller may not.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::{json, Value};
use std::time::Duration;

/// The text of the runs of `diff` whose op is not `skip`: one side's answer.
fn side(diff: &Value, skip: &str) -> String {
    diff["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["op"] != skip)
        .map(|r| r["text"].as_str().unwrap())
        .collect()
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c))
}

#[tokio::test]
async fn an_opened_case_shows_both_answers_and_what_changed_on_sqlite() {
    let (dir, url) = sqlite_url();
    opened_case(&url, dir.path()).await;
}

#[tokio::test]
async fn an_opened_case_shows_both_answers_and_what_changed_on_postgres() {
    let Some(url) = postgres_url("compare_case").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    opened_case(&url, dir.path()).await;
}

async fn opened_case(url: &str, dir: &std::path::Path) {
    let sim = simulator(5, FaultProfile::None).await;
    let server = Server::start(url, &dir.join("server.log"), &[]);
    let api = server.api();
    let good = api
        .create_version("good", &sim, "app-chat.q90.case-good", "chat", "blocking")
        .await;
    let bad = api
        .create_version("bad", &sim, "app-chat.q30.case-bad", "chat", "blocking")
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": knowledge_cases().to_string()}),
    )
    .await;
    let batch = api
        .ok(
            "start_batch",
            json!({"name": "diff", "version_ids": [good, bad], "concurrency": 8}),
        )
        .await
        .as_i64()
        .unwrap();
    api.read_progress(batch, Duration::from_secs(60)).await;
    let view = api
        .ok(
            "compare_runs",
            json!({"base_batch": batch, "base_version": good,
                   "cand_batch": batch, "cand_version": bad}),
        )
        .await;
    let rows = view["rows"].as_array().unwrap();
    let open = |case_id: &Value| {
        let api = api.clone();
        let case_id = case_id.clone();
        async move {
            api.ok(
                "compare_case",
                json!({"base_batch": batch, "base_version": good, "cand_batch": batch,
                       "cand_version": bad, "case_id": case_id}),
            )
            .await
        }
    };

    // A regressed case: passed in A, failed in B, so the answers differ.
    let regressed = rows
        .iter()
        .find(|r| r["class"] == "regressed")
        .expect("the q30 version regresses some case");
    let regressed_case = open(&regressed["case_id"]).await;
    let c = &regressed_case;
    assert_eq!(c["case_id"], regressed["case_id"]);
    assert_eq!(c["a"]["case"]["name"], regressed["name"]);
    assert!(!c["a"]["case"]["expected_answer"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(c["a"]["case"], c["b"]["case"], "one batch, one snapshot");
    let (ra, rb) = (&c["a"]["results"], &c["b"]["results"]);
    assert_eq!(
        (ra.as_array().unwrap().len(), rb.as_array().unwrap().len()),
        (1, 1),
        "one result per side (no repeats): {c}"
    );
    let (ra, rb) = (&ra[0], &rb[0]);
    assert_eq!(
        (ra["status"].as_str(), rb["status"].as_str()),
        (Some("passed"), Some("failed"))
    );
    assert_eq!(ra["version_id"], good);
    assert_eq!(rb["version_id"], bad);
    for r in [ra, rb] {
        assert!(r["score"].is_number(), "{r}");
        assert!(r["latency_ms"].is_number(), "{r}");
        assert!(
            r["detail"]["keyword_score"].is_number(),
            "the score's breakdown: {r}"
        );
        assert!(r["detail"]["keywords_hit"].is_array());
        assert!(r["usage"]["total_tokens"].is_number(), "{r}");
        assert!(r["error_code"].is_null());
    }
    let (answer_a, answer_b) = (
        ra["answer"].as_str().unwrap(),
        rb["answer"].as_str().unwrap(),
    );
    assert_ne!(answer_a, answer_b);
    let diff = &c["diff"];
    assert_eq!(diff["granularity"], "word", "{diff}");
    assert_eq!(side(diff, "insert"), answer_a, "A's runs spell A's answer");
    assert_eq!(side(diff, "delete"), answer_b, "B's runs spell B's answer");
    let ops: Vec<&str> = diff["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["op"].as_str().unwrap())
        .collect();
    assert!(ops.contains(&"equal"), "the answers share text: {diff}");
    assert!(
        ops.contains(&"delete") || ops.contains(&"insert"),
        "and differ: {diff}"
    );

    // Chinese answers are diffed too, one character a token: find a Chinese case whose answers
    // differ, and check that its runs spell both answers.
    let mut chinese = None;
    for row in rows.iter().filter(|r| has_cjk(r["name"].as_str().unwrap())) {
        let c = open(&row["case_id"]).await;
        let (a, b) = (
            c["a"]["results"][0]["answer"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            c["b"]["results"][0]["answer"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        if a != b && has_cjk(&a) {
            chinese = Some((c, a, b));
            break;
        }
    }
    let (c, a, b) = chinese.expect("a Chinese case whose answers differ");
    assert_eq!(c["diff"]["granularity"], "word");
    assert_eq!(side(&c["diff"], "insert"), a);
    assert_eq!(side(&c["diff"], "delete"), b);

    // The same run on both sides: identical answers, one equal run.
    let same = api
        .ok(
            "compare_case",
            json!({"base_batch": batch, "base_version": good, "cand_batch": batch,
                   "cand_version": good, "case_id": regressed["case_id"]}),
        )
        .await;
    assert_eq!(
        same["diff"]["runs"],
        json!([{"op": "equal", "text": answer_a}])
    );

    // With repeats, each side lists every repetition in order; the diff is of the first ones.
    let repeated = api
        .ok(
            "start_batch",
            json!({"name": "diff x3", "version_ids": [good, bad], "concurrency": 8,
                   "repeats": 3}),
        )
        .await
        .as_i64()
        .unwrap();
    api.read_progress(repeated, Duration::from_secs(60)).await;
    let c = api
        .ok(
            "compare_case",
            json!({"base_batch": repeated, "base_version": good, "cand_batch": repeated,
                   "cand_version": bad, "case_id": regressed["case_id"]}),
        )
        .await;
    for side in ["a", "b"] {
        let reps: Vec<u64> = c[side]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["repetition"].as_u64().unwrap())
            .collect();
        assert_eq!(reps, [0, 1, 2], "{side}: every repetition, in order");
    }
    let first = |side: &str| {
        c[side]["results"][0]["answer"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(side(&c["diff"], "insert"), first("a"));
    assert_eq!(side(&c["diff"], "delete"), first("b"));

    // Unknown runs and cases name the problem.
    let ask = |body: Value| {
        let api = api.clone();
        async move { api.call("compare_case", body).await }
    };
    let (s, body) = ask(
        json!({"base_batch": 999, "base_version": good, "cand_batch": batch,
                                "cand_version": bad, "case_id": regressed["case_id"]}),
    )
    .await;
    assert_eq!(
        (s, body["message"].as_str()),
        (404, Some("batch 999 does not exist"))
    );
    let (s, body) = ask(
        json!({"base_batch": batch, "base_version": good, "cand_batch": batch,
                                "cand_version": bad, "case_id": 987654}),
    )
    .await;
    assert_eq!(s, 404, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("case 987654 is in neither run"),
        "{body}"
    );
    let (s, body) = ask(json!({"base_batch": batch, "cand_batch": batch, "case_id": 1})).await;
    assert_eq!(s, 400, "a missing argument: {body}");

    // A viewer may open a case; without credentials, no.
    let args = json!({"base_batch": batch, "base_version": good, "cand_batch": batch,
                      "cand_version": bad, "case_id": regressed["case_id"]});
    let viewer = server
        .api_as("viewer")
        .ok("compare_case", args.clone())
        .await;
    assert_eq!(viewer, regressed_case, "a viewer sees what an admin sees");
    let (s, body) = server.anonymous().call("compare_case", args).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("unauthorized")));
}
