//! Recording "what exactly was tested" when a batch launches: per version, its app as Dify
//! describes it (`GET /info`, `GET /parameters`) and the `workflow_id` its first answers name.
//! The fetches run beside the batch, never before it (the first Dify call waits for nothing),
//! with one attempt each; a failing `/info` or `/parameters` is recorded as unknown with the
//! reason, and never fails the batch. The comparison of two records is pure and lives in
//! `model::identity`; the store keeps them (`store::identity`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::model::identity::MAX_FORM_BYTES;
use crate::model::{AppIdentity, BatchId, CaseId, VersionId};
use crate::server::dify::{AppEndpoint, DifyClient, Failure};
use crate::server::store::Store;

/// Text fields of `/info` are cut to this many characters: it is a label, not a document.
const MAX_INFO_CHARS: usize = 2_000;
/// Tags kept from `/info`.
const MAX_TAGS: usize = 50;

/// A fingerprint of a `user_input_form`: `sha256:` and the first 16 hex digits of the SHA-256 of
/// its canonical JSON — object keys sorted at every level, fields sorted by variable name. Field
/// order is how the form is laid out, not what the app takes, so reordering keeps the
/// fingerprint; any other change (a field added, removed, retyped, relabelled, made required,
/// an option added) changes it.
pub fn form_fingerprint(form: &Value) -> String {
    use sha2::{Digest, Sha256};
    let mut fields: Vec<(String, String)> = match form {
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let variable = item
                    .as_object()
                    .and_then(|o| o.values().next())
                    .and_then(|f| f.get("variable"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                (variable, canonical(item))
            })
            .collect(),
        other => vec![(String::new(), canonical(other))],
    };
    fields.sort();
    let mut hasher = Sha256::new();
    for (_, json) in &fields {
        hasher.update(json.as_bytes());
        hasher.update([0x1e]);
    }
    let digest = hasher.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// JSON with object keys sorted at every level (arrays keep their order).
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&map[k]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // `serde_json::Map` keeps insertion order only with `preserve_order`; sorting first makes
    // the text the same either way.
    serde_json::to_string(&sorted(v)).unwrap_or_default()
}

fn text(v: &Value, key: &str) -> Option<String> {
    let s = v.get(key)?.as_str()?.trim();
    (!s.is_empty()).then(|| s.chars().take(MAX_INFO_CHARS).collect())
}

fn why(f: &Failure) -> String {
    f.to_string()
}

/// The record of one version from what `/info` and `/parameters` answered. Pure.
pub fn identity_of(
    version_id: VersionId,
    pinned: Option<&str>,
    info: Result<Value, Failure>,
    parameters: Result<Value, Failure>,
    recorded_at: i64,
) -> AppIdentity {
    let mut id = AppIdentity {
        version_id,
        pinned_workflow_id: pinned.map(str::to_string),
        recorded_at,
        ..AppIdentity::default()
    };
    match info {
        Ok(info) if info.is_object() => {
            id.name = text(&info, "name");
            id.description = text(&info, "description");
            id.mode = text(&info, "mode");
            id.author_name = text(&info, "author_name");
            id.tags = info
                .get("tags")
                .and_then(Value::as_array)
                .map(|tags| {
                    tags.iter()
                        .filter_map(|t| {
                            // Dify sends tag names; older releases, objects with a `name`.
                            t.as_str().or_else(|| t.get("name").and_then(Value::as_str))
                        })
                        .take(MAX_TAGS)
                        .map(|t| t.chars().take(200).collect())
                        .collect()
                })
                .unwrap_or_default();
        }
        Ok(_) => id.info_error = Some("GET /info answered JSON that is not an object".into()),
        Err(f) => id.info_error = Some(format!("GET /info failed: {}", why(&f))),
    }
    match parameters {
        Ok(p) => match p.get("user_input_form") {
            Some(form) if form.is_array() => {
                id.form_fingerprint = Some(form_fingerprint(form));
                let size = serde_json::to_string(form).map_or(usize::MAX, |s| s.len());
                if size <= MAX_FORM_BYTES {
                    id.form = Some(form.clone());
                } else {
                    id.form_truncated = true;
                }
            }
            _ => {
                id.form_error =
                    Some("GET /parameters answered without a `user_input_form` list".into())
            }
        },
        Err(f) => id.form_error = Some(format!("GET /parameters failed: {}", why(&f))),
    }
    id
}

/// Reads `/info` and `/parameters` at once (one attempt each).
pub async fn fetch(client: &DifyClient, app: &AppEndpoint, version_id: VersionId) -> AppIdentity {
    let (info, parameters) = tokio::join!(
        client.app_json(app, "info"),
        client.app_json(app, "parameters")
    );
    identity_of(
        version_id,
        app.workflow_id.as_deref(),
        info,
        parameters,
        crate::server::store::now_ms(),
    )
}

/// What the launch check needs of a case: its id, name, query and inputs.
pub type CaseInputs = (CaseId, String, String, Option<Value>);

