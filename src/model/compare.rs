//! What a comparison of two runs says, as the API and the compare page see it: per-case classes,
//! the summary with its intervals and p-values, and the verdict. Computed by
//! `server::compare` (see its module docs for every statistical choice); plain data here, shared
//! by the server and the browser.

use super::CaseId;
use serde::{Deserialize, Serialize};

/// A two-sided confidence interval, `lo ≤ hi`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }

    /// Wholly above or wholly below 0: the difference is significant at the interval's level.
    pub fn excludes_zero(&self) -> bool {
        self.lo > 0.0 || self.hi < 0.0
    }

    /// The same interval in other units (fractions → percentage points).
    pub fn scaled(self, factor: f64) -> Interval {
        Interval {
            lo: self.lo * factor,
            hi: self.hi * factor,
        }
    }
}

/// Median and 95th percentile of a latency-like sample (type 7, see [`quantile_sorted`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// How many values they summarise.
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
}

/// How a bootstrap resamples: fixed, so that a comparison is the same every time it is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapSettings {
    pub resamples: u32,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseClass {
    Regressed,
    Improved,
    Unchanged,
    Inconclusive,
    CaseChanged,
}

/// What a case's class rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// One repeat on each side: the class is the flip itself, not a test.
    SingleRun,
    /// Several repeats: Fisher's exact test, BH-adjusted across cases.
    Repeats,
    /// A side has no finished repeat.
    NoData,
    /// The snapshot changed.
    Excluded,
}

/// A quantity in A and in B and its change B − A; absent where a side lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Paired {
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub delta: Option<f64>,
}

impl Paired {
    pub fn new(a: Option<f64>, b: Option<f64>) -> Paired {
        let delta = a.zip(b).map(|(a, b)| b - a);
        Paired { a, b, delta }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseComparison {
    pub case_id: CaseId,
    pub class: CaseClass,
    pub evidence: Evidence,
    pub passed_a: u32,
    pub total_a: u32,
    pub passed_b: u32,
    pub total_b: u32,
    /// Some repeats passed and some failed.
    pub flaky_a: bool,
    pub flaky_b: bool,
    /// Pass rate over the repeats, percent; the delta is in points.
    pub pass_rate: Paired,
    /// Fisher's exact p-value (evidence `repeats` only).
    pub p_value: Option<f64>,
    /// Its Benjamini–Hochberg q-value across the cases with repeats.
    pub q_value: Option<f64>,
    pub score: Paired,
    /// Means over the repeats that reported them.
    pub latency_ms: Paired,
    pub ttft_ms: Paired,
    pub tokens: Paired,
    pub cost: Paired,
}

/// How the pass-rate interval was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiMethod {
    /// Newcombe's paired square-and-add interval (every case ran once on each side).
    NewcombeHybridScore,
    /// Percentile bootstrap over cases (some case has repeats).
    PairedBootstrap,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PassRateSummary {
    /// Pass rate in percent (mean over cases of each case's pass rate).
    pub a: f64,
    pub b: f64,
    /// B − A in points, and its interval (at 1 − α).
    pub delta: f64,
    pub ci: Interval,
    pub ci_method: CiMethod,
    /// Cases whose pass rate is lower in B (single runs: passed in A only, McNemar's b).
    pub cases_down: u64,
    /// Cases whose pass rate is higher in B (McNemar's c).
    pub cases_up: u64,
    /// Exact McNemar (sign) test of `cases_down` against `cases_up`.
    pub p_value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    /// Cases scored on both sides.
    pub cases: usize,
    /// Of those, cases whose score changed; see [`MIN_SCORE_MOVES`].
    pub moved: usize,
    pub a: f64,
    pub b: f64,
    /// Mean of the per-case deltas B − A, and its bootstrap interval (at 1 − α).
    pub delta: f64,
    pub ci: Interval,
}

/// One number for each run.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SidePair<T> {
    pub a: T,
    pub b: T,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClassCounts {
    pub regressed: usize,
    pub improved: usize,
    pub unchanged: usize,
    pub inconclusive: usize,
    pub case_changed: usize,
}

/// What it would take to see a change of a given size in pass rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detectability {
    /// The change asked about, in points.
    pub change_points: f64,
    /// P(one repeat of A and one of B disagree on pass/fail), observed and floored at the change
    /// (Connor's formula needs discordance ≥ change).
    pub discordance: f64,
    /// Paired cases needed at the settings' α and power (Connor 1987).
    pub cases_needed: u64,
    /// Repeats per case that would give the compared cases as many pairs, counting each repeat as
    /// a pair — optimistic when cases differ more than runs do; `None` above [`MAX_REPEATS`].
    pub repeats_needed: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Worse,
    Better,
    NoDetectableDifference,
    NotEnoughData,
}

/// Which evidence a Worse/Better verdict rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// The McNemar test of pass/fail flips.
    PassRate,
    /// The bootstrap interval of the score delta.
    Score,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Cases present in both runs.
    pub cases_shared: usize,
    /// Those the statistics use: snapshot unchanged and a finished repeat on both sides.
    pub cases_compared: usize,
    /// Every compared case ran exactly once on each side.
    pub single_runs: bool,
    pub pass_rate: Option<PassRateSummary>,
    pub score: Option<ScoreSummary>,
    pub classes: ClassCounts,
    pub latency_ms: SidePair<Option<Percentiles>>,
    pub ttft_ms: SidePair<Option<Percentiles>>,
    pub total_tokens: SidePair<Option<i64>>,
    pub total_cost: SidePair<Option<f64>>,
    pub detectable: Option<Detectability>,
    pub verdict: Verdict,
    /// `None` unless the verdict is Worse or Better.
    pub decided_by: Option<DecidedBy>,
    /// The verdict in one or two plain sentences, with intervals (English; the pages render it
    /// in the reader's language with [`super::verdict_text::sentence`]).
    pub sentence: String,
    pub alpha: f64,
    /// The power the "you would need about N cases" suggestion is computed for.
    #[serde(default = "default_power")]
    pub power: f64,
    pub bootstrap: BootstrapSettings,
}

