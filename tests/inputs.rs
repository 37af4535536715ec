//! Inputs from the app (issue #12 items 6 and 7), black-box against the real binary and the
//! simulator: a version's input form read from its app (`version_input_form`, editors only, no
//! key in the answer); a case saved with typed inputs checked against that form, and refused
//! with Dify's message when they do not fit; Dify's Run Batch CSV imported (errors naming row
//! and column) and exported back to the same cases; a batch whose cases leave out a required
//! input warned about on its identity record (`missing_inputs`) and its page; and the
//! simulator's `strictform` apps refusing such calls with Dify's 400 `invalid_param`.

mod common;

use common::*;
use dify_bench::server::simulator::FaultProfile;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// A chat app whose form requires a `region` select (`eu`, `us`, `apac`).
const STRICT: &str = "app-chat.q90.strictform.inputs-test";
/// A workflow app with the same form, plus its `query` input.
const STRICT_WF: &str = "app-workflow.q90.strictform.inputs-wf";

#[tokio::test]
async fn inputs_from_the_app_on_sqlite() {
    let (dir, url) = sqlite_url();
    inputs_from_the_app(&url, dir.path()).await;
}

#[tokio::test]
async fn inputs_from_the_app_on_postgres() {
    let Some(url) = postgres_url("inputs_from_the_app").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    inputs_from_the_app(&url, dir.path()).await;
}

fn field<'a>(form: &'a Value, variable: &str) -> &'a Value {
    form["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["variable"] == variable)
        .unwrap_or_else(|| panic!("no field {variable} in {form}"))
}

