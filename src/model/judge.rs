//! Judges as the API shows them: an LLM (any OpenAI-compatible chat-completions endpoint) or a Dify
//! app that grades answers, and an OpenAI-compatible `/embeddings` endpoint for the embedding
//! score. A judge's key is write-only: only its hint (`sk-…abcd`) is ever shown.
//!
//! Also here: the rubrics a judge grades by, a batch's judge settings, what one judgement says, and
//! human reviews with the calibration they feed.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::AppMode;

/// A configured judge or embedder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JudgeId(pub i64);

impl fmt::Display for JudgeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a judge is and how it is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JudgeKind {
    /// `POST {base_url}/chat/completions` (OpenAI, Azure, vLLM, Ollama, LiteLLM, …).
    #[default]
    Openai,
    /// A Dify chat, completion or workflow app that receives `question`, `expected_answer`,
    /// `answer` and `rubric` as inputs and answers with the judgement.
    DifyApp,
    /// `POST {base_url}/embeddings`: not a judge but the embedding-similarity scorer.
    Embeddings,
}

impl JudgeKind {
    pub const ALL: [JudgeKind; 3] = [JudgeKind::Openai, JudgeKind::DifyApp, JudgeKind::Embeddings];

    pub fn as_str(self) -> &'static str {
        match self {
            JudgeKind::Openai => "openai",
            JudgeKind::DifyApp => "dify_app",
            JudgeKind::Embeddings => "embeddings",
        }
    }

    pub fn parse(s: &str) -> Option<JudgeKind> {
        JudgeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Grades answers (an LLM or a Dify app), as opposed to embedding them.
    pub fn grades(self) -> bool {
        !matches!(self, JudgeKind::Embeddings)
    }
}

/// What a judge grades an answer by. Each is a short documented prompt (`server::judge::rubric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Rubric {
    /// Says what the expected answer says, nothing contradicting it.
    #[default]
    Correctness,
    /// Claims only what the retrieved context supports (needs Dify's `retriever_resources`).
    Faithfulness,
    /// Covers every point of the expected answer.
    Completeness,
    /// Answers in the question's language and script (zh-TW is not Simplified Chinese).
    Language,
}

