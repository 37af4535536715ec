//! The simulator's HTTP endpoints: authentication and request validation in the order Dify
//! applies them (auth → 403 → JSON → `user` → app mode → payload), the concurrency ceiling and
//! fault rendering, then the blocking body or the timed stream; plus stop, info and parameters.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use rand::Rng;
use serde_json::{json, Map, Value};

use super::clock;
use super::faults::{self, Fault, APP_MAX_ACTIVE_REQUESTS};
use super::generate::{Ask, Family, Generation, Quirks, Timing};
use super::keys::{self, AppKey, KeyLookup, KeyToken};
use super::rng::{is_uuid, stable_uuid, StableHash};
use super::stream::{self, Playback};
use super::wire::{gateway_timeout_html, ApiError};
use super::{
    answer, apps, conversations, judge, knowledge, FaultProfile, Sim, SimConfig, SimState,
};
use crate::model::AppMode;

/// A validated generation request.
struct Prepared {
    key: String,
    app: AppKey,
    user: String,
    question: String,
    inputs: Value,
    streaming: bool,
    conversation_id: Option<String>,
    /// The published workflow version asked for: the path's (`/workflows/{id}/run`) or a
    /// chatflow body's `workflow_id`.
    pin: Option<String>,
    /// The body's `workflow_id` as sent (recorded for `GET /v1/sim/requests`).
    body_pin: Option<String>,
}

pub(super) type Payload = Result<Bytes, BytesRejection>;

pub(super) async fn chat_messages(
    State(sim): State<SimState>,
    headers: HeaderMap,
    body: Payload,
) -> Response {
    generate(sim, &headers, body, Family::Chat, None).await
}

pub(super) async fn completion_messages(
    State(sim): State<SimState>,
    headers: HeaderMap,
    body: Payload,
) -> Response {
    generate(sim, &headers, body, Family::Completion, None).await
}

pub(super) async fn workflows_run(
    State(sim): State<SimState>,
    headers: HeaderMap,
    body: Payload,
) -> Response {
    generate(sim, &headers, body, Family::Workflow, None).await
}

/// `POST /workflows/{workflow_id}/run`: one of the app's published versions (see `apps`).
pub(super) async fn workflows_run_pinned(
    State(sim): State<SimState>,
    Path(workflow_id): Path<String>,
    headers: HeaderMap,
    body: Payload,
) -> Response {
    generate(sim, &headers, body, Family::Workflow, Some(workflow_id)).await
}

/// `POST /v1/sim/republish`: the key's app publishes a new workflow version (see `apps`).
pub(super) async fn republish(State(sim): State<SimState>, headers: HeaderMap) -> Response {
    match authenticate(&headers) {
        Err(e) => e.into_response(),
        Ok((key, _)) => {
            let (revision, workflow_id) = sim.apps.republish(&key);
            Json(json!({"revision": revision, "workflow_id": workflow_id})).into_response()
        }
    }
}

/// `GET /v1/sim/requests`: the key's app's last generation requests (see `apps`).
pub(super) async fn requests(State(sim): State<SimState>, headers: HeaderMap) -> Response {
    match authenticate(&headers) {
        Err(e) => e.into_response(),
        Ok((key, _)) => Json(json!({
            "requests": sim.apps.requests(&key),
            "published": sim.apps.published(&key),
        }))
        .into_response(),
    }
}

pub(super) async fn stop_chat(
    State(sim): State<SimState>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Payload,
) -> Response {
    stop(&sim, &task_id, &headers, body, Family::Chat)
}

pub(super) async fn stop_completion(
    State(sim): State<SimState>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Payload,
) -> Response {
    stop(&sim, &task_id, &headers, body, Family::Completion)
}

pub(super) async fn stop_workflow(
    State(sim): State<SimState>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Payload,
) -> Response {
    stop(&sim, &task_id, &headers, body, Family::Workflow)
}

