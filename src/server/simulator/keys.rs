//! The simulator's API-key grammars: which Dify app a key names, how good its answers are, and
//! which behaviour a test forces with a token; and the same for the OpenAI-compatible judge and
//! embeddings endpoints. Parsing only; what a token *does* lives in `faults`, `generate`,
//! `handlers` and `openai`.
//!
//! ```text
//! app-<mode>.q<NN>[.<token>][.<anything else>]
//!   mode   chat | agent-chat | advanced-chat | completion | workflow
//!   NN     0–100, the share of the expected content an answer carries
//!   token  ok 429 429noretry quota 500 504html midstream_error stream_error400 cut slow badjson
//!          flaky1 endorder unknown_events sampled scripted judge
//!          noinfo            `GET /info` answers 404, as Dify releases before it did
//!          strictform        the form (`GET /parameters`) also has a required select `region`,
//!                            and every call's `inputs` are checked against the form as Dify
//!                            does (400 `invalid_param` with Dify's message)
//!          nopin             pinning a workflow version is refused as on Dify Cloud's Sandbox
//!                            plan (403 `workflow_version_execution_not_allowed`)
//!          ceiling<K>        at most K requests of this key in flight (1–9999); the rest get
//!                            Dify's 429 `too_many_requests` for its app-level ceiling
//!          outage<A>-<B>     the key's requests number A to B (0-based, counted over every
//!                            question) fail with 500 `internal_server_error`; the rest succeed
//!          revoked<N>        the key's first N requests are answered; from then on 401, as
//!                            when the key is deleted in Dify mid-batch
//!          nodes<N>          a chatflow/workflow stream reports N nodes (0, or 4–60; default 4)
//!          forget            the app keeps no conversation: the next turn of any conversation
//!                            it started gets 404 "Conversation Not Exists."
//!          (an unrecognised third segment is ignored like the rest)
//! app-disabled.q<NN>…   a valid key whose app has its API disabled (403)
//!
//! sk-judge[.<token>][.<anything else>]     the judge (/v1/chat/completions) and the
//!                                          embedder (/v1/embeddings); any other key is 401
//!   token  fenced malformed text           how the judge words its verdict (chat only)
//!          r429 quota e500 slow flaky1     a forced fault (both endpoints)
//!          outage<N>                       the first N well-formed requests to each endpoint
//!                                          succeed, every later one is 503 (N: 0–999999)
//!          (an unrecognised second segment is ignored like the rest)
//! ```

use std::fmt;

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
    /// No fault; the app answers the string in the call's `inputs.sim_answer` word for word (the
    /// generated answer when there is none), so a test can make an app say exactly a paraphrase
    /// or a contradiction.
    Scripted,
    /// No fault; the app is a judge (a Dify app used as the LLM judge): it answers the verdict
    /// as strict JSON, graded as `judge` grades, for the `question`, `expected_answer`, `answer`,
    /// `rubric` and optional `context` inputs, or (without an `answer` input) for the prompt
    /// contract in its query. Workflow and completion judges need no `query` input then.
    Judge,
    /// No fault; every pinned workflow version is refused with 403
    /// `workflow_version_execution_not_allowed`, as Dify Cloud's Sandbox plan does.
    NoPin,
    /// No fault; `GET /info` answers 404 `not_found`, as Dify releases before `/info` did.
    NoInfo,
    /// No fault; the app's form has a required `region` select (`eu`, `us`, `apac`) and every
    /// call's `inputs` are checked against the whole form as Dify's `_validate_inputs` does:
    /// 400 `invalid_param` with Dify's message (`region is required in input form`).
    StrictForm,
    /// No fault of its own; at most this many requests of the key in flight, as Dify's app-level
    /// `APP_MAX_ACTIVE_REQUESTS` does (429 `too_many_requests` above it).
    Ceiling(u32),
    /// The key's requests number `from` to `to` (0-based, inclusive, counted over every question
    /// in arrival order) fail with 500 `internal_server_error`: an app that goes down and comes
    /// back (`outage0-19`), or one that breaks mid-batch (`outage50-999999`).
    Outage { from: u32, to: u32 },
    /// The key's first `after` requests (counted over every question, in arrival order) are
    /// answered; every later one gets 401 `unauthorized`, as when the key is deleted mid-batch.
    Revoked { after: u32 },
    /// No fault; a chatflow or workflow stream reports this many nodes (0–60): start, retrieval,
    /// then `n − 4` code nodes, the LLM and the answer/end node; 0 sends no node events at all
    /// (an app as the stream of an older Dify shows it), so a benchmark can weigh traces.
    Nodes(u32),
    /// No fault; the app keeps no conversation, so every `conversation_id` it gave is unknown at
    /// the next turn (404 `not_found` "Conversation Not Exists."), as after Dify deleted it.
    Forget,
}

