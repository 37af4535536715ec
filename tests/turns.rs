//! Multi-turn cases (issue #12 item 5), against the real binary and the simulator, on SQLite and
//! PostgreSQL: a three-turn chat case carries Dify's `conversation_id` from turn to turn and
//! passes only because the simulator saw turns 1–2 of that conversation (the same recall as one
//! turn fails); a chatflow does the same; an app that forgets its conversations ends the test as
//! an error naming the turn (Dify's 404 "Conversation Not Exists."); a completion app refuses a
//! conversation with `conversation_unsupported` without a call; a conversation with one failing
//! turn fails with the mean of its turns' scores; cases with turns survive a CSV and a JSON
//! export and import; and the simulator's 404 is Dify's exact body.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const CHAT: &str = "app-chat.q90.turns";
const CHATFLOW: &str = "app-advanced-chat.q90.turns";
const FORGETFUL: &str = "app-chat.q90.forget";
const COMPLETION: &str = "app-completion.q90.turns";

const RECALLED: &str =
    "You asked me to remember: the code word is falcon; the launch day is Tuesday.";

fn conversation() -> Value {
    json!({
        "name": "remembers two facts",
        "query": "Remember: the code word is falcon",
        "expected_answer": "Noted. I will remember: the code word is falcon",
        "keywords": ["falcon"],
        "turns": [
            {"query": "Remember: the launch day is Tuesday",
             "expected_answer": "Noted. I will remember: the launch day is Tuesday",
             "keywords": ["Tuesday"]},
            {"query": "Recall what I asked you to remember",
             "expected_answer": RECALLED,
             "keywords": ["falcon", "Tuesday"]}
        ]
    })
}

/// The third turn alone: nothing to recall outside the conversation.
fn recall_alone() -> Value {
    json!({
        "name": "recall without the conversation",
        "query": "Recall what I asked you to remember",
        "expected_answer": RECALLED,
        "keywords": ["falcon", "Tuesday"]
    })
}

/// Both turns score 100, but turn 2 breaks an assertion: the conversation fails all the same.
fn half_right() -> Value {
    json!({
        "name": "one turn fails",
        "query": "Remember: the colour is teal",
        "expected_answer": "Noted. I will remember: the colour is teal",
        "keywords": ["teal"],
        "turns": [
            {"query": "Recall the colour",
             "expected_answer": "You asked me to remember: the colour is teal.",
             "keywords": ["teal"],
             "assertions": [{"type": "contains", "value": "zebra"}]}
        ]
    })
}

fn by_name(report: &Value, name: &str) -> i64 {
    report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("case {name} in {report}"))["id"]
        .as_i64()
        .expect("case id")
}

fn result(report: &Value, version: i64, case: i64) -> &Value {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["version_id"] == version && r["case_id"] == case)
        .unwrap_or_else(|| panic!("no result for version {version}, case {case}"))
}

