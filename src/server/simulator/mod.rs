//! A Dify-compatible simulator: the Service API (`/v1/...`) as Dify really speaks it — paths,
//! bearer auth and its exact 401/403 bodies, blocking bodies, SSE framing with bare `event: ping`
//! and no `[DONE]`, the error envelope — serving answers from a built-in knowledge base. It is
//! what `mock-dify` serves, what `serve --demo` runs in-process, and what every test and
//! benchmark of the Dify client and the batch runner talks to over real HTTP.
//!
//! Beside Dify it serves an OpenAI-compatible LLM judge and embedder, so the judge can be tested
//! and demonstrated offline too.
//!
//! It owns nothing outside the far side of the wire: scoring, the clients, the judge's prompts
//! and the runner live elsewhere.
//!
//! # Routes
//! | route                                   | what                                          |
//! |-----------------------------------------|-----------------------------------------------|
//! | `POST /v1/chat-messages`, `/v1/completion-messages`, `/v1/workflows/run`, `/v1/workflows/{id}/run` | Dify generation (`handlers`) |
//! | `POST /v1/{chat-messages,completion-messages,workflows/tasks}/{task_id}/stop` | Dify stop |
//! | `GET /v1/info`, `GET /v1/parameters`    | Dify app description                          |
//! | `POST /v1/chat/completions`             | OpenAI-compatible judge (`openai`, `judge`)   |
//! | `POST /v1/embeddings`                   | OpenAI-compatible embeddings (`openai`, `embeddings`) |
//! | `GET /v1/sim/stats`                     | simulator only, no auth: requests received per kind (`stats`) |
//! | `POST /v1/sim/republish`, `GET /v1/sim/requests` | simulator only, the app's key: publish a new workflow version; the app's last requests (`apps`) |
//!
//! # Apps are API keys
//! `app-<mode>.q<NN>[.<token>][.<anything>]`, e.g. `app-chat.q90`, `app-workflow.q50`,
//! `app-advanced-chat.q70.endorder.x1` (see [`keys`] for the tokens). Quality NN (0–100) is the
//! chance that each keyword and each sentence of the expected answer makes it into the answer
//! (see `answer`), so a q90 app scores clearly above a q40 one. `app-disabled.q0` is a key whose
//! app has its API disabled (403); any other key is unknown (401). The `scripted` token makes an
//! app answer its call's `inputs.sim_answer` word for word; the `judge` token makes it a judge
//! built in Dify, answering the verdict for its inputs (see `judge`).
//!
//! # The judge is a key too
//! `sk-judge[.<token>][.<anything>]` (see [`keys`]) calls the judge and the embedder; any other
//! key gets OpenAI's 401 `invalid_api_key`. The judge grades deterministically from the texts of
//! the prompt our judge's prompt builder writes, and knows the knowledge base's right answers
//! (`judge` documents the rubrics); tokens pick the verdict's wording (strict JSON, fenced JSON,
//! `Score: 4/5` text, prose without a score) or force a fault (`openai` has the table).
//!
//! # Timing
//! Blocking: the whole response takes `latency_ms` ± `jitter_ms`. Streaming: headers and a
//! `ping` go out at once (workflow/agent preamble events too), the first answer chunk after
//! `ttft_ms` (default: `latency_ms`) ± `jitter_ms`, then one chunk every `token_delay_ms`.
//! Jitter is uniform and never takes a delay below zero. Delays are kept to about 0.1 ms by the
//! simulator's own timer (`clock`), not rounded up to tokio's 1 ms tick.
//!
//! # Conversations
//! Chat, agent and chatflow apps keep their conversations (`conversations`, bounded to the 4,096
//! most recently used): a `conversation_id` the app never gave its `user` is Dify's 404
//! `not_found` "Conversation Not Exists."; a `Remember: <fact>` turn is remembered and a `Recall`
//! turn answers every fact of its conversation, so a multi-turn test passes only when its turns
//! travel in one conversation. The `forget` token makes an app keep none.
//!
//! # Faults
//! Profiles and their exact rates are documented in `faults`; under `hostile` each key also
//! admits at most 8 requests in flight (429 `too_many_requests` beyond). Error faults render as
//! Dify does: 429s at once (with or without `Retry-After: 1`), 500 after the latency, the HTML
//! 504 after twice the configured latency, mid-stream `error` events with HTTP 200, cut streams
//! as an aborted connection, a malformed frame inserted before a third of the answer chunks
//! (the stream then goes on normally). In blocking mode a mid-stream error becomes the
//! matching JSON error, a cut a truncated body, malformed JSON the first half of the body.
//!
//! The judge and embedder take the same latency and profile (keys without a token), rendered as
//! OpenAI errors; the concurrency ceiling is Dify's alone.
//!
//! # Repeatability
//! Answers are seeded by hash(seed, key, question); faults, timing and ids by that plus the
//! attempt number for the (key, question) pair, counted here. So one `--seed` gives the same
//! run whatever order requests arrive in, and a retry sees a fresh draw. Only the concurrency
//! ceiling depends on timing. The judge's verdicts and vectors depend on the texts alone; its
//! faults and timing are drawn per (key, request content, attempt) the same way.

