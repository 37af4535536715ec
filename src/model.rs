//! Types shared by the server and the WASM client: what the API returns and what the progress
//! stream carries. Nothing here depends on a server crate; rows that hold secrets never live here.

use serde::{Deserialize, Serialize};
use std::fmt;

mod accounts;
pub mod compare;
pub mod diff;
pub use accounts::*;
mod judge;
pub use judge::*;
pub mod limits;
mod totals;
pub mod verdict_text;
pub use totals::{CurrencyTotal, ErrorCount, RunTotals};
pub mod dashboard;
pub mod trace;
pub use trace::Trace;
pub mod identity;
pub mod inputs;
pub use identity::{check_workflow_id, AppChange, AppIdentity};
mod webhook;
pub use webhook::*;
pub mod replay;
pub mod rounding;
pub mod turns;
pub use turns::{Turn, TurnResult};

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A Dify app endpoint under test ("two-stage search v1.2").
    VersionId
);
id_type!(
    /// One question of the test set.
    CaseId
);
id_type!(
    /// One run of versions × cases.
    BatchId
);

/// Which Dify API family a version is called through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AppMode {
    /// Chatbot: `POST /chat-messages`.
    #[default]
    Chat,
    /// Agent: `POST /chat-messages`, streaming only.
    AgentChat,
    /// Chatflow: `POST /chat-messages`, with workflow events in the stream.
    AdvancedChat,
    /// Text generator: `POST /completion-messages`.
    Completion,
    /// Workflow: `POST /workflows/run`.
    Workflow,
}

impl AppMode {
    pub const ALL: [AppMode; 5] = [
        AppMode::Chat,
        AppMode::AgentChat,
        AppMode::AdvancedChat,
        AppMode::Completion,
        AppMode::Workflow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppMode::Chat => "chat",
            AppMode::AgentChat => "agent-chat",
            AppMode::AdvancedChat => "advanced-chat",
            AppMode::Completion => "completion",
            AppMode::Workflow => "workflow",
        }
    }

    pub fn parse(s: &str) -> Option<AppMode> {
        AppMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl fmt::Display for AppMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Dify's `response_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResponseMode {
    Blocking,
    #[default]
    Streaming,
}

impl ResponseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Blocking => "blocking",
            ResponseMode::Streaming => "streaming",
        }
    }

    pub fn parse(s: &str) -> Option<ResponseMode> {
        match s {
            "blocking" => Some(ResponseMode::Blocking),
            "streaming" => Some(ResponseMode::Streaming),
            _ => None,
        }
    }
}

/// A version as the API shows it: the key is never included, only its hint (`app-…abcd`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub id: VersionId,
    pub name: String,
    pub description: String,
    /// Dify's Service API base, e.g. `https://api.dify.ai/v1`.
    pub base_url: String,
    pub app_mode: AppMode,
    pub response_mode: ResponseMode,
    pub api_key_hint: String,
    /// Workflow apps: which output holds the answer (None: the only string output, else
    /// `answer`, `text` or `result`).
    pub answer_field: Option<String>,
    /// Extra `inputs` sent with every call (a JSON object).
    pub inputs: serde_json::Value,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Who created it and who changed it last (`alice`, `token:ci`); None before accounts.
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub updated_by: Option<String>,
    /// A published Dify workflow version to run instead of the app's latest (workflow and
    /// chatflow apps): workflow apps call `POST /workflows/{workflow_id}/run`, chatflows send it
    /// in the body. None: whatever the app has published last.
    #[serde(default)]
    pub workflow_id: Option<String>,
}

/// A check on an answer besides the score; any failing assertion fails the test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Assertion {
    Contains {
        value: String,
    },
    NotContains {
        value: String,
    },
    Regex {
        pattern: String,
    },
    MaxLatencyMs {
        ms: u64,
    },
    /// A workflow node (named by its title or node id) ran and succeeded, every time it ran.
    NodeSucceeded {
        node: String,
    },
    /// A workflow node took at most this long (Dify's `elapsed_time`), every time it ran.
    NodeMaxLatencyMs {
        node: String,
        ms: u64,
    },
    /// A workflow node's output contains the value (normalised as for `contains`).
    NodeOutputContains {
        node: String,
        value: String,
    },
    /// A workflow node's output matches the regex.
    NodeOutputMatches {
        node: String,
        pattern: String,
    },
    /// An agent called this tool (`agent_thought.tool`).
    ToolCalled {
        tool: String,
    },
    /// A retrieved chunk came from this document (its name or id).
    CitesDocument {
        document: String,
    },
    /// The best retrieval score is at least this (0–1, as Dify reports it).
    MinRetrievalScore {
        score: f64,
    },
    /// At least this many chunks were retrieved.
    MinChunks {
        count: u32,
    },
}

impl Assertion {
    /// The workflow node it is about, for the node assertions.
    pub fn node(&self) -> Option<&str> {
        match self {
            Assertion::NodeSucceeded { node }
            | Assertion::NodeMaxLatencyMs { node, .. }
            | Assertion::NodeOutputContains { node, .. }
            | Assertion::NodeOutputMatches { node, .. } => Some(node),
            _ => None,
        }
    }
}

/// One question of the test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    pub id: CaseId,
    pub name: String,
    pub query: String,
    pub expected_answer: String,
    pub keywords: Vec<String>,
    pub category: String,
    pub tags: Vec<String>,
    /// Overrides the batch's pass threshold for this case.
    pub pass_threshold: Option<f64>,
    pub assertions: Vec<Assertion>,
    /// Extra `inputs` for this case (merged over the version's).
    pub inputs: serde_json::Value,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Who created it and who changed it last (`alice`, `token:ci`); None before accounts.
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub updated_by: Option<String>,
    /// The case's own rubric for the judge, added to the batch's rubric.
    #[serde(default)]
    pub rubric: Option<String>,
    /// Bumped whenever the expected answer, keywords or rubric change (an edit, or promoting a
    /// reviewed answer); earlier revisions are kept.
    #[serde(default = "first_revision")]
    pub revision: u32,
    /// Turns 2 and on of a conversation case (see [`turns`]); empty for a one-turn case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<Turn>,
}

