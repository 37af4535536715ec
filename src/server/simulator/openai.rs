//! OpenAI's side of the wire for the simulated judge and embedder: `POST /v1/chat/completions`
//! and `POST /v1/embeddings` as OpenAI speaks them — bearer auth with judge keys
//! (`keys::lookup_judge`), the `{"error":{"message","type","param","code"}}` envelope, the
//! `chat.completion` and embedding-list bodies — with the simulator's latency and faults. What
//! the judge says is `judge`'s business, the vectors `embeddings`'.
//!
//! Order: count the request (`stats`) → auth (401) → JSON and fields (400) → count it for
//! `outage<N>` → fault → the body, sent `latency_ms` ± `jitter_ms` after arrival (as a blocking
//! Dify call, on the simulator's clock).
//!
//! Usage counts are deterministic: a text costs `generate::token_estimate` tokens (one per CJK
//! character, four per three words, plus one), a chat message 3 more, a chat request 3 more.
//!
//! # Faults
//! | cause                         | response                                                  |
//! |-------------------------------|-----------------------------------------------------------|
//! | `r429`, profile 429           | 429 `requests` / `rate_limit_exceeded` at once, with `Retry-After: 1` (the profile's no-Retry-After 429 without it) |
//! | `quota`                       | 429 `insufficient_quota` / `insufficient_quota` at once   |
//! | `e500`, profile 500 and mid-stream error | 500 `server_error` after the latency           |
//! | `flaky1`                      | as `e500` on the first attempt per (key, request content), then normal |
//! | `outage<N>`                   | 503 `server_error` / `service_unavailable` at once from the (N+1)-th well-formed request per endpoint |
//! | `slow`                        | the body after 5 × the latency                            |
//! | profile HTML 504              | the Cloudflare page after 2 × the latency                 |
//! | profile cut                   | a 200 whose body breaks off halfway                       |
//! | profile slow first byte       | the body 2 s later                                        |
//! | profile malformed JSON        | chat: the `malformed` verdict; embeddings: a cut body     |
//!
//! Output-shape tokens (`fenced`, `text`, `malformed`) only concern chat completions; the
//! profile's concurrency ceiling does not apply here.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::embeddings::{self, DEFAULT_DIMENSIONS, MAX_DIMENSIONS};
use super::faults::{self, Fault};
use super::generate::{token_estimate, unix_now};
use super::handlers::{cut_json, draw_timing, truncated_json, Payload};
use super::judge::{self, Shape};
use super::keys::{self, JudgeToken};
use super::rng::StableHash;
use super::wire::gateway_timeout_html;
use super::{clock, SimState};

/// The most inputs one embeddings request may carry (OpenAI's limit).
const MAX_INPUTS: usize = 2048;

/// OpenAI's error envelope and the status it comes with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OpenAiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<String>,
    code: Option<&'static str>,
    retry_after: bool,
}

impl OpenAiError {
    fn invalid(
        message: impl Into<String>,
        param: Option<&str>,
        code: Option<&'static str>,
    ) -> Self {
        OpenAiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: param.map(str::to_string),
            code,
            retry_after: false,
        }
    }

    fn missing_key() -> Self {
        OpenAiError {
            status: StatusCode::UNAUTHORIZED,
            ..Self::invalid(
                "You didn't provide an API key. You need to provide your API key in an \
                 Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                None,
                None,
            )
        }
    }

    /// Unlike OpenAI, the message does not echo the key: a client may log it.
    fn wrong_key() -> Self {
        OpenAiError {
            status: StatusCode::UNAUTHORIZED,
            ..Self::invalid(
                "Incorrect API key provided. You can find your API key at \
                 https://platform.openai.com/account/api-keys.",
                None,
                Some("invalid_api_key"),
            )
        }
    }

    fn bad_json() -> Self {
        Self::invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you \
             aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but \
             what was sent was not valid JSON.)",
            None,
            None,
        )
    }

    fn too_large() -> Self {
        OpenAiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            ..Self::invalid(
                "The request body is too large.",
                None,
                Some("request_too_large"),
            )
        }
    }

    fn missing(param: &str) -> Self {
        Self::invalid(
            format!("Missing required parameter: '{param}'."),
            Some(param),
            Some("missing_required_parameter"),
        )
    }

    fn invalid_type(param: &str, expected: &str) -> Self {
        Self::invalid(
            format!("Invalid type for '{param}': expected {expected}."),
            Some(param),
            Some("invalid_type"),
        )
    }

    fn invalid_value(param: &str, message: &str) -> Self {
        Self::invalid(
            format!("Invalid '{param}': {message}"),
            Some(param),
            Some("invalid_value"),
        )
    }

    fn rate_limited(retry_after: bool) -> Self {
        OpenAiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "Rate limit reached for requests. Please try again in 1s.".into(),
            kind: "requests",
            param: None,
            code: Some("rate_limit_exceeded"),
            retry_after,
        }
    }

    fn quota() -> Self {
        OpenAiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "You exceeded your current quota, please check your plan and billing \
                      details."
                .into(),
            kind: "insufficient_quota",
            param: None,
            code: Some("insufficient_quota"),
            retry_after: false,
        }
    }

    fn internal() -> Self {
        OpenAiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "The server had an error while processing your request. Sorry about that!"
                .into(),
            kind: "server_error",
            param: None,
            code: None,
            retry_after: false,
        }
    }

    fn unavailable() -> Self {
        OpenAiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "The engine is currently overloaded, please try again later.".into(),
            kind: "server_error",
            param: None,
            code: Some("service_unavailable"),
            retry_after: false,
        }
    }

    fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The two endpoints, which count `outage<N>` and attempts separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    ChatCompletions,
    Embeddings,
}