mod answer;
pub mod apps;
mod clock;
mod conversations;
mod embeddings;
mod facts;
mod faults;
mod generate;
mod handlers;
mod judge;
pub mod keys;
pub mod knowledge;
mod openai;
mod rng;
mod script;
mod stats;
mod stream;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;

use crate::model::{AppMode, ResponseMode};

/// Request bodies above this get 413 `request_entity_too_large`.
const MAX_BODY_BYTES: usize = 1 << 20;
/// The judge's prompts and embedding batches may be larger than any Dify call.
const MAX_OPENAI_BODY_BYTES: usize = 16 << 20;

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Blocking: total response time. Streaming: time to first token unless `ttft_ms` is set.
    pub latency_ms: u64,
    /// Uniform ± jitter added to latency and time to first token (never below 0).
    pub jitter_ms: u64,
    /// Streaming: time to first token (None: `latency_ms`).
    pub ttft_ms: Option<u64>,
    /// Streaming: delay between answer chunks.
    pub token_delay_ms: u64,
    pub faults: FaultProfile,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            latency_ms: 300,
            jitter_ms: 100,
            ttft_ms: None,
            token_delay_ms: 10,
            faults: FaultProfile::None,
            seed: 0,
        }
    }
}

/// How often the simulator misbehaves on keys without a fault token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FaultProfile {
    /// No faults.
    #[default]
    None,
    /// About 10% of requests fail in ways a client should retry.
    Flaky,
    /// About 45% of requests fail in every way Dify and its proxies do, plus a concurrency
    /// ceiling of 8 per app.
    Hostile,
}

/// A demo app for `serve --demo` to seed as a version: distinct qualities so a demo batch shows
/// a spread of scores, and one app of each interesting mode.
#[derive(Debug, Clone, Copy)]
pub struct DemoApp {
    pub name: &'static str,
    pub description: &'static str,
    pub api_key: &'static str,
    pub app_mode: AppMode,
    /// What to call the app with (agent apps refuse blocking).
    pub response_mode: ResponseMode,
}

/// The API keys of the demo apps (see the key grammar above), with the settings to call them with.
pub fn demo_apps() -> &'static [DemoApp] {
    &[
        DemoApp {
            name: "Two-stage search v1.1",
            description: "Chatbot: keyword retrieval, then generation.",
            api_key: "app-chat.q55.demo-v11",
            app_mode: AppMode::Chat,
            response_mode: ResponseMode::Streaming,
        },
        DemoApp {
            name: "Two-stage search v1.2 + reranker",
            description: "Chatbot: hybrid retrieval with a reranker.",
            api_key: "app-chat.q80.demo-v12",
            app_mode: AppMode::Chat,
            response_mode: ResponseMode::Streaming,
        },
        DemoApp {
            name: "Spec chatflow v2.0",
            description: "Chatflow: query rewrite, retrieval, answer node.",
            api_key: "app-advanced-chat.q92.demo-v20",
            app_mode: AppMode::AdvancedChat,
            response_mode: ResponseMode::Streaming,
        },
        DemoApp {
            name: "Datasheet agent",
            description: "Agent with a dataset-retrieval tool (streaming only).",
            api_key: "app-agent-chat.q70.demo-agent",
            app_mode: AppMode::AgentChat,
            response_mode: ResponseMode::Streaming,
        },
        DemoApp {
            name: "Workflow baseline",
            description: "Workflow: a single LLM node without retrieval tuning.",
            api_key: "app-workflow.q40.demo-wf",
            app_mode: AppMode::Workflow,
            response_mode: ResponseMode::Blocking,
        },
    ]
}