pub(super) async fn info(State(sim): State<SimState>, headers: HeaderMap) -> Response {
    match authenticate(&headers) {
        Err(e) => e.into_response(),
        Ok((_, app)) if app.token == Some(KeyToken::NoInfo) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "The requested URL was not found on the server.")
                .into_response()
        }
        Ok((key, app)) => Json(json!({
            "name": match sim.apps.revision(&key) {
                0 => format!("Demo {} app (quality {})", app.mode, app.quality),
                r => format!("Demo {} app (quality {}, republished {r}×)", app.mode, app.quality),
            },
            "description": "A simulated Dify app served by dify-bench; it answers from the built-in hardware-spec knowledge base.",
            "tags": ["dify-bench", "simulator"],
            "mode": app.mode.as_str(),
            "author_name": "dify-bench",
        }))
        .into_response(),
    }
}

pub(super) async fn parameters(State(sim): State<SimState>, headers: HeaderMap) -> Response {
    let (key, app) = match authenticate(&headers) {
        Err(e) => return e.into_response(),
        Ok(found) => found,
    };
    let user_input_form = input_form(&sim, &key, app);
    Json(json!({
        "opening_statement": "Ask me about interface, memory and wireless specifications.",
        "suggested_questions": knowledge::entries().iter().take(3).map(|e| e.query).collect::<Vec<_>>(),
        "suggested_questions_after_answer": {"enabled": false},
        "speech_to_text": {"enabled": false},
        "text_to_speech": {"enabled": false, "voice": "", "language": "", "autoPlay": "disabled"},
        "retriever_resource": {"enabled": true},
        "annotation_reply": {"enabled": false},
        "more_like_this": {"enabled": false},
        "sensitive_word_avoidance": {"enabled": false},
        "user_input_form": user_input_form,
        "file_upload": {"image": {
            "enabled": false, "number_limits": 3, "detail": "high", "transfer_methods": ["remote_url", "local_file"]
        }},
        "system_parameters": {
            "file_size_limit": 15, "image_file_size_limit": 10, "audio_file_size_limit": 50,
            "video_file_size_limit": 100, "workflow_file_upload_limit": 10
        },
    }))
    .into_response()
}

/// The app's `user_input_form`.
fn input_form(sim: &Sim, key: &str, app: AppKey) -> Value {
    if app.token == Some(KeyToken::Judge) {
        return judge_input_form();
    }
    let asks_query = matches!(app.mode, AppMode::Workflow | AppMode::Completion);
    let mut form = sim.apps.input_form(key, asks_query);
    if app.token == Some(KeyToken::StrictForm) {
        if let Value::Array(fields) = &mut form {
            fields.push(json!({"select": {
                "label": "Region", "variable": "region", "required": true, "default": "",
                "options": ["eu", "us", "apac"]
            }}));
        }
    }
    form
}

/// A `strictform` app checks a call's `inputs` against its whole form, as Dify does; the first
/// failing field's message, as Dify raises the first.
fn check_form(sim: &Sim, p: &Prepared) -> Result<(), ApiError> {
    if p.app.token != Some(KeyToken::StrictForm) {
        return Ok(());
    }
    let form = crate::model::inputs::parse_form(&input_form(sim, &p.key, p.app))
        .map_err(ApiError::invalid_param)?;
    let inputs = p.inputs.as_object().cloned().unwrap_or_default();
    match crate::model::inputs::check_inputs(&form, &inputs)
        .into_iter()
        .next()
    {
        Some(e) => Err(ApiError::invalid_param(e.message)),
        None => Ok(()),
    }
}

/// What a Dify app built as a judge asks for (`KeyToken::Judge`).
fn judge_input_form() -> Value {
    let field = |variable: &str, required: bool| {
        json!({"paragraph": {
            "label": variable, "variable": variable, "required": required, "default": ""
        }})
    };
    json!([
        field("question", true),
        field("expected_answer", true),
        field("answer", true),
        field("rubric", false),
        field("context", false),
    ])
}

pub(super) async fn not_found() -> Response {
    ApiError::not_found().into_response()
}

pub(super) async fn method_not_allowed() -> Response {
    ApiError::method_not_allowed().into_response()
}