fn first_revision() -> u32 {
    1
}

impl TestCase {
    /// The case a new (normalised) draft becomes when it is stored under `id` at `now`: the
    /// same defaults the store writes (no inputs: `{}`; enabled unless it says otherwise;
    /// revision 1). For cases that are run without being stored (the headless `run`).
    pub fn from_draft(id: CaseId, draft: CaseDraft, now: i64) -> TestCase {
        TestCase {
            id,
            name: draft.name,
            query: draft.query,
            expected_answer: draft.expected_answer,
            keywords: draft.keywords,
            category: draft.category,
            tags: draft.tags,
            pass_threshold: draft.pass_threshold,
            assertions: draft.assertions,
            inputs: draft.inputs.unwrap_or_else(|| serde_json::json!({})),
            enabled: draft.enabled.unwrap_or(true),
            created_at: now,
            updated_at: now,
            created_by: None,
            updated_by: None,
            rubric: draft.rubric,
            revision: first_revision(),
            turns: draft.turns,
        }
    }
}

/// An earlier revision of a case: what it was graded against until it was replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRevision {
    pub revision: u32,
    /// The case as it was at that revision.
    pub case: TestCase,
    /// When and by whom it was replaced, and why ("edited", "promoted the answer of batch 12").
    pub replaced_at: i64,
    pub replaced_by: Option<String>,
    pub note: String,
}

/// How answers are scored in one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoringConfig {
    /// Score (0–100) at or above which a test passes, unless the case overrides it.
    pub pass_threshold: f64,
    /// Weight of expected-keyword coverage in the score.
    pub keyword_weight: f64,
    /// Weight of similarity to the expected answer in the score.
    pub similarity_weight: f64,
    /// An LLM judge grading every answer (a third weighted component, optionally a gate).
    pub judge: Option<JudgeScoring>,
    /// Embedding similarity to the expected answer (a fourth weighted component).
    pub embedding: Option<EmbeddingScoring>,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            pass_threshold: 60.0,
            keyword_weight: 0.5,
            similarity_weight: 0.5,
            judge: None,
            embedding: None,
        }
    }
}

impl ScoringConfig {
    /// Refuses settings no batch could run with, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=100.0).contains(&self.pass_threshold) || self.pass_threshold.is_nan() {
            return Err(format!(
                "pass_threshold must be between 0 and 100, got {}",
                self.pass_threshold
            ));
        }
        for (name, w) in [
            ("keyword_weight", self.keyword_weight),
            ("similarity_weight", self.similarity_weight),
        ] {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(format!("{name} must be a non-negative number, got {w}"));
            }
        }
        let judge_weight = self.judge.as_ref().map_or(0.0, |j| j.weight);
        let embedding_weight = self.embedding.as_ref().map_or(0.0, |e| e.weight);
        for (name, w) in [
            ("judge.weight", judge_weight),
            ("embedding.weight", embedding_weight),
        ] {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(format!("{name} must be a non-negative number, got {w}"));
            }
        }
        if self.keyword_weight + self.similarity_weight + judge_weight + embedding_weight <= 0.0 {
            return Err("every scoring weight is 0; give at least one component a weight".into());
        }
        Ok(())
    }
}

/// Lifecycle of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchStatus {
    Queued,
    Running,
    Completed,
    Error,
    Cancelled,
}

impl BatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Queued => "queued",
            BatchStatus::Running => "running",
            BatchStatus::Completed => "completed",
            BatchStatus::Error => "error",
            BatchStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<BatchStatus> {
        [
            BatchStatus::Queued,
            BatchStatus::Running,
            BatchStatus::Completed,
            BatchStatus::Error,
            BatchStatus::Cancelled,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }

    /// Completed, error and cancelled end a batch; nothing changes after them.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            BatchStatus::Completed | BatchStatus::Error | BatchStatus::Cancelled
        )
    }
}

/// Where one version stands within a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionRunStatus {
    Waiting,
    Running,
    Completed,
    /// Every test of the version ended without a usable answer (a wrong key or URL, an app down).
    Failed,
    Cancelled,
}

impl VersionRunStatus {
    /// Where a version stands from its counts: done when every test has a result (failed when
    /// none of them had an answer), else cancelled, running once a test started, waiting before.
    /// The live registry and a replay of it both decide by this.
    pub fn of(total: u64, completed: u64, errored: u64, in_flight: u64, cancelled: bool) -> Self {
        if total > 0 && completed >= total {
            if errored == completed {
                VersionRunStatus::Failed
            } else {
                VersionRunStatus::Completed
            }
        } else if cancelled {
            VersionRunStatus::Cancelled
        } else if in_flight > 0 || completed > 0 {
            VersionRunStatus::Running
        } else {
            VersionRunStatus::Waiting
        }
    }
}

/// The outcome of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    /// Answered and scored at or above the threshold, with every assertion holding.
    Passed,
    /// Answered, but scored below the threshold or broke an assertion.
    Failed,
    /// No usable answer after retries.
    Error,
}

impl ResultStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultStatus::Passed => "passed",
            ResultStatus::Failed => "failed",
            ResultStatus::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<ResultStatus> {
        match s {
            "passed" => Some(ResultStatus::Passed),
            "failed" => Some(ResultStatus::Failed),
            "error" => Some(ResultStatus::Error),
            _ => None,
        }
    }
}