/// Shared by every request; every lock in here is held for a map operation only.
struct Sim {
    cfg: SimConfig,
    attempts: faults::AttemptLedger,
    ceiling: faults::ConcurrencyCeiling,
    tasks: stream::TaskRegistry,
    counters: stats::Counters,
    apps: apps::Apps,
    conversations: conversations::Conversations,
}

type SimState = Arc<Sim>;

/// The simulator's routes, all under `/v1`.
pub fn router(cfg: SimConfig) -> Router {
    let sim = Arc::new(Sim {
        cfg,
        attempts: faults::AttemptLedger::default(),
        ceiling: faults::ConcurrencyCeiling::default(),
        tasks: stream::TaskRegistry::default(),
        counters: stats::Counters::default(),
        apps: apps::Apps::default(),
        conversations: conversations::Conversations::default(),
    });
    Router::new()
        .route("/v1/chat-messages", post(handlers::chat_messages))
        .route(
            "/v1/chat-messages/{task_id}/stop",
            post(handlers::stop_chat),
        )
        .route(
            "/v1/completion-messages",
            post(handlers::completion_messages),
        )
        .route(
            "/v1/completion-messages/{task_id}/stop",
            post(handlers::stop_completion),
        )
        .route("/v1/workflows/run", post(handlers::workflows_run))
        .route(
            "/v1/workflows/{workflow_id}/run",
            post(handlers::workflows_run_pinned),
        )
        .route(
            "/v1/workflows/tasks/{task_id}/stop",
            post(handlers::stop_workflow),
        )
        .route("/v1/info", get(handlers::info))
        .route("/v1/parameters", get(handlers::parameters))
        .route(
            "/v1/chat/completions",
            post(openai::chat_completions).layer(DefaultBodyLimit::max(MAX_OPENAI_BODY_BYTES)),
        )
        .route(
            "/v1/embeddings",
            post(openai::embeddings).layer(DefaultBodyLimit::max(MAX_OPENAI_BODY_BYTES)),
        )
        .route("/v1/sim/stats", get(stats::stats))
        .route("/v1/sim/republish", post(handlers::republish))
        .route("/v1/sim/requests", get(handlers::requests))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(sim)
}

/// Binds `addr` (port 0 allowed), serves in a spawned task, returns the bound address.
pub async fn spawn(addr: SocketAddr, cfg: SimConfig) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    // Without TCP_NODELAY, Nagle holds back small SSE frames and the token timing is a lie.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("simulator: could not set TCP_NODELAY: {e}");
        }
    });
    let app = router(cfg);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app.into_make_service()).await {
            tracing::error!("simulator on {bound} stopped: {e}");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::keys::{lookup, KeyLookup};
    use super::*;

    #[test]
    fn demo_keys_parse_to_their_modes() {
        for app in demo_apps() {
            match lookup(app.api_key) {
                KeyLookup::App(key) => {
                    assert_eq!(key.mode, app.app_mode, "{}", app.name);
                    assert_eq!(key.token, None, "{}", app.name);
                }
                other => panic!("{}: {other:?}", app.api_key),
            }
        }
    }

    #[test]
    fn default_config_matches_the_documented_values() {
        let c = SimConfig::default();
        assert_eq!(
            (
                c.latency_ms,
                c.jitter_ms,
                c.ttft_ms,
                c.token_delay_ms,
                c.seed
            ),
            (300, 100, None, 10, 0)
        );
        assert_eq!(c.faults, FaultProfile::None);
    }
}