/// Dify's `validate_app_token`: the exact 401 messages, then the key lookup.
fn authenticate(headers: &HeaderMap) -> Result<(String, AppKey), ApiError> {
    let missing =
        || ApiError::unauthorized("Authorization header must be provided and start with 'Bearer'");
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    if !header.contains(' ') {
        return Err(missing());
    }
    let header = header.trim_start();
    let (scheme, token) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthorized(
            "Authorization scheme must be 'Bearer'",
        ));
    }
    let token = token.trim();
    match keys::lookup(token) {
        KeyLookup::App(app) => Ok((token.to_string(), app)),
        KeyLookup::Disabled => Err(ApiError::disabled()),
        KeyLookup::Unknown => Err(ApiError::unauthorized("Access token is invalid")),
    }
}

fn json_object(body: Payload) -> Result<Map<String, Value>, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large()
        } else {
            ApiError::bad_json()
        }
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::bad_json()),
    }
}

fn require_user(body: &Map<String, Value>) -> Result<String, ApiError> {
    match body.get("user") {
        Some(Value::String(user)) if !user.trim().is_empty() => Ok(user.clone()),
        _ => Err(ApiError::invalid_param("Arg user must be provided.")),
    }
}

fn check_family(family: Family, mode: AppMode) -> Result<(), ApiError> {
    if Family::of(mode) == family {
        return Ok(());
    }
    Err(ApiError::mode_mismatch(match family {
        Family::Chat => "not_chat_app",
        // Current Dify raises app_unavailable here; not_completion_app exists but is not used.
        Family::Completion => "app_unavailable",
        Family::Workflow => "not_workflow_app",
    }))
}

fn prepare(
    headers: &HeaderMap,
    body: Payload,
    family: Family,
    path_pin: Option<String>,
) -> Result<Prepared, ApiError> {
    let (key, app) = authenticate(headers)?;
    let body = json_object(body)?;
    let user = require_user(&body)?;
    check_family(family, app.mode)?;

    let inputs = match body.get("inputs") {
        Some(inputs @ Value::Object(_)) => inputs.clone(),
        _ => {
            return Err(ApiError::invalid_param(
                "inputs is required and must be an object",
            ))
        }
    };
    let streaming = match body.get("response_mode") {
        None | Some(Value::Null) => false,
        Some(Value::String(m)) if m == "blocking" => false,
        Some(Value::String(m)) if m == "streaming" => true,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "response_mode must be 'blocking' or 'streaming'",
            ))
        }
    };

    let question = match question(family, &body, &inputs) {
        Ok(q) => q,
        // A judge app graded from its inputs needs no query.
        Err(_)
            if family != Family::Chat
                && app.token == Some(KeyToken::Judge)
                && judge::has_inputs(&inputs) =>
        {
            String::new()
        }
        Err(e) => return Err(e),
    };

    let conversation_id = if family == Family::Chat {
        match body.get("conversation_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) if id.is_empty() => None,
            Some(Value::String(id)) if is_uuid(id) => Some(id.clone()),
            Some(_) => {
                return Err(ApiError::invalid_param(
                    "conversation_id must be a valid UUID",
                ))
            }
        }
    } else {
        None
    };

    if app.mode == AppMode::AgentChat && !streaming {
        return Err(ApiError::invalid_param(
            "Agent Chat App does not support blocking mode",
        ));
    }
    let body_pin = match body.get("workflow_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if id.is_empty() => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => return Err(ApiError::invalid_param("workflow_id must be a string")),
    };
    // Only chatflows run a workflow; other chat apps ignore the field, as Dify does.
    let pin = path_pin.or_else(|| {
        body_pin
            .clone()
            .filter(|_| app.mode == AppMode::AdvancedChat)
    });
    Ok(Prepared {
        key,
        app,
        user,
        question: question.trim().to_string(),
        inputs,
        streaming,
        conversation_id,
        pin,
        body_pin,
    })
}