/// Why a score is what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ScoreDetail {
    pub keywords_hit: Vec<String>,
    pub keywords_missed: Vec<String>,
    /// Keyword coverage 0–100 (None when the case has no keywords).
    pub keyword_score: Option<f64>,
    /// Similarity to the expected answer 0–100 (None when the case has no expected answer).
    pub similarity_score: Option<f64>,
    pub assertions: Vec<AssertionOutcome>,
    /// What the batch's judge said (None when the batch has no judge or there was no answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeOutcome>,
    /// Embedding similarity to the expected answer, 0–100 (None without an embedding scorer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_score: Option<f64>,
    /// Why the embedding score is missing (the endpoint failed); the test keeps its other scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssertionOutcome {
    pub assertion: Assertion,
    pub passed: bool,
    /// What went wrong, in words ("latency 812 ms exceeds 500 ms").
    pub message: Option<String>,
}

/// Token usage and price of one call, as Dify reported them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Usage {
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub total_price: Option<f64>,
    pub currency: Option<String>,
}

/// The identifiers Dify gave a call, for finding it in Dify's logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DifyIds {
    pub task_id: Option<String>,
    pub message_id: Option<String>,
    pub conversation_id: Option<String>,
    pub workflow_run_id: Option<String>,
}

/// One test's stored result: (batch, version, case, repetition) is unique.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub batch_id: BatchId,
    pub version_id: VersionId,
    pub case_id: CaseId,
    /// Which repeat of the (version, case) this is, 0-based; always 0 in a batch without repeats.
    #[serde(default)]
    pub repetition: u32,
    pub status: ResultStatus,
    /// 0–100; None when there was no answer.
    pub score: Option<f64>,
    pub answer: Option<String>,
    pub latency_ms: Option<i64>,
    /// Time to first token (streaming only).
    pub ttft_ms: Option<i64>,
    pub usage: Usage,
    pub dify: DifyIds,
    /// Dify's error `code` (or ours: `timeout`, `connection_error`, `invalid_response`).
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// HTTP calls made, retries included.
    pub attempts: i64,
    pub detail: ScoreDetail,
    pub finished_at: i64,
    /// The nodes, tools and retrieval Dify reported for it, compacted (see [`Trace::compact`]);
    /// None when it reported none, and in listings that leave details out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
    /// Each turn of a multi-turn case (see [`turns`]); empty for a one-turn case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<TurnResult>,
}

/// A batch as listed and shown (without results).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub id: BatchId,
    pub name: String,
    pub status: BatchStatus,
    pub concurrency: i64,
    /// At most this many calls in flight per version (None: only the global limit).
    pub per_version_cap: Option<i64>,
    pub scoring: ScoringConfig,
    /// How many times every (version, case) runs (1–[`MAX_REPEATS`]).
    #[serde(default = "one")]
    pub repeats: u32,
    /// versions × cases × repeats.
    pub total_tests: i64,
    pub completed_tests: i64,
    pub passed_tests: i64,
    pub failed_tests: i64,
    pub average_score: Option<f64>,
    pub pass_rate: Option<f64>,
    pub error_message: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub versions: Vec<BatchVersion>,
    /// Who started it (`alice`, `token:ci`); None before accounts and for headless runs.
    #[serde(default)]
    pub created_by: Option<String>,
}

/// A version as it was when a batch was launched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchVersion {
    pub version_id: VersionId,
    pub name: String,
    pub app_mode: AppMode,
    pub response_mode: ResponseMode,
    pub base_url: String,
    pub api_key_hint: String,
    /// The published workflow version the batch pinned (see [`Version::workflow_id`]).
    #[serde(default)]
    pub workflow_id: Option<String>,
}

/// The progress stream's payload (`GET /api/batches/{id}/progress`). Field names follow the original
/// Django feature, so its consumers keep working.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub batch_id: BatchId,
    pub batch_name: String,
    pub status: BatchStatus,
    /// 0–100.
    pub progress: f64,
    /// Tests finished in any way.
    pub completed_tests: u64,
    pub total_tests: u64,
    /// Tests with no usable answer after retries.
    pub failed_tests: u64,
    /// Tests scored at or above the pass threshold.
    pub passed_tests: u64,
    pub current_version: Option<String>,
    pub current_test_case: Option<String>,
    /// Seconds, from the recent completion rate; None until known.
    pub estimated_remaining_time: Option<f64>,
    /// Seconds since the batch started.
    pub elapsed_time: f64,
    pub error_message: Option<String>,
    pub versions: Vec<VersionProgress>,
    /// How many times every (version, case) runs; `total_tests` counts every repetition.
    #[serde(default = "one")]
    pub repeats: u32,
    /// The judge's tallies, when the batch has a judge (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeTally>,
    /// What the batch raised so far (stored with it), oldest first; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<Alert>,
}

/// A live alert of a batch, per version: raised once per kind, stored with the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    pub version_id: VersionId,
    /// What was seen, in numbers (English; the UI titles it by `kind` in its own language).
    pub message: String,
    /// When it was raised, Unix ms.
    pub since: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Most of the version's last 20 tests ended in error.
    ErrorSpike,
    /// Tests of the version keep timing out.
    TimeoutStreak,
    /// Its latency p95 is well above its own history.
    SlowLatency,
    /// Its pass rate is clearly below its previous run's.
    PassRateDrop,
}

