//! One HTTP attempt against Dify, with its timeouts: send, check the status, then read a blocking
//! body or a stream to EOF. Every way it can go wrong comes back as an `AttemptError`; whether to
//! try again is `retry.rs`'s call, made by the loop in `mod.rs`.

use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use tokio::time::{timeout_at, Instant};

use super::error::{codes, from_http_error, status_line, AttemptError};
use super::outcome::{not_json_error, Outcome, Parsed};
use super::request::PreparedCall;
use super::retry::parse_retry_after;
use super::sse::SseParser;
use super::{AppEndpoint, ClientConfig};
use crate::model::limits::human_bytes;
use crate::server::secret::Secret;

/// Error bodies are summarised, so the first part is all that is read.
const MAX_ERROR_BODY_BYTES: usize = 64 << 10;
// A blocking body or a whole stream (TTS audio chunks included) is bounded by the configured
// `max_response_bytes` (`model::limits::MAX_RESPONSE_BYTES`): reading stops there.

pub(crate) struct Success {
    pub parsed: Parsed,
    pub latency: Duration,
    pub ttft: Option<Duration>,
}

pub(crate) async fn run(
    http: &reqwest::Client,
    cfg: &ClientConfig,
    app: &AppEndpoint,
    call: &PreparedCall<'_>,
) -> Result<Success, AttemptError> {
    let started = Instant::now();
    let deadline = after(started, cfg.request_timeout);
    let accept = match call.response_mode {
        crate::model::ResponseMode::Streaming => "text/event-stream, application/json",
        crate::model::ResponseMode::Blocking => "application/json",
    };
    let request = http
        .post(call.url.clone())
        .bearer_auth(api_key(app)?)
        .header(ACCEPT, accept)
        .header(CONTENT_TYPE, "application/json")
        .body(call.body.clone());
    let response = match timeout_at(deadline, request.send()).await {
        Err(_) => return Err(timeout(cfg)),
        Ok(Err(e)) => return Err(from_reqwest(&e, cfg)),
        Ok(Ok(r)) => r,
    };
    let status = response.status().as_u16();
    let content_type = header(response.headers(), CONTENT_TYPE);
    if !response.status().is_success() {
        return Err(error_response(response, deadline).await);
    }
    // Decided by what came back, not what was asked: a proxy or an old Dify may answer either way.
    let is_stream = content_type
        .as_deref()
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("text/event-stream"));
    if is_stream {
        read_stream(response, cfg, app, started, deadline).await
    } else {
        let body = read_capped(response, deadline, cfg).await?;
        let latency = started.elapsed();
        let parsed = Outcome::read_blocking(&body, content_type.as_deref())?
            .finish(app.app_mode, app.answer_field.as_deref())
            .map_err(|e| {
                let status = e.http_status.or(Some(status));
                e.with_status(status)
            })?;
        Ok(Success {
            parsed,
            latency,
            ttft: None,
        })
    }
}

/// A GET for the "test connection" button (`/info`, `/parameters`): the status and JSON body, or
/// the error a non-2xx or non-JSON answer maps to.
pub(crate) async fn get_json(
    http: &reqwest::Client,
    cfg: &ClientConfig,
    app: &AppEndpoint,
    url: reqwest::Url,
) -> Result<serde_json::Value, AttemptError> {
    let deadline = after(Instant::now(), cfg.request_timeout);
    let request = http
        .get(url)
        .bearer_auth(api_key(app)?)
        .header(ACCEPT, "application/json");
    let response = match timeout_at(deadline, request.send()).await {
        Err(_) => return Err(timeout(cfg)),
        Ok(Err(e)) => return Err(from_reqwest(&e, cfg)),
        Ok(Ok(r)) => r,
    };
    if !response.status().is_success() {
        return Err(error_response(response, deadline).await);
    }
    let content_type = header(response.headers(), CONTENT_TYPE);
    let body = read_capped(response, deadline, cfg).await?;
    serde_json::from_slice(&body).map_err(|e| not_json_error(content_type.as_deref(), &body, &e))
}

