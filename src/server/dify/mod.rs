//! The Dify client: one call per test, against chat, agent, chatflow, completion and workflow apps,
//! blocking or streaming, with timeouts and bounded retries. It turns whatever Dify (or a gateway in
//! front of it) sends into an [`Answer`] or a [`Failure`] with Dify's `code`; it never panics on
//! server output, and the API key leaves it only in the `Authorization` header. Every call goes
//! through the outbound policy (`server::outbound`): a refused target fails as `target_refused`
//! before anything is sent, and a redirect fails as `redirect_refused`, never followed.
//!
//! Files: `request.rs` what is sent; `attempt.rs` one HTTP attempt and its timeouts; `sse.rs` the
//! stream framing; `outcome.rs` what a response means (`blocking.rs` reads a blocking body,
//! `node_event.rs` a node event); `retry.rs` when to try again; `error.rs` the failure codes. It
//! knows nothing of batches, scoring or storage (the runner's business).

mod attempt;
mod blocking;
pub mod error;
mod node_event;
mod outcome;
mod request;
pub mod retry;
pub mod sse;
mod trace;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::model::{limits, AppMode, DifyIds, ResponseMode, Trace, Usage};
use crate::server::outbound::OutboundPolicy;
use crate::server::secret::Secret;

pub use error::{codes, ClientBuildError};
pub use request::effective_response_mode;
pub use retry::{classify, Decision};
pub use sse::{SseFrame, SseParser};

use error::AttemptError;

/// One Dify app as a version calls it.
#[derive(Debug, Clone)]
pub struct AppEndpoint {
    /// Service API base, e.g. `http://127.0.0.1:5001/v1` (a trailing slash is fine).
    pub base_url: String,
    pub api_key: Secret,
    pub app_mode: AppMode,
    /// Ignored for agent apps, which are always streamed (Dify refuses blocking for them).
    pub response_mode: ResponseMode,
    /// Workflow apps: the output that holds the answer. `None`: the only string output, else
    /// `answer`, `text`, `result` in that order.
    pub answer_field: Option<String>,
    /// Version-level `inputs`; a case's inputs override them key by key.
    pub inputs: serde_json::Map<String, Value>,
    /// A published workflow version to run (workflow and chatflow apps); None: the latest.
    pub workflow_id: Option<String>,
}

/// An app with what every call to it shares worked out once (its endpoint URL, the checked
/// pinned workflow id, the response mode): what the runner holds for a version, so that a test's
/// call only writes its body. It reads as the [`AppEndpoint`] it was made from.
#[derive(Debug, Clone)]
pub struct PreparedApp {
    app: AppEndpoint,
    /// Or why no call to the app can be made: each call fails so, with nothing sent.
    target: Result<request::Target, AttemptError>,
}

impl PreparedApp {
    pub fn new(app: AppEndpoint) -> PreparedApp {
        let target = request::target(&app);
        PreparedApp { app, target }
    }
}

impl std::ops::Deref for PreparedApp {
    type Target = AppEndpoint;

    fn deref(&self) -> &AppEndpoint {
        &self.app
    }
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Whole attempt: send, response head and full body or stream.
    pub request_timeout: Duration,
    /// Longest silence between stream chunks. Dify pings every 10 s, so a stall is real well before.
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts per call, the first included (0 is taken as 1).
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Dify's `user`: scopes the conversations the tests create.
    pub user: String,
    /// Which addresses may be called. The default refuses loopback and private targets.
    pub outbound: OutboundPolicy,
    /// Bytes of one response read at most (a blocking body, or a whole stream); beyond, the
    /// attempt fails as `response_too_large`. Default [`limits::MAX_RESPONSE_BYTES`].
    pub max_response_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            request_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(45),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 4,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(20),
            user: "dify-bench".to_string(),
            outbound: OutboundPolicy::default(),
            max_response_bytes: limits::MAX_RESPONSE_BYTES,
        }
    }
}