impl AlertKind {
    pub const ALL: [AlertKind; 4] = [
        AlertKind::ErrorSpike,
        AlertKind::TimeoutStreak,
        AlertKind::SlowLatency,
        AlertKind::PassRateDrop,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::ErrorSpike => "error_spike",
            AlertKind::TimeoutStreak => "timeout_streak",
            AlertKind::SlowLatency => "slow_latency",
            AlertKind::PassRateDrop => "pass_rate_drop",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What the judge has done so far in a batch (or for one version). A test counts as completed
/// only once it is judged, so these never run ahead of `completed_tests`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct JudgeTally {
    /// Tests the judge gave a judgement on (from the cache or a call).
    pub judged: u64,
    /// Of those, served from the judgement cache (no call made).
    pub cached: u64,
    /// Answered tests the judge gave no judgement on (`judge_error`).
    pub errors: u64,
    /// Mean judge score over the judged tests; None before the first.
    pub average_score: Option<f64>,
    /// Tokens and cost of the judge's calls (the batch page's summary; the progress stream
    /// leaves them out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionProgress {
    pub version_id: VersionId,
    pub version_name: String,
    /// 0–100.
    pub progress: f64,
    pub status: VersionRunStatus,
    pub completed_tests: u64,
    pub total_tests: u64,
    pub failed_tests: u64,
    /// Mean score over answered tests; None before the first.
    pub average_score: Option<f64>,
    /// passed / completed × 100; None before the first.
    pub pass_rate: Option<f64>,
    pub avg_latency_ms: Option<f64>,
    /// The judge's tallies for this version, when the batch has a judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeTally>,
    /// While the batch runs: how many of the version's calls may be in flight now (adaptive
    /// concurrency lowers it on throttles and raises it back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_limit: Option<u32>,
    /// While the batch runs: the version's circuit breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit: Option<CircuitState>,
}

/// A version's circuit breaker: `closed` (calls go out), `open` (its tests wait, or ended
/// `circuit_open` once the probes gave up), `half_open` (one probe is out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    #[default]
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// A version as submitted for create or update. `api_key` is write-only: on update, `None` keeps
/// the stored key. Its `Debug` output hides the key.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct VersionDraft {
    pub name: String,
    pub description: String,
    pub base_url: String,
    pub api_key: Option<String>,
    pub app_mode: AppMode,
    pub response_mode: ResponseMode,
    pub answer_field: Option<String>,
    pub inputs: Option<serde_json::Value>,
    pub enabled: Option<bool>,
    /// A published workflow version to pin (blank: none); see [`Version::workflow_id`].
    pub workflow_id: Option<String>,
}

impl fmt::Debug for VersionDraft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersionDraft")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_deref().map(key_hint))
            .field("app_mode", &self.app_mode)
            .field("response_mode", &self.response_mode)
            .field("enabled", &self.enabled)
            .field("workflow_id", &self.workflow_id)
            .finish_non_exhaustive()
    }
}

impl VersionDraft {
    /// Trims fields and refuses what cannot work, naming the field.
    pub fn normalized(mut self) -> Result<VersionDraft, String> {
        self.name = self.name.trim().to_string();
        self.base_url = self.base_url.trim().trim_end_matches('/').to_string();
        self.description = self.description.trim().to_string();
        if self.name.is_empty() {
            return Err("name is empty".into());
        }
        if self.name.chars().count() > 200 {
            return Err("name is longer than 200 characters".into());
        }
        check_http_url(&self.base_url).map_err(|e| format!("base_url: {e}"))?;
        if let Some(key) = &self.api_key {
            let key = key.trim();
            if key.is_empty() {
                self.api_key = None;
            } else if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("api_key contains whitespace".into());
            } else {
                self.api_key = Some(key.to_string());
            }
        }
        self.answer_field = self
            .answer_field
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty());
        match &self.inputs {
            None | Some(serde_json::Value::Object(_)) => {}
            Some(serde_json::Value::Null) => self.inputs = None,
            Some(_) => return Err("inputs must be a JSON object".into()),
        }
        self.workflow_id = match self.workflow_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(id) => {
                if !matches!(self.app_mode, AppMode::Workflow | AppMode::AdvancedChat) {
                    return Err(format!(
                        "workflow_id: only workflow and chatflow apps run pinned workflow \
                         versions, and this version's app mode is {}",
                        self.app_mode.as_str()
                    ));
                }
                Some(check_workflow_id(id).map_err(|e| format!("workflow_id: {e}"))?)
            }
        };
        Ok(self)
    }
}

/// A test case as submitted for create, update or import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CaseDraft {
    pub name: String,
    pub query: String,
    pub expected_answer: String,
    pub keywords: Vec<String>,
    pub category: String,
    pub tags: Vec<String>,
    pub pass_threshold: Option<f64>,
    pub assertions: Vec<Assertion>,
    pub inputs: Option<serde_json::Value>,
    pub enabled: Option<bool>,
    /// The case's own rubric for the judge (blank: none).
    pub rubric: Option<String>,
    /// Turns 2 and on of a conversation (see [`turns`]); left out of JSON when there are none,
    /// so a one-turn case exports as it always did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<Turn>,
}

impl CaseDraft {
    /// Trims fields and refuses what cannot work or is over a limit of [`limits`], naming the
    /// field and the limit. Regex assertions are compiled (and their compiled size checked) by
    /// the server's scorer.
    pub fn normalized(mut self) -> Result<CaseDraft, String> {
        self.query = self.query.trim().to_string();
        self.name = self.name.trim().to_string();
        self.expected_answer = self.expected_answer.trim().to_string();
        self.category = self.category.trim().to_string();
        if self.query.is_empty() {
            return Err("column `query` is empty".into());
        }
        limits::check_chars("column `query`", &self.query, limits::MAX_QUERY_CHARS)?;
        limits::check_chars(
            "column `expected_answer`",
            &self.expected_answer,
            limits::MAX_EXPECTED_ANSWER_CHARS,
        )?;
        if self.name.is_empty() {
            // Trimmed again: a cut at a space would otherwise change the name on the next save.
            let cut: String = self.query.chars().take(80).collect();
            self.name = cut.trim_end().to_string();
        }
        self.keywords = clean_list(self.keywords);
        self.tags = clean_list(self.tags);
        limits::check_chars("column `name`", &self.name, limits::MAX_LABEL_CHARS)?;
        limits::check_chars("column `category`", &self.category, limits::MAX_LABEL_CHARS)?;
        limits::check_count("column `tags`", self.tags.len(), limits::MAX_TAGS_PER_CASE)?;
        for (i, t) in self.tags.iter().enumerate() {
            limits::check_chars(
                &format!("column `tags`: tag {}", i + 1),
                t,
                limits::MAX_LABEL_CHARS,
            )?;
        }
        limits::check_count(
            "column `keywords`",
            self.keywords.len(),
            limits::MAX_KEYWORDS_PER_CASE,
        )?;
        for (i, k) in self.keywords.iter().enumerate() {
            limits::check_chars(
                &format!("column `keywords`: keyword {}", i + 1),
                k,
                limits::MAX_KEYWORD_CHARS,
            )?;
        }
        limits::check_count(
            "`assertions`",
            self.assertions.len(),
            limits::MAX_ASSERTIONS_PER_CASE,
        )?;
        check_assertions("", &self.assertions)?;
        self.turns = turns::normalize_turns(std::mem::take(&mut self.turns))?;
        self.rubric = self
            .rubric
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        if let Some(r) = &self.rubric {
            limits::check_chars("column `rubric`", r, limits::MAX_EXPECTED_ANSWER_CHARS)?;
        }
        if let Some(t) = self.pass_threshold {
            if !(0.0..=100.0).contains(&t) {
                return Err(format!("pass_threshold must be between 0 and 100, got {t}"));
            }
        }
        match &self.inputs {
            None | Some(serde_json::Value::Object(_)) => {}
            Some(serde_json::Value::Null) => self.inputs = None,
            Some(_) => return Err("inputs must be a JSON object".into()),
        }
        Ok(self)
    }
}