/// One `POST` of a JSON body with a bearer key, reading a JSON reply: what a judge's or an
/// embedding endpoint's call is. Errors map as Dify's do, and an OpenAI-style error envelope is
/// read too (see `error::from_http_error`).
pub(crate) async fn post_json(
    http: &reqwest::Client,
    cfg: &ClientConfig,
    key: &Secret,
    url: reqwest::Url,
    body: &serde_json::Value,
) -> Result<(serde_json::Value, Duration), AttemptError> {
    let started = Instant::now();
    let deadline = after(started, cfg.request_timeout);
    let request = http
        .post(url)
        .bearer_auth(header_key(key)?)
        .header(ACCEPT, "application/json")
        .json(body);
    let response = match timeout_at(deadline, request.send()).await {
        Err(_) => return Err(timeout(cfg)),
        Ok(Err(e)) => return Err(from_reqwest(&e, cfg)),
        Ok(Ok(r)) => r,
    };
    if !response.status().is_success() {
        return Err(error_response(response, deadline).await);
    }
    let content_type = header(response.headers(), CONTENT_TYPE);
    let body = read_capped(response, deadline, cfg).await?;
    let value = serde_json::from_slice(&body)
        .map_err(|e| not_json_error(content_type.as_deref(), &body, &e))?;
    Ok((value, started.elapsed()))
}

async fn read_stream(
    response: reqwest::Response,
    cfg: &ClientConfig,
    app: &AppEndpoint,
    started: Instant,
    deadline: Instant,
) -> Result<Success, AttemptError> {
    let mut body = response.bytes_stream();
    let mut parser = SseParser::new();
    let mut outcome = Outcome::default();
    let mut ttft = None;
    let mut total = 0usize;
    loop {
        let idle_deadline = after(Instant::now(), cfg.idle_timeout).min(deadline);
        let chunk = match timeout_at(idle_deadline, body.next()).await {
            Ok(None) => break,
            Ok(Some(Ok(chunk))) => chunk,
            // The call is settled once a terminal event is in; losing the tail (TTS chunks, the
            // second of a chatflow's two end events) does not make the answer wrong.
            _ if outcome.has_terminal() => break,
            Err(_) if Instant::now() >= deadline => {
                return Err(timeout(cfg).with_ids(outcome.ids().clone()))
            }
            Err(_) => {
                return Err(AttemptError::new(
                    codes::IDLE_TIMEOUT,
                    format!(
                        "the stream sent nothing for {} (idle_timeout; Dify pings every 10 s)",
                        human(cfg.idle_timeout)
                    ),
                )
                .with_status(Some(200))
                .with_ids(outcome.ids().clone()))
            }
            Ok(Some(Err(e))) => {
                return Err(AttemptError::new(
                    codes::STREAM_INCOMPLETE,
                    format!("the stream broke off: {}", error_chain(&e)),
                )
                .with_status(Some(200))
                .with_ids(outcome.ids().clone()))
            }
        };
        // Checked before the chunk is parsed: nothing past the limit is buffered. One frame
        // still being assembled is within the total, so it is bounded too.
        total += chunk.len();
        if total > cfg.max_response_bytes {
            return Err(too_large(cfg, "the stream").with_ids(outcome.ids().clone()));
        }
        outcome.set_clock(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX));
        for frame in parser.push(&chunk) {
            let answered = outcome
                .apply_frame(&frame)
                .map_err(|e| e.with_status(Some(200)).with_ids(outcome.ids().clone()))?;
            if answered && ttft.is_none() {
                ttft = Some(started.elapsed());
            }
        }
    }
    // Whatever was left unterminated: a complete last event missing its blank line is used; half
    // an event from a cut connection is not, and the missing terminal event will say so.
    if let Some(frame) = parser.finish() {
        if matches!(outcome.apply_frame(&frame), Ok(true)) && ttft.is_none() {
            ttft = Some(started.elapsed());
        }
    }
    let latency = started.elapsed();
    let parsed = outcome.finish(app.app_mode, app.answer_field.as_deref())?;
    Ok(Success {
        parsed,
        latency,
        ttft,
    })
}

async fn error_response(response: reqwest::Response, deadline: Instant) -> AttemptError {
    let status = response.status().as_u16();
    if response.status().is_redirection() {
        // The client follows no redirect (`OutboundPolicy::client_builder`): where it points is an
        // address the outbound policy never checked. Its body and `Location` are not quoted.
        return AttemptError::new(
            codes::REDIRECT_REFUSED,
            format!(
                "{} is a redirect, and dify-bench follows none: set the base URL to the address \
                 it should reach (often https:// instead of http://, or a missing /v1)",
                status_line(status)
            ),
        )
        .with_status(Some(status));
    }
    let content_type = header(response.headers(), CONTENT_TYPE);
    let retry_after = header(response.headers(), RETRY_AFTER).and_then(|v| parse_retry_after(&v));
    // The status alone decides retrying; a body that cannot be read only makes the message poorer.
    let body = read_prefix(response, MAX_ERROR_BODY_BYTES, deadline).await;
    from_http_error(status, content_type.as_deref(), &body, retry_after)
}

