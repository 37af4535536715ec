//! What dify-bench sends: which endpoint each app mode uses and the JSON body, with version inputs
//! and case inputs merged. Pure; the HTTP call is in `attempt.rs`.

use serde_json::{json, Map, Value};

use super::error::{codes, AttemptError};
use super::AppEndpoint;
use crate::model::{AppMode, ResponseMode};

/// A call ready to send (built once, reused by every attempt).
#[derive(Debug, Clone)]
pub(crate) struct PreparedCall {
    pub url: reqwest::Url,
    pub body: Value,
    pub response_mode: ResponseMode,
}

/// Agent apps refuse blocking mode (`400 invalid_param "Agent Chat App does not support blocking
/// mode"`), so they are always streamed whatever the version says.
pub fn effective_response_mode(app: &AppEndpoint) -> ResponseMode {
    match app.app_mode {
        AppMode::AgentChat => ResponseMode::Streaming,
        _ => app.response_mode,
    }
}

pub(crate) fn prepare(
    app: &AppEndpoint,
    query: &str,
    case_inputs: &Value,
    user: &str,
) -> Result<PreparedCall, AttemptError> {
    // A pinned id goes into a path: checked again here (as when the version was saved), so a
    // snapshot can never aim the call at another route.
    let pinned = app
        .workflow_id
        .as_deref()
        .map(crate::model::check_workflow_id)
        .transpose()
        .map_err(|e| AttemptError::new(codes::INVALID_REQUEST, format!("workflow_id: {e}")))?;
    let path = match (app.app_mode, &pinned) {
        (AppMode::Chat | AppMode::AgentChat | AppMode::AdvancedChat, _) => {
            "chat-messages".to_string()
        }
        (AppMode::Completion, _) => "completion-messages".to_string(),
        (AppMode::Workflow, None) => "workflows/run".to_string(),
        (AppMode::Workflow, Some(id)) => format!("workflows/{id}/run"),
    };
    let url = endpoint_url(&app.base_url, &path)?;
    let response_mode = effective_response_mode(app);
    let mut inputs = merge_inputs(&app.inputs, case_inputs)?;
    let mut body = match app.app_mode {
        // `auto_generate_name: false`: every test opens a new conversation, and naming each one
        // costs Dify an extra LLM call that would be billed and counted against its limits.
        AppMode::Chat | AppMode::AgentChat | AppMode::AdvancedChat => json!({
            "inputs": inputs,
            "query": query,
            "response_mode": response_mode.as_str(),
            "user": user,
            "conversation_id": "",
            "auto_generate_name": false,
        }),
        // Newer text-generator apps read the text from `inputs.query`; older ones from the
        // top-level `query`. Sending both serves either. The test's query always wins over a
        // `query` key in the configured inputs: it is what is being tested.
        AppMode::Completion => {
            inputs.insert("query".into(), Value::String(query.to_string()));
            json!({
                "inputs": inputs,
                "query": query,
                "response_mode": response_mode.as_str(),
                "user": user,
            })
        }
        AppMode::Workflow => {
            inputs.insert("query".into(), Value::String(query.to_string()));
            json!({
                "inputs": inputs,
                "response_mode": response_mode.as_str(),
                "user": user,
            })
        }
    };
    // Chatflows take the pin in the body; chatbots and agents have no workflow to pin.
    if let (AppMode::AdvancedChat, Some(id), Some(obj)) =
        (app.app_mode, &pinned, body.as_object_mut())
    {
        obj.insert("workflow_id".into(), Value::String(id.clone()));
    }
    Ok(PreparedCall {
        url,
        body,
        response_mode,
    })
}

/// The call as the next turn of a conversation: the chat body's `conversation_id` is Dify's id
/// from the answer before. Completion and workflow bodies have none and are left as they are
/// (the runner refuses a multi-turn case on those apps before any call).
pub(crate) fn continue_conversation(call: &mut PreparedCall, conversation_id: &str) {
    if let Some(slot) = call.body.get_mut("conversation_id") {
        *slot = Value::String(conversation_id.to_string());
    }
}

/// Version inputs, overridden key by key by the case's. `null` means "no case inputs".
pub(crate) fn merge_inputs(
    version: &Map<String, Value>,
    case: &Value,
) -> Result<Map<String, Value>, AttemptError> {
    let mut inputs = version.clone();
    match case {
        Value::Null => {}
        Value::Object(case) => {
            for (k, v) in case {
                inputs.insert(k.clone(), v.clone());
            }
        }
        other => {
            return Err(AttemptError::new(
                codes::INVALID_REQUEST,
                format!(
                    "the test case's inputs must be a JSON object, not {}",
                    json_kind(other)
                ),
            ))
        }
    }
    Ok(inputs)
}

