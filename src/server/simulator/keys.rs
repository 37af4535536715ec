//! The simulator's API-key grammar: which app a key names, how good its answers are, and which
//! behaviour a test forces with a token. Parsing only; what a token *does* lives in `faults` and
//! `generate`.
//!
//! ```text
//! app-<mode>.q<NN>[.<token>][.<anything else>]
//!   mode   chat | agent-chat | advanced-chat | completion | workflow
//!   NN     0–100, the share of the expected content an answer carries
//!   token  ok 429 429noretry quota 500 504html midstream_error stream_error400 cut slow badjson
//!          flaky1 endorder unknown_events sampled (an unrecognised third segment is ignored like
//!          the rest)
//! app-disabled.q<NN>…   a valid key whose app has its API disabled (403)
//! ```

use crate::model::AppMode;

/// A behaviour forced on every request made with a key, for deterministic client tests.
/// A key with a token never gets profile faults or the concurrency ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyToken {
    /// Explicitly no fault, whatever the profile.
    Ok,
    /// 429 `too_many_requests` with `Retry-After: 1`.
    TooManyRequests,
    /// 429 `too_many_requests` without `Retry-After`.
    TooManyRequestsNoRetryAfter,
    /// 429 `rate_limit_error` (a quota: must not be retried).
    Quota,
    /// 500 `internal_server_error`.
    Internal,
    /// Cloudflare-style HTML 504 after 200 ms.
    GatewayTimeoutHtml,
    /// Streaming: `error` event (500 `internal_server_error`) mid-stream; blocking: that error as JSON.
    MidstreamError,
    /// As `MidstreamError` with 400 `completion_request_error`.
    StreamError400,
    /// The connection is closed mid-body without a terminal event.
    Cut,
    /// First byte after 5 s.
    Slow,
    /// 200 with a malformed JSON body (blocking) or one malformed data frame (streaming).
    BadJson,
    /// The first attempt for each (key, question) fails with 500; later attempts succeed.
    Flaky1,
    /// Chatflow: `message_end` before `workflow_finished`.
    EndOrder,
    /// Adds unknown event types and a `message_replace` to streams.
    UnknownEvents,
    /// No fault; every call samples its answer afresh, as an LLM at temperature > 0 does (without
    /// it, a question always gets the same answer from a key). Repeats of a case then differ, so
    /// a middling quality makes cases flaky.
    Sampled,
}

impl KeyToken {
    pub const ALL: [KeyToken; 15] = [
        KeyToken::Ok,
        KeyToken::TooManyRequests,
        KeyToken::TooManyRequestsNoRetryAfter,
        KeyToken::Quota,
        KeyToken::Internal,
        KeyToken::GatewayTimeoutHtml,
        KeyToken::MidstreamError,
        KeyToken::StreamError400,
        KeyToken::Cut,
        KeyToken::Slow,
        KeyToken::BadJson,
        KeyToken::Flaky1,
        KeyToken::EndOrder,
        KeyToken::UnknownEvents,
        KeyToken::Sampled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyToken::Ok => "ok",
            KeyToken::TooManyRequests => "429",
            KeyToken::TooManyRequestsNoRetryAfter => "429noretry",
            KeyToken::Quota => "quota",
            KeyToken::Internal => "500",
            KeyToken::GatewayTimeoutHtml => "504html",
            KeyToken::MidstreamError => "midstream_error",
            KeyToken::StreamError400 => "stream_error400",
            KeyToken::Cut => "cut",
            KeyToken::Slow => "slow",
            KeyToken::BadJson => "badjson",
            KeyToken::Flaky1 => "flaky1",
            KeyToken::EndOrder => "endorder",
            KeyToken::UnknownEvents => "unknown_events",
            KeyToken::Sampled => "sampled",
        }
    }

    pub fn parse(s: &str) -> Option<KeyToken> {
        KeyToken::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What a well-formed app key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppKey {
    pub mode: AppMode,
    /// 0–100.
    pub quality: u8,
    pub token: Option<KeyToken>,
}

/// The outcome of looking a bearer token up, as Dify's auth layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLookup {
    App(AppKey),
    /// A real key whose app has its API service disabled (403).
    Disabled,
    /// No such key (401 "Access token is invalid").
    Unknown,
}

pub fn lookup(key: &str) -> KeyLookup {
    let Some(rest) = key.strip_prefix("app-") else {
        return KeyLookup::Unknown;
    };
    let mut parts = rest.split('.');
    let mode = parts.next().unwrap_or_default();
    let Some(quality) = parts.next().and_then(parse_quality) else {
        return KeyLookup::Unknown;
    };
    if mode == "disabled" {
        return KeyLookup::Disabled;
    }
    let Some(mode) = AppMode::parse(mode) else {
        return KeyLookup::Unknown;
    };
    let token = parts.next().and_then(KeyToken::parse);
    KeyLookup::App(AppKey {
        mode,
        quality,
        token,
    })
}

fn parse_quality(s: &str) -> Option<u8> {
    let digits = s.strip_prefix('q')?;
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u8>().ok().filter(|q| *q <= 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(key: &str) -> AppKey {
        match lookup(key) {
            KeyLookup::App(a) => a,
            other => panic!("{key}: {other:?}"),
        }
    }

    #[test]
    fn modes_and_quality() {
        assert_eq!(
            app("app-chat.q90"),
            AppKey {
                mode: AppMode::Chat,
                quality: 90,
                token: None
            }
        );
        assert_eq!(app("app-agent-chat.q0").mode, AppMode::AgentChat);
        assert_eq!(app("app-advanced-chat.q100").quality, 100);
        assert_eq!(app("app-completion.q5").mode, AppMode::Completion);
        assert_eq!(app("app-workflow.q50").mode, AppMode::Workflow);
    }

    #[test]
    fn tokens_and_trailing_segments() {
        let a = app("app-advanced-chat.q70.endorder.x1");
        assert_eq!((a.quality, a.token), (70, Some(KeyToken::EndOrder)));
        assert_eq!(
            app("app-chat.q80.429").token,
            Some(KeyToken::TooManyRequests)
        );
        assert_eq!(
            app("app-chat.q80.429noretry").token,
            Some(KeyToken::TooManyRequestsNoRetryAfter)
        );
        // An unrecognised third segment is just a distinguishing suffix.
        assert_eq!(app("app-chat.q80.demo-v11").token, None);
        assert_eq!(app("app-chat.q80.demo.429").token, None);
        for t in KeyToken::ALL {
            assert_eq!(app(&format!("app-chat.q1.{}", t.as_str())).token, Some(t));
        }
    }

    #[test]
    fn unknown_and_disabled() {
        assert_eq!(lookup("app-disabled.q0"), KeyLookup::Disabled);
        for bad in [
            "",
            "app-",
            "app-chat",
            "app-chat.",
            "app-chat.90",
            "app-chat.q",
            "app-chat.q101",
            "app-chat.q-1",
            "app-chat.q1000",
            "app-chats.q90",
            "APP-chat.q90",
            "sk-chat.q90",
            "app-disabled",
            "app-chat.q９０",
        ] {
            assert_eq!(lookup(bad), KeyLookup::Unknown, "{bad:?}");
        }
    }
}
