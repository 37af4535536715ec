//! Node traces and retrieval through the real server against the simulator (issue #12 items 3–4):
//! a chatflow's node timeline, an agent's tools and the retrieved chunks are stored with each result
//! and served with it; node, tool and retrieval assertions pass and fail as the trace says, with a
//! message naming why; two versions of a chatflow part ways at the node whose output differs. On
//! SQLite and on PostgreSQL.

mod common;

use common::*;
use dify_bench::model::trace::{
    first_difference, output_preview, NodeDifference, Trace, STORED_OUTPUT_CHARS,
};
use dify_bench::server::simulator::{self, FaultProfile};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_and_their_assertions_on_sqlite() {
    let (dir, url) = sqlite_url();
    traces(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_and_their_assertions_on_postgres() {
    let Some(url) = postgres_url("traces").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    traces(&url, dir.path()).await;
}

/// (passed, message) of each assertion of a result, in the case's order.
fn outcomes(result: &Value) -> Vec<(bool, String)> {
    result["detail"]["assertions"]
        .as_array()
        .expect("assertion outcomes")
        .iter()
        .map(|o| {
            (
                o["passed"].as_bool().unwrap(),
                o["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

async fn traces(url: &str, dir: &std::path::Path) {
    let sim = simulator(5, FaultProfile::None).await;
    let server = Server::start(url, &dir.join("server.log"), &[]);
    let api = server.api();
    let good = api
        .create_version(
            "flow good",
            &sim,
            "app-advanced-chat.q95.ok",
            "advanced-chat",
            "streaming",
        )
        .await;
    let bad = api
        .create_version(
            "flow bad",
            &sim,
            "app-advanced-chat.q20.ok",
            "advanced-chat",
            "streaming",
        )
        .await;
    let agent = api
        .create_version(
            "agent",
            &sim,
            "app-agent-chat.q90.ok",
            "agent-chat",
            "streaming",
        )
        .await;
    let chat = api
        .create_version("chat", &sim, "app-chat.q90.ok", "chat", "blocking")
        .await;

    let e = &simulator::knowledge::entries()[0];
    let handbook = format!("{}-handbook.pdf", e.category);
    let assertions = json!([
        {"type": "node_succeeded", "node": "LLM"},
        {"type": "node_max_latency_ms", "node": "knowledge retrieval", "ms": 60000},
        {"type": "node_output_contains", "node": "1711528770123", "value": e.keywords[0]},
        {"type": "node_succeeded", "node": "Reranker"},
        {"type": "node_max_latency_ms", "node": "LLM", "ms": 1},
        {"type": "node_output_matches", "node": "LLM", "pattern": "^never this$"},
        {"type": "cites_document", "document": handbook},
        {"type": "cites_document", "document": "other.pdf"},
        {"type": "min_chunks", "count": 1},
        {"type": "min_chunks", "count": 2},
        {"type": "min_retrieval_score", "score": 0.5},
        {"type": "min_retrieval_score", "score": 0.99},
        {"type": "tool_called", "tool": "dataset_retrieval"},
        {"type": "tool_called", "tool": "web_search"},
    ]);
    let case = json!([{"name": "traced", "query": e.query, "expected_answer": e.expected_answer,
                       "keywords": e.keywords, "assertions": assertions}]);
    api.ok(
        "import_cases",
        json!({"format": "json", "content": case.to_string()}),
    )
    .await;
    // A bad assertion is refused at import, naming it.
    let (status, body) = api
        .call(
            "import_cases",
            json!({"format": "json", "content": json!([{"name": "x", "query": "q",
                "assertions": [{"type": "min_retrieval_score", "score": 3.0}]}]).to_string()}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string()
            .contains("min_retrieval_score must be between 0 and 1"),
        "{body}"
    );

    let batch = api
        .ok(
            "start_batch",
            json!({"name": "traces", "version_ids": [good, bad, agent, chat], "concurrency": 4}),
        )
        .await
        .as_i64()
        .unwrap();
    let (events, _) = api.read_progress(batch, Duration::from_secs(60)).await;
    assert_eq!(events.last().unwrap().1["status"], "completed");
    let report = api.ok("batch_results", json!({"id": batch})).await;
    let case_id = report["cases"][0]["id"].as_i64().unwrap();
    let result = |v: i64| {
        let api = api.clone();
        async move {
            api.ok(
                "batch_result",
                json!({"id": batch, "version_id": v, "case_id": case_id}),
            )
            .await
        }
    };

    // The chatflow: its four nodes in order, each finished, timed after the send, its output a
    // bounded preview with the whole output's hash; the retrieval with document and score.
    let flow = result(good).await;
    let trace: Trace = serde_json::from_value(flow["trace"].clone()).expect("a stored trace");
    let titles: Vec<&str> = trace.nodes.iter().map(|n| n.title.as_str()).collect();
    assert_eq!(titles, ["Start", "Knowledge Retrieval", "LLM", "Answer"]);
    assert!(trace.nodes.iter().all(|n| n.status == "succeeded"));
    let starts: Vec<i64> = trace.nodes.iter().map(|n| n.start_ms.unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    let llm = &trace.nodes[2];
    assert_eq!(
        (llm.kind.as_str(), llm.id.as_str()),
        ("llm", "1711528770123")
    );
    assert!(llm.output.as_ref().unwrap().chars().count() <= STORED_OUTPUT_CHARS);
    assert!(llm.output_hash.is_some() && llm.elapsed_ms.is_some() && llm.tokens.is_some());
    // The LLM and Answer nodes' output is the answer (stored once, served as its preview).
    let preview = output_preview(flow["answer"].as_str().unwrap());
    for n in &trace.nodes[2..] {
        assert_eq!(
            (n.output.clone().unwrap(), n.output_cut),
            preview,
            "{}",
            n.title
        );
    }
    assert_eq!(trace.retrieval.len(), 1);
    assert_eq!(trace.retrieval[0].document, handbook);
    let score = trace.retrieval[0].score.unwrap();
    assert!(score > 0.85 && score <= 1.0, "{score}");
    assert!(trace.tools.is_empty());

    let got = outcomes(&flow);
    let expected = [
        (true, ""),
        (true, ""),
        (true, ""),
        (false, "node `Reranker` did not run"),
        (false, "node `LLM` took"),
        (
            false,
            "node `LLM`'s output does not match regex `^never this$`",
        ),
        (true, ""),
        (false, "no retrieved chunk cites `other.pdf` (cited: "),
        (true, ""),
        (false, "1 chunks retrieved, fewer than 2"),
        (true, ""),
        (false, "is below 0.99"),
        (
            false,
            "tool `dataset_retrieval` was not called (no tool was)",
        ),
        (false, "tool `web_search` was not called (no tool was)"),
    ];
    assert_eq!(got.len(), expected.len());
    for (i, ((passed, message), (want, part))) in got.iter().zip(expected).enumerate() {
        assert_eq!(*passed, want, "assertion {}: {message}", i + 1);
        assert!(message.contains(part), "assertion {}: {message:?}", i + 1);
    }
    assert_eq!(
        flow["status"], "failed",
        "a broken assertion fails the test"
    );

    // The agent: its tool was called; it runs no workflow nodes.
    let a = result(agent).await;
    let got = outcomes(&a);
    assert_eq!(got[12], (true, String::new()));
    assert_eq!(
        got[13].1,
        "tool `web_search` was not called (called: dataset_retrieval)"
    );
    assert_eq!(
        got[0].1,
        "node `LLM` did not run (the app reported no node events)"
    );
    assert_eq!(a["trace"]["tools"], json!(["dataset_retrieval"]));

    // A blocking chat app: no nodes, but the chunks its answer cites.
    let c = result(chat).await;
    assert_eq!(c["trace"]["retrieval"][0]["document"], handbook);
    assert!(c["trace"].get("nodes").is_none());
    assert_eq!(outcomes(&c)[6], (true, String::new()));

    // Two versions of the flow: the simulator's retrieval scores follow a version's quality, so
    // the runs part ways at the retrieval node, before the answers do; a run against itself
    // differs nowhere.
    let worse: Trace = serde_json::from_value(result(bad).await["trace"].clone()).unwrap();
    let (node, why) = first_difference(&trace, &worse).expect("the runs differ");
    assert_eq!(
        (node.title.as_str(), why),
        ("Knowledge Retrieval", NodeDifference::Output)
    );
    assert_eq!(first_difference(&trace, &trace), None);
    // The compare API serves both sides' traces for the page to name that node.
    let opened = api
        .ok(
            "compare_case",
            json!({"base_batch": batch, "base_version": good, "cand_batch": batch,
                   "cand_version": bad, "case_id": case_id}),
        )
        .await;
    assert_eq!(opened["a"]["results"][0]["trace"], flow["trace"]);
    assert!(opened["b"]["results"][0]["trace"]["nodes"].is_array());
}

/// The simulator's `nodes<N>` token: a flow of ten nodes is traced whole, in order; `nodes0`
/// reports none and still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_node_flow_is_traced_whole() {
    let sim = simulator(2, FaultProfile::None).await;
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let api = server.api();
    let ten = api
        .create_version(
            "ten",
            &sim,
            "app-workflow.q90.nodes10",
            "workflow",
            "streaming",
        )
        .await;
    let none = api
        .create_version(
            "none",
            &sim,
            "app-workflow.q90.nodes0",
            "workflow",
            "streaming",
        )
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": kb_cases(1)}),
    )
    .await;
    let batch = api
        .ok(
            "start_batch",
            json!({"name": "nodes", "version_ids": [ten, none], "concurrency": 2}),
        )
        .await
        .as_i64()
        .unwrap();
    api.read_progress(batch, Duration::from_secs(60)).await;
    let report = api.ok("batch_results", json!({"id": batch})).await;
    let results = report["results"].as_array().unwrap();
    let of = |v: i64| results.iter().find(|r| r["version_id"] == v).unwrap();
    let trace: Trace = serde_json::from_value(of(ten)["trace"].clone()).unwrap();
    let titles: Vec<&str> = trace.nodes.iter().map(|n| n.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Start",
            "Knowledge Retrieval",
            "Preprocess 1",
            "Preprocess 2",
            "Preprocess 3",
            "Preprocess 4",
            "Preprocess 5",
            "Preprocess 6",
            "LLM",
            "End"
        ]
    );
    assert!(of(none)["trace"].is_null(), "{}", of(none)["trace"]);
    assert!(of(none)["answer"].as_str().is_some_and(|a| !a.is_empty()));

    // The LLM and End nodes' output is the answer: served as its preview, stored once (a marker
    // in the stored trace instead of a second copy).
    let answer = of(ten)["answer"].as_str().unwrap().to_string();
    let preview = output_preview(&answer);
    for n in &trace.nodes[8..] {
        assert_eq!((n.output.clone().unwrap(), n.output_cut), preview);
        assert!(!n.output_is_answer);
    }
    use sqlx::Connection;
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (stored,): (String,) =
        sqlx::query_as("SELECT trace FROM results WHERE batch_id = ? AND version_id = ?")
            .bind(batch)
            .bind(ten)
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(stored.matches(r#""oa":true"#).count(), 2, "{stored}");
    assert!(!stored.contains(&preview.0), "{stored}");
}