/// `{base}/{path}`, tolerating a trailing slash on the base. The base passes the same check as a
/// saved version's (`model::check_http_url`: no credentials, query or fragment), so a version stored
/// before that check existed cannot aim a call elsewhere either.
pub(crate) fn endpoint_url(base: &str, path: &str) -> Result<reqwest::Url, AttemptError> {
    let base = base.trim().trim_end_matches('/');
    crate::model::check_http_url(base)
        .map_err(|why| AttemptError::new(codes::INVALID_REQUEST, format!("base_url: {why}")))?;
    let invalid = || {
        AttemptError::new(
            codes::INVALID_REQUEST,
            format!("the base URL \"{base}\" is not an http(s) URL like https://api.dify.ai/v1"),
        )
    };
    // The base is checked alone: joined first, "http://" + "/info" would parse as host `info`.
    let parsed = reqwest::Url::parse(base).map_err(|_| invalid())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    reqwest::Url::parse(&format!("{base}/{path}")).map_err(|_| invalid())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::secret::Secret;

    fn app(mode: AppMode, response_mode: ResponseMode) -> AppEndpoint {
        let mut inputs = Map::new();
        inputs.insert("lang".into(), json!("en"));
        inputs.insert("query".into(), json!("configured default"));
        AppEndpoint {
            base_url: "http://127.0.0.1:5001/v1/".into(),
            api_key: Secret::new("app-0123456789abcdef"),
            app_mode: mode,
            response_mode,
            answer_field: None,
            inputs,
            workflow_id: None,
        }
    }

    const PIN: &str = "3c90c3cc-0d44-4b50-8888-8dd25736052a";

    #[test]
    fn a_pinned_workflow_app_calls_its_version_path() {
        let mut a = app(AppMode::Workflow, ResponseMode::Blocking);
        a.workflow_id = Some(PIN.to_ascii_uppercase());
        let call = prepare(&a, "Q", &Value::Null, "u").unwrap();
        assert_eq!(call.url.path(), format!("/v1/workflows/{PIN}/run"));
        assert!(call.body.get("workflow_id").is_none());
    }

    #[test]
    fn a_pinned_chatflow_sends_the_id_in_the_body_and_chatbots_never_do() {
        let mut a = app(AppMode::AdvancedChat, ResponseMode::Streaming);
        a.workflow_id = Some(PIN.into());
        let call = prepare(&a, "Q", &Value::Null, "u").unwrap();
        assert_eq!(call.url.path(), "/v1/chat-messages");
        assert_eq!(call.body["workflow_id"], PIN);
        a.app_mode = AppMode::Chat;
        let call = prepare(&a, "Q", &Value::Null, "u").unwrap();
        assert!(call.body.get("workflow_id").is_none());
    }

    #[test]
    fn a_malformed_pin_never_reaches_a_path() {
        let mut a = app(AppMode::Workflow, ResponseMode::Blocking);
        a.workflow_id = Some("../../admin".into());
        let e = prepare(&a, "Q", &Value::Null, "u").unwrap_err();
        assert_eq!(e.code, codes::INVALID_REQUEST);
        assert!(e.message.starts_with("workflow_id: "), "{}", e.message);
    }

    #[test]
    fn chat_family_body() {
        for mode in [AppMode::Chat, AppMode::AdvancedChat] {
            let call = prepare(
                &app(mode, ResponseMode::Blocking),
                "Q?",
                &json!({"lang": "zh"}),
                "u",
            )
            .unwrap();
            assert_eq!(call.url.as_str(), "http://127.0.0.1:5001/v1/chat-messages");
            assert_eq!(
                call.body,
                json!({"inputs": {"lang": "zh", "query": "configured default"}, "query": "Q?",
                       "response_mode": "blocking", "user": "u", "conversation_id": "",
                       "auto_generate_name": false})
            );
        }
    }

    #[test]
    fn agent_is_always_streamed() {
        let call = prepare(
            &app(AppMode::AgentChat, ResponseMode::Blocking),
            "Q",
            &Value::Null,
            "u",
        )
        .unwrap();
        assert_eq!(call.response_mode, ResponseMode::Streaming);
        assert_eq!(call.body["response_mode"], "streaming");
        assert_eq!(call.url.path(), "/v1/chat-messages");
    }

    #[test]
    fn completion_and_workflow_put_the_query_in_inputs() {
        let call = prepare(
            &app(AppMode::Completion, ResponseMode::Streaming),
            "Q",
            &json!({}),
            "u",
        )
        .unwrap();
        assert_eq!(call.url.path(), "/v1/completion-messages");
        assert_eq!(call.body["inputs"]["query"], "Q");
        assert_eq!(call.body["query"], "Q");
        assert_eq!(call.body["response_mode"], "streaming");

        let call = prepare(
            &app(AppMode::Workflow, ResponseMode::Blocking),
            "Q",
            &json!({"extra": 1}),
            "u",
        )
        .unwrap();
        assert_eq!(call.url.path(), "/v1/workflows/run");
        assert_eq!(
            call.body,
            json!({"inputs": {"lang": "en", "query": "Q", "extra": 1},
                   "response_mode": "blocking", "user": "u"})
        );
    }

    #[test]
    fn bad_case_inputs_and_urls_are_refused() {
        let a = app(AppMode::Chat, ResponseMode::Blocking);
        let e = prepare(&a, "Q", &json!([1]), "u").unwrap_err();
        assert_eq!(e.code, codes::INVALID_REQUEST);
        assert!(e.message.contains("an array"));
        for base in [
            "",
            "not a url",
            "ftp://host/v1",
            "http://",
            "https:",
            "http://user:pw@host/v1",
            "http://host/admin?x=",
            "http://host/v1#",
        ] {
            let e = endpoint_url(base, "info").unwrap_err();
            assert_eq!(e.code, codes::INVALID_REQUEST, "{base}");
        }
        assert_eq!(
            endpoint_url(" https://api.dify.ai/v1// ", "info")
                .unwrap()
                .as_str(),
            "https://api.dify.ai/v1/info"
        );
    }

    #[test]
    fn a_later_turn_carries_the_conversation_id_of_chat_calls_only() {
        let mut a = app(AppMode::Chat, ResponseMode::Blocking);
        let mut call = prepare(&a, "Q", &Value::Null, "u").unwrap();
        assert_eq!(call.body["conversation_id"], "");
        continue_conversation(&mut call, "c-1");
        assert_eq!(call.body["conversation_id"], "c-1");
        a.app_mode = AppMode::Workflow;
        let mut call = prepare(&a, "Q", &Value::Null, "u").unwrap();
        continue_conversation(&mut call, "c-1");
        assert!(call.body.get("conversation_id").is_none());
    }
}