/// Checks the lengths of assertions' texts; `prefix` names where they are ("turn 2: ").
pub(crate) fn check_assertions(prefix: &str, assertions: &[Assertion]) -> Result<(), String> {
    for (i, a) in assertions.iter().enumerate() {
        let n = i + 1;
        match a {
            Assertion::Regex { pattern } | Assertion::NodeOutputMatches { pattern, .. } => {
                limits::check_chars(
                    &format!("{prefix}assertion {n}: the regex"),
                    pattern,
                    limits::MAX_REGEX_CHARS,
                )?
            }
            Assertion::Contains { value }
            | Assertion::NotContains { value }
            | Assertion::NodeOutputContains { value, .. } => limits::check_chars(
                &format!("{prefix}assertion {n}: the value"),
                value,
                limits::MAX_ASSERTION_VALUE_CHARS,
            )?,
            Assertion::ToolCalled { tool: value }
            | Assertion::CitesDocument { document: value } => limits::check_chars(
                &format!("{prefix}assertion {n}: the name"),
                value,
                limits::MAX_LABEL_CHARS,
            )?,
            Assertion::MaxLatencyMs { .. }
            | Assertion::NodeSucceeded { .. }
            | Assertion::NodeMaxLatencyMs { .. }
            | Assertion::MinRetrievalScore { .. }
            | Assertion::MinChunks { .. } => {}
        }
        if let Some(node) = a.node() {
            limits::check_chars(
                &format!("{prefix}assertion {n}: the node"),
                node,
                limits::MAX_LABEL_CHARS,
            )?;
        }
    }
    Ok(())
}

fn clean_list(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let item = item.trim();
        if !item.is_empty() && !out.iter().any(|o| o == item) {
            out.push(item.to_string());
        }
    }
    out
}

/// What a base URL may be: `http://` or `https://`, a host with an optional port, and a path.
/// Refused, each with its own message: a user name or password (a credential in a URL ends up
/// shown and logged; the key goes in `api_key`), a query string or a fragment (dify-bench appends
/// the endpoint's path, which a `?` or `#` in the base would turn into a query or fragment: the
/// call would go to whatever path the base names), whitespace, backslashes (URL parsers disagree
/// on them), a bad port. Pure, so the server and the browser check alike.
pub fn check_http_url(url: &str) -> Result<(), String> {
    // Checked first, so that no message below quotes a password.
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#', '\\'])
        .next()
        .unwrap_or("");
    if authority.contains('@') {
        return Err(
            "has a user name or password before the host (`…@`); credentials do not \
                    belong in a URL: the API key goes in api_key"
                .into(),
        );
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{url}` contains whitespace"));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("`{url}` must start with http:// or https://"));
    }
    let ends_at_path = "a base URL ends at its path, like https://api.dify.ai/v1: dify-bench \
                        appends the endpoint (/chat-messages, /info, …) to it";
    if url.contains('?') {
        return Err(format!("`{url}` has a query string (`?…`); {ends_at_path}"));
    }
    if url.contains('#') {
        return Err(format!("`{url}` has a fragment (`#…`); {ends_at_path}"));
    }
    if url.contains('\\') {
        return Err(format!("`{url}` contains a backslash; a URL's path uses /"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, after)) => (host, Some(after.strip_prefix(':').unwrap_or(after))),
            None => return Err(format!("`{url}` has an IPv6 address without its `]`")),
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    if let Some(port) = port {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(format!(
                "`{url}` has an invalid port `{port}` (a number from 1 to 65535)"
            ));
        }
    }
    Ok(())
}

/// One batch with its case snapshots and every stored result (`batch_results`, the headless
/// report). Its size grows with the batch: the batch page loads a [`BatchView`] instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    pub batch: Batch,
    pub cases: Vec<TestCase>,
    pub results: Vec<TestResult>,
}

/// Cases per page of the batch page's matrix (`batch_page`): what a page weighs does not grow
/// with the number of cases.
pub const CASES_PER_PAGE: u64 = 50;

/// One version's tallies within a batch, from its stored results (same meanings as the progress
/// stream's `versions[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionSummary {
    pub version_id: VersionId,
    /// Tests of this version finished in any way.
    pub completed: i64,
    /// Tests scored at or above the pass threshold.
    pub passed: i64,
    /// Tests with no usable answer after retries.
    pub errors: i64,
    /// Mean score over answered tests; None before the first.
    pub average_score: Option<f64>,
    /// passed / completed × 100; None before the first.
    pub pass_rate: Option<f64>,
    /// Mean latency over timed tests; None before the first.
    pub avg_latency_ms: Option<f64>,
    /// The judge's tallies, when the batch has a judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeTally>,
    /// Results a person reviewed.
    #[serde(default)]
    pub reviewed: i64,
    /// The pass rate with every reviewed result counted by its reviewed verdict (and the rest
    /// by the automatic one); None before the first result.
    #[serde(default)]
    pub reviewed_pass_rate: Option<f64>,
}