impl Rubric {
    pub const ALL: [Rubric; 4] = [
        Rubric::Correctness,
        Rubric::Faithfulness,
        Rubric::Completeness,
        Rubric::Language,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rubric::Correctness => "correctness",
            Rubric::Faithfulness => "faithfulness",
            Rubric::Completeness => "completeness",
            Rubric::Language => "language",
        }
    }

    pub fn parse(s: &str) -> Option<Rubric> {
        Rubric::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A judge as the API shows it: the key is never included, only its hint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judge {
    pub id: JudgeId,
    pub name: String,
    pub kind: JudgeKind,
    /// OpenAI-compatible: the API base (`https://api.openai.com/v1`); Dify: the Service API base.
    pub base_url: String,
    /// The model (OpenAI-compatible and embeddings); empty for a Dify app.
    pub model: String,
    /// A Dify judge's app mode (chat, completion, workflow, …); ignored otherwise.
    pub app_mode: AppMode,
    pub api_key_hint: String,
    /// Ask for JSON output (`response_format: json_object`) where the endpoint supports it.
    pub json_mode: bool,
    /// Calls to this judge in flight at most, across every batch.
    pub concurrency: u32,
    /// Price per million prompt and completion tokens, for the cost of an OpenAI-compatible judge
    /// (Dify reports its own price).
    pub input_price_per_mtok: Option<f64>,
    pub output_price_per_mtok: Option<f64>,
    /// The launch form chooses it for a new batch unless the user chooses otherwise (the API
    /// never does: a batch has the judge its request names).
    #[serde(default)]
    pub use_by_default: bool,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

/// Calls in flight per judge unless configured.
pub const DEFAULT_JUDGE_CONCURRENCY: u32 = 8;
pub const MAX_JUDGE_CONCURRENCY: u32 = 1000;

/// A judge as submitted for create or update. `api_key` is write-only: on update, `None` keeps the
/// stored key. Its `Debug` output hides the key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JudgeDraft {
    pub name: String,
    pub kind: JudgeKind,
    pub base_url: String,
    pub model: String,
    pub app_mode: AppMode,
    pub api_key: Option<String>,
    pub json_mode: bool,
    pub concurrency: u32,
    pub input_price_per_mtok: Option<f64>,
    pub output_price_per_mtok: Option<f64>,
    pub use_by_default: bool,
}

impl Default for JudgeDraft {
    fn default() -> Self {
        JudgeDraft {
            name: String::new(),
            kind: JudgeKind::Openai,
            base_url: String::new(),
            model: String::new(),
            app_mode: AppMode::Chat,
            api_key: None,
            json_mode: true,
            concurrency: DEFAULT_JUDGE_CONCURRENCY,
            input_price_per_mtok: None,
            output_price_per_mtok: None,
            use_by_default: false,
        }
    }
}

impl fmt::Debug for JudgeDraft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JudgeDraft")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("app_mode", &self.app_mode)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("json_mode", &self.json_mode)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl JudgeDraft {
    /// Trims and checks every field, naming the first one that is wrong. `creating`: a key is
    /// required (on update, a missing key keeps the stored one).
    pub fn normalized(mut self, creating: bool) -> Result<JudgeDraft, String> {
        self.name = self.name.trim().to_string();
        self.base_url = self.base_url.trim().trim_end_matches('/').to_string();
        self.model = self.model.trim().to_string();
        self.api_key = self
            .api_key
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty());
        if self.name.is_empty() {
            return Err("name is empty".into());
        }
        if self.name.chars().count() > 100 {
            return Err("name is longer than 100 characters".into());
        }
        super::check_http_url(&self.base_url).map_err(|e| format!("base_url: {e}"))?;
        match self.kind {
            JudgeKind::Openai | JudgeKind::Embeddings if self.model.is_empty() => {
                return Err(format!("model is empty (a {} judge needs one)", self.kind));
            }
            JudgeKind::DifyApp => self.model.clear(),
            _ => {}
        }
        if self.model.chars().count() > 200 {
            return Err("model is longer than 200 characters".into());
        }
        if creating && self.api_key.is_none() {
            return Err("api_key is empty".into());
        }
        if let Some(key) = &self.api_key {
            if key.chars().count() > 1000 || key.chars().any(char::is_control) {
                return Err(
                    "api_key is longer than 1000 characters or has control characters".into(),
                );
            }
        }
        if !(1..=MAX_JUDGE_CONCURRENCY).contains(&self.concurrency) {
            return Err(format!(
                "concurrency must be between 1 and {MAX_JUDGE_CONCURRENCY}, got {}",
                self.concurrency
            ));
        }
        for (name, price) in [
            ("input_price_per_mtok", self.input_price_per_mtok),
            ("output_price_per_mtok", self.output_price_per_mtok),
        ] {
            if let Some(p) = price {
                if !(p >= 0.0 && p.is_finite()) {
                    return Err(format!("{name} must be a non-negative number, got {p}"));
                }
            }
        }
        Ok(self)
    }
}

impl fmt::Display for JudgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A batch's judge: who grades, by which rubric, with what weight in the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JudgeScoring {
    pub judge_id: JudgeId,
    pub rubric: Rubric,
    /// Weight of the judge's score beside `keyword_weight` and `similarity_weight`.
    pub weight: f64,
    /// A test passes only when the judge passes it too (a judge error then fails it).
    pub must_pass: bool,
}

impl Default for JudgeScoring {
    fn default() -> Self {
        JudgeScoring {
            judge_id: JudgeId(0),
            rubric: Rubric::Correctness,
            weight: 1.0,
            must_pass: false,
        }
    }
}

/// A batch's embedding scorer: cosine similarity of answer and expected answer, 0–100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbeddingScoring {
    /// A judge of kind [`JudgeKind::Embeddings`].
    pub judge_id: JudgeId,
    pub weight: f64,
}