/// Chat apps ask `query`; workflow apps their `query` form input; completion apps the form
/// input, else the legacy `query` field. The form input is declared required in `/parameters`,
/// so an empty one is refused as Dify refuses a missing required variable.
fn question(family: Family, body: &Map<String, Value>, inputs: &Value) -> Result<String, ApiError> {
    let text = |v: Option<&Value>, what: &str| match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(q)) => Ok(Some(q.clone())),
        Some(_) => Err(ApiError::invalid_param(format!("{what} must be a string"))),
    };
    let required = || ApiError::invalid_param("query is required in input form");
    match family {
        Family::Chat => text(body.get("query"), "query")?
            .ok_or_else(|| ApiError::invalid_param("query is required")),
        Family::Completion => {
            let form = text(inputs.get("query"), "query in input form")?.filter(|q| !q.is_empty());
            match form {
                Some(q) => Ok(q),
                None => text(body.get("query"), "query")?
                    .filter(|q| !q.is_empty())
                    .ok_or_else(required),
            }
        }
        Family::Workflow => text(inputs.get("query"), "query in input form")?
            .filter(|q| !q.is_empty())
            .ok_or_else(required),
    }
}

async fn generate(
    sim: SimState,
    headers: &HeaderMap,
    body: Payload,
    family: Family,
    path_pin: Option<String>,
) -> Response {
    let held = sim.clone();
    let _in_flight = held.counters.call_started();
    let path = match (family, &path_pin) {
        (Family::Chat, _) => "/v1/chat-messages".to_string(),
        (Family::Completion, _) => "/v1/completion-messages".to_string(),
        (Family::Workflow, None) => "/v1/workflows/run".to_string(),
        (Family::Workflow, Some(id)) => format!("/v1/workflows/{id}/run"),
    };
    let request = match prepare(headers, body, family, path_pin) {
        Err(e) => return e.into_response(),
        Ok(request) => request,
    };
    sim.apps.record(
        &request.key,
        apps::SeenRequest {
            path,
            workflow_id: request.body_pin.clone(),
        },
    );
    if let Err(e) = check_pin(&sim, &request).and_then(|()| check_form(&sim, &request)) {
        return e.into_response();
    }
    // Dify looks the conversation up (for this app and user) before it generates.
    let facts = match &request.conversation_id {
        None => Vec::new(),
        Some(id) => match sim.conversations.facts(id, &request.key, &request.user) {
            Some(facts) => facts,
            None => return ApiError::conversation_not_found().into_response(),
        },
    };
    run(sim, request, facts).await
}

/// Dify checks the plan before it looks the version up: a Sandbox key is refused whatever the
/// id; then a malformed id is a 400, an id the app never published a 404.
fn check_pin(sim: &Sim, p: &Prepared) -> Result<(), ApiError> {
    let Some(pin) = &p.pin else { return Ok(()) };
    if p.app.token == Some(KeyToken::NoPin) {
        return Err(ApiError::pin_not_allowed());
    }
    if !is_uuid(pin) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Invalid workflow_id format.",
        ));
    }
    if !sim.apps.is_published(&p.key, pin) {
        return Err(ApiError::workflow_not_found());
    }
    Ok(())
}

fn app_hash(key: &str) -> u64 {
    StableHash::new("app").str(key).finish()
}