fn default_power() -> f64 {
    0.8
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub summary: Summary,
    /// In case id order.
    pub cases: Vec<CaseComparison>,
}

/// One run (a version within a batch), named for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLabel {
    pub batch_id: super::BatchId,
    pub batch_name: String,
    pub version_id: super::VersionId,
    pub version_name: String,
    pub started_at: Option<i64>,
}

/// A case row of the compare page: the comparison and the case's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    pub name: String,
    #[serde(flatten)]
    pub case: CaseComparison,
}

/// What the compare page loads (`compare_runs`): both runs, the summary and verdict over every
/// case, and one page of the case table — regressions first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareView {
    pub a: RunLabel,
    pub b: RunLabel,
    pub summary: Summary,
    /// The class shown (None: every class).
    pub class: Option<CaseClass>,
    /// Rows of that class, in table order.
    pub total_rows: u64,
    pub page: u64,
    pub pages: u64,
    pub page_size: u64,
    pub rows: Vec<CompareRow>,
    /// Cases in only one of the two runs (not compared).
    pub only_in_a: u64,
    pub only_in_b: u64,
    /// Each run's app as Dify described it at its launch (None: not recorded, as for runs made
    /// before dify-bench recorded it).
    #[serde(default)]
    pub identity: SidePair<Option<super::AppIdentity>>,
    /// How B's app differs from A's (workflow version, mode, input form): a score change may
    /// come from the app rather than the prompt. Empty when nothing changed or either is unknown.
    #[serde(default)]
    pub app_changes: Vec<super::AppChange>,
}

impl CaseClass {
    pub const ALL: [CaseClass; 5] = [
        CaseClass::Regressed,
        CaseClass::Improved,
        CaseClass::Inconclusive,
        CaseClass::CaseChanged,
        CaseClass::Unchanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseClass::Regressed => "regressed",
            CaseClass::Improved => "improved",
            CaseClass::Unchanged => "unchanged",
            CaseClass::Inconclusive => "inconclusive",
            CaseClass::CaseChanged => "case_changed",
        }
    }

    pub fn parse(s: &str) -> Option<CaseClass> {
        CaseClass::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Where the class sorts in the case table: what needs a look first.
    pub fn rank(self) -> u8 {
        match self {
            CaseClass::Regressed => 0,
            CaseClass::Improved => 1,
            CaseClass::Inconclusive => 2,
            CaseClass::CaseChanged => 3,
            CaseClass::Unchanged => 4,
        }
    }
}

/// `12:3` — batch 12, version 3: how a run is named in URLs and on the command line.
pub fn parse_run_ref(s: &str) -> Result<(super::BatchId, super::VersionId), String> {
    let (b, v) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not a run: write BATCH:VERSION, e.g. 12:3"))?;
    let b = b
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("`{s}`: `{b}` is not a batch id"))?;
    let v = v
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("`{s}`: `{v}` is not a version id"))?;
    Ok((super::BatchId(b), super::VersionId(v)))
}

/// One run's side of an opened case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareSide {
    /// The run's snapshot of the case; None when the case is not in that run.
    pub case: Option<super::TestCase>,
    /// The case's results in the run, one per repetition in order; empty when it has not run.
    pub results: Vec<super::TestResult>,
}

/// A case row of the compare page opened (`compare_case`): both sides in full, and what changed
/// between their answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareCaseView {
    pub case_id: CaseId,
    pub a: CompareSide,
    pub b: CompareSide,
    /// A's first answer against B's first answer; None unless both sides have an answer.
    pub diff: Option<super::diff::TextDiff>,
}