async fn conversations_run_turn_by_turn(url: &str, dir: &Path) {
    let sim = simulator(2, FaultProfile::None).await;
    let server = Server::start(url, &dir.join("server.log"), &[]);
    let api = server.api();

    // A bad turn is refused by number and field, before anything is stored.
    let mut bad = conversation();
    bad["turns"][1]["query"] = json!("   ");
    let (status, body) = api
        .call(
            "import_cases",
            json!({"format": "json", "content": json!([bad]).to_string()}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"], "item 1: turn 3: `query` is empty",
        "{body}"
    );
    let (status, body) = api
        .call(
            "save_case",
            json!({"query": "q", "turns": [{"query": "r", "assertions": [{"type": "regex", "pattern": "("}]}]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("turn 2: assertion 1: "), "{message}");

    let content = json!([conversation(), recall_alone(), half_right()]).to_string();
    api.ok(
        "import_cases",
        json!({"format": "json", "content": content}),
    )
    .await;

    let chat = api
        .create_version("chat", &sim, CHAT, "chat", "streaming")
        .await;
    let chatflow = api
        .create_version("chatflow", &sim, CHATFLOW, "advanced-chat", "blocking")
        .await;
    let forgetful = api
        .create_version("forgetful", &sim, FORGETFUL, "chat", "streaming")
        .await;
    let completion = api
        .create_version("completion", &sim, COMPLETION, "completion", "blocking")
        .await;
    let batch = api
        .ok(
            "start_batch",
            json!({"version_ids": [chat, chatflow, forgetful, completion], "concurrency": 4}),
        )
        .await
        .as_i64()
        .expect("batch id");
    api.read_progress(batch, Duration::from_secs(60)).await;
    let report = api.ok("batch_results", json!({"id": batch})).await;
    assert_one_result_per_test(&report, 12);
    let (conv, alone, half) = (
        by_name(&report, "remembers two facts"),
        by_name(&report, "recall without the conversation"),
        by_name(&report, "one turn fails"),
    );
    // The snapshot keeps the turns.
    let snapshot = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == conv)
        .unwrap();
    assert_eq!(snapshot["turns"].as_array().map(Vec::len), Some(2));

    for version in [chat, chatflow] {
        let r = result(&report, version, conv);
        assert_eq!(r["status"], "passed", "{r}");
        assert!(r["score"].as_f64().unwrap() > 99.9, "{r}");
        assert_eq!(r["answer"], RECALLED, "{r}");
        let turns = r["turns"].as_array().expect("the turns are stored");
        assert_eq!(turns.len(), 3, "{r}");
        let first = turns[0]["conversation_id"]
            .as_str()
            .expect("a conversation");
        assert!(!first.is_empty());
        for (i, t) in turns.iter().enumerate() {
            assert_eq!(t["turn"], i + 1, "{t}");
            assert_eq!(t["passed"], true, "{t}");
            assert_eq!(
                t["conversation_id"], first,
                "every turn in one conversation: {r}"
            );
        }
        assert_eq!(turns[2]["query"], "Recall what I asked you to remember");
        assert_eq!(r["dify"]["conversation_id"], first);
        // Summed over the turns.
        let latency: i64 = turns
            .iter()
            .map(|t| t["latency_ms"].as_i64().unwrap())
            .sum();
        assert_eq!(r["latency_ms"], latency, "{r}");
        let tokens: i64 = turns
            .iter()
            .map(|t| t["total_tokens"].as_i64().unwrap())
            .sum();
        assert_eq!(r["usage"]["total_tokens"], tokens, "{r}");
        assert!(r["attempts"].as_i64().unwrap() >= 3, "{r}");

        // The same recall outside the conversation has nothing to recall: the third turn
        // passed only because turns 1–2 were seen.
        let r = result(&report, version, alone);
        assert_eq!(r["status"], "failed", "{r}");
        assert!(
            r["answer"]
                .as_str()
                .unwrap()
                .starts_with("I have nothing to recall"),
            "{r}"
        );
        assert!(
            r.get("turns").is_none(),
            "a one-turn result has no turns: {r}"
        );

        // One failing turn fails the conversation; its score is the mean of the turns'.
        let r = result(&report, version, half);
        assert_eq!(r["status"], "failed", "{r}");
        let turns = r["turns"].as_array().unwrap();
        assert_eq!(
            (turns[0]["passed"].as_bool(), turns[1]["passed"].as_bool()),
            (Some(true), Some(false))
        );
        let mean =
            (turns[0]["score"].as_f64().unwrap() + turns[1]["score"].as_f64().unwrap()) / 2.0;
        assert!((r["score"].as_f64().unwrap() - mean).abs() < 1e-9, "{r}");
        // Well above the pass threshold: the failing turn alone fails it.
        assert!(r["score"].as_f64().unwrap() > 99.9, "{r}");
        let failed = &r["detail"]["assertions"][0];
        assert_eq!(failed["passed"], false, "the last turn's detail: {r}");
    }

    // An app that forgot the conversation: Dify's 404 on turn 2 ends the test, naming the turn.
    let r = result(&report, forgetful, conv);
    assert_eq!(r["status"], "error", "{r}");
    assert_eq!(r["error_code"], "not_found", "{r}");
    assert_eq!(
        r["error_message"], "turn 2 of 3: Conversation Not Exists.",
        "{r}"
    );
    let turns = r["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2, "{r}");
    assert_eq!(turns[0]["passed"], true);
    assert!(turns[1]["error"]
        .as_str()
        .unwrap()
        .contains("Conversation Not Exists."));
    assert!(result(&report, forgetful, alone)["status"] == "failed");

    // A completion app has no conversations: refused without a call; one-turn cases still run.
    let r = result(&report, completion, conv);
    assert_eq!(r["status"], "error", "{r}");
    assert_eq!(r["error_code"], "conversation_unsupported", "{r}");
    assert_eq!(r["attempts"], 0, "{r}");
    assert!(r["error_message"]
        .as_str()
        .unwrap()
        .contains("a completion app has no conversations"));
    assert_ne!(result(&report, completion, alone)["status"], "error");

    // The cell detail carries the turns too.
    let one = api
        .ok(
            "batch_result",
            json!({"id": batch, "version_id": chat, "case_id": conv}),
        )
        .await;
    assert_eq!(one["turns"].as_array().map(Vec::len), Some(3));

    // A judge grades the conversation once, on its last turn, reading the turns before it.
    let judge = api
        .ok(
            "save_judge",
            json!({"name": "sim judge", "kind": "openai", "base_url": sim,
                   "model": "sim-judge", "api_key": "sk-judge.turns-0000-4242"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let before = sim_stats(&sim).await["chat_completions"].as_u64().unwrap();
    let judged = api
        .ok(
            "start_batch",
            json!({"version_ids": [chat], "case_ids": [conv],
                   "judge": {"judge_id": judge, "rubric": "correctness", "weight": 1.0}}),
        )
        .await
        .as_i64()
        .unwrap();
    api.read_progress(judged, Duration::from_secs(60)).await;
    let calls = sim_stats(&sim).await["chat_completions"].as_u64().unwrap() - before;
    assert_eq!(calls, 1, "one judge call per conversation");
    let r = api
        .ok(
            "batch_result",
            json!({"id": judged, "version_id": chat, "case_id": conv}),
        )
        .await;
    assert!(r["detail"]["judge"]["score"].is_number(), "{r}");
    assert_eq!(r["turns"].as_array().map(Vec::len), Some(3), "{r}");

    // Export and import keep the turns, in CSV (a `turn` column) and JSON.
    let listed = api.ok("list_cases", json!({})).await;
    let original: Vec<Value> = listed.as_array().unwrap().clone();
    for format in ["csv", "json"] {
        let text = api.ok("export_cases", json!({"format": format})).await;
        let text = text.as_str().expect("text").to_string();
        if format == "csv" {
            assert!(text.lines().next().unwrap().ends_with(",turn"), "{text}");
            assert!(text.lines().any(|l| l.ends_with(",3")), "{text}");
        }
        let preview = api
            .ok(
                "import_cases",
                json!({"format": format, "content": text, "dry_run": true}),
            )
            .await;
        let back = preview["cases"].as_array().unwrap();
        assert_eq!(back.len(), original.len());
        for (a, b) in original.iter().zip(back) {
            assert_eq!(a["query"], b["query"], "{format}");
            let turns = |c: &Value| {
                let mut turns = c.get("turns").cloned().unwrap_or(json!([]));
                // A CSV carries no assertions, for turns as for cases.
                for t in turns
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .filter(|_| format == "csv")
                {
                    t["assertions"] = json!([]);
                }
                turns
            };
            assert_eq!(turns(a), turns(b), "{format}: {a} vs {b}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_on_sqlite() {
    let (dir, url) = sqlite_url();
    conversations_run_turn_by_turn(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_on_postgres() {
    let Some(url) = postgres_url("turns").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    conversations_run_turn_by_turn(&url, dir.path()).await;
}

/// The simulator answers an unknown conversation, and another user's, with Dify's exact 404.
#[tokio::test]
async fn the_simulator_knows_only_its_own_conversations() {
    let sim = simulator(1, FaultProfile::None).await;
    let http = reqwest::Client::new();
    let send = |key: &'static str, user: &'static str, query: &'static str, id: String| {
        let http = http.clone();
        let url = format!("{sim}/chat-messages");
        async move {
            let res = http
                .post(url)
                .bearer_auth(key)
                .json(&json!({"inputs": {}, "query": query, "user": user,
                              "response_mode": "blocking", "conversation_id": id}))
                .send()
                .await
                .expect("the simulator answers");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.expect("JSON"))
        }
    };
    let not_found =
        json!({"code": "not_found", "message": "Conversation Not Exists.", "status": 404});
    let (status, body) = send(
        CHAT,
        "u",
        "Recall",
        "8f2b3c1e-1111-4222-8333-944455556666".into(),
    )
    .await;
    assert_eq!((status, &body), (404, &not_found));

    let (status, body) = send(CHAT, "u", "Remember: the tide is high", String::new()).await;
    assert_eq!(status, 200, "{body}");
    let id = body["conversation_id"].as_str().unwrap().to_string();
    let (status, body) = send(CHAT, "u", "Recall", id.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["answer"],
        "You asked me to remember: the tide is high."
    );
    assert_eq!(body["conversation_id"], id);
    // Another user, or another app, does not have it.
    assert_eq!(
        send(CHAT, "someone-else", "Recall", id.clone()).await,
        (404, not_found.clone())
    );
    assert_eq!(
        send("app-chat.q50", "u", "Recall", id).await,
        (404, not_found.clone())
    );
    // A forgetful app answers, but keeps nothing.
    let (_, body) = send(FORGETFUL, "u", "Remember: x", String::new()).await;
    let id = body["conversation_id"].as_str().unwrap().to_string();
    assert_eq!(send(FORGETFUL, "u", "Recall", id).await, (404, not_found));
}