/// `facts`: what the conversation continued was asked to remember (see `conversations`).
async fn run(sim: SimState, p: Prepared, facts: Vec<String>) -> Response {
    // Delays count from here, so the work of answering is inside the latency, not added to it.
    let arrived = Instant::now();
    let cfg = &sim.cfg;
    let app = app_hash(&p.key);

    // Dify counts a request against the ceiling before generating; keys with a token are for
    // deterministic tests and never meet it.
    // deterministic tests and never meet it, but for the one that asks for a ceiling.
    let ceiling = match p.app.token {
        Some(token) => token.ceiling(),
        None if cfg.faults == FaultProfile::Hostile => Some(APP_MAX_ACTIVE_REQUESTS),
        None => None,
    };
    let slot = match ceiling {
        Some(limit) => match sim.ceiling.try_acquire(app, limit) {
            Some(slot) => Some(slot),
            None => {
                sim.counters.throttled();
                let app_id = stable_uuid(StableHash::new("app-id").str(&p.key));
                return ApiError::concurrency_ceiling(&app_id, limit).into_response();
            }
        },
        None => None,
    };

    let attempt = sim.attempts.next(
        StableHash::new("pair")
            .str(&p.key)
            .str(&p.question)
            .finish(),
    );
    let request = StableHash::new("request")
        .u64(cfg.seed)
        .str(&p.key)
        .str(&p.question);
    let this_attempt = request.u64(u64::from(attempt));
    // The key's request number, over every question (for the tokens that count them).
    let key_request = || {
        sim.attempts
            .next(StableHash::new("key-requests").str(&p.key).finish())
    };
    let fault = match p.app.token {
        Some(KeyToken::Outage { from, to }) => (from..=to)
            .contains(&key_request())
            .then_some(Fault::Internal),
        Some(KeyToken::Revoked { after }) => (key_request() >= after).then_some(Fault::Revoked),
        Some(token) => faults::forced(token, attempt),
        None => faults::draw(
            cfg.faults,
            Duration::from_millis(cfg.latency_ms),
            &mut this_attempt.str("fault").rng(),
        ),
    };
    let timing = draw_timing(cfg, &mut this_attempt.str("timing").rng());
    if fault.is_some() {
        tracing::debug!(mode = %p.app.mode, attempt, ?fault, "simulated fault");
    }

    let mut slow = Duration::ZERO;
    match fault {
        Some(Fault::TooManyRequests { retry_after }) => {
            sim.counters.throttled();
            return ApiError::too_many_requests(retry_after).into_response();
        }
        Some(Fault::Quota) => return ApiError::quota().into_response(),
        Some(Fault::GatewayTimeoutHtml { after }) => {
            clock::sleep_until(arrived + after).await;
            return gateway_timeout_html();
        }
        Some(Fault::Internal) => {
            clock::sleep_until(arrived + timing.latency).await;
            return ApiError::internal().into_response();
        }
        Some(Fault::Revoked) => {
            clock::sleep_until(arrived + timing.latency).await;
            return ApiError::unauthorized("Access token is invalid").into_response();
        }
        Some(Fault::SlowFirstByte(delay)) => {
            clock::sleep(delay).await;
            slow = delay;
        }
        _ => {}
    }

    let entry = knowledge::find(&p.question);
    // The answer is the question's own (the same at every call) unless the key samples.
    let answer_seed = match p.app.token {
        Some(KeyToken::Sampled) => this_attempt.str("answer"),
        _ => request.str("answer"),
    };
    let scripted = match (p.app.token, p.inputs.get("sim_answer")) {
        (Some(KeyToken::Scripted), Some(Value::String(text))) => Some(text.clone()),
        (Some(KeyToken::Judge), _) => Some(judge::as_dify_app(&p.question, &p.inputs)),
        _ => None,
    };
    let chat = Family::of(p.app.mode) == Family::Chat;
    let remembered = chat
        .then(|| conversations::reply(&p.question, &facts))
        .flatten();
    let answer = remembered
        .or(scripted)
        .unwrap_or_else(|| answer::compose(entry, p.app.quality, &mut answer_seed.rng()));
    let question = p.question.clone();
    let ask = Ask {
        mode: p.app.mode,
        quality: p.app.quality,
        question: p.question,
        inputs: p.inputs,
        conversation_id: p.conversation_id,
        entry,
        answer,
        // The pinned version, checked as published; else the app's latest.
        workflow_id: match &p.pin {
            Some(pin) => pin.to_ascii_lowercase(),
            None => sim.apps.latest(&p.key),
        },
        quirks: Quirks {
            message_end_first: p.app.token == Some(KeyToken::EndOrder),
            unknown_events: p.app.token == Some(KeyToken::UnknownEvents),
            nodes: match p.app.token {
                Some(KeyToken::Nodes(n)) => Some(n),
                _ => None,
            },
        },
    };
    let generation = Generation::new(ask, this_attempt.str("ids").rng());
    if chat && p.app.token != Some(KeyToken::Forget) {
        sim.conversations
            .record(generation.conversation_id(), &p.key, &p.user, &question);
    }

    if p.streaming {
        streaming_response(&sim, generation, &timing, fault, slot, app, &p.user)
    } else {
        let deadline = arrived + slow + timing.latency;
        let response = blocking_response(generation, &timing, fault, slow, deadline).await;
        drop(slot);
        response
    }
}

