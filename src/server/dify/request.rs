//! What dify-bench sends: which endpoint each app mode uses and the JSON body, with version inputs
//! and case inputs merged. Pure; the HTTP call is in `attempt.rs`.
//!
//! What every call to one app shares (its URL, the checked pinned workflow id, the response mode)
//! is a [`Target`], worked out once per version; a test's call only adds its body, serialised
//! straight from borrowed fields (no `Value` tree, no copy of the version's inputs).

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{codes, AttemptError};
use super::AppEndpoint;
use crate::model::{AppMode, ResponseMode};

/// Where and how every call to one app goes, checked once.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub url: reqwest::Url,
    /// The checked pinned workflow id (a chatflow sends it in the body).
    pinned: Option<String>,
    pub response_mode: ResponseMode,
}

/// A call ready to send (built once per test, reused by every attempt).
#[derive(Debug, Clone)]
pub(crate) struct PreparedCall<'a> {
    pub url: &'a reqwest::Url,
    /// The JSON body, serialised.
    pub body: bytes::Bytes,
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

/// The app's [`Target`], or why no call to it can be made (every test of it fails so, unsent).
pub(crate) fn target(app: &AppEndpoint) -> Result<Target, AttemptError> {
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
    Ok(Target {
        url,
        pinned,
        response_mode: effective_response_mode(app),
    })
}

/// One test's call to `app` (whose target is `target`): `conversation_id` continues a chat-family
/// app's conversation (Dify's id from the answer before); completion and workflow bodies have
/// none and ignore it (the runner refuses a multi-turn case on those apps before any call).
pub(crate) fn prepare<'a>(
    app: &AppEndpoint,
    target: &'a Target,
    query: &str,
    case_inputs: &Value,
    user: &str,
    conversation_id: Option<&str>,
) -> Result<PreparedCall<'a>, AttemptError> {
    let case = case_object(case_inputs)?;
    let chat = matches!(
        app.app_mode,
        AppMode::Chat | AppMode::AgentChat | AppMode::AdvancedChat
    );
    let body = Body {
        inputs: Inputs {
            version: &app.inputs,
            case,
            // Newer text-generator apps read the text from `inputs.query`; older ones from the
            // top-level `query`. Sending both serves either. The test's query always wins over a
            // `query` key in the configured inputs: it is what is being tested.
            query: (!chat).then_some(query),
        },
        query: (app.app_mode != AppMode::Workflow).then_some(query),
        response_mode: target.response_mode.as_str(),
        user,
        // `auto_generate_name: false`: every test opens a new conversation, and naming each one
        // costs Dify an extra LLM call that would be billed and counted against its limits.
        conversation_id: chat.then(|| conversation_id.unwrap_or("")),
        auto_generate_name: chat.then_some(false),
        // Chatflows take the pin in the body; chatbots and agents have no workflow to pin.
        workflow_id: match app.app_mode {
            AppMode::AdvancedChat => target.pinned.as_deref(),
            _ => None,
        },
    };
    let body = serde_json::to_vec(&body).map_err(|e| {
        AttemptError::new(
            codes::INVALID_REQUEST,
            format!("the request body could not be written: {e}"),
        )
    })?;
    Ok(PreparedCall {
        url: &target.url,
        body: body.into(),
        response_mode: target.response_mode,
    })
}

/// The body of a call, as Dify's `chat-messages`, `completion-messages` and `workflows/run`
/// read it; absent fields are left out.
#[derive(Serialize)]
struct Body<'a> {
    inputs: Inputs<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<&'a str>,
    response_mode: &'static str,
    user: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_generate_name: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow_id: Option<&'a str>,
}

/// Version inputs, overridden key by key by the case's, then by `query` when set: written as
/// one object without building it (each key once, the winner's value).
struct Inputs<'a> {
    version: &'a Map<String, Value>,
    case: Option<&'a Map<String, Value>>,
    query: Option<&'a str>,
}

impl Inputs<'_> {
    fn overridden_by_query(&self, key: &str) -> bool {
        self.query.is_some() && key == "query"
    }
}