/// What a version's repeats say about its cases, in a batch with repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatStats {
    pub version_id: VersionId,
    /// Cases with at least one finished repetition.
    pub cases: i64,
    /// Cases whose every repetition finished.
    pub complete: i64,
    /// Of those, the cases that passed every repetition (pass^k counts these).
    pub all_passed: i64,
    /// Cases with some repetitions passed and some not.
    pub flaky: i64,
}

impl RepeatStats {
    /// pass^k in percent: the share of complete cases that passed every repetition.
    pub fn pass_all_rate(&self) -> Option<f64> {
        (self.complete > 0).then(|| {
            let rate = self.all_passed as f64 * 100.0 / self.complete as f64;
            (rate * 100.0).round() / 100.0
        })
    }
}

/// The spread of a few scores (a test's repetitions): mean, sample standard deviation (0 for
/// one score), min and max.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

/// [`Spread`] of `xs`; None when empty.
pub fn spread(xs: &[f64]) -> Option<Spread> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let sd = if xs.len() > 1 {
        (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Some(Spread {
        mean,
        sd,
        min: xs.iter().copied().fold(f64::INFINITY, f64::min),
        max: xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// One cell of the batch page's matrix: how one (version, case) test ended over its finished
/// repetitions, without answers and details (`batch_result_repeats` has those), so a page of
/// 50 cases × 100 versions is ~350 kB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResultCell {
    pub version_id: VersionId,
    pub case_id: CaseId,
    /// The test's status; over several repetitions: passed when every one passed, error when
    /// every one errored, failed otherwise.
    pub status: ResultStatus,
    /// Mean score over the repetitions that were scored.
    pub score: Option<f64>,
    /// Repetitions finished (1 in a batch without repeats).
    #[serde(default = "one")]
    pub runs: u32,
    /// Of those, how many passed.
    #[serde(default)]
    pub passed: u32,
}

impl ResultCell {
    /// The cell of a test with `runs` finished repetitions, `passed` of them passed and `errors`
    /// errored, and this mean score.
    pub fn of_repeats(
        version_id: VersionId,
        case_id: CaseId,
        runs: u32,
        passed: u32,
        errors: u32,
        score: Option<f64>,
    ) -> ResultCell {
        let status = if runs > 0 && passed == runs {
            ResultStatus::Passed
        } else if runs > 0 && errors == runs {
            ResultStatus::Error
        } else {
            ResultStatus::Failed
        };
        ResultCell {
            version_id,
            case_id,
            status,
            score,
            runs,
            passed,
        }
    }

    /// Some repetitions passed and some did not: the case's outcome is not reproducible.
    pub fn flaky(&self) -> bool {
        self.passed > 0 && self.passed < self.runs
    }
}

/// What the batch page (`/batches/{id}`) shows for one page of cases: the batch, its per-version
/// summaries, and the page's cases with the outcome of each in every version. Every result in
/// full is exported by `GET /api/batches/{id}/results.csv` / `.json`, never loaded by the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchView {
    pub batch: Batch,
    /// One per version, in the batch's version order.
    pub summaries: Vec<VersionSummary>,
    /// Cases in the batch (each version runs every one).
    pub total_cases: u64,
    /// The page served, 0-based (a page past the end is clamped to the last one).
    pub page: u64,
    pub page_size: u64,
    /// Pages in all; at least 1.
    pub pages: u64,
    /// This page's case snapshots, in launch order.
    pub cases: Vec<TestCase>,
    /// The stored outcomes of this page's cases, every version, ordered by (version, case);
    /// a test with no result yet has no cell.
    pub cells: Vec<ResultCell>,
    /// Whether any result of the batch (not only this page's) is an error: re-run failed applies.
    pub has_errors: bool,
    /// In a batch with repeats, per version (in the batch's version order; a version with no
    /// result yet has none): pass^k and flaky cases. Empty without repeats.
    #[serde(default)]
    pub repeat_stats: Vec<RepeatStats>,
    /// One per version, in the batch's version order: tokens, cost, latency and time-to-first-
    /// token percentiles, errors by code.
    pub run_totals: Vec<RunTotals>,
    /// Several instances on PostgreSQL: the work done twice (zero on one instance).
    #[serde(default)]
    pub duplicate_work: DuplicateWork,
    /// The live alerts the batch raised, oldest first.
    #[serde(default)]
    pub alerts: Vec<Alert>,
}

/// Work done twice when several instances share a batch and one of them vanished mid-call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateWork {
    /// Tests claimed again after the instance holding them stopped or vanished: each may have
    /// been called twice.
    pub reclaimed_tests: i64,
    /// Answers that arrived for a test that already had a result: called twice, stored once.
    pub duplicate_results: i64,
}

/// What an import did (or, with `dry_run`, would do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    pub imported: usize,
    pub dry_run: bool,
    /// The parsed cases (as they will be stored), for a preview.
    pub cases: Vec<CaseDraft>,
}

/// The answer of "test connection" on a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionReport {
    pub ok: bool,
    pub app_name: Option<String>,
    pub app_mode: Option<String>,
    /// What went wrong, or a note (e.g. the app's mode differs from the version's).
    pub message: Option<String>,
    pub latency_ms: i64,
}

/// A version's result in the newest batch that ran it (the versions table's "latest result").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionLatestResult {
    pub version_id: VersionId,
    pub batch_id: BatchId,
    pub batch_name: String,
    pub batch_status: BatchStatus,
    /// Tests of this version finished in that batch, in any way.
    pub completed_tests: i64,
    /// Tests of this version in that batch.
    pub total_tests: i64,
    /// Mean score over answered tests; None before the first.
    pub average_score: Option<f64>,
    /// passed / completed × 100; None before the first.
    pub pass_rate: Option<f64>,
}