/// A usable answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub answer: String,
    /// Send to end of the successful attempt (backoff sleeps and failed attempts excluded).
    pub latency_ms: i64,
    /// Send to the first answer text; streaming only.
    pub ttft_ms: Option<i64>,
    pub usage: Usage,
    pub ids: DifyIds,
    /// HTTP attempts made, the successful one included.
    pub attempts: u32,
    /// What Dify retrieved for it (`retriever_resources`' contents, bounded): a judge's context.
    pub retrieved: Vec<String>,
    /// The nodes it ran, the tools it called, the chunks it retrieved (full outputs, bounded).
    pub trace: Trace,
    /// The published workflow version that answered (`workflow_started.data.workflow_id`);
    /// None for apps without a workflow.
    pub workflow_id: Option<String>,
}

/// No usable answer after the retries the rules allow.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Dify's `code` when it sent one, else one of [`codes`].
    pub code: String,
    pub message: String,
    /// The HTTP status, or the `status` of a mid-stream `error` event; `None` when no response came.
    pub http_status: Option<u16>,
    /// HTTP attempts made; 0 when the call could not even be built (bad URL, bad inputs).
    pub attempts: u32,
    /// Every id Dify gave across the attempts (the latest wins).
    pub ids: DifyIds,
    /// The last answer's `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
    /// What a failed workflow ran before it failed (its failed node among them).
    pub trace: Option<Box<Trace>>,
}