/// Latency and time to first token get uniform ± jitter (never below zero); the per-chunk
/// delay is exact.
pub(super) fn draw_timing(cfg: &SimConfig, rng: &mut impl Rng) -> Timing {
    let spread = i64::try_from(cfg.jitter_ms).unwrap_or(i64::MAX);
    let mut jittered = |base: u64| {
        let delta = if spread > 0 {
            rng.gen_range(-spread..=spread)
        } else {
            0
        };
        Duration::from_millis(base.saturating_add_signed(delta))
    };
    let latency = jittered(cfg.latency_ms);
    let ttft = jittered(cfg.ttft_ms.unwrap_or(cfg.latency_ms));
    Timing {
        latency,
        ttft,
        token_delay: Duration::from_millis(cfg.token_delay_ms),
    }
}

async fn blocking_response(
    mut generation: Generation,
    t: &Timing,
    fault: Option<Fault>,
    slow: Duration,
    deadline: Instant,
) -> Response {
    clock::sleep_until(deadline).await;
    let elapsed = t.latency.saturating_add(slow);
    match fault {
        Some(Fault::MidStream(e)) => {
            let status =
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            ApiError::new(status, e.code, e.message).into_response()
        }
        Some(Fault::BadJson) => {
            let body = truncated_json(&generation.blocking_body(elapsed));
            json_200(Body::from(body))
        }
        Some(Fault::Cut) => cut_json(truncated_json(&generation.blocking_body(elapsed))),
        _ => Json(generation.blocking_body(elapsed)).into_response(),
    }
}

pub(super) fn json_200(body: Body) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A 200 JSON response whose connection drops after `head`.
pub(super) fn cut_json(head: Vec<u8>) -> Response {
    let cut = std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "simulated cut response",
    );
    json_200(Body::from_stream(futures::stream::iter([
        Ok(Bytes::from(head)),
        Err(cut),
    ])))
}

/// The first half of the serialised body, cut on a UTF-8 boundary.
pub(super) fn truncated_json(value: &impl serde::Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut at = bytes.len() / 2;
    while at > 0 && bytes.get(at).is_some_and(|b| b & 0xc0 == 0x80) {
        at -= 1;
    }
    bytes.truncate(at);
    bytes
}

fn streaming_response(
    sim: &SimState,
    mut generation: Generation,
    t: &Timing,
    fault: Option<Fault>,
    slot: Option<faults::Slot>,
    app: u64,
    user: &str,
) -> Response {
    let (steps, stopped_tail) = generation.stream_plan(t, fault);
    let (stop, task) = sim.tasks.register(generation.task_id(), app, user);
    let body = Body::from_stream(stream::play(Playback {
        steps,
        stopped_tail,
        stop,
        task,
        slot,
    }));
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // Keeps nginx (and similar proxies) from buffering the stream into one late write.
            (
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        body,
    )
        .into_response()
}

fn stop(
    sim: &SimState,
    task_id: &str,
    headers: &HeaderMap,
    body: Payload,
    family: Family,
) -> Response {
    let checked = authenticate(headers).and_then(|(key, app)| {
        let body = json_object(body)?;
        let user = require_user(&body)?;
        check_family(family, app.mode)?;
        Ok((key, user))
    });
    match checked {
        Err(e) => e.into_response(),
        Ok((key, user)) => {
            // Workflow stop ignores `user`; the chat and completion stops only match their own.
            let user = (family != Family::Workflow).then_some(user.as_str());
            sim.tasks.stop(task_id, app_hash(&key), user);
            Json(json!({"result": "success"})).into_response()
        }
    }
}