/// The cases whose call to `app` would leave out a variable its form requires (the form as
/// recorded in `identity`; none when the form is unknown). Pure.
pub fn note_missing_inputs(identity: &mut AppIdentity, app: &AppEndpoint, cases: &[CaseInputs]) {
    use crate::model::identity::{MissingInputs, MAX_MISSING_LISTED};
    use crate::model::inputs::{effective_inputs, missing_required, parse_form};
    let Some(Ok(form)) = identity.form.as_ref().map(parse_form) else {
        return;
    };
    if !form.iter().any(|f| f.required) {
        return;
    }
    let version_inputs = Value::Object(app.inputs.clone());
    for (case_id, name, query, inputs) in cases {
        let sent = effective_inputs(app.app_mode, &version_inputs, inputs.as_ref(), query);
        let variables = missing_required(&form, &sent);
        if variables.is_empty() {
            continue;
        }
        identity.missing_inputs_cases += 1;
        if identity.missing_inputs.len() < MAX_MISSING_LISTED {
            identity.missing_inputs.push(MissingInputs {
                case_id: *case_id,
                case_name: name.clone(),
                variables,
            });
        }
    }
}

/// Records each version's identity in the background, all versions at once; returns at once.
/// A version without its key (a finished batch whose key was removed) is skipped: nothing can
/// be asked of its app any more. The record notes the cases that miss a required input of the
/// version's form (`missing_inputs`), which Dify would refuse with 400.
pub fn record_at_launch(
    store: Store,
    client: DifyClient,
    batch: BatchId,
    versions: Vec<(VersionId, AppEndpoint)>,
    cases: Arc<Vec<CaseInputs>>,
) {
    for (version_id, app) in versions {
        let (store, client, cases) = (store.clone(), client.clone(), cases.clone());
        tokio::spawn(async move {
            let mut identity = fetch(&client, &app, version_id).await;
            note_missing_inputs(&mut identity, &app, &cases);
            if identity.missing_inputs_cases > 0 {
                tracing::info!(batch = %batch, version = %version_id,
                    cases = identity.missing_inputs_cases,
                    "cases leave out inputs the app's form requires");
            }
            if let Some(e) = identity
                .info_error
                .as_deref()
                .or(identity.form_error.as_deref())
            {
                tracing::info!(batch = %batch, version = %version_id, reason = e,
                    "the app's identity is partly unknown");
            }
            if let Err(e) = store.record_app_identity(batch, &identity).await {
                tracing::warn!(batch = %batch, version = %version_id, error = %e,
                    "cannot store the app's identity");
            }
        });
    }
}

/// One version's "first workflow id seen" within a running batch: the first answer that names
/// one is recorded, the rest cost one atomic load.
#[derive(Debug)]
pub struct SeenWorkflow {
    store: Store,
    batch: BatchId,
    version: VersionId,
    noted: AtomicBool,
}

impl SeenWorkflow {
    pub fn new(store: Store, batch: BatchId, version: VersionId) -> Arc<SeenWorkflow> {
        Arc::new(SeenWorkflow {
            store,
            batch,
            version,
            noted: AtomicBool::new(false),
        })
    }