/// The whole body, or an error if it is larger than `max_response_bytes`, too slow or broken.
async fn read_capped(
    response: reqwest::Response,
    deadline: Instant,
    cfg: &ClientConfig,
) -> Result<Vec<u8>, AttemptError> {
    let cap = cfg.max_response_bytes;
    // A body announced as too large is not read at all.
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large(cfg, "the response"));
    }
    let mut body = response.bytes_stream();
    let mut buf = Vec::new();
    loop {
        match timeout_at(deadline, body.next()).await {
            Err(_) => return Err(timeout(cfg)),
            Ok(None) => return Ok(buf),
            Ok(Some(Err(e))) => {
                return Err(AttemptError::new(
                    codes::CONNECTION_ERROR,
                    format!(
                        "the connection broke while reading the response: {}",
                        error_chain(&e)
                    ),
                ))
            }
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > cap {
                    return Err(too_large(cfg, "the response"));
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

/// Up to `cap` bytes of the body, whatever happens while reading it.
async fn read_prefix(response: reqwest::Response, cap: usize, deadline: Instant) -> Vec<u8> {
    let mut body = response.bytes_stream();
    let mut buf = Vec::new();
    while buf.len() < cap {
        match timeout_at(deadline, body.next()).await {
            Ok(Some(Ok(chunk))) => {
                let take = chunk.len().min(cap - buf.len());
                buf.extend_from_slice(&chunk[..take]);
            }
            _ => break,
        }
    }
    buf
}

/// The key as sent. Pasted keys often carry a trailing newline; a key with other characters a
/// header cannot hold is refused here with a message that does not quote it.
fn api_key(app: &AppEndpoint) -> Result<&str, AttemptError> {
    header_key(&app.api_key)
}

/// The key as an `Authorization` header can carry it, or why not.
fn header_key(key: &Secret) -> Result<&str, AttemptError> {
    let raw = key.expose().trim();
    if raw.is_empty() {
        return Err(AttemptError::new(
            codes::INVALID_REQUEST,
            "there is no API key",
        ));
    }
    if raw.chars().any(|c| c.is_control() || !c.is_ascii()) {
        return Err(AttemptError::new(
            codes::INVALID_REQUEST,
            format!(
                "the API key {} contains characters an HTTP header cannot carry",
                key.hint()
            ),
        ));
    }
    Ok(raw)
}

/// `what` grew past `max_response_bytes`; the rest was not read.
fn too_large(cfg: &ClientConfig, what: &str) -> AttemptError {
    AttemptError::new(
        codes::RESPONSE_TOO_LARGE,
        format!(
            "{what} is larger than {} (dify-bench's limit on one Dify response); the rest was \
             not read",
            human_bytes(cfg.max_response_bytes)
        ),
    )
    .with_status(Some(200))
}

fn timeout(cfg: &ClientConfig) -> AttemptError {
    AttemptError::new(
        codes::TIMEOUT,
        format!(
            "no complete response within {} (request_timeout)",
            human(cfg.request_timeout)
        ),
    )
}

fn from_reqwest(e: &reqwest::Error, cfg: &ClientConfig) -> AttemptError {
    // The resolver refused every address of the host: nothing was sent.
    if let Some(refused) = crate::server::outbound::refusal_in(e) {
        return AttemptError::new(codes::TARGET_REFUSED, refused.to_string());
    }
    if e.is_connect() {
        let what = if e.is_timeout() {
            format!(
                "no connection within {} (connect_timeout)",
                human(cfg.connect_timeout)
            )
        } else {
            error_chain(e)
        };
        return AttemptError::new(
            codes::CONNECTION_ERROR,
            format!("could not connect to Dify: {what}"),
        );
    }
    if e.is_timeout() {
        return timeout(cfg);
    }
    if e.is_builder() {
        return AttemptError::new(
            codes::INVALID_REQUEST,
            format!("the request could not be built: {}", error_chain(e)),
        );
    }
    AttemptError::new(
        codes::CONNECTION_ERROR,
        format!("the request to Dify failed: {}", error_chain(e)),
    )
}

/// reqwest's top-level message is generic ("error sending request"); the cause is in the sources.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `start + d`, saturating far in the future instead of panicking on an absurd configured timeout.
fn after(start: Instant, d: Duration) -> Instant {
    start
        .checked_add(d)
        .unwrap_or_else(|| start + Duration::from_secs(10 * 365 * 86_400))
}

fn human(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(Duration::from_secs(45)), "45 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
    }

    #[test]
    fn absurd_timeouts_do_not_overflow() {
        let now = Instant::now();
        assert!(after(now, Duration::MAX) > now);
    }
}
