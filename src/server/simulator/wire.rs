//! Dify's wire details that are not events: the error envelope and its exact messages, the
//! Cloudflare-style HTML gateway page, SSE frame encoding, and `usage` with decimal-string prices.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

/// `{"code","message","status"}`, plus the headers some errors carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: bool,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: false,
        }
    }

    /// Dify Cloud's refusal to run a pinned workflow version on the Sandbox plan.
    pub(super) fn pin_not_allowed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "workflow_version_execution_not_allowed",
            "Workflow version execution is unavailable on the current plan. Upgrade to a paid plan.",
        )
    }

    /// A pinned workflow id the app never published.
    pub(super) fn workflow_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Workflow not found.")
    }

    pub(super) fn unauthorized(message: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(super) fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_param", message)
    }

    pub(super) fn bad_json() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Invalid JSON payload received or JSON payload is empty.",
        )
    }

    pub(super) fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_entity_too_large",
            "The data value transmitted exceeds the capacity limit.",
        )
    }

    pub(super) fn disabled() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The app's API service has been disabled.",
        )
    }

    pub(super) fn mode_mismatch(code: &'static str) -> Self {
        let message = if code == "app_unavailable" {
            "App unavailable, please check your app configurations."
        } else {
            "Please check if your app mode matches the right API route."
        };
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(super) fn too_many_requests(retry_after: bool) -> Self {
        ApiError {
            retry_after,
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many requests. Please try again later.",
            )
        }
    }

    pub(super) fn concurrency_ceiling(app_id: &str, limit: u32) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!(
                "Too many requests. Please try again later. The current maximum concurrent requests allowed for {app_id} is {limit}."
            ),
        )
    }

    pub(super) fn quota() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "Rate Limit Error",
        )
    }

    pub(super) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "The server encountered an internal error and was unable to complete your request. \
             Either the server is overloaded or there is an error in the application.",
        )
    }

    /// Dify's answer to a `conversation_id` the app and user do not have.
    pub(super) fn conversation_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Conversation Not Exists.",
        )
    }

    pub(super) fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "The requested URL was not found on the server. If you entered the URL manually \
             please check your spelling and try again.",
        )
    }

    pub(super) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "The method is not allowed for the requested URL.",
        )
    }

    pub(super) fn body(&self) -> Value {
        json!({"code": self.code, "message": self.message, "status": self.status.as_u16()})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"api\""),
            );
        }
        if self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// What Cloudflare serves when the origin is too slow.
pub(super) fn gateway_timeout_html() -> Response {
    const PAGE: &str = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n\
        <center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>cloudflare</center>\r\n\
        </body>\r\n</html>\r\n";
    (
        StatusCode::GATEWAY_TIMEOUT,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))],
        PAGE,
    )
        .into_response()
}

/// Appends `data: {json}\n\n` (compact JSON with raw UTF-8, as current Dify's orjson writes).
pub(super) fn push_data_frame(buf: &mut Vec<u8>, event: &impl Serialize) {
    buf.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut *buf, event).is_err() {
        // Only non-string map keys can fail, and no event has them; keep the frame parseable.
        buf.extend_from_slice(b"{}");
    }
    buf.extend_from_slice(b"\n\n");
}

/// Dify's keep-alive: a bare event line with no data.
pub(super) const PING_FRAME: &[u8] = b"event: ping\n\n";

/// `metadata.usage`, prices as decimal strings the way Dify's docs show them.
pub(super) fn usage(prompt_tokens: u64, completion_tokens: u64, latency_s: f64) -> Value {
    const PROMPT_UNIT: f64 = 0.001;
    const COMPLETION_UNIT: f64 = 0.002;
    const PRICE_UNIT: f64 = 0.001;
    let prompt_price = prompt_tokens as f64 * PROMPT_UNIT * PRICE_UNIT;
    let completion_price = completion_tokens as f64 * COMPLETION_UNIT * PRICE_UNIT;
    json!({
        "prompt_tokens": prompt_tokens,
        "prompt_unit_price": "0.001",
        "prompt_price_unit": "0.001",
        "prompt_price": format!("{prompt_price:.7}"),
        "completion_tokens": completion_tokens,
        "completion_unit_price": "0.002",
        "completion_price_unit": "0.001",
        "completion_price": format!("{completion_price:.7}"),
        "total_tokens": prompt_tokens + completion_tokens,
        "total_price": format!("{:.7}", prompt_price + completion_price),
        "currency": "USD",
        "latency": latency_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_decimal_strings_like_the_docs() {
        let u = usage(1033, 128, 0.5);
        assert_eq!(u["prompt_price"], "0.0010330");
        assert_eq!(u["completion_price"], "0.0002560");
        assert_eq!(u["total_price"], "0.0012890");
        assert_eq!(u["total_tokens"], 1161);
    }

    #[test]
    fn frames_are_compact_utf8_data_lines() {
        let mut buf = Vec::new();
        push_data_frame(&mut buf, &json!({"answer": "頻寬"}));
        assert_eq!(
            String::from_utf8(buf).ok().as_deref(),
            Some("data: {\"answer\":\"頻寬\"}\n\n")
        );
    }
}
