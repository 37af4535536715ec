//! Pinned workflow versions and "what exactly was tested" (issue #12), against the real binary
//! and the simulator: two versions of one app and key pinned to different published workflow
//! versions run side by side and reach their own endpoint (asserted on what the simulator
//! received); a chatflow's pin travels in the body; a plan that forbids pinning (403
//! `workflow_version_execution_not_allowed`) and an unknown id (404) are refusals, stored on
//! each test with a message naming the pin; each batch records every version's app (`/info`,
//! `/parameters`, the workflow id its answers named) and shows it; an app republished between
//! two batches is warned about on the next batch and on the compare page. Keys never show.

mod common;

use common::*;
use dify_bench::server::simulator::apps::workflow_id;
use dify_bench::server::simulator::FaultProfile;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const W: &str = "app-workflow.q90.pin-w";
const CHATFLOW: &str = "app-advanced-chat.q90.pin-c";
const SANDBOX: &str = "app-workflow.q90.nopin";
const LOST: &str = "app-workflow.q90.pin-lost";
/// A Dify release before `GET /info`: its identity is partly unknown, its batch runs all the same.
const OLD_DIFY: &str = "app-chat.q90.noinfo";
/// A UUID no simulated app ever published.
const NEVER_PUBLISHED: &str = "00000000-0000-4000-8000-000000000000";

async fn save_pinned(api: &Api, name: &str, sim: &str, key: &str, mode: &str, pin: &str) -> i64 {
    api.ok(
        "save_version",
        json!({"name": name, "base_url": sim, "api_key": key, "app_mode": mode,
               "response_mode": "streaming", "workflow_id": pin}),
    )
    .await["id"]
        .as_i64()
        .expect("version id")
}

