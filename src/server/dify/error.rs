//! The client's error vocabulary: the codes we add beside Dify's own, the per-attempt error that the
//! retry loop classifies, and how a non-2xx HTTP response becomes one (Dify's JSON envelope quoted,
//! anything else named by its status line only). It does not decide what is retried (`retry.rs`).

use std::time::Duration;

use crate::model::{DifyIds, Trace};

/// Failure codes dify-bench itself assigns when Dify sent none. Dify's own codes (`too_many_requests`,
/// `completion_request_error`, …) pass through unchanged.
pub mod codes {
    /// No complete response within `request_timeout` (one attempt).
    pub const TIMEOUT: &str = "timeout";
    /// A stream went quiet for longer than `idle_timeout`; Dify pings every 10 s, so this is a stall.
    pub const IDLE_TIMEOUT: &str = "idle_timeout";
    /// DNS, TCP, TLS or a connection dropped before the response head.
    pub const CONNECTION_ERROR: &str = "connection_error";
    /// A 200 whose body is not what Dify sends (not JSON, malformed SSE data, no answer field).
    pub const INVALID_RESPONSE: &str = "invalid_response";
    /// The body or stream grew past `max_response_bytes`; reading stopped there. Not retried: the
    /// same question tends to get an answer of the same size, and each try is billed.
    pub const RESPONSE_TOO_LARGE: &str = "response_too_large";
    /// A 429 or 5xx without Dify's JSON envelope: an nginx or Cloudflare page.
    pub const GATEWAY_ERROR: &str = "gateway_error";
    /// Any other non-2xx status without Dify's JSON envelope (e.g. a 404 page: wrong base URL).
    pub const HTTP_ERROR: &str = "http_error";
    /// The stream ended without `message_end`, `workflow_finished` or `error`: a cut connection.
    pub const STREAM_INCOMPLETE: &str = "stream_incomplete";
    /// A workflow (or chatflow) run ended with status `failed` or `stopped`.
    pub const WORKFLOW_FAILED: &str = "workflow_failed";
    /// A workflow paused for human input; a batch cannot answer the form.
    pub const WORKFLOW_PAUSED: &str = "workflow_paused";
    /// The call could not be built (e.g. the base URL is not a URL); nothing was sent.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// The outbound policy refused the target's address (loopback or private without
    /// `--allow-private-targets`, or link-local/metadata ever); nothing was sent.
    pub const TARGET_REFUSED: &str = "target_refused";
    /// The far side answered with a redirect (3xx). dify-bench never follows one: its target is an
    /// address the outbound policy never saw.
    pub const REDIRECT_REFUSED: &str = "redirect_refused";

    /// Dify's code for the per-app concurrency ceiling: worth retrying.
    pub const TOO_MANY_REQUESTS: &str = "too_many_requests";
    /// Dify's code for a plan quota or provider rate limit: retrying only burns quota.
    pub const RATE_LIMIT_ERROR: &str = "rate_limit_error";
    /// Dify's code (403) for running a pinned workflow version on a plan that does not allow
    /// it (Dify Cloud's Sandbox). Not retried: the plan decides, not the moment.
    pub const WORKFLOW_VERSION_NOT_ALLOWED: &str = "workflow_version_execution_not_allowed";
    /// Dify's code for an unhandled exception.
    pub const INTERNAL_SERVER_ERROR: &str = "internal_server_error";
}

/// `reqwest::Client::builder()` failed (in practice: the TLS backend could not initialise).
#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client for Dify: {0}")]
pub struct ClientBuildError(#[source] pub reqwest::Error);

/// What went wrong in one attempt; the retry loop decides from `http_status` and `code`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttemptError {
    pub code: String,
    pub message: String,
    /// The HTTP status, or the `status` of a mid-stream `error` event.
    pub http_status: Option<u16>,
    /// From the response's `Retry-After` header, when it had a usable one.
    pub retry_after: Option<Duration>,
    /// Boxed: it is most of the size, and this error travels in every `Result` of the client.
    pub ids: Box<DifyIds>,
    /// The nodes a failed workflow ran before it failed.
    pub trace: Option<Box<Trace>>,
}

impl AttemptError {
    pub fn new(code: &str, message: impl Into<String>) -> AttemptError {
        AttemptError {
            code: code.to_string(),
            message: message.into(),
            http_status: None,
            retry_after: None,
            ids: Box::default(),
            trace: None,
        }
    }

    pub fn with_status(mut self, status: Option<u16>) -> AttemptError {
        self.http_status = status;
        self
    }

    pub fn with_ids(mut self, ids: DifyIds) -> AttemptError {
        self.ids = Box::new(ids);
        self
    }