impl Endpoint {
    fn as_str(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat/completions",
            Endpoint::Embeddings => "embeddings",
        }
    }
}

/// The bearer key, if it is a judge key.
fn authenticate(headers: &HeaderMap) -> Result<(String, Option<JudgeToken>), OpenAiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(OpenAiError::missing_key)?;
    let (scheme, key) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
        return Err(OpenAiError::missing_key());
    }
    let key = key.trim();
    keys::lookup_judge(key)
        .map(|judge| (key.to_string(), judge.token))
        .ok_or_else(OpenAiError::wrong_key)
}

fn json_object(body: Payload) -> Result<Map<String, Value>, OpenAiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OpenAiError::too_large()
        } else {
            OpenAiError::bad_json()
        }
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(OpenAiError::bad_json()),
    }
}

fn model(body: &Map<String, Value>) -> Result<String, OpenAiError> {
    match body.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => Ok(m.clone()),
        None | Some(Value::Null) => Err(OpenAiError::invalid(
            "you must provide a model parameter",
            None,
            None,
        )),
        Some(_) => Err(OpenAiError::invalid_type("model", "a non-empty string")),
    }
}

/// What a well-formed chat request carries that the simulator uses.
struct ChatRequest {
    model: String,
    /// Each message's text (an array of parts joined by newlines).
    messages: Vec<String>,
}

fn chat_request(body: Payload) -> Result<ChatRequest, OpenAiError> {
    let body = json_object(body)?;
    let model = model(&body)?;
    let list = match body.get("messages") {
        None | Some(Value::Null) => return Err(OpenAiError::missing("messages")),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(OpenAiError::invalid_type("messages", "an array of objects")),
    };
    if list.is_empty() {
        return Err(OpenAiError::invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an \
             empty array instead.",
            Some("messages"),
            Some("empty_array"),
        ));
    }
    let messages = list
        .iter()
        .enumerate()
        .map(|(i, m)| message_text(i, m))
        .collect::<Result<Vec<_>, _>>()?;
    match body.get("temperature") {
        None | Some(Value::Null) => {}
        Some(Value::Number(t)) if t.as_f64().is_some_and(|t| (0.0..=2.0).contains(&t)) => {}
        Some(_) => {
            return Err(OpenAiError::invalid_value(
                "temperature",
                "expected a number between 0 and 2.",
            ))
        }
    }
    match body.get("response_format") {
        None | Some(Value::Null) => {}
        Some(Value::Object(f))
            if matches!(
                f.get("type").and_then(Value::as_str),
                Some("text" | "json_object" | "json_schema")
            ) => {}
        Some(_) => {
            return Err(OpenAiError::invalid_value(
                "response_format",
                "expected an object whose type is 'text', 'json_object' or 'json_schema'.",
            ))
        }
    }
    Ok(ChatRequest { model, messages })
}