impl KeyToken {
    pub const ALL: [KeyToken; 21] = [
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
        KeyToken::Scripted,
        KeyToken::Judge,
        KeyToken::NoPin,
        KeyToken::NoInfo,
        KeyToken::StrictForm,
        KeyToken::Forget,
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
            KeyToken::Scripted => "scripted",
            KeyToken::Judge => "judge",
            KeyToken::NoPin => "nopin",
            KeyToken::NoInfo => "noinfo",
            KeyToken::StrictForm => "strictform",
            KeyToken::Forget => "forget",
            KeyToken::Ceiling(_) => "ceiling",
            KeyToken::Outage { .. } => "outage",
            KeyToken::Revoked { .. } => "revoked",
            KeyToken::Nodes(_) => "nodes",
        }
    }

    /// A fixed token's name; a token with parameters gives its prefix (`ceiling`, `outage`).
    pub fn parse(s: &str) -> Option<KeyToken> {
        if let Some(k) = s.strip_prefix("ceiling") {
            return small_number(k)
                .filter(|k| (1..=9999).contains(k))
                .map(KeyToken::Ceiling);
        }
        if let Some(n) = s.strip_prefix("nodes") {
            return small_number(n)
                .filter(|n| *n == 0 || (4..=60).contains(n))
                .map(KeyToken::Nodes);
        }
        if let Some(n) = s.strip_prefix("revoked") {
            return small_number(n).map(|after| KeyToken::Revoked { after });
        }
        if let Some(range) = s.strip_prefix("outage") {
            let (from, to) = range.split_once('-')?;
            let (from, to) = (small_number(from)?, small_number(to)?);
            return (from <= to).then_some(KeyToken::Outage { from, to });
        }
        KeyToken::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// 1–6 ASCII digits.
fn small_number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl KeyToken {
    /// The limit on requests in flight this key's app answers under, if any.
    pub fn ceiling(self) -> Option<u32> {
        match self {
            KeyToken::Ceiling(k) => Some(k),
            _ => None,
        }
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

/// A behaviour forced on every request made with a judge key (`sk-judge.<token>`). A key with a
/// token never gets profile faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgeToken {
    /// The verdict's JSON inside a ```json fence, after a sentence of prose.
    Fenced,
    /// `Score: 4/5`, `Verdict: PASS`, `Reason: …` lines instead of JSON.
    Text,
    /// Prose with no score at all.
    Malformed,
    /// 429 `rate_limit_exceeded` with `Retry-After: 1`.
    RateLimited,
    /// 429 `insufficient_quota` (must not be retried).
    Quota,
    /// 500 `server_error` after the latency.
    Internal,
    /// Five times the configured latency.
    Slow,
    /// The first attempt for each (key, request content) fails with 500; later attempts succeed.
    Flaky1,
    /// The first N well-formed requests to each endpoint succeed, every later one is 503.
    Outage(u32),
}

impl JudgeToken {
    /// The tokens without a parameter, in the grammar's order.
    pub const FIXED: [JudgeToken; 8] = [
        JudgeToken::Fenced,
        JudgeToken::Malformed,
        JudgeToken::Text,
        JudgeToken::RateLimited,
        JudgeToken::Quota,
        JudgeToken::Internal,
        JudgeToken::Slow,
        JudgeToken::Flaky1,
    ];

    pub fn parse(s: &str) -> Option<JudgeToken> {
        if let Some(digits) = s.strip_prefix("outage") {
            if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            return digits.parse().ok().map(JudgeToken::Outage);
        }
        JudgeToken::FIXED.into_iter().find(|t| t.to_string() == s)
    }
}

impl fmt::Display for JudgeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fixed = match self {
            JudgeToken::Fenced => "fenced",
            JudgeToken::Text => "text",
            JudgeToken::Malformed => "malformed",
            JudgeToken::RateLimited => "r429",
            JudgeToken::Quota => "quota",
            JudgeToken::Internal => "e500",
            JudgeToken::Slow => "slow",
            JudgeToken::Flaky1 => "flaky1",
            JudgeToken::Outage(n) => return write!(f, "outage{n}"),
        };
        f.write_str(fixed)
    }
}