    pub fn with_trace(mut self, trace: Trace) -> AttemptError {
        self.trace = (!trace.is_empty()).then(|| Box::new(trace));
        self
    }
}

/// Maps a non-2xx response. Dify always answers errors with `{"code","message","status"}`, and
/// only that envelope is quoted (code and message, bounded). Anything else came from something in
/// front of Dify (Cloudflare 504/1015 pages, nginx 502) or from something that is not Dify at all
/// (a wrong or hostile base URL: an internal admin page, a metadata document), so it is named by its
/// status line and the kind of body, and its text is never stored, shown or logged.
pub(crate) fn from_http_error(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    retry_after: Option<Duration>,
) -> AttemptError {
    let mut err = match dify_envelope(body).or_else(|| openai_envelope(status, body)) {
        Some((code, message)) => {
            let message = message.unwrap_or_else(|| format!("{} ({code})", status_line(status)));
            AttemptError::new(&code, message)
        }
        None => {
            let code = if status == 429 || status >= 500 {
                codes::GATEWAY_ERROR
            } else {
                codes::HTTP_ERROR
            };
            // A page (not Dify's JSON) saying 404 almost always means the base URL misses `/v1`.
            let hint = if status == 404 {
                "; is the base URL right? Dify's Service API base ends in /v1"
            } else {
                ""
            };
            let kind = body_kind(content_type, &String::from_utf8_lossy(body));
            AttemptError::new(
                code,
                format!("{} ({kind}, not a Dify error{hint})", status_line(status)),
            )
        }
    };
    err.http_status = Some(status);
    err.retry_after = retry_after;
    err
}

/// Dify's error envelope: an object with an identifier-like `code`, a string `message` and a
/// numeric `status`. Returns the code and the message (`None` when empty), one line each, bounded.
fn dify_envelope(body: &[u8]) -> Option<(String, Option<String>)> {
    let value: serde_json::Value = serde_json::from_slice(body.trim_ascii()).ok()?;
    let obj = value.as_object()?;
    let code = obj.get("code")?.as_str()?.trim();
    let identifier = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if code.is_empty() || code.len() > MAX_CODE_CHARS || !code.chars().all(identifier) {
        return None;
    }
    let message = obj.get("message")?.as_str()?;
    obj.get("status")?.as_u64()?;
    let message = truncate_chars(&one_line(message), MAX_MESSAGE_CHARS);
    Some((code.to_string(), (!message.is_empty()).then_some(message)))
}

/// The error envelope of OpenAI-compatible APIs (judges, embeddings):
/// `{"error": {"message", "type", "code"}}`. The code is `code`, else `type`; a quota
/// (`insufficient_quota`) becomes [`codes::RATE_LIMIT_ERROR`] and any other 429 (a rate limit:
/// wait and it frees up) [`codes::TOO_MANY_REQUESTS`], so the retry rules treat them as Dify's.
fn openai_envelope(status: u16, body: &[u8]) -> Option<(String, Option<String>)> {
    let value: serde_json::Value = serde_json::from_slice(body.trim_ascii()).ok()?;
    let error = value.get("error")?.as_object()?;
    let message = error.get("message")?.as_str()?;
    let named = |k: &str| error.get(k).and_then(|v| v.as_str()).map(str::trim);
    let identifier = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let code = named("code")
        .filter(|c| !c.is_empty())
        .or_else(|| named("type"))
        .filter(|c| !c.is_empty() && c.len() <= MAX_CODE_CHARS && c.chars().all(identifier))
        .unwrap_or(codes::HTTP_ERROR);
    let code = match (status, code) {
        (_, "insufficient_quota") => codes::RATE_LIMIT_ERROR,
        (429, _) => codes::TOO_MANY_REQUESTS,
        (_, code) => code,
    };
    let message = truncate_chars(&one_line(message), MAX_MESSAGE_CHARS);
    Some((code.to_string(), (!message.is_empty()).then_some(message)))
}

/// `HTTP 502 Bad Gateway`: the status and its standard reason phrase (never the one the far side
/// sent).
pub(crate) fn status_line(status: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    match reason {
        Some(reason) => format!("HTTP {status} {reason}"),
        None => format!("HTTP {status}"),
    }
}

/// What a body that is not Dify's is, in words that quote none of it.
pub(crate) fn body_kind(content_type: Option<&str>, text: &str) -> &'static str {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        "an empty body"
    } else if content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("html"))
        || trimmed.starts_with('<')
    {
        "an HTML page"
    } else if serde_json::from_str::<serde_json::Value>(trimmed).is_ok() {
        "JSON that is not Dify's"
    } else {
        "a body that is not JSON"
    }
}