impl Serialize for Inputs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.version {
            let by_case = self.case.is_some_and(|c| c.contains_key(k));
            if !by_case && !self.overridden_by_query(k) {
                map.serialize_entry(k, v)?;
            }
        }
        for (k, v) in self.case.into_iter().flatten() {
            if !self.overridden_by_query(k) {
                map.serialize_entry(k, v)?;
            }
        }
        if let Some(query) = self.query {
            map.serialize_entry("query", query)?;
        }
        map.end()
    }
}

/// A case's inputs as an object: `null` means "no case inputs"; anything else is refused.
fn case_object(case: &Value) -> Result<Option<&Map<String, Value>>, AttemptError> {
    match case {
        Value::Null => Ok(None),
        Value::Object(case) => Ok(Some(case)),
        other => Err(AttemptError::new(
            codes::INVALID_REQUEST,
            format!(
                "the test case's inputs must be a JSON object, not {}",
                json_kind(other)
            ),
        )),
    }
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
    use serde_json::json;

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

    /// A call as one test makes it, and its body read back as JSON.
    fn call(
        app: &AppEndpoint,
        query: &str,
        case_inputs: &Value,
        conversation_id: Option<&str>,
    ) -> Result<(Sent, Value), AttemptError> {
        let target = target(app)?;
        let call = prepare(app, &target, query, case_inputs, "u", conversation_id)?;
        let body = serde_json::from_slice(&call.body).expect("the body is JSON");
        let sent = Sent {
            url: call.url.clone(),
            body: call.body,
            response_mode: call.response_mode,
        };
        Ok((sent, body))
    }

    /// What a [`PreparedCall`] holds, owned.
    #[derive(Debug)]
    struct Sent {
        url: reqwest::Url,
        body: bytes::Bytes,
        response_mode: ResponseMode,
    }

    const PIN: &str = "3c90c3cc-0d44-4b50-8888-8dd25736052a";

    #[test]
    fn a_pinned_workflow_app_calls_its_version_path() {
        let mut a = app(AppMode::Workflow, ResponseMode::Blocking);
        a.workflow_id = Some(PIN.to_ascii_uppercase());
        let (call, body) = call(&a, "Q", &Value::Null, None).unwrap();
        assert_eq!(call.url.path(), format!("/v1/workflows/{PIN}/run"));
        assert!(body.get("workflow_id").is_none());
    }

    #[test]
    fn a_pinned_chatflow_sends_the_id_in_the_body_and_chatbots_never_do() {
        let mut a = app(AppMode::AdvancedChat, ResponseMode::Streaming);
        a.workflow_id = Some(PIN.into());
        let (c, body) = call(&a, "Q", &Value::Null, None).unwrap();
        assert_eq!(c.url.path(), "/v1/chat-messages");
        assert_eq!(body["workflow_id"], PIN);
        a.app_mode = AppMode::Chat;
        let (_, body) = call(&a, "Q", &Value::Null, None).unwrap();
        assert!(body.get("workflow_id").is_none());
    }

    #[test]
    fn a_malformed_pin_never_reaches_a_path() {
        let mut a = app(AppMode::Workflow, ResponseMode::Blocking);
        a.workflow_id = Some("../../admin".into());
        let e = target(&a).unwrap_err();
        assert_eq!(e.code, codes::INVALID_REQUEST);
        assert!(e.message.starts_with("workflow_id: "), "{}", e.message);
    }

    #[test]
    fn chat_family_body() {
        for mode in [AppMode::Chat, AppMode::AdvancedChat] {
            let (c, body) = call(
                &app(mode, ResponseMode::Blocking),
                "Q?",
                &json!({"lang": "zh"}),
                None,
            )
            .unwrap();
            assert_eq!(c.url.as_str(), "http://127.0.0.1:5001/v1/chat-messages");
            assert_eq!(
                body,
                json!({"inputs": {"lang": "zh", "query": "configured default"}, "query": "Q?",
                       "response_mode": "blocking", "user": "u", "conversation_id": "",
                       "auto_generate_name": false})
            );
        }
    }

    /// The whole body of each app mode, as the JSON the typed writer produced before it did
    /// (the `json!` objects it replaced): a later turn's `conversation_id`, a chatflow's pin.
    #[test]
    fn every_modes_body_is_pinned() {
        let mut a = app(AppMode::Chat, ResponseMode::Blocking);
        a.workflow_id = Some(PIN.into());
        let case = json!({"lang": "zh", "query": "from the case", "n": [1, {"k": null}]});
        let inputs = json!({"lang": "zh", "query": "from the case", "n": [1, {"k": null}]});
        let expect = |mode: AppMode, body: Value| {
            let mut a = a.clone();
            a.app_mode = mode;
            let (_, got) = call(&a, "Q \"1\"", &case, Some("c-7")).unwrap();
            assert_eq!(got, body, "{mode:?}");
        };
        let chat = |extra: Option<(&str, Value)>, mode: &str| {
            let mut body = json!({"inputs": inputs, "query": "Q \"1\"", "response_mode": mode,
                                  "user": "u", "conversation_id": "c-7",
                                  "auto_generate_name": false});
            if let Some((k, v)) = extra {
                body[k] = v;
            }
            body
        };
        expect(AppMode::Chat, chat(None, "blocking"));
        expect(AppMode::AgentChat, chat(None, "streaming"));
        expect(
            AppMode::AdvancedChat,
            chat(Some(("workflow_id", json!(PIN))), "blocking"),
        );
        let mut replaced = inputs.clone();
        replaced["query"] = json!("Q \"1\"");
        expect(
            AppMode::Completion,
            json!({"inputs": replaced, "query": "Q \"1\"", "response_mode": "blocking",
                   "user": "u"}),
        );
        expect(
            AppMode::Workflow,
            json!({"inputs": replaced, "response_mode": "blocking", "user": "u"}),
        );
        // Each key once, whichever side set it.
        let (call, _) = call(&a, "Q", &case, None).unwrap();
        let text = std::str::from_utf8(&call.body).unwrap();
        assert_eq!(text.matches("\"lang\"").count(), 1, "{text}");
        assert_eq!(text.matches("\"query\"").count(), 2, "{text}");
    }

    #[test]
    fn agent_is_always_streamed() {
        let (c, body) = call(
            &app(AppMode::AgentChat, ResponseMode::Blocking),
            "Q",
            &Value::Null,
            None,
        )
        .unwrap();
        assert_eq!(c.response_mode, ResponseMode::Streaming);
        assert_eq!(body["response_mode"], "streaming");
        assert_eq!(c.url.path(), "/v1/chat-messages");
    }

    #[test]
    fn completion_and_workflow_put_the_query_in_inputs() {
        let (c, body) = call(
            &app(AppMode::Completion, ResponseMode::Streaming),
            "Q",
            &json!({}),
            None,
        )
        .unwrap();
        assert_eq!(c.url.path(), "/v1/completion-messages");
        assert_eq!(body["inputs"]["query"], "Q");
        assert_eq!(body["query"], "Q");
        assert_eq!(body["response_mode"], "streaming");

        let (c, body) = call(
            &app(AppMode::Workflow, ResponseMode::Blocking),
            "Q",
            &json!({"extra": 1}),
            None,
        )
        .unwrap();
        assert_eq!(c.url.path(), "/v1/workflows/run");
        assert_eq!(
            body,
            json!({"inputs": {"lang": "en", "query": "Q", "extra": 1},
                   "response_mode": "blocking", "user": "u"})
        );
    }

    #[test]
    fn bad_case_inputs_and_urls_are_refused() {
        let a = app(AppMode::Chat, ResponseMode::Blocking);
        let e = call(&a, "Q", &json!([1]), None).unwrap_err();
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
            let bad = AppEndpoint {
                base_url: base.into(),
                ..a.clone()
            };
            assert_eq!(target(&bad).unwrap_err().code, codes::INVALID_REQUEST);
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
        let (_, body) = call(&a, "Q", &Value::Null, None).unwrap();
        assert_eq!(body["conversation_id"], "");
        let (_, body) = call(&a, "Q", &Value::Null, Some("c-1")).unwrap();
        assert_eq!(body["conversation_id"], "c-1");
        a.app_mode = AppMode::Workflow;
        let (_, body) = call(&a, "Q", &Value::Null, Some("c-1")).unwrap();
        assert!(body.get("conversation_id").is_none());
    }
}