/// What the simulator's app behind `key` received: (path, body's workflow_id).
async fn received(sim: &str, key: &str) -> Vec<(String, Option<String>)> {
    let body: Value = reqwest::Client::new()
        .get(format!("{sim}/sim/requests"))
        .bearer_auth(key)
        .send()
        .await
        .expect("the simulator answers")
        .json()
        .await
        .expect("JSON");
    body["requests"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap_or_default().to_string(),
                r["workflow_id"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// `batch_identity` once every version's launch record is in (it is written beside the batch).
async fn identities(api: &Api, batch: i64, recorded: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = api.ok("batch_identity", json!({"id": batch})).await;
        let list = list.as_array().expect("a list").clone();
        let done = list
            .iter()
            .filter(|v| v["identity"]["recorded_at"].as_i64().unwrap_or(0) > 0)
            .count();
        if done >= recorded {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "identities not recorded: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn of(list: &[Value], version: i64) -> &Value {
    list.iter()
        .find(|v| v["version_id"] == version)
        .expect("the version is listed")
}

async fn run(api: &Api, versions: &[i64]) -> i64 {
    let id = api
        .ok(
            "start_batch",
            json!({"version_ids": versions, "concurrency": 8}),
        )
        .await
        .as_i64()
        .expect("batch id");
    api.read_progress(id, Duration::from_secs(60)).await;
    id
}

async fn pinned_versions_run_side_by_side(url: &str, dir: &Path) {
    let sim = simulator(2, FaultProfile::None).await;
    let server = Server::start(url, &dir.join("server.log"), &[]);
    let api = server.api();
    let (v12_pin, v13_pin) = (workflow_id(W, 0), workflow_id(W, 1));
    let chatflow_pin = workflow_id(CHATFLOW, 0);

    // Bad pins are refused by name, before anything is saved.
    for (mode, pin, expected) in [
        ("workflow", "latest", "is not a Dify workflow id"),
        ("workflow", "../../admin", "is not a Dify workflow id"),
        ("chat", v12_pin.as_str(), "only workflow and chatflow apps"),
    ] {
        let (status, body) = api
            .call(
                "save_version",
                json!({"name": "bad", "base_url": sim, "api_key": W, "app_mode": mode,
                       "workflow_id": pin}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("workflow_id: ") && message.contains(expected),
            "{message}"
        );
    }
    assert_eq!(api.ok("list_versions", json!({})).await, json!([]));

    let v12 = save_pinned(&api, "v12", &sim, W, "workflow", &v12_pin.to_uppercase()).await;
    let v13 = save_pinned(&api, "v13", &sim, W, "workflow", &v13_pin).await;
    let chatflow = save_pinned(
        &api,
        "chatflow",
        &sim,
        CHATFLOW,
        "advanced-chat",
        &chatflow_pin,
    )
    .await;
    let sandbox = save_pinned(
        &api,
        "sandbox",
        &sim,
        SANDBOX,
        "workflow",
        &workflow_id(SANDBOX, 0),
    )
    .await;
    let lost = save_pinned(&api, "lost", &sim, LOST, "workflow", NEVER_PUBLISHED).await;
    let old = api
        .create_version("old dify", &sim, OLD_DIFY, "chat", "blocking")
        .await;
    let listed = api.ok("list_versions", json!({})).await;
    // Stored in Dify's lower case, shown without the key.
    assert_eq!(listed[0]["workflow_id"], v12_pin);
    api.ok(
        "import_cases",
        json!({"format": "json", "content": ten_cases().to_string()}),
    )
    .await;
    let batch = run(&api, &[v12, v13, chatflow, sandbox, lost, old]).await;

    // Both pins of the one key reached their own version's endpoint, ten calls each.
    let w_calls = received(&sim, W).await;
    assert_eq!(w_calls.len(), 20, "{w_calls:?}");
    for pin in [&v12_pin, &v13_pin] {
        let path = format!("/v1/workflows/{pin}/run");
        let n = w_calls
            .iter()
            .filter(|(p, body)| *p == path && body.is_none())
            .count();
        assert_eq!(n, 10, "{path}: {w_calls:?}");
    }
    // The chatflow's pin travels in the body of /chat-messages.
    let c_calls = received(&sim, CHATFLOW).await;
    assert_eq!(c_calls.len(), 10);
    assert!(c_calls.iter().all(
        |(p, body)| p == "/v1/chat-messages" && body.as_deref() == Some(chatflow_pin.as_str())
    ));

    let report = api.ok("batch_results", json!({"id": batch})).await;
    let results = report["results"].as_array().expect("results");
    let of_version = |v: i64| results.iter().filter(move |r| r["version_id"] == v);
    for v in [v12, v13, chatflow, old] {
        assert!(
            of_version(v).all(|r| r["status"] != "error"),
            "version {v} answered every case"
        );
    }
    // Refusals: stored on each test with Dify's code and a message naming the pin; one attempt.
    for (v, code, status, words) in [
        (
            sandbox,
            "workflow_version_execution_not_allowed",
            403,
            "Dify does not allow running a pinned workflow version on this plan",
        ),
        (
            lost,
            "not_found",
            404,
            "has no published workflow version with that id",
        ),
    ] {
        let mine: Vec<&Value> = of_version(v).collect();
        assert_eq!(mine.len(), 10);
        for r in mine {
            assert_eq!(r["status"], "error", "{r}");
            assert_eq!(r["error_code"], code, "{r}");
            assert_eq!(r["attempts"], 1, "refusals are not retried: {r}");
            let message = r["error_message"].as_str().unwrap_or_default();
            assert!(
                message.starts_with("the pinned workflow version ")
                    && message.contains("cannot be run")
                    && message.contains(words),
                "HTTP {status}: {message}"
            );
        }
    }
    let pinned_sandbox = workflow_id(SANDBOX, 0);
    let sandbox_message = of_version(sandbox).next().unwrap()["error_message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        sandbox_message.contains(&pinned_sandbox),
        "{sandbox_message}"
    );
    assert!(
        sandbox_message.contains("Upgrade to a paid plan"),
        "{sandbox_message}"
    );

    // What exactly was tested: every version's app, pin and the version that answered.
    let list = identities(&api, batch, 6).await;
    assert_eq!(
        list.iter()
            .map(|v| v["version_id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [v12, v13, chatflow, sandbox, lost, old],
        "in the batch's order"
    );
    for (v, pin) in [(v12, &v12_pin), (v13, &v13_pin), (chatflow, &chatflow_pin)] {
        let id = &of(&list, v)["identity"];
        assert_eq!(id["pinned_workflow_id"], pin.as_str(), "{id}");
        assert_eq!(
            id["seen_workflow_id"],
            pin.as_str(),
            "the events named the pin: {id}"
        );
        assert!(
            id["info_error"].is_null() && id["form_error"].is_null(),
            "{id}"
        );
        assert!(id["form_fingerprint"]
            .as_str()
            .is_some_and(|f| f.starts_with("sha256:")));
        assert_eq!(of(&list, v)["changes"], json!([]));
    }
    let w = &of(&list, v12)["identity"];
    assert_eq!(w["name"], "Demo workflow app (quality 90)");
    assert_eq!(w["mode"], "workflow");
    assert_eq!(w["author_name"], "dify-bench");
    let kinds: Vec<&str> = w["form"]
        .as_array()
        .expect("the form is kept")
        .iter()
        .filter_map(|f| f.as_object()?.keys().next().map(String::as_str))
        .collect();
    assert_eq!(
        kinds,
        ["text-input", "paragraph", "select", "number", "file"]
    );
    assert_eq!(of(&list, chatflow)["identity"]["mode"], "advanced-chat");
    // No answer, no workflow seen; the pin is still named.
    let refused = &of(&list, lost)["identity"];
    assert_eq!(refused["pinned_workflow_id"], NEVER_PUBLISHED);
    assert!(refused["seen_workflow_id"].is_null());
    // Without /info: unknown, and why; /parameters still fingerprints the form.
    let partial = &of(&list, old)["identity"];
    assert!(
        partial["name"].is_null() && partial["mode"].is_null(),
        "{partial}"
    );
    let why = partial["info_error"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("GET /info failed: not_found") && why.contains("(HTTP 404)"),
        "{why}"
    );
    assert!(partial["form_fingerprint"].is_string());

    // The batch page shows it; no key appears in the API answer or the page.
    let page = bearer_client(&server.token)
        .get(format!("{}/batches/{batch}", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-testid=\"what-was-tested\""),
        "the section is rendered"
    );
    assert!(page.contains(&v13_pin) && page.contains("Demo workflow app (quality 90)"));
    assert!(
        page.contains("GET /info failed: not_found"),
        "the reason is shown"
    );
    let api_text = api
        .ok("batch_identity", json!({"id": batch}))
        .await
        .to_string();
    for key in [W, CHATFLOW, SANDBOX, LOST, OLD_DIFY] {
        assert!(
            !page.contains(key) && !api_text.contains(key),
            "{key} leaked"
        );
    }
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    for key in [W, CHATFLOW, SANDBOX, LOST, OLD_DIFY] {
        assert!(!log.contains(key), "{key} in the log");
    }
}

async fn republished_app_is_warned_about(url: &str, dir: &Path) {
    let sim = simulator(2, FaultProfile::None).await;
    let server = Server::start(url, &dir.join("server.log"), &[]);
    let api = server.api();
    let key = "app-workflow.q80.moving";
    let steady_key = "app-chat.q80.steady";
    let v = api
        .create_version("moving", &sim, key, "workflow", "blocking")
        .await;
    let steady = api
        .create_version("steady", &sim, steady_key, "chat", "blocking")
        .await;
    api.ok(
        "import_cases",
        json!({"format": "json", "content": ten_cases().to_string()}),
    )
    .await;
    let first = run(&api, &[v, steady]).await;
    let before = identities(&api, first, 2).await;
    assert_eq!(of(&before, v)["changes"], json!([]));
    assert!(of(&before, v)["previous_batch"].is_null());
    let latest_before = workflow_id(key, 2);
    assert_eq!(
        of(&before, v)["identity"]["seen_workflow_id"],
        latest_before
    );
    // A chatbot has no workflow: nothing is seen, and that is no change.
    assert!(of(&before, steady)["identity"]["seen_workflow_id"].is_null());

    // Someone republishes the app in Dify: a new workflow version and a new input field.
    let published: Value = reqwest::Client::new()
        .post(format!("{sim}/sim/republish"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let latest_after = published["workflow_id"].as_str().unwrap().to_string();
    assert_eq!(latest_after, workflow_id(key, 3));

    let second = run(&api, &[v, steady]).await;
    let after = identities(&api, second, 2).await;
    let moved = of(&after, v);
    assert_eq!(moved["previous_batch"], first);
    let changes = moved["changes"].as_array().expect("changes");
    let kinds: Vec<&str> = changes
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["workflow_id", "input_form"], "{changes:?}");
    assert_eq!(changes[0]["before"], latest_before);
    assert_eq!(changes[0]["after"], latest_after);
    assert!(changes[0]["message"]
        .as_str()
        .unwrap()
        .contains("the app changed underneath this version"));
    assert_eq!(
        of(&after, steady)["changes"],
        json!([]),
        "the other app did not move"
    );

    // The next batch's page warns.
    let page = |id: i64| {
        let http = bearer_client(&server.token);
        let url = format!("{}/batches/{id}", server.base);
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let second_page = page(second).await;
    assert!(second_page.contains("data-testid=\"app-changed\""));
    assert!(second_page.contains("The app changed underneath this version"));
    assert!(second_page.contains(&latest_after));
    assert!(!page(first).await.contains("data-testid=\"app-changed\""));

    // The compare page and API warn too; the unchanged app's comparison does not.
    let view = api
        .ok(
            "compare_runs",
            json!({"base_batch": first, "cand_batch": second, "cand_version": v}),
        )
        .await;
    let kinds: Vec<&str> = view["app_changes"]
        .as_array()
        .expect("app_changes")
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["workflow_id", "input_form"]);
    assert_eq!(view["identity"]["b"]["seen_workflow_id"], latest_after);
    let quiet = api
        .ok(
            "compare_runs",
            json!({"base_batch": first, "cand_batch": second, "cand_version": steady}),
        )
        .await;
    assert_eq!(quiet["app_changes"], json!([]));
    let compare_page = bearer_client(&server.token)
        .get(format!(
            "{}/compare?base={first}:{v}&cand={second}:{v}",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        compare_page.contains("data-testid=\"app-changed\""),
        "the compare page warns"
    );

    // And `dify-bench compare` says it above the verdict.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dify-bench"))
        .args(["compare", &format!("{first}:{v}"), &format!("{second}:{v}")])
        .args(["--database-url", url])
        .output()
        .expect("run dify-bench compare");
    let printed = String::from_utf8_lossy(&out.stdout);
    let warning = printed
        .lines()
        .find(|l| l.starts_with("warning: the app changed underneath this version"))
        .unwrap_or_else(|| panic!("no warning in:\n{printed}"));
    assert!(
        warning.contains(&format!(
            "its workflow version was {latest_before}, now {latest_after}"
        )),
        "{warning}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_versions_on_sqlite() {
    let (dir, url) = sqlite_url();
    pinned_versions_run_side_by_side(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_versions_on_postgres() {
    let Some(url) = postgres_url("pinned").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    pinned_versions_run_side_by_side(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_changed_on_sqlite() {
    let (dir, url) = sqlite_url();
    republished_app_is_warned_about(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_changed_on_postgres() {
    let Some(url) = postgres_url("app_changed").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    republished_app_is_warned_about(&url, dir.path()).await;
}