/// Dify's messages are quoted up to this length; a code longer than this is not one of Dify's.
pub(crate) const MAX_MESSAGE_CHARS: usize = 2000;
const MAX_CODE_CHARS: usize = 64;

/// Collapses whitespace runs (newlines included) to single spaces.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters, with `…` when something was cut; never splits a UTF-8 sequence.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dify_envelope_keeps_code_message_and_status() {
        let body = br#"{"code":"too_many_requests","message":"Too many requests.","status":429}"#;
        let e = from_http_error(429, Some("application/json"), body, None);
        assert_eq!(e.code, "too_many_requests");
        assert_eq!(e.message, "Too many requests.");
        assert_eq!(e.http_status, Some(429));
    }

    #[test]
    fn html_gateway_page_becomes_its_status_line() {
        let body = b"<!DOCTYPE html>\n<html><head><title>api.dify.ai | 504: Gateway time-out</title></head><body>".to_vec();
        let mut body = body;
        body.extend(std::iter::repeat_n(b'x', 50_000));
        let e = from_http_error(504, Some("text/html; charset=UTF-8"), &body, None);
        assert_eq!(e.code, codes::GATEWAY_ERROR);
        assert_eq!(
            e.message,
            "HTTP 504 Gateway Timeout (an HTML page, not a Dify error)"
        );
        let e = from_http_error(502, None, b"<html><body>bad gateway</body></html>", None);
        assert_eq!(
            e.message,
            "HTTP 502 Bad Gateway (an HTML page, not a Dify error)"
        );
    }

    #[test]
    fn cloudflare_429_without_json_is_a_gateway_error() {
        let e = from_http_error(
            429,
            Some("text/html"),
            b"<html>error code: 1015 You are being rate limited</html>",
            Some(Duration::from_secs(3)),
        );
        assert_eq!(e.code, codes::GATEWAY_ERROR);
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    }

    #[test]
    fn non_dify_bodies_are_named_never_quoted() {
        let e = from_http_error(404, Some("text/plain"), b"404 page not found\n", None);
        assert_eq!(e.code, codes::HTTP_ERROR);
        assert_eq!(
            e.message,
            "HTTP 404 Not Found (a body that is not JSON, not a Dify error; \
             is the base URL right? Dify's Service API base ends in /v1)"
        );
        let e = from_http_error(503, None, br#"{"detail":"no healthy upstream"}"#, None);
        assert_eq!(e.code, codes::GATEWAY_ERROR);
        assert_eq!(
            e.message,
            "HTTP 503 Service Unavailable (JSON that is not Dify's, not a Dify error)"
        );
        let e = from_http_error(500, None, b"", None);
        assert_eq!(
            e.message,
            "HTTP 500 Internal Server Error (an empty body, not a Dify error)"
        );
        // Whatever the far side puts in its body, none of it reaches the message.
        let marker = "SECRET-MARKER-7f3a";
        for (ct, body) in [
            (
                Some("text/html"),
                format!("<html><title>{marker}</title></html>"),
            ),
            (Some("text/plain"), format!("{marker}\n")),
            (
                None,
                format!(r#"{{"message":"{marker}","detail":"{marker}"}}"#),
            ),
            (None, format!(r#"{{"error":"{marker}"}}"#)),
            // Almost Dify's envelope: a code, but no status, or a code that is no identifier.
            (None, format!(r#"{{"code":"x","message":"{marker}"}}"#)),
            (
                None,
                format!(r#"{{"code":"{marker} !","message":"m","status":400}}"#),
            ),
            (
                Some("application/json"),
                format!(r#"{{"Code":"AccessDenied","Message":"{marker}"}}"#),
            ),
        ] {
            for status in [400, 403, 404, 500, 502, 599, 999] {
                let e = from_http_error(status, ct, body.as_bytes(), None);
                assert!(
                    !e.message.contains(marker),
                    "{status} {body}: {}",
                    e.message
                );
                assert!(!e.code.contains(marker), "{status} {body}: {}", e.code);
                assert!(
                    e.message.starts_with(&format!("HTTP {status}")),
                    "{}",
                    e.message
                );
            }
        }
    }

    #[test]
    fn dify_envelope_messages_are_bounded() {
        let long = "x".repeat(10_000);
        let body = format!(r#"{{"code":"invalid_param","message":"{long}","status":400}}"#);
        let e = from_http_error(400, None, body.as_bytes(), None);
        assert_eq!(e.code, "invalid_param");
        assert_eq!(e.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        let e = from_http_error(
            400,
            None,
            br#"{"code":"invalid_param","message":"","status":400}"#,
            None,
        );
        assert_eq!(e.message, "HTTP 400 Bad Request (invalid_param)");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("知识库问答", 2), "知识…");
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(one_line(" a\n\tb  c "), "a b c");
    }
}