impl Failure {
    /// Dify asked for fewer calls at once: its app-level ceiling (429 `too_many_requests`) or an
    /// overloaded server (503). Not a quota (`rate_limit_error`), which waiting does not fix.
    pub fn is_throttle(&self) -> bool {
        throttled(&self.code, self.http_status)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(status) = self.http_status {
            write!(f, " (HTTP {status})")?;
        }
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// A JSON reply to [`DifyClient::post_json`].
#[derive(Debug, Clone, PartialEq)]
pub struct JsonReply {
    pub body: Value,
    /// Send to end of the successful attempt.
    pub latency_ms: i64,
    pub attempts: u32,
}

/// What "test connection" learns about an app.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppInfo {
    pub name: Option<String>,
    /// Dify's mode name (`chat`, `agent-chat`, `advanced-chat`, `completion`, `workflow`, …), as
    /// sent; `None` from Dify releases without `GET /info` (or without `mode` in it).
    pub mode: Option<String>,
}

/// Cheap to clone: all clones share one connection pool.
#[derive(Clone)]
pub struct DifyClient {
    http: reqwest::Client,
    cfg: Arc<ClientConfig>,
}

impl fmt::Debug for DifyClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DifyClient")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl DifyClient {
    /// Fails only if the TLS backend cannot initialise.
    pub fn new(cfg: ClientConfig) -> Result<DifyClient, ClientBuildError> {
        let http = cfg
            .outbound
            .client_builder()
            .connect_timeout(cfg.connect_timeout)
            // Long streams pass through NATs and load balancers that drop silent-looking flows.
            .tcp_keepalive(Duration::from_secs(30))
            .user_agent(concat!("dify-bench/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientBuildError)?;
        Ok(DifyClient {
            http,
            cfg: Arc::new(cfg),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// One test: sends `query` (with the version's inputs merged with `case_inputs`, a JSON object
    /// or null), retrying per [`classify`]. Cancel by dropping the future. A caller calling one
    /// app many times holds a [`PreparedApp`] and uses [`DifyClient::call_with`].
    pub async fn call(
        &self,
        app: &AppEndpoint,
        query: &str,
        case_inputs: &Value,
    ) -> Result<Answer, Failure> {
        let target = request::target(app);
        self.call_to(app, &target, query, case_inputs, None, Throttles::Retry)
            .await
    }

    /// [`DifyClient::call`] to a prepared app, saying what a throttle ([`Failure::is_throttle`])
    /// does: retried here like any transient failure, or handed back at once to a caller that
    /// paces its own calls (the runner's adaptive concurrency) and sends the test again when it
    /// has room.
    pub async fn call_with(
        &self,
        app: &PreparedApp,
        query: &str,
        case_inputs: &Value,
        throttles: Throttles,
    ) -> Result<Answer, Failure> {
        self.call_in(app, query, case_inputs, None, throttles).await
    }

    /// [`DifyClient::call_with`] as a turn of a conversation: `conversation_id` (the one Dify
    /// gave the answer of the turn before) is sent with a chat-family call; None starts one.
    pub async fn call_in(
        &self,
        app: &PreparedApp,
        query: &str,
        case_inputs: &Value,
        conversation_id: Option<&str>,
        throttles: Throttles,
    ) -> Result<Answer, Failure> {
        self.call_to(
            &app.app,
            &app.target,
            query,
            case_inputs,
            conversation_id,
            throttles,
        )
        .await
    }

    async fn call_to(
        &self,
        app: &AppEndpoint,
        target: &Result<request::Target, AttemptError>,
        query: &str,
        case_inputs: &Value,
        conversation_id: Option<&str>,
        throttles: Throttles,
    ) -> Result<Answer, Failure> {
        let call = target
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|target| {
                request::prepare(
                    app,
                    target,
                    query,
                    case_inputs,
                    &self.cfg.user,
                    conversation_id,
                )
            })
            .map_err(|e| failure(app, e, 0, DifyIds::default()))?;
        self.check_target(app, call.url).await?;
        let (ok, attempts) = self
            .retrying(&app.api_key, throttles, || {
                attempt::run(&self.http, &self.cfg, app, &call)
            })
            .await
            .map_err(|(err, attempts, ids)| failure(app, pin_refused(app, err), attempts, ids))?;
        Ok(Answer {
            answer: ok.parsed.answer,
            latency_ms: millis(ok.latency),
            ttft_ms: ok.ttft.map(millis),
            usage: ok.parsed.usage,
            ids: ok.parsed.ids,
            attempts,
            retrieved: ok.parsed.retrieved,
            trace: ok.parsed.trace,
            workflow_id: ok.parsed.workflow_id,
        })
    }

    /// `POST {base_url}/{path}` with a JSON body and a bearer key, reading a JSON reply — a
    /// judge's or an embedding endpoint's call — under the same outbound policy, timeouts,
    /// retries and backoff as a Dify call.
    pub async fn post_json(
        &self,
        base_url: &str,
        path: &str,
        key: &Secret,
        body: &Value,
    ) -> Result<JsonReply, Failure> {
        let fail = |err: AttemptError, attempts| Failure {
            code: err.code,
            message: scrub(&err.message, key),
            http_status: err.http_status,
            attempts,
            ids: DifyIds::default(),
            retry_after: err.retry_after,
            trace: None,
        };
        let url = request::endpoint_url(base_url, path).map_err(|e| fail(e, 0))?;
        self.cfg.outbound.check_url(&url).await.map_err(|refused| {
            fail(
                AttemptError::new(codes::TARGET_REFUSED, refused.to_string()),
                0,
            )
        })?;
        let ((body, latency), attempts) = self
            .retrying(key, Throttles::Retry, || {
                attempt::post_json(&self.http, &self.cfg, key, url.clone(), body)
            })
            .await
            .map_err(|(err, attempts, _)| fail(err, attempts))?;
        Ok(JsonReply {
            body,
            latency_ms: millis(latency),
            attempts,
        })
    }

    /// Runs `attempt` until it succeeds or the retry rules ([`classify`], `max_attempts`) give
    /// up, sleeping the backoff between attempts. Returns the attempts made, and on failure the
    /// last error with every id Dify gave across the attempts.
    async fn retrying<T, F, Fut>(
        &self,
        key: &Secret,
        throttles: Throttles,
        mut attempt: F,
    ) -> Result<(T, u32), (AttemptError, u32, DifyIds)>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, AttemptError>>,
    {
        let max_attempts = self.cfg.max_attempts.max(1);
        let mut ids = DifyIds::default();
        let mut n = 1;
        loop {
            let err = match attempt().await {
                Ok(ok) => return Ok((ok, n)),
                Err(err) => err,
            };
            merge_ids(&mut ids, &err.ids);
            let decision = classify(err.http_status, &err.code);
            let handed_back =
                throttles == Throttles::HandBack && throttled(&err.code, err.http_status);
            if decision == Decision::GiveUp || n >= max_attempts || handed_back {
                tracing::debug!(
                    app = %key,
                    attempt = n,
                    code = %err.code,
                    http_status = ?err.http_status,
                    ?decision,
                    "call failed"
                );
                return Err((err, n, ids));
            }
            let delay = retry::delay_before_retry(
                n - 1,
                err.retry_after,
                self.cfg.backoff_base,
                self.cfg.backoff_max,
                &mut rand::thread_rng(),
            );
            tracing::debug!(
                app = %key,
                attempt = n,
                max_attempts,
                code = %err.code,
                http_status = ?err.http_status,
                delay_ms = millis(delay),
                "call failed; retrying"
            );
            tokio::time::sleep(delay).await;
            n += 1;
        }
    }

    /// For a "test connection" button: `GET /info`, falling back to `GET /parameters` on a 404
    /// (releases before `/info`), which proves the key works but names nothing. One attempt, no
    /// retries: the person clicking wants to know now.
    pub async fn info(&self, app: &AppEndpoint) -> Result<AppInfo, Failure> {
        let fail = |e: AttemptError| failure(app, e, 1, DifyIds::default());
        let info_url = request::endpoint_url(&app.base_url, "info")
            .map_err(|e| failure(app, e, 0, DifyIds::default()))?;
        // `/parameters` is on the same host and port.
        self.check_target(app, &info_url).await?;
        match attempt::get_json(&self.http, &self.cfg, app, info_url).await {
            Ok(body) => Ok(AppInfo {
                name: string_at(&body, "name"),
                mode: string_at(&body, "mode"),
            }),
            Err(e) if e.http_status == Some(404) => {
                let mut url = request::endpoint_url(&app.base_url, "parameters").map_err(fail)?;
                // Old releases wanted `user` on this GET; newer ones ignore it.
                url.query_pairs_mut().append_pair("user", &self.cfg.user);
                let attempt = attempt::get_json(&self.http, &self.cfg, app, url).await;
                attempt.map(|_| AppInfo::default()).map_err(fail)
            }
            Err(e) => Err(fail(e)),
        }
    }

    /// `GET {base_url}/{path}` (`info`, `parameters`): one attempt, no retries, under the
    /// outbound policy — what recording an app's identity at a batch's launch reads.
    pub async fn app_json(&self, app: &AppEndpoint, path: &str) -> Result<Value, Failure> {
        let mut url = request::endpoint_url(&app.base_url, path)
            .map_err(|e| failure(app, e, 0, DifyIds::default()))?;
        if path == "parameters" {
            // Old releases wanted `user` on this GET; newer ones ignore it.
            url.query_pairs_mut().append_pair("user", &self.cfg.user);
        }
        self.check_target(app, &url).await?;
        attempt::get_json(&self.http, &self.cfg, app, url)
            .await
            .map_err(|e| failure(app, e, 1, DifyIds::default()))
    }

    /// The outbound policy's check before sending (IP-literal hosts; host names are checked by
    /// the resolver at connect time). A refusal is final: 0 attempts, never retried.
    async fn check_target(&self, app: &AppEndpoint, url: &reqwest::Url) -> Result<(), Failure> {
        self.cfg.outbound.check_url(url).await.map_err(|refused| {
            tracing::debug!(app = %app.api_key, %refused, "Dify call refused by the outbound policy");
            let err = AttemptError::new(codes::TARGET_REFUSED, refused.to_string());
            failure(app, err, 0, DifyIds::default())
        })
    }
}

fn failure(app: &AppEndpoint, err: AttemptError, attempts: u32, ids: DifyIds) -> Failure {
    Failure {
        code: err.code,
        message: scrub(&err.message, &app.api_key),
        http_status: err.http_status,
        attempts,
        ids,
        retry_after: err.retry_after,
        trace: err.trace,
    }
}

/// A pinned version's refusal says so: Dify's own words ("Workflow not found.", "… unavailable
/// on the current plan") do not name the pin, and a reader of the failed test must learn that
/// the *pinned version* cannot run, and why. The code and status stay Dify's.
fn pin_refused(app: &AppEndpoint, err: AttemptError) -> AttemptError {
    let Some(pin) = app.workflow_id.as_deref() else {
        return err;
    };
    let why = if err.code == codes::WORKFLOW_VERSION_NOT_ALLOWED {
        "Dify does not allow running a pinned workflow version on this plan (Dify Cloud's \
         Sandbox plan refuses it; a paid plan or a self-hosted Dify allows it)"
    } else if err.http_status == Some(404) {
        "this app has no published workflow version with that id (check the id in the app's \
         version history, and that the key belongs to that app)"
    } else {
        return err;
    };
    AttemptError {
        message: format!(
            "the pinned workflow version {pin} cannot be run: {why}. Dify said: {}",
            err.message
        ),
        ..err
    }
}

fn throttled(code: &str, http_status: Option<u16>) -> bool {
    code == codes::TOO_MANY_REQUESTS || http_status == Some(503)
}

/// What [`DifyClient::call_with`] does with a throttled attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttles {
    /// Retried with backoff, like every transient failure.
    Retry,
    /// Returned at once as the call's failure.
    HandBack,
}

/// Messages quote server output; should a proxy ever echo the key back, it is replaced by its hint.
fn scrub(message: &str, key: &Secret) -> String {
    let raw = key.expose().trim();
    if raw.len() >= 8 && message.contains(raw) {
        message.replace(raw, &key.hint())
    } else {
        message.to_string()
    }
}

fn merge_ids(acc: &mut DifyIds, new: &DifyIds) {
    for (slot, value) in [
        (&mut acc.task_id, &new.task_id),
        (&mut acc.message_id, &new.message_id),
        (&mut acc.conversation_id, &new.conversation_id),
        (&mut acc.workflow_run_id, &new.workflow_run_id),
    ] {
        if value.is_some() {
            slot.clone_from(value);
        }
    }
}

fn string_at(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppEndpoint {
        AppEndpoint {
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: Secret::new("app-SECRETSECRETSECRET1234"),
            app_mode: AppMode::Chat,
            response_mode: ResponseMode::Blocking,
            answer_field: None,
            inputs: Default::default(),
            workflow_id: None,
        }
    }

    #[test]
    fn a_pinned_versions_refusals_name_the_pin_and_keep_difys_code() {
        let pin = "3c90c3cc-0d44-4b50-8888-8dd25736052a";
        let pinned = AppEndpoint {
            workflow_id: Some(pin.into()),
            ..app()
        };
        let plan = AttemptError::new(
            codes::WORKFLOW_VERSION_NOT_ALLOWED,
            "Workflow version execution is unavailable on the current plan.",
        )
        .with_status(Some(403));
        let e = pin_refused(&pinned, plan.clone());
        assert_eq!(e.code, codes::WORKFLOW_VERSION_NOT_ALLOWED);
        assert_eq!(e.http_status, Some(403));
        assert!(e.message.starts_with(&format!(
            "the pinned workflow version {pin} cannot be run: Dify does not allow"
        )));
        assert!(e.message.ends_with("unavailable on the current plan."));
        let missing = AttemptError::new("not_found", "Workflow not found.").with_status(Some(404));
        let e = pin_refused(&pinned, missing.clone());
        assert!(e
            .message
            .contains("has no published workflow version with that id"));
        // Unpinned calls, and other failures of pinned ones, are left as Dify worded them.
        assert_eq!(
            pin_refused(&app(), plan).message,
            "Workflow version execution is unavailable on the current plan."
        );
        let other = AttemptError::new("invalid_param", "x").with_status(Some(400));
        assert_eq!(pin_refused(&pinned, other).message, "x");
    }

    #[test]
    fn key_never_shows_in_debug_or_messages() {
        let a = app();
        assert!(!format!("{a:?}").contains("SECRETSECRET"));
        let f = failure(
            &a,
            AttemptError::new("x", "proxy said: Bearer app-SECRETSECRETSECRET1234"),
            1,
            DifyIds::default(),
        );
        assert_eq!(f.message, "proxy said: Bearer app-…1234");
    }

    #[test]
    fn ids_merge_latest_wins_but_none_keeps() {
        let mut acc = DifyIds {
            task_id: Some("t1".into()),
            message_id: Some("m1".into()),
            ..Default::default()
        };
        merge_ids(
            &mut acc,
            &DifyIds {
                task_id: Some("t2".into()),
                ..Default::default()
            },
        );
        assert_eq!(acc.task_id.as_deref(), Some("t2"));
        assert_eq!(acc.message_id.as_deref(), Some("m1"));
    }

    #[test]
    fn failure_displays_code_message_status_attempts() {
        let f = Failure {
            code: "too_many_requests".into(),
            message: "Too many requests.".into(),
            http_status: Some(429),
            attempts: 4,
            ids: DifyIds::default(),
            retry_after: None,
            trace: None,
        };
        assert_eq!(
            f.to_string(),
            "too_many_requests: Too many requests. (HTTP 429) after 4 attempts"
        );
    }

    #[tokio::test]
    async fn unbuildable_calls_fail_without_sending() {
        let client = DifyClient::new(ClientConfig::default()).unwrap();
        let mut a = app();
        a.base_url = "nonsense".into();
        let f = client.call(&a, "q", &Value::Null).await.unwrap_err();
        assert_eq!((f.code.as_str(), f.attempts), (codes::INVALID_REQUEST, 0));
        let f = client
            .call(&app(), "q", &serde_json::json!("str"))
            .await
            .unwrap_err();
        assert_eq!((f.code.as_str(), f.attempts), (codes::INVALID_REQUEST, 0));
    }

    #[tokio::test]
    async fn refused_connection_is_retried_then_reported() {
        let cfg = ClientConfig {
            max_attempts: 3,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(5),
            outbound: OutboundPolicy::allowing_private(),
            ..Default::default()
        };
        let client = DifyClient::new(cfg).unwrap();
        // Port 1 on loopback: nothing listens there.
        let f = client.call(&app(), "q", &Value::Null).await.unwrap_err();
        assert_eq!(f.code, codes::CONNECTION_ERROR);
        assert_eq!(f.attempts, 3);
        assert_eq!(f.http_status, None);
        assert!(!f.message.contains("SECRET"));
    }

    #[tokio::test]
    async fn refused_targets_fail_at_once_without_retries() {
        let client = DifyClient::new(ClientConfig::default()).unwrap();
        let f = client.call(&app(), "q", &Value::Null).await.unwrap_err();
        assert_eq!((f.code.as_str(), f.attempts), (codes::TARGET_REFUSED, 0));
        assert!(f.message.contains("--allow-private-targets"), "{f}");
        let f = client.info(&app()).await.unwrap_err();
        assert_eq!((f.code.as_str(), f.attempts), (codes::TARGET_REFUSED, 0));
    }
}
