//! The client's error vocabulary: the codes we add beside Dify's own, the per-attempt error that the
//! retry loop classifies, and how a non-2xx HTTP response becomes one (Dify's JSON envelope, or a
//! gateway's HTML page boiled down to one line). It does not decide what is retried (`retry.rs`).

use std::time::Duration;

use crate::model::DifyIds;

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

    /// Dify's code for the per-app concurrency ceiling: worth retrying.
    pub const TOO_MANY_REQUESTS: &str = "too_many_requests";
    /// Dify's code for a plan quota or provider rate limit: retrying only burns quota.
    pub const RATE_LIMIT_ERROR: &str = "rate_limit_error";
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
}

impl AttemptError {
    pub fn new(code: &str, message: impl Into<String>) -> AttemptError {
        AttemptError {
            code: code.to_string(),
            message: message.into(),
            http_status: None,
            retry_after: None,
            ids: Box::default(),
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
}

/// Maps a non-2xx response. Dify always answers errors with `{"code","message","status"}`; anything
/// else came from infrastructure in front of it (Cloudflare 504/1015 pages, nginx 502), and must be
/// summarised rather than stored as a page of HTML.
pub(crate) fn from_http_error(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    retry_after: Option<Duration>,
) -> AttemptError {
    let text = String::from_utf8_lossy(body);
    let json = serde_json::from_str::<serde_json::Value>(text.trim()).ok();
    let field = |name: &str| -> Option<String> {
        json.as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| truncate_chars(&one_line(s), MAX_MESSAGE_CHARS))
    };
    let default_code = if status == 429 || status >= 500 {
        codes::GATEWAY_ERROR
    } else {
        codes::HTTP_ERROR
    };
    let (code, message) = match field("code") {
        Some(code) => {
            let message = field("message").unwrap_or_else(|| format!("HTTP {status} ({code})"));
            (code, message)
        }
        None if json.as_ref().is_some_and(|v| v.is_object()) => {
            // JSON, but not Dify's envelope: some proxy's own error object.
            let message = ["message", "detail", "error"]
                .iter()
                .find_map(|k| field(k))
                .map(|m| format!("HTTP {status}: {m}"))
                .unwrap_or_else(|| format!("HTTP {status} with a JSON body that is not Dify's"));
            (default_code.to_string(), message)
        }
        None => (
            default_code.to_string(),
            describe_non_json(status, content_type, &text),
        ),
    };
    // A page (not Dify's JSON) saying 404 almost always means the base URL misses `/v1`.
    let message = if status == 404 && code == codes::HTTP_ERROR {
        format!("{message} (is the base URL right? Dify's Service API base ends in /v1)")
    } else {
        message
    };
    let mut err = AttemptError::new(&code, message).with_status(Some(status));
    err.retry_after = retry_after;
    err
}

/// One line a person can read instead of a body that is not JSON.
pub(crate) fn describe_non_json(status: u16, content_type: Option<&str>, text: &str) -> String {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return format!("HTTP {status} with an empty body");
    }
    if looks_like_html(content_type, trimmed) {
        let from = if status >= 400 {
            " from a gateway"
        } else {
            " instead of JSON"
        };
        return match html_title(trimmed) {
            Some(title) => format!("HTTP {status}{from} (HTML page: \"{title}\")"),
            None => format!("HTTP {status}{from} (HTML page)"),
        };
    }
    format!(
        "HTTP {status} with a non-JSON body: {}",
        truncate_chars(&one_line(trimmed), SNIPPET_CHARS)
    )
}

const MAX_MESSAGE_CHARS: usize = 2000;
const SNIPPET_CHARS: usize = 120;

fn looks_like_html(content_type: Option<&str>, text: &str) -> bool {
    content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("html")) || text.starts_with('<')
}

fn html_title(html: &str) -> Option<String> {
    // Cloudflare and nginx put the useful words ("504: Gateway time-out") in <title>.
    let lower = html.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let len = lower[start..].find("</title")?;
    // `to_ascii_lowercase` keeps byte offsets, so they index `html` too.
    let title = one_line(html.get(start..start + len)?);
    let title = title.trim();
    (!title.is_empty()).then(|| truncate_chars(title, 100))
}

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
    fn html_gateway_page_becomes_one_short_line() {
        let body = b"<!DOCTYPE html>\n<html><head><title>api.dify.ai | 504: Gateway time-out</title></head><body>".to_vec();
        let mut body = body;
        body.extend(std::iter::repeat_n(b'x', 50_000));
        let e = from_http_error(504, Some("text/html; charset=UTF-8"), &body, None);
        assert_eq!(e.code, codes::GATEWAY_ERROR);
        assert_eq!(
            e.message,
            "HTTP 504 from a gateway (HTML page: \"api.dify.ai | 504: Gateway time-out\")"
        );
        let e = from_http_error(502, None, b"<html><body>bad gateway</body></html>", None);
        assert_eq!(e.message, "HTTP 502 from a gateway (HTML page)");
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
    fn non_json_4xx_is_an_http_error_with_a_snippet() {
        let e = from_http_error(404, Some("text/plain"), b"404 page not found\n", None);
        assert_eq!(e.code, codes::HTTP_ERROR);
        assert_eq!(
            e.message,
            "HTTP 404 with a non-JSON body: 404 page not found \
             (is the base URL right? Dify's Service API base ends in /v1)"
        );
        let e = from_http_error(503, None, br#"{"detail":"no healthy upstream"}"#, None);
        assert_eq!(e.code, codes::GATEWAY_ERROR);
        assert_eq!(e.message, "HTTP 503: no healthy upstream");
        let e = from_http_error(500, None, b"", None);
        assert_eq!(e.message, "HTTP 500 with an empty body");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("知识库问答", 2), "知识…");
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(one_line(" a\n\tb  c "), "a b c");
    }

    #[test]
    fn html_title_survives_odd_markup() {
        assert_eq!(html_title("<title>"), None);
        assert_eq!(html_title("<TITLE lang=en> Ok </TITLE>"), Some("Ok".into()));
        assert_eq!(html_title("<title></title>"), None);
    }
}