    /// Called with each answer's workflow id; stores the first in the background.
    pub fn note(&self, workflow_id: Option<&str>) {
        let Some(id) = workflow_id else { return };
        if self.noted.load(Ordering::Relaxed) || self.noted.swap(true, Ordering::AcqRel) {
            return;
        }
        let (store, batch, version) = (self.store.clone(), self.batch, self.version);
        // Bounded: an id is a short token; anything longer is not Dify's.
        let id: String = id.chars().take(100).collect();
        tokio::spawn(async move {
            if let Err(e) = store.record_seen_workflow(batch, version, &id).await {
                tracing::warn!(batch = %batch, version = %version, error = %e,
                    "cannot store the workflow id the app answered with");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cases_missing_a_required_input_are_noted_up_to_the_cap() {
        use crate::model::identity::MAX_MISSING_LISTED;
        use crate::server::secret::Secret;
        let mut identity = AppIdentity {
            form: Some(json!([
                {"text-input": {"variable": "query", "required": true}},
                {"select": {"variable": "region", "required": true, "options": ["eu"]}},
                {"paragraph": {"variable": "note", "required": false}},
            ])),
            ..AppIdentity::default()
        };
        let app = |mode, inputs: Value| AppEndpoint {
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: Secret::new("app-x".to_string()),
            app_mode: mode,
            response_mode: crate::model::ResponseMode::Blocking,
            answer_field: None,
            inputs: inputs.as_object().cloned().unwrap_or_default(),
            workflow_id: None,
        };
        let cases: Vec<CaseInputs> = (0..MAX_MISSING_LISTED as i64 + 5)
            .map(|i| (CaseId(i), format!("c{i}"), "Q".into(), None))
            .chain([(
                CaseId(-1),
                "has it".into(),
                "Q".into(),
                Some(json!({"region": "eu"})),
            )])
            .collect();
        // A workflow gets its query as the `query` input; `region` is missing from all but one.
        let workflow = app(crate::model::AppMode::Workflow, json!({}));
        note_missing_inputs(&mut identity, &workflow, &cases);
        assert_eq!(identity.missing_inputs_cases, MAX_MISSING_LISTED + 5);
        assert_eq!(identity.missing_inputs.len(), MAX_MISSING_LISTED);
        assert_eq!(identity.missing_inputs[0].variables, ["region"]);
        // The version's own inputs fill what the cases leave out.
        let mut filled = AppIdentity {
            form: identity.form.clone(),
            ..AppIdentity::default()
        };
        let configured = app(crate::model::AppMode::Workflow, json!({"region": "eu"}));
        note_missing_inputs(&mut filled, &configured, &cases);
        assert_eq!(filled.missing_inputs_cases, 0);
        // A chat app's query is not an input: the form's `query` is missing too.
        let mut chat = AppIdentity {
            form: identity.form.clone(),
            ..AppIdentity::default()
        };
        note_missing_inputs(
            &mut chat,
            &app(crate::model::AppMode::Chat, json!({})),
            &cases[..1],
        );
        assert_eq!(chat.missing_inputs[0].variables, ["query", "region"]);
    }

    fn form() -> Value {
        json!([
            {"text-input": {"label": "Query", "variable": "query", "required": true, "max_length": 48}},
            {"select": {"label": "Language", "variable": "lang", "required": false,
                        "options": ["en", "zh"], "default": "en"}},
        ])
    }

    #[test]
    fn the_fingerprint_is_stable_and_ignores_key_and_field_order() {
        let a = form_fingerprint(&form());
        assert!(
            a.starts_with("sha256:") && a.len() == "sha256:".len() + 16,
            "{a}"
        );
        // Reference value: a change to the canonical form or the hash shows here.
        assert_eq!(form_fingerprint(&json!([])), "sha256:e3b0c44298fc1c14");
        let reordered = json!([
            {"select": {"default": "en", "options": ["en", "zh"], "required": false,
                        "variable": "lang", "label": "Language"}},
            {"text-input": {"max_length": 48, "required": true, "variable": "query", "label": "Query"}},
        ]);
        assert_eq!(form_fingerprint(&reordered), a);
    }

    #[test]
    fn any_change_to_a_field_changes_the_fingerprint() {
        let base = form_fingerprint(&form());
        let mut changed = Vec::new();
        let mut f = form();
        f[0]["text-input"]["required"] = json!(false);
        changed.push(f);
        let mut f = form();
        f[1]["select"]["options"] = json!(["en", "zh", "ja"]);
        changed.push(f);
        let mut f = form();
        f.as_array_mut()
            .unwrap()
            .push(json!({"number": {"variable": "n", "label": "N"}}));
        changed.push(f);
        let mut f = form();
        f[0] = json!({"paragraph": f[0]["text-input"].clone()});
        changed.push(f);
        for f in changed {
            assert_ne!(form_fingerprint(&f), base, "{f}");
        }
    }

    fn failure(status: u16, code: &str) -> Failure {
        Failure {
            code: code.into(),
            message: "Not Found".into(),
            http_status: Some(status),
            attempts: 1,
            ids: Default::default(),
            retry_after: None,
            trace: None,
        }
    }

    #[test]
    fn info_and_parameters_become_a_bounded_record() {
        let info = json!({"name": " Support bot ", "description": "d", "mode": "workflow",
                          "author_name": "ana", "tags": ["a", {"name": "b"}, 3]});
        let params = json!({"opening_statement": "", "user_input_form": form()});
        let id = identity_of(VersionId(4), Some("wf"), Ok(info), Ok(params), 7);
        assert_eq!(id.name.as_deref(), Some("Support bot"));
        assert_eq!(id.mode.as_deref(), Some("workflow"));
        assert_eq!(id.tags, ["a", "b"]);
        assert_eq!(id.pinned_workflow_id.as_deref(), Some("wf"));
        assert_eq!(id.form_fingerprint, Some(form_fingerprint(&form())));
        assert_eq!(id.form, Some(form()));
        assert_eq!(
            (id.info_error, id.form_error, id.recorded_at),
            (None, None, 7)
        );

        let huge: Vec<Value> = (0..2_000)
            .map(|i| json!({"text-input": {"variable": format!("v{i}"), "label": "L"}}))
            .collect();
        let id = identity_of(
            VersionId(4),
            None,
            Ok(json!({})),
            Ok(json!({"user_input_form": huge})),
            7,
        );
        assert!(id.form.is_none() && id.form_truncated);
        assert!(id.form_fingerprint.is_some());
    }

    #[test]
    fn a_failing_info_is_unknown_with_its_reason() {
        let id = identity_of(
            VersionId(1),
            None,
            Err(failure(404, "http_error")),
            Ok(json!({"nothing": 1})),
            1,
        );
        assert_eq!(id.name, None);
        assert_eq!(
            id.info_error.as_deref(),
            Some("GET /info failed: http_error: Not Found (HTTP 404)")
        );
        assert!(id
            .form_error
            .unwrap()
            .contains("without a `user_input_form`"));
        assert!(id.form_fingerprint.is_none());
    }
}