fn message_text(i: usize, message: &Value) -> Result<String, OpenAiError> {
    let Value::Object(m) = message else {
        return Err(OpenAiError::invalid_type(
            &format!("messages[{i}]"),
            "an object",
        ));
    };
    const ROLES: [&str; 6] = [
        "system",
        "developer",
        "user",
        "assistant",
        "tool",
        "function",
    ];
    match m.get("role").and_then(Value::as_str) {
        Some(role) if ROLES.contains(&role) => {}
        Some(role) => {
            return Err(OpenAiError::invalid_value(
                &format!("messages[{i}].role"),
                &format!(
                    "'{role}'. Supported values are: 'system', 'developer', 'user', 'assistant', \
                     'tool' and 'function'."
                ),
            ))
        }
        None => return Err(OpenAiError::missing(&format!("messages[{i}].role"))),
    }
    let param = format!("messages[{i}].content");
    match m.get("content") {
        Some(Value::String(text)) => Ok(text.clone()),
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::Array(parts)) => {
            let texts = parts
                .iter()
                .map(|part| match part.get("text") {
                    Some(Value::String(t)) => Ok(t.as_str()),
                    _ if part.get("type").and_then(Value::as_str) == Some("text") => {
                        Err(OpenAiError::missing(&format!("{param}.text")))
                    }
                    // Images and other parts carry nothing the judge reads.
                    _ => Ok(""),
                })
                .collect::<Result<Vec<&str>, _>>()?;
            Ok(texts.join("\n"))
        }
        Some(_) => Err(OpenAiError::invalid_type(
            &param,
            "one of a string or array of objects",
        )),
    }
}

struct EmbeddingsRequest {
    model: String,
    inputs: Vec<String>,
    dimensions: usize,
    base64: bool,
}