/// Most repetitions a batch may ask for: enough for a per-case test to tell 0.5 from 1.0
/// (Fisher's exact test, 20 vs 20: p ≈ 0.0004), few enough that a batch stays affordable.
pub const MAX_REPEATS: u32 = 20;

/// Concurrency when `start_batch` is not told (the original's "thread count").
pub const DEFAULT_CONCURRENCY: u32 = 4;
/// Upper bound on concurrency: beyond it, Dify's own limits refuse most calls anyway.
pub const MAX_CONCURRENCY: u32 = 1000;

/// A short, safe hint of an API key: `app-…abcd`. Never more than the prefix and four characters.
pub fn key_hint(key: &str) -> String {
    let key = key.trim();
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 12 {
        return "…".to_string();
    }
    let prefix: String = match key.find('-') {
        Some(i) if i <= 8 => key[..=i].to_string(),
        _ => String::new(),
    };
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_repeat_scores() {
        // Hand-computed: mean of 60, 70, 80, 90 is 75; squared deviations 225 + 25 + 25 + 225 =
        // 500; sample variance 500 / 3 = 166.67; sd = 12.9099 (numpy.std(x, ddof=1) agrees).
        let s = spread(&[70.0, 60.0, 90.0, 80.0]).unwrap();
        assert_eq!((s.mean, s.min, s.max), (75.0, 60.0, 90.0));
        assert!((s.sd - 12.909_944).abs() < 1e-6, "{}", s.sd);
        assert_eq!(spread(&[42.0]).map(|s| (s.mean, s.sd)), Some((42.0, 0.0)));
        assert_eq!(spread(&[]), None);
    }

    #[test]
    fn a_cell_over_repeats() {
        let cell = |runs, passed, errors| {
            ResultCell::of_repeats(VersionId(1), CaseId(1), runs, passed, errors, None)
        };
        // One repetition: exactly that test's status.
        assert_eq!(cell(1, 1, 0).status, ResultStatus::Passed);
        assert_eq!(cell(1, 0, 0).status, ResultStatus::Failed);
        assert_eq!(cell(1, 0, 1).status, ResultStatus::Error);
        assert!(!cell(1, 1, 0).flaky());
        // Several: passed only when all passed, error only when all errored; flaky in between.
        assert_eq!(cell(5, 5, 0).status, ResultStatus::Passed);
        assert_eq!(cell(5, 0, 5).status, ResultStatus::Error);
        let mixed = cell(5, 3, 1);
        assert_eq!(mixed.status, ResultStatus::Failed);
        assert!(mixed.flaky());
        assert!(!cell(5, 0, 2).flaky());
        assert!(!cell(5, 5, 0).flaky());
    }

    #[test]
    fn pass_all_rate_counts_complete_cases() {
        let stats = RepeatStats {
            version_id: VersionId(1),
            cases: 10,
            complete: 8,
            all_passed: 6,
            flaky: 3,
        };
        assert_eq!(stats.pass_all_rate(), Some(75.0));
        assert_eq!(
            RepeatStats {
                complete: 0,
                ..stats
            }
            .pass_all_rate(),
            None
        );
    }

    #[test]
    fn key_hint_shows_prefix_and_last_four_only() {
        assert_eq!(key_hint("app-abcdefghijklmnop1234"), "app-…1234");
        assert_eq!(key_hint("short"), "…");
        assert_eq!(key_hint("noprefixatallhere9876"), "…9876");
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in ["queued", "running", "completed", "error", "cancelled"] {
            assert_eq!(BatchStatus::parse(s).map(|b| b.as_str()), Some(s));
        }
        for m in AppMode::ALL {
            assert_eq!(AppMode::parse(m.as_str()), Some(m));
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.as_str())
            );
        }
    }

    #[test]
    fn drafts_are_trimmed_and_checked() {
        let v = VersionDraft {
            name: "  v1 ".into(),
            base_url: "http://127.0.0.1:5001/v1/".into(),
            api_key: Some("  ".into()),
            ..Default::default()
        }
        .normalized()
        .unwrap();
        assert_eq!(v.name, "v1");
        assert_eq!(v.base_url, "http://127.0.0.1:5001/v1");
        assert_eq!(v.api_key, None);
        let bad = VersionDraft {
            name: "v".into(),
            base_url: "ftp://x".into(),
            ..Default::default()
        };
        assert!(bad.normalized().unwrap_err().starts_with("base_url"));
        assert!(check_http_url("https://").is_err());
        let c = CaseDraft {
            query: " q ".into(),
            keywords: vec![" a".into(), "".into(), "a".into(), "b".into()],
            ..Default::default()
        }
        .normalized()
        .unwrap();
        assert_eq!(c.name, "q");
        assert_eq!(c.keywords, vec!["a", "b"]);
        // Found by the import fuzzer: a name cut from the query at a space must be stable.
        let long = CaseDraft {
            query: format!("{} tail", "a".repeat(79)),
            ..Default::default()
        }
        .normalized()
        .unwrap();
        assert_eq!(long.name, "a".repeat(79));
        assert_eq!(long.clone().normalized().unwrap(), long);
        assert_eq!(
            CaseDraft::default().normalized().unwrap_err(),
            "column `query` is empty"
        );
    }

    #[test]
    fn case_limits_refuse_naming_the_limit_and_its_value() {
        let ok = |draft: CaseDraft| draft.normalized().map(|_| ());
        let err = |draft: CaseDraft| draft.normalized().unwrap_err();
        let base = || CaseDraft {
            query: "q".into(),
            ..Default::default()
        };
        // At each limit: accepted.
        let regex = |p: String| Assertion::Regex { pattern: p };
        assert_eq!(
            ok(CaseDraft {
                name: "名".repeat(limits::MAX_LABEL_CHARS),
                category: "c".repeat(limits::MAX_LABEL_CHARS),
                tags: (0..limits::MAX_TAGS_PER_CASE)
                    .map(|i| format!("{i:0>200}"))
                    .collect(),
                query: "參".repeat(limits::MAX_QUERY_CHARS),
                expected_answer: "a".repeat(limits::MAX_EXPECTED_ANSWER_CHARS),
                keywords: (0..limits::MAX_KEYWORDS_PER_CASE)
                    .map(|i| format!("k{i}"))
                    .collect(),
                assertions: (0..limits::MAX_ASSERTIONS_PER_CASE)
                    .map(|_| regex("a".repeat(limits::MAX_REGEX_CHARS)))
                    .collect(),
                ..base()
            }),
            Ok(())
        );
        // One past each: refused, naming the field, the size and the limit.
        assert_eq!(
            err(CaseDraft {
                query: format!("  {}  ", "q".repeat(20_001)),
                ..base()
            }),
            "column `query` is 20,001 characters; the limit is 20,000"
        );
        assert_eq!(
            err(CaseDraft {
                expected_answer: "e".repeat(50_001),
                ..base()
            }),
            "column `expected_answer` is 50,001 characters; the limit is 50,000"
        );
        assert_eq!(
            err(CaseDraft {
                keywords: (0..101).map(|i| format!("k{i}")).collect(),
                ..base()
            }),
            "column `keywords` has 101 items; the limit is 100 per case"
        );
        // Duplicates are dropped before counting.
        assert_eq!(
            ok(CaseDraft {
                keywords: vec!["k".into(); 500],
                ..base()
            }),
            Ok(())
        );
        assert_eq!(
            err(CaseDraft {
                keywords: vec!["k".into(), "x".repeat(501)],
                ..base()
            }),
            "column `keywords`: keyword 2 is 501 characters; the limit is 500"
        );
        assert_eq!(
            err(CaseDraft {
                name: "n".repeat(201),
                ..base()
            }),
            "column `name` is 201 characters; the limit is 200"
        );
        assert_eq!(
            err(CaseDraft {
                category: "c".repeat(201),
                ..base()
            }),
            "column `category` is 201 characters; the limit is 200"
        );
        assert_eq!(
            err(CaseDraft {
                tags: (0..51).map(|i| format!("t{i}")).collect(),
                ..base()
            }),
            "column `tags` has 51 items; the limit is 50 per case"
        );
        assert_eq!(
            err(CaseDraft {
                tags: vec!["t".repeat(201)],
                ..base()
            }),
            "column `tags`: tag 1 is 201 characters; the limit is 200"
        );
        assert_eq!(
            err(CaseDraft {
                assertions: vec![Assertion::MaxLatencyMs { ms: 1 }; 51],
                ..base()
            }),
            "`assertions` has 51 items; the limit is 50 per case"
        );
        assert_eq!(
            err(CaseDraft {
                assertions: vec![regex("a".into()), regex("b".repeat(1001))],
                ..base()
            }),
            "assertion 2: the regex is 1,001 characters; the limit is 1,000"
        );
        assert_eq!(
            err(CaseDraft {
                assertions: vec![Assertion::NotContains {
                    value: "v".repeat(1001)
                }],
                ..base()
            }),
            "assertion 1: the value is 1,001 characters; the limit is 1,000"
        );
    }

    #[test]
    fn base_urls_are_http_with_a_host_and_a_path_only() {
        for good in [
            "https://api.dify.ai/v1",
            "http://127.0.0.1:5001/v1",
            "http://[::1]:5001/v1",
            "http://[fd12::1]/v1",
            "https://dify.example.com",
            "http://host:65535/a/b/c",
        ] {
            assert_eq!(check_http_url(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("ftp://host/v1", "must start with http:// or https://"),
            ("https://", "has no host"),
            ("http://:5001/v1", "has no host"),
            ("http:///v1", "has no host"),
            ("http://[]:80/v1", "has no host"),
            ("http://host/v1?x=1", "has a query string"),
            ("http://host/v1?", "has a query string"),
            ("http://host/admin/delete?id=", "has a query string"),
            ("http://host?/v1", "has a query string"),
            ("http://host/v1#frag", "has a fragment"),
            ("http://host#", "has a fragment"),
            ("http://host\\@evil/v1", "backslash"),
            ("http://host\\v1", "backslash"),
            ("http://ho st/v1", "whitespace"),
            ("http://host/v1\n", "whitespace"),
            ("http://host:0/v1", "invalid port"),
            ("http://host:99999/v1", "invalid port"),
            ("http://host:http/v1", "invalid port"),
            ("http://host:/v1", "invalid port"),
            ("http://[::1/v1", "without its `]`"),
            ("http://[::1]x/v1", "invalid port"),
        ] {
            let err = check_http_url(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        // A password is refused without being quoted back.
        for bad in [
            "http://user:hunter2@host/v1",
            "https://user@host/v1",
            "http://user:hunter2@host/v1?x#y z",
            "ftp://user:hunter2@host",
        ] {
            let err = check_http_url(bad).unwrap_err();
            assert!(err.contains("user name or password"), "{bad}: {err}");
            assert!(!err.contains("hunter2") && !err.contains("user@"), "{err}");
        }
        let draft = VersionDraft {
            name: "v".into(),
            base_url: "http://host/v1?x=1".into(),
            ..Default::default()
        };
        assert!(draft
            .normalized()
            .unwrap_err()
            .starts_with("base_url: `http://host/v1?x=1` has a query string"));
    }

    #[test]
    fn scoring_config_refuses_impossible_settings() {
        assert!(ScoringConfig::default().validate().is_ok());
        let bad = ScoringConfig {
            pass_threshold: 120.0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("pass_threshold"));
        let zero = ScoringConfig {
            keyword_weight: 0.0,
            similarity_weight: 0.0,
            ..Default::default()
        };
        assert!(zero.validate().is_err());
    }
}