async fn inputs_from_the_app(url: &str, dir: &Path) {
    let sim = simulator(2, FaultProfile::None).await;
    let server = Server::start(url, &dir.join("server.log"), &[]);
    let api = server.api();
    let chat = api
        .create_version("strict chat", &sim, STRICT, "chat", "blocking")
        .await;
    let wf = api
        .create_version("strict workflow", &sim, STRICT_WF, "workflow", "blocking")
        .await;

    // The form, typed, read with the stored key; editors may, viewers may not.
    let form = api
        .ok("version_input_form", json!({"version_id": chat}))
        .await;
    assert_eq!(form["version_id"], chat);
    assert_eq!(form["app_mode"], "chat");
    let region = field(&form, "region");
    assert_eq!(region["type"], "select");
    assert_eq!(region["required"], true);
    assert_eq!(region["label"], "Region");
    assert_eq!(region["options"], json!(["eu", "us", "apac"]));
    assert_eq!(field(&form, "max_words")["type"], "number");
    assert_eq!(field(&form, "attachment")["type"], "file");
    assert_eq!(field(&form, "context")["type"], "paragraph");
    assert!(!form.to_string().contains(STRICT), "no key in the answer");
    let wf_form = api
        .ok("version_input_form", json!({"version_id": wf}))
        .await;
    assert_eq!(field(&wf_form, "query")["max_length"], 4000);
    let (status, _) = server
        .api_as("viewer")
        .call("version_input_form", json!({"version_id": chat}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = server
        .api_as("editor")
        .call("version_input_form", json!({"version_id": chat}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .call("version_input_form", json!({"version_id": 999}))
        .await;
    assert_eq!(status, 404, "{body}");

    // A case with typed inputs, checked against the form.
    let typed = json!({"region": "eu", "max_words": 120,
        "attachment": {"type": "document", "transfer_method": "remote_url",
                       "url": "https://example.com/spec.pdf"}});
    let saved = api
        .ok(
            "save_case",
            json!({"query": "What is USB4?", "inputs": typed, "form_version": chat}),
        )
        .await;
    assert_eq!(saved["inputs"], typed);
    let listed = api.ok("list_cases", json!({})).await;
    assert_eq!(listed[0]["inputs"]["max_words"], 120);
    for (inputs, message) in [
        (json!({}), "region is required in input form"),
        (
            json!({"region": "mars"}),
            "region in input form must be one of the following: ['eu', 'us', 'apac']",
        ),
        (
            json!({"region": "eu", "max_words": "lots"}),
            "max_words in input form must be a valid number",
        ),
        (
            json!({"region": "eu", "attachment": "https://example.com/a.pdf"}),
            "attachment in input form must be a file",
        ),
    ] {
        let (status, body) = api
            .call(
                "save_case",
                json!({"query": "Q?", "inputs": inputs, "form_version": chat}),
            )
            .await;
        assert_eq!(status, 400, "{inputs}: {body}");
        let text = body["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{inputs}: {text}");
        assert!(
            text.contains(&format!("version {chat}'s input form")),
            "{text}"
        );
    }
    // Without `form_version` nothing changes: the same case saves as before.
    let no_form = api
        .ok("save_case", json!({"query": "No form", "inputs": {}}))
        .await;
    assert_eq!(
        api.ok("list_cases", json!({}))
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Run Batch CSV: refused whole with row and column named, then imported.
    let (status, body) = api
        .call(
            "import_cases",
            json!({"format": "run_batch", "version_id": chat,
                   "content": "query,Region,Colour\nq,eu,red\n"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("row 1, column 3 `Colour`: not an input"),
        "{body}"
    );
    let (status, body) = api
        .call(
            "import_cases",
            json!({"format": "run_batch", "version_id": chat,
                   "content": "query,Region\nfine,eu\nbad,mars\n"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("row 3, column `Region`: region in input form must be one of"),
        "{body}"
    );
    let (status, body) = api
        .call(
            "import_cases",
            json!({"format": "run_batch", "content": "query\nq\n"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("needs `version_id`"));
    assert_eq!(
        api.ok("list_cases", json!({}))
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let csv = "\u{feff}query,Region,Maximum words,Attachment\n\
               Which Wi-Fi has 320 MHz channels?,us,80,https://example.com/wifi.pdf\n\
               \"PCIe 5, lanes?\",apac,,\n";
    let report = api
        .ok(
            "import_cases",
            json!({"format": "run_batch", "version_id": chat, "content": csv}),
        )
        .await;
    assert_eq!(report["imported"], 2);
    assert_eq!(report["cases"][0]["inputs"]["max_words"], 80);
    assert_eq!(
        report["cases"][0]["inputs"]["attachment"]["transfer_method"],
        "remote_url"
    );
    assert_eq!(report["cases"][1]["query"], "PCIe 5, lanes?");

    // The export in the same layout reads back as the same cases (here as a dry run).
    let exported = api
        .ok(
            "export_cases",
            json!({"format": "run_batch", "version_id": chat}),
        )
        .await;
    let exported = exported.as_str().unwrap();
    assert!(
        exported.starts_with(
            "\u{feff}query,Extra context,Answer language,Maximum words,Attachment,Region"
        ),
        "{exported}"
    );
    assert!(exported.contains("https://example.com/wifi.pdf"));
    // Every stored case must fit the form to import back: the one without a region does not.
    let (status, body) = api
        .call(
            "import_cases",
            json!({"format": "run_batch", "version_id": chat, "content": exported,
                   "dry_run": true}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("region is required in input form"),
        "{body}"
    );

    // Launch: the cases without `region` are warned about, not silently sent to a 400.
    let batch = api
        .ok(
            "start_batch",
            json!({"version_ids": [chat, wf], "concurrency": 4}),
        )
        .await
        .as_i64()
        .unwrap();
    api.read_progress(batch, Duration::from_secs(60)).await;
    let ids = identities(&api, batch).await;
    for version in [chat, wf] {
        let record = &ids.iter().find(|v| v["version_id"] == version).unwrap()["identity"];
        assert_eq!(record["missing_inputs_cases"], 1, "{record}");
        let missing = record["missing_inputs"].as_array().unwrap();
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0]["variables"], json!(["region"]));
        assert_eq!(missing[0]["case_id"], no_form["id"]);
    }
    let page = server
        .api()
        .http
        .get(format!("{}/batches/{batch}", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("missing-inputs"),
        "the batch page shows the warning"
    );

    // The simulator's strict apps refuse what Dify refuses.
    let http = reqwest::Client::new();
    for (path, key, body, message) in [
        (
            "chat-messages",
            STRICT,
            json!({"query": "q", "inputs": {}, "user": "u"}),
            "region is required in input form",
        ),
        (
            "workflows/run",
            STRICT_WF,
            json!({"inputs": {"query": "q", "region": "eu", "max_words": "x"}, "user": "u"}),
            "max_words in input form must be a valid number",
        ),
    ] {
        let res = http
            .post(format!("{sim}/{path}"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["code"], "invalid_param");
        assert_eq!(err["message"], message);
    }
    let res = http
        .post(format!("{sim}/chat-messages"))
        .bearer_auth(STRICT)
        .json(&json!({"query": "q", "inputs": {"region": "us"}, "user": "u"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// `batch_identity` once both versions' launch records are in.
async fn identities(api: &Api, batch: i64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = api.ok("batch_identity", json!({"id": batch})).await;
        let list = list.as_array().expect("a list").clone();
        if list
            .iter()
            .all(|v| v["identity"]["recorded_at"].as_i64().unwrap_or(0) > 0)
        {
            return list;
        }
        assert!(Instant::now() < deadline, "not recorded: {list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