impl Default for EmbeddingScoring {
    fn default() -> Self {
        EmbeddingScoring {
            judge_id: JudgeId(0),
            weight: 1.0,
        }
    }
}

/// What the judge said about one answer, kept in the result's score detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct JudgeOutcome {
    pub judge_id: Option<JudgeId>,
    pub rubric: Rubric,
    /// 0–100; None on a judge error.
    pub score: Option<f64>,
    /// The judge's verdict; None on a judge error.
    pub passed: Option<bool>,
    /// The judge's one-paragraph reason.
    pub reason: String,
    /// Served from the judgement cache: no call was made.
    pub cached: bool,
    /// `judge_error`: why there is no judgement (the judge was unreachable, or said something
    /// that is not a judgement). The test keeps its other scores.
    pub error: Option<String>,
    /// Tokens and price of the call (none when cached).
    pub tokens: Option<i64>,
    pub price: Option<f64>,
}

/// What a judge's outcome amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgeVerdict {
    Pass,
    Fail,
    /// `judge_error`: no judgement.
    Error,
}

impl JudgeOutcome {
    pub fn verdict(&self) -> JudgeVerdict {
        match (&self.error, self.passed) {
            (Some(_), _) => JudgeVerdict::Error,
            (None, Some(true)) => JudgeVerdict::Pass,
            (None, _) => JudgeVerdict::Fail,
        }
    }
}

/// A human's verdict on one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewVerdict {
    Pass,
    Fail,
}

impl ReviewVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewVerdict::Pass => "pass",
            ReviewVerdict::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewVerdict> {
        match s {
            "pass" => Some(ReviewVerdict::Pass),
            "fail" => Some(ReviewVerdict::Fail),
            _ => None,
        }
    }
}

/// A reviewed verdict with its comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub verdict: ReviewVerdict,
    pub comment: String,
    pub reviewed_by: Option<String>,
    pub reviewed_at: i64,
}

/// Agreement of a judge with human reviews, for one judge and rubric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Calibration {
    pub judge_id: Option<JudgeId>,
    pub rubric: Rubric,
    /// Reviewed results the judge gave a verdict on.
    pub reviews: u64,
    /// Confusion matrix, judge × human: [[judge pass & human pass, judge pass & human fail],
    /// [judge fail & human pass, judge fail & human fail]].
    pub confusion: [[u64; 2]; 2],
    /// Share of reviews where judge and human agree, 0–1; None without reviews.
    pub agreement: Option<f64>,
    /// Cohen's κ; None when undefined (no reviews, or both raters constant and equal).
    pub kappa: Option<f64>,
}

/// Below this κ, or with fewer reviews than [`MIN_CALIBRATION_REVIEWS`], the judge page warns.
pub const MIN_KAPPA: f64 = 0.6;
pub const MIN_CALIBRATION_REVIEWS: u64 = 20;

/// Why a result is in the review queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueReason {
    /// The judge gave no judgement.
    JudgeError,
    /// The judge and the lexical scorers (keywords, similarity) disagree on pass or fail.
    Disagreement,
    /// The score is within a few points of the pass threshold.
    NearThreshold,
}

/// A result worth a human look, in a batch's review queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    pub version_id: super::VersionId,
    pub case_id: super::CaseId,
    pub repetition: u32,
    pub version_name: String,
    pub case_name: String,
    pub reasons: Vec<QueueReason>,
    pub status: super::ResultStatus,
    pub score: Option<f64>,
    /// The judge's score, and the lexical score (the mean of keyword coverage and similarity).
    pub judge_score: Option<f64>,
    pub lexical_score: Option<f64>,
}

/// A judge page: the judge and its calibration per rubric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeReport {
    pub judge: Judge,
    /// One per rubric the judge has reviewed verdicts for (none: no reviews yet).
    pub rubrics: Vec<Calibration>,
}

/// What "test" on a judge found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeProbe {
    pub ok: bool,
    /// What came back ("score 100, pass: …", "1536-dimensional embeddings") or what failed.
    pub message: String,
    pub latency_ms: i64,
}