fn embeddings_request(body: Payload) -> Result<EmbeddingsRequest, OpenAiError> {
    let body = json_object(body)?;
    let model = model(&body)?;
    let invalid_input = || {
        OpenAiError::invalid(
            "'$.input' is invalid. The simulator accepts a non-empty string or a non-empty array \
             of up to 2048 non-empty strings.",
            Some("input"),
            Some("invalid_value"),
        )
    };
    let inputs = match body.get("input") {
        None | Some(Value::Null) => return Err(OpenAiError::missing("input")),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_INPUTS => items
            .iter()
            .map(|v| match v {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                _ => Err(invalid_input()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(invalid_input()),
    };
    let dimensions = match body.get("dimensions") {
        None | Some(Value::Null) => DEFAULT_DIMENSIONS,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|d| usize::try_from(d).ok())
            .filter(|d| (1..=MAX_DIMENSIONS).contains(d))
            .ok_or_else(|| {
                OpenAiError::invalid_value(
                    "dimensions",
                    &format!("expected an integer between 1 and {MAX_DIMENSIONS}."),
                )
            })?,
        Some(_) => return Err(OpenAiError::invalid_type("dimensions", "an integer")),
    };
    let base64 = match body.get("encoding_format") {
        None | Some(Value::Null) => false,
        Some(Value::String(f)) if f == "float" => false,
        Some(Value::String(f)) if f == "base64" => true,
        Some(_) => {
            return Err(OpenAiError::invalid_value(
                "encoding_format",
                "expected 'float' or 'base64'.",
            ))
        }
    };
    Ok(EmbeddingsRequest {
        model,
        inputs,
        dimensions,
        base64,
    })
}

/// What a request suffers before (or instead of) its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mishap {
    /// Answer at once with this error.
    Refuse(ErrorKind),
    /// A 500 after the latency.
    Internal,
    GatewayTimeoutHtml(Duration),
    /// The body after this much more than the latency, or its latency multiplied.
    Late {
        extra: Duration,
        times: u32,
    },
    /// A 200 body that breaks off halfway.
    Cut,
    /// Chat: the verdict worded with no score.
    Malformed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    RateLimited { retry_after: bool },
    Quota,
    Unavailable,
}

/// The mishap this request suffers: the key token's, else a draw from the fault profile.
/// `content` identifies the request's content for `flaky1` and for repeatable draws.
fn mishap(
    sim: &SimState,
    key: &str,
    token: Option<JudgeToken>,
    endpoint: Endpoint,
    content: u64,
) -> (Option<Mishap>, Duration) {
    let attempt = sim.attempts.next(
        StableHash::new("openai-pair")
            .str(endpoint.as_str())
            .str(key)
            .u64(content)
            .finish(),
    );
    let this_attempt = StableHash::new("openai-request")
        .u64(sim.cfg.seed)
        .str(endpoint.as_str())
        .str(key)
        .u64(content)
        .u64(u64::from(attempt));
    let latency = draw_timing(&sim.cfg, &mut this_attempt.str("timing").rng()).latency;
    let mishap = match token {
        Some(JudgeToken::RateLimited) => {
            Some(Mishap::Refuse(ErrorKind::RateLimited { retry_after: true }))
        }
        Some(JudgeToken::Quota) => Some(Mishap::Refuse(ErrorKind::Quota)),
        Some(JudgeToken::Internal) => Some(Mishap::Internal),
        Some(JudgeToken::Slow) => Some(Mishap::Late {
            extra: Duration::ZERO,
            times: 5,
        }),
        Some(JudgeToken::Flaky1) => (attempt == 0).then_some(Mishap::Internal),
        Some(JudgeToken::Outage(n)) => {
            let seen = sim.attempts.next(
                StableHash::new("openai-outage")
                    .str(endpoint.as_str())
                    .str(key)
                    .finish(),
            );
            (seen >= n).then_some(Mishap::Refuse(ErrorKind::Unavailable))
        }
        Some(JudgeToken::Fenced | JudgeToken::Text | JudgeToken::Malformed) => None,
        None => faults::draw(
            sim.cfg.faults,
            Duration::from_millis(sim.cfg.latency_ms),
            &mut this_attempt.str("fault").rng(),
        )
        .map(|fault| match fault {
            Fault::TooManyRequests { retry_after } => {
                Mishap::Refuse(ErrorKind::RateLimited { retry_after })
            }
            Fault::Quota => Mishap::Refuse(ErrorKind::Quota),
            // `Revoked` is an app key token's, never drawn from a profile.
            Fault::Internal | Fault::MidStream(_) | Fault::Revoked => Mishap::Internal,
            Fault::GatewayTimeoutHtml { after } => Mishap::GatewayTimeoutHtml(after),
            Fault::Cut => Mishap::Cut,
            Fault::SlowFirstByte(extra) => Mishap::Late { extra, times: 1 },
            Fault::BadJson if endpoint == Endpoint::ChatCompletions => Mishap::Malformed,
            Fault::BadJson => Mishap::Cut,
        }),
    };
    (mishap, latency)
}

/// Sends the error a mishap stands for, if it stands for one, at the time it is due.
async fn failure(mishap: Option<Mishap>, arrived: Instant, latency: Duration) -> Option<Response> {
    match mishap? {
        Mishap::Refuse(kind) => Some(
            match kind {
                ErrorKind::RateLimited { retry_after } => OpenAiError::rate_limited(retry_after),
                ErrorKind::Quota => OpenAiError::quota(),
                ErrorKind::Unavailable => OpenAiError::unavailable(),
            }
            .into_response(),
        ),
        Mishap::Internal => {
            clock::sleep_until(arrived + latency).await;
            Some(OpenAiError::internal().into_response())
        }
        Mishap::GatewayTimeoutHtml(after) => {
            clock::sleep_until(arrived + after).await;
            Some(gateway_timeout_html())
        }
        Mishap::Late { .. } | Mishap::Cut | Mishap::Malformed => None,
    }
}

/// When the body is due.
fn due(mishap: Option<Mishap>, arrived: Instant, latency: Duration) -> Instant {
    match mishap {
        Some(Mishap::Late { extra, times }) => arrived + latency.saturating_mul(times) + extra,
        _ => arrived + latency,
    }
}

/// Sends `body` (cut halfway under the cut fault) when it is due.
async fn deliver(body: &impl Serialize, mishap: Option<Mishap>, at: Instant) -> Response {
    clock::sleep_until(at).await;
    if mishap == Some(Mishap::Cut) {
        return cut_json(truncated_json(body));
    }
    axum::Json(body).into_response()
}

pub(super) async fn chat_completions(
    State(sim): State<SimState>,
    headers: HeaderMap,
    body: Payload,
) -> Response {
    let arrived = Instant::now();
    sim.counters
        .chat_completions
        .fetch_add(1, Ordering::Relaxed);
    let (key, token) = match authenticate(&headers) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let request = match chat_request(body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let content = request
        .messages
        .iter()
        .fold(StableHash::new("messages"), |h, m| h.str(m))
        .finish();
    let (mishap, latency) = mishap(&sim, &key, token, Endpoint::ChatCompletions, content);
    if let Some(response) = failure(mishap, arrived, latency).await {
        return response;
    }

    let shape = match (mishap, token) {
        (Some(Mishap::Malformed), _) | (_, Some(JudgeToken::Malformed)) => Shape::Malformed,
        (_, Some(JudgeToken::Fenced)) => Shape::Fenced,
        (_, Some(JudgeToken::Text)) => Shape::Text,
        _ => Shape::Json,
    };
    let verdict = judge::read_prompt(request.messages.iter().map(String::as_str))
        .ok_or(judge::NOTHING_TO_GRADE)
        .and_then(|prompt| judge::grade(&prompt));
    let reply = judge::render(&verdict, shape);

    let prompt_tokens = request
        .messages
        .iter()
        .map(|m| token_estimate(m) + 3)
        .sum::<u64>()
        + 3;
    let completion_tokens = token_estimate(&reply);
    let id = StableHash::new("chatcmpl")
        .u64(content)
        .u64(sim.cfg.seed)
        .finish();
    let body = json!({
        "id": format!("chatcmpl-{id:016x}"),
        "object": "chat.completion",
        "created": unix_now(),
        "model": request.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_dify_bench_sim",
    });
    deliver(&body, mishap, due(mishap, arrived, latency)).await
}

#[derive(Serialize)]
struct EmbeddingList {
    object: &'static str,
    data: Vec<EmbeddingItem>,
    model: String,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct EmbeddingItem {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

/// Floats, or their little-endian bytes in base64 (what `encoding_format: base64` asks for).
#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

pub(super) async fn embeddings(
    State(sim): State<SimState>,
    headers: HeaderMap,
    body: Payload,
) -> Response {
    let arrived = Instant::now();
    sim.counters.embeddings.fetch_add(1, Ordering::Relaxed);
    let (key, token) = match authenticate(&headers) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let request = match embeddings_request(body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let content = request
        .inputs
        .iter()
        .fold(
            StableHash::new("inputs").u64(request.dimensions as u64),
            |h, i| h.str(i),
        )
        .finish();
    let (mishap, latency) = mishap(&sim, &key, token, Endpoint::Embeddings, content);
    if let Some(response) = failure(mishap, arrived, latency).await {
        return response;
    }

    let data = request
        .inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let v = embeddings::embed(input, request.dimensions);
            let embedding = if request.base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Vector::Floats(v)
            };
            EmbeddingItem {
                object: "embedding",
                index,
                embedding,
            }
        })
        .collect();
    let tokens: u64 = request.inputs.iter().map(|i| token_estimate(i)).sum();
    let body = EmbeddingList {
        object: "list",
        data,
        model: request.model,
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    };
    deliver(&body, mishap, due(mishap, arrived, latency)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(header::AUTHORIZATION, v);
        }
        h
    }

    #[test]
    fn auth_accepts_judge_keys_only() {
        assert_eq!(
            authenticate(&bearer("Bearer sk-judge.fenced.x")),
            Ok(("sk-judge.fenced.x".into(), Some(JudgeToken::Fenced)))
        );
        assert_eq!(
            authenticate(&bearer("bearer  sk-judge ")),
            Ok(("sk-judge".into(), None))
        );
        assert_eq!(
            authenticate(&bearer("Bearer app-chat.q90")).map_err(|e| e.code),
            Err(Some("invalid_api_key"))
        );
        for missing in ["", "Bearer", "Bearer   ", "Basic sk-judge"] {
            let e = authenticate(&bearer(missing)).expect_err(missing);
            assert_eq!(
                (e.status, e.code),
                (StatusCode::UNAUTHORIZED, None),
                "{missing:?}"
            );
        }
    }

    #[test]
    fn the_error_envelope_is_openais() {
        assert_eq!(
            OpenAiError::rate_limited(true).body(),
            json!({"error": {
                "message": "Rate limit reached for requests. Please try again in 1s.",
                "type": "requests", "param": null, "code": "rate_limit_exceeded"
            }})
        );
        assert_eq!(
            OpenAiError::missing("messages").body()["error"],
            json!({
                "message": "Missing required parameter: 'messages'.",
                "type": "invalid_request_error", "param": "messages",
                "code": "missing_required_parameter"
            })
        );
    }
}