/// What a well-formed judge key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JudgeKey {
    pub token: Option<JudgeToken>,
}

/// The judge key a bearer token names, or `None` for any other token (401 `invalid_api_key`).
pub fn lookup_judge(key: &str) -> Option<JudgeKey> {
    let rest = key.strip_prefix("sk-judge")?;
    if rest.is_empty() {
        return Some(JudgeKey { token: None });
    }
    let rest = rest.strip_prefix('.')?;
    let token = rest.split('.').next().and_then(JudgeToken::parse);
    Some(JudgeKey { token })
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

    #[test]
    fn tokens_with_parameters() {
        assert_eq!(
            app("app-chat.q80.ceiling4.x").token,
            Some(KeyToken::Ceiling(4))
        );
        assert_eq!(
            app("app-chat.q80.outage0-19").token,
            Some(KeyToken::Outage { from: 0, to: 19 })
        );
        assert_eq!(
            app("app-workflow.q80.outage50-999999").token,
            Some(KeyToken::Outage {
                from: 50,
                to: 999_999
            })
        );
        assert_eq!(
            app("app-chat.q80.revoked30").token,
            Some(KeyToken::Revoked { after: 30 })
        );
        assert_eq!(
            app("app-advanced-chat.q80.nodes10").token,
            Some(KeyToken::Nodes(10))
        );
        assert_eq!(
            app("app-workflow.q80.nodes0").token,
            Some(KeyToken::Nodes(0))
        );
        for not_a_token in [
            "nodes",
            "nodes3",
            "nodes61",
            "revoked",
            "revoked-1",
            "ceiling",
            "ceiling0",
            "ceiling10000",
            "ceilingx",
            "outage",
            "outage5",
            "outage5-",
            "outage-5",
            "outage9-3",
            "outage1-1234567",
        ] {
            assert_eq!(
                app(&format!("app-chat.q80.{not_a_token}")).token,
                None,
                "{not_a_token}"
            );
        }
    }

    #[test]
    fn scripted_is_a_token() {
        assert_eq!(
            app("app-workflow.q10.scripted").token,
            Some(KeyToken::Scripted)
        );
    }

    #[test]
    fn judge_keys_and_their_tokens() {
        let token = |key: &str| lookup_judge(key).map(|k| k.token);
        assert_eq!(token("sk-judge"), Some(None));
        assert_eq!(token("sk-judge.run-7"), Some(None));
        assert_eq!(token("sk-judge.fenced"), Some(Some(JudgeToken::Fenced)));
        assert_eq!(
            token("sk-judge.outage20.b3"),
            Some(Some(JudgeToken::Outage(20)))
        );
        assert_eq!(token("sk-judge.outage0"), Some(Some(JudgeToken::Outage(0))));
        for t in JudgeToken::FIXED {
            assert_eq!(token(&format!("sk-judge.{t}.x")), Some(Some(t)));
        }
        // A token only counts as the first segment after the prefix.
        assert_eq!(token("sk-judge.x.r429"), Some(None));
        for not_a_token in ["outage", "outage-1", "outage1234567", "outageX", "R429"] {
            assert_eq!(token(&format!("sk-judge.{not_a_token}")), Some(None));
        }
        for bad in [
            "",
            "sk-judg",
            "sk-judgex",
            "sk-judge-fenced",
            "SK-JUDGE",
            "app-chat.q90",
            "sk-proj-abc",
        ] {
            assert_eq!(lookup_judge(bad), None, "{bad:?}");
        }
    }
}
