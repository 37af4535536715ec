//! `run --baseline REF`: the CI gate. Loads the baseline (a report file, or a run on the server
//! through [`super::remote`]), pairs each version of the run with its baseline version, compares
//! them with the same statistics as the compare page ([`crate::server::compare`]) — here for a
//! report, on the server for a server run — and says why the gate fails, if it does. The
//! matching and the decisions are pure functions; the rendering is [`super::markdown`]'s.
//!
//! **Which baseline run each version meets.** A baseline `BATCH:VERSION`, or a report with
//! `--baseline-version NAME`, or a report of one version, is one run: every version of the config
//! is compared with it. Otherwise each version is compared with the report's version of the same
//! name (CI runs the same config on the main branch and on a pull request).
//!
//! **Which cases are the same case.** A report's case ids are the ids of the store it ran in — for
//! an in-process run, the order of the cases file — so they say nothing about another run's ids.
//! Cases are matched by **name** instead (a case without a name is named after its question); a
//! name held by two cases of one side matches nothing, and those cases are left out and listed.
//! On a server, `compare_runs` matches by id, which `run --server` keeps stable by name. Either
//! way a case whose question, expected answer, keywords or assertions changed is *case changed*
//! and out of the statistics.

use super::remote::Remote;
use super::{ConfigError, Prepared};
use crate::model::compare::{CaseClass, CompareView, RunLabel, Verdict};
use crate::model::{
    Batch, BatchId, BatchReport, BatchStatus, CaseDraft, CaseId, ResultStatus, TestCase,
    TestResult, VersionId,
};
use crate::server::compare::verdict::{CasePair, RepeatMetrics, SideOutcome};
use crate::server::compare::view::assemble;
use crate::server::store::same_test;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Regressed cases a comparison keeps by name (the terminal and the markdown list them); the
/// rest are counted.
pub const REGRESSED_LISTED: u64 = 10;

/// What `--baseline` names.
#[derive(Debug, Clone, PartialEq)]
pub enum BaselineRef {
    /// A report written by `run --json` (or a batch's `results.json` export).
    Report(PathBuf),
    /// A run on the `--server`: a batch and one of its versions.
    Run { batch: BatchId, version: VersionSel },
}

/// A version of a batch, by id or by name.
#[derive(Debug, Clone, PartialEq)]
pub enum VersionSel {
    Id(VersionId),
    Name(String),
}

impl BaselineRef {
    /// An existing file, or anything ending in `.json`, is a report; otherwise `BATCH:VERSION`,
    /// the version by id or by name (`12:3`, `12:prod`).
    pub fn parse(text: &str, is_file: impl Fn(&Path) -> bool) -> Result<BaselineRef, String> {
        let path = Path::new(text);
        if is_file(path) || text.to_ascii_lowercase().ends_with(".json") {
            return Ok(BaselineRef::Report(path.to_path_buf()));
        }
        let neither = || {
            format!(
                "--baseline `{text}` is neither a report file (there is no such file) nor a run \
                 BATCH:VERSION on the server (e.g. 12:3 or 12:prod)"
            )
        };
        let (batch, version) = text.split_once(':').ok_or_else(neither)?;
        let batch = batch.trim().parse::<i64>().map_err(|_| neither())?;
        let version = version.trim();
        if version.is_empty() {
            return Err(neither());
        }
        let version = match version.parse::<i64>() {
            Ok(id) => VersionSel::Id(VersionId(id)),
            Err(_) => VersionSel::Name(version.to_string()),
        };
        Ok(BaselineRef::Run {
            batch: BatchId(batch),
            version,
        })
    }
}

/// The `--json` document: the batch, its case snapshots and every result (the shape of
/// `batch_results` and `results.json`, so either can be a baseline), plus where it ran and what
/// the gate found. Fields past the batch report's are optional, so an export reads as a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    #[serde(flatten)]
    pub report: BatchReport,
    /// Each run's totals (tokens, cost, latency and ttft percentiles, errors), one per version in
    /// the batch's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_totals: Vec<crate::model::RunTotals>,
    /// The server the batch ran on (`run --server`); absent for a run in-process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// With `--baseline`: each version's comparison with its baseline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comparisons: Vec<GateComparison>,
    /// Per version, the cases that leave out inputs its app's form requires (the launch check;
    /// Dify refused them with 400). Absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_inputs: Vec<super::missing::MissingInputsWarning>,
}

/// One version of the run compared with its baseline run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateComparison {
    /// A is the baseline, B the candidate; `rows` are the first [`REGRESSED_LISTED`] regressed
    /// cases, `total_rows` all of them.
    pub view: CompareView,
    /// The compare page, when both runs are on one server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_url: Option<String>,
    /// The baseline batch's page, when it ran on a server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_url: Option<String>,
    /// Names held by two cases of one run: those cases are not compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ambiguous_names: Vec<String>,
}

/// The baseline, loaded and checked before anything runs.
#[derive(Debug, Clone)]
pub enum Baseline {
    /// A report file: compared here, cases matched by name.
    Report {
        path: PathBuf,
        report: Box<RunReport>,
        /// `--baseline-version`, or the report's only version.
        version: Option<VersionId>,
    },
    /// A run on the server: compared there (`compare_runs`), cases matched by id.
    Run {
        batch: Box<Batch>,
        version: VersionId,
    },
}

impl Baseline {
    /// Reads a report and picks `--baseline-version` in it.
    pub fn from_report(path: &Path, version: Option<&str>) -> Result<Baseline, String> {
        let report = read_report(path)?;
        let only = match report.report.batch.versions.as_slice() {
            [one] => Some(one.version_id),
            _ => None,
        };
        let version = match version {
            Some(name) => Some(
                select_version(&report.report.batch, &VersionSel::Name(name.to_string()))
                    .map_err(|e| format!("--baseline-version: {e}"))?,
            ),
            None => only,
        };
        Ok(Baseline::Report {
            path: path.to_path_buf(),
            report: Box::new(report),
            version,
        })
    }

    pub fn batch(&self) -> &Batch {
        match self {
            Baseline::Report { report, .. } => &report.report.batch,
            Baseline::Run { batch, .. } => batch.as_ref(),
        }
    }

    /// How messages name it: `report.json` or `batch 12`.
    pub fn describe(&self) -> String {
        match self {
            Baseline::Report { path, .. } => path.display().to_string(),
            Baseline::Run { batch, .. } => format!("batch {}", batch.id),
        }
    }

    /// The baseline version each candidate version (named in config order) is compared with.
    pub fn pair(&self, candidates: &[&str]) -> Result<Vec<VersionId>, String> {
        let fixed = match self {
            Baseline::Report { version, .. } => *version,
            Baseline::Run { version, .. } => Some(*version),
        };
        let batch = self.batch();
        candidates
            .iter()
            .map(|name| match fixed {
                Some(v) => Ok(v),
                None => batch
                    .versions
                    .iter()
                    .find(|v| v.name == *name)
                    .map(|v| v.version_id)
                    .ok_or_else(|| {
                        format!(
                            "the baseline {} has versions {} and none is named `{name}`; choose \
                             the one to compare with using --baseline-version NAME",
                            self.describe(),
                            version_list(batch)
                        )
                    }),
            })
            .collect()
    }
}

fn version_list(batch: &Batch) -> String {
    let names: Vec<String> = batch
        .versions
        .iter()
        .map(|v| format!("`{}` ({})", v.name, v.version_id))
        .collect();
    names.join(", ")
}

/// A report file, as `run --json` wrote it or a server exported it.
pub fn read_report(path: &Path) -> Result<RunReport, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the baseline report: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a dify-bench report (written by `run --json`, or a batch's results.json): \
             {e}",
            path.display()
        )
    })
}

/// One version of a batch, by id or name; the error lists the batch's versions.
pub fn select_version(batch: &Batch, sel: &VersionSel) -> Result<VersionId, String> {
    let found = batch.versions.iter().find(|v| match sel {
        VersionSel::Id(id) => v.version_id == *id,
        VersionSel::Name(name) => v.name == *name,
    });
    found.map(|v| v.version_id).ok_or_else(|| {
        let which = match sel {
            VersionSel::Id(id) => format!("version {id}"),
            VersionSel::Name(name) => format!("no version named `{name}`"),
        };
        let did = match sel {
            VersionSel::Id(_) => format!("{which} did not run in batch {}", batch.id),
            VersionSel::Name(_) => format!("batch {} has {which}", batch.id),
        };
        format!("{did} (`{}`); it ran {}", batch.name, version_list(batch))
    })
}

/// Case names must be unique to be matched by name: the first repeated one, named with its rows.
pub fn check_unique_names(cases: &[CaseDraft]) -> Result<(), String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, case) in cases.iter().enumerate() {
        if let Some(first) = seen.insert(case.name.as_str(), i) {
            return Err(format!(
                "cases {} and {} are both named `{}`; cases are matched by name here, so give \
                 each case its own name (a case without one is named after its question)",
                first + 1,
                i + 1,
                case.name
            ));
        }
    }
    Ok(())
}

/// How many of `names` the baseline holds (any version): zero means the wrong baseline.
pub fn shared_names<'a>(baseline: &[TestCase], names: impl Iterator<Item = &'a str>) -> usize {
    let held: HashSet<&str> = baseline.iter().map(|c| c.name.as_str()).collect();
    names.filter(|n| held.contains(n)).count()
}

/// A run, named for people.
pub fn label(batch: &Batch, version: VersionId) -> RunLabel {
    RunLabel {
        batch_id: batch.id,
        batch_name: batch.name.clone(),
        version_id: version,
        version_name: batch
            .versions
            .iter()
            .find(|v| v.version_id == version)
            .map(|v| v.name.clone())
            .unwrap_or_default(),
        started_at: batch.started_at,
    }
}

/// What a case's repeats did in one run: every result of the case and version.
fn side(results: &[&TestResult]) -> SideOutcome {
    SideOutcome::of_repeats(results.iter().map(|r| {
        let metrics = RepeatMetrics {
            latency_ms: r.latency_ms,
            ttft_ms: r.ttft_ms,
            tokens: r.usage.total_tokens,
            cost: r.usage.total_price,
        };
        (r.status == ResultStatus::Passed, r.score, metrics)
    }))
}

/// A run's cases by name, the names held twice apart.
struct Named<'a> {
    unique: HashMap<&'a str, &'a TestCase>,
    repeated: HashSet<&'a str>,
}

fn by_name(cases: &[TestCase]) -> Named<'_> {
    let mut unique = HashMap::with_capacity(cases.len());
    let mut repeated = HashSet::new();
    for case in cases {
        if unique.insert(case.name.as_str(), case).is_some() {
            repeated.insert(case.name.as_str());
        }
    }
    for name in &repeated {
        unique.remove(name);
    }
    Named { unique, repeated }
}

fn results_of(report: &BatchReport, version: VersionId) -> HashMap<CaseId, Vec<&TestResult>> {
    let mut out: HashMap<CaseId, Vec<&TestResult>> = HashMap::new();
    for r in report.results.iter().filter(|r| r.version_id == version) {
        out.entry(r.case_id).or_default().push(r);
    }
    out
}

/// Compares run `cand_version` of `cand` (B) with run `base_version` of `base` (A), cases matched
/// by name, with the compare page's statistics. The view keeps the first [`REGRESSED_LISTED`]
/// regressed cases (ids are the candidate's). Also returns the names left out as ambiguous.
pub fn compare_reports(
    base: &BatchReport,
    base_version: VersionId,
    cand: &BatchReport,
    cand_version: VersionId,
) -> (CompareView, Vec<String>) {
    let (named_a, named_b) = (by_name(&base.cases), by_name(&cand.cases));
    let (results_a, results_b) = (
        results_of(base, base_version),
        results_of(cand, cand_version),
    );
    let mut ambiguous: Vec<String> = named_a
        .repeated
        .union(&named_b.repeated)
        .map(|s| s.to_string())
        .collect();
    ambiguous.sort();
    let mut pairs = Vec::new();
    let mut names = HashMap::new();
    let mut only_in_b = 0u64;
    let mut matched = HashSet::new();
    for case in &cand.cases {
        let name = case.name.as_str();
        if named_b.repeated.contains(name) || named_a.repeated.contains(name) {
            continue;
        }
        let Some(&a) = named_a.unique.get(name) else {
            only_in_b += 1;
            continue;
        };
        matched.insert(name);
        let outcomes = |by: &HashMap<CaseId, Vec<&TestResult>>, id| {
            side(by.get(&id).map(Vec::as_slice).unwrap_or_default())
        };
        names.insert(case.id, case.name.clone());
        pairs.push(CasePair {
            case_id: case.id,
            a: outcomes(&results_a, a.id),
            b: outcomes(&results_b, case.id),
            changed: !same_test(a, case),
        });
    }
    let only_in_a = base
        .cases
        .iter()
        .filter(|c| {
            let name = c.name.as_str();
            !matched.contains(name)
                && !named_a.repeated.contains(name)
                && !named_b.repeated.contains(name)
        })
        .count() as u64;
    let view = assemble(
        label(&base.batch, base_version),
        label(&cand.batch, cand_version),
        &pairs,
        &names,
        (only_in_a, only_in_b),
        Some(CaseClass::Regressed),
        0,
        REGRESSED_LISTED,
    );
    (view, ambiguous)
}

/// Why the gate fails.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The batch ended cancelled or on an error.
    Ended {
        status: BatchStatus,
        message: Option<String>,
    },
    /// Its pass rate is below `--min-pass-rate`.
    BelowPassRate { pass_rate: f64, required: f64 },
    /// A version is significantly worse than its baseline run; `batch` is the baseline's when it
    /// is on a server (an in-process batch's id means nothing elsewhere).
    Worse {
        version: String,
        baseline: String,
        batch: Option<BatchId>,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Ended { status, message } => write!(
                f,
                "the batch ended {}: {}",
                status.as_str(),
                message.as_deref().unwrap_or("no message")
            ),
            Failure::BelowPassRate {
                pass_rate,
                required,
            } => write!(
                f,
                "pass rate {pass_rate:.1}% is below the required {required:.1}%"
            ),
            Failure::Worse {
                version,
                baseline,
                batch,
            } => {
                write!(
                    f,
                    "`{version}` is significantly worse than its baseline `{baseline}`"
                )?;
                match batch {
                    Some(b) => write!(f, " (batch {b})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Why the gate fails — the batch did not complete, its pass rate is below `min_pass_rate`, or a
/// version is significantly worse than its baseline — or nothing when it passes.
pub fn failures(batch: &Batch, min_pass_rate: f64, comparisons: &[GateComparison]) -> Vec<Failure> {
    let mut out = Vec::new();
    if batch.status != BatchStatus::Completed {
        out.push(Failure::Ended {
            status: batch.status,
            message: batch.error_message.clone(),
        });
    }
    let pass_rate = batch.pass_rate.unwrap_or(0.0);
    if pass_rate + 1e-9 < min_pass_rate {
        out.push(Failure::BelowPassRate {
            pass_rate,
            required: min_pass_rate,
        });
    }
    for c in comparisons {
        if c.view.summary.verdict == Verdict::Worse {
            out.push(Failure::Worse {
                version: c.view.b.version_name.clone(),
                baseline: c.view.a.version_name.clone(),
                batch: c.baseline_url.is_some().then_some(c.view.a.batch_id),
            });
        }
    }
    out
}

/// Loads `--baseline` and checks it against the config, before anything runs: a bad reference,
/// a baseline version that cannot be paired, or a report that shares no case name with the
/// cases file is a usage error.
pub async fn load(
    reference: &str,
    baseline_version: Option<&str>,
    prepared: &Prepared,
    remote: Option<&Remote>,
) -> Result<Baseline, ConfigError> {
    let baseline = match BaselineRef::parse(reference, Path::is_file).map_err(ConfigError)? {
        BaselineRef::Report(path) => {
            Baseline::from_report(&path, baseline_version).map_err(ConfigError)?
        }
        BaselineRef::Run { batch, version } => {
            let remote = remote.ok_or_else(|| {
                ConfigError(format!(
                    "--baseline {reference} is a run on a dify-bench server: give --server URL                      and --token (or DIFY_BENCH_TOKEN), and the batch runs there too"
                ))
            })?;
            if baseline_version.is_some() {
                return Err(ConfigError(format!(
                    "--baseline-version picks a version of a baseline report; {reference} names                      its version already"
                )));
            }
            let batch = remote.get_batch(batch).await?;
            let version = select_version(&batch, &version)
                .map_err(|e| ConfigError(format!("--baseline {reference}: {e}")))?;
            Baseline::Run {
                batch: Box::new(batch),
                version,
            }
        }
    };
    let names: Vec<&str> = prepared.versions.iter().map(|v| v.name.as_str()).collect();
    baseline.pair(&names).map_err(ConfigError)?;
    if let Baseline::Report { report, .. } = &baseline {
        let cases = prepared.cases.iter().map(|c| c.name.as_str());
        if shared_names(&report.report.cases, cases) == 0 {
            return Err(ConfigError(format!(
                "no case of the baseline {} has the name of a case in the cases file (cases are                  matched by name); is it the right baseline?",
                baseline.describe()
            )));
        }
    }
    let batch = baseline.batch();
    if batch.status != BatchStatus::Completed {
        eprintln!(
            "note: the baseline batch {} is {}; only its finished tests are compared",
            batch.id,
            batch.status.as_str()
        );
    }
    Ok(baseline)
}

/// Compares every version of the finished batch with its baseline run. `report` (the batch's
/// every result) is needed for a report baseline, `remote` for a server one.
pub async fn compare_all(
    baseline: &Baseline,
    batch: &Batch,
    report: Option<&BatchReport>,
    remote: Option<&Remote>,
) -> Result<Vec<GateComparison>, ConfigError> {
    let names: Vec<&str> = batch.versions.iter().map(|v| v.name.as_str()).collect();
    let pairs = baseline.pair(&names).map_err(ConfigError)?;
    let missing = |what: &str| ConfigError(format!("the comparison lacks {what}"));
    let mut out = Vec::with_capacity(pairs.len());
    for (cand, base_version) in batch.versions.iter().zip(pairs) {
        let comparison = match baseline {
            Baseline::Report { report: base, .. } => {
                let report = report.ok_or_else(|| missing("the batch's results"))?;
                let (view, ambiguous_names) =
                    compare_reports(&base.report, base_version, report, cand.version_id);
                let here = remote.map(Remote::base);
                let there = base.server.as_deref().map(|s| s.trim_end_matches('/'));
                GateComparison {
                    compare_url: here
                        .filter(|h| Some(*h) == there)
                        .map(|h| compare_url(h, &view.a, &view.b)),
                    baseline_url: there.map(|s| format!("{s}/batches/{}", base.report.batch.id)),
                    view,
                    ambiguous_names,
                }
            }
            Baseline::Run { batch: base, .. } => {
                let remote = remote.ok_or_else(|| missing("the server"))?;
                let view = remote
                    .compare((base.id, base_version), (batch.id, cand.version_id))
                    .await?;
                GateComparison {
                    compare_url: Some(compare_url(remote.base(), &view.a, &view.b)),
                    baseline_url: Some(remote.batch_url(base.id)),
                    view,
                    ambiguous_names: Vec::new(),
                }
            }
        };
        if comparison.view.summary.cases_shared == 0 {
            return Err(ConfigError(format!(
                "version `{}` shares no case with its baseline `{}` (batch {}); is it the right \
                 baseline?",
                cand.name, comparison.view.a.version_name, comparison.view.a.batch_id
            )));
        }
        out.push(comparison);
    }
    Ok(out)
}

/// Each comparison on stdout, after the run's summary: the verdict sentence, the first
/// regressed cases and where to see them all.
pub fn print(comparisons: &[GateComparison]) {
    for c in comparisons {
        let v = &c.view;
        let batch = match &c.baseline_url {
            Some(_) => format!("batch {} `{}`", v.a.batch_id, v.a.batch_name),
            None => format!("batch `{}`", v.a.batch_name),
        };
        println!(
            "\n`{}` against the baseline `{}` ({batch}):\n{}",
            v.b.version_name, v.a.version_name, v.summary.sentence
        );
        if v.total_rows > 0 {
            println!("regressed ({} of {}):", v.rows.len(), v.total_rows);
            for r in &v.rows {
                println!(
                    "  - {} (score {} → {})",
                    r.name,
                    r.case.score.a.map_or("—".into(), |s| format!("{s:.0}")),
                    r.case.score.b.map_or("—".into(), |s| format!("{s:.0}"))
                );
            }
        }
        if !c.ambiguous_names.is_empty() {
            println!(
                "not compared, their names held by two cases: {}",
                c.ambiguous_names.join(", ")
            );
        }
        if let Some(url) = c.compare_url.as_ref().or(c.baseline_url.as_ref()) {
            println!("{url}");
        }
    }
}

/// `{server}/compare?base=B:V&cand=B:V`.
pub fn compare_url(server: &str, a: &RunLabel, b: &RunLabel) -> String {
    format!(
        "{server}/compare?base={}:{}&cand={}:{}",
        a.batch_id, a.version_id, b.batch_id, b.version_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn case(id: i64, name: &str, query: &str) -> TestCase {
        TestCase {
            id: CaseId(id),
            name: name.into(),
            query: query.into(),
            expected_answer: "e".into(),
            keywords: vec!["k".into()],
            category: String::new(),
            tags: vec![],
            pass_threshold: None,
            assertions: vec![],
            inputs: serde_json::json!({}),
            enabled: true,
            created_at: 0,
            updated_at: 0,
            created_by: None,
            updated_by: None,
            rubric: None,
            revision: 1,
            turns: Default::default(),
        }
    }

    fn result(version: i64, case: i64, passed: bool, score: f64) -> TestResult {
        TestResult {
            batch_id: BatchId(1),
            version_id: VersionId(version),
            case_id: CaseId(case),
            repetition: 0,
            status: if passed {
                ResultStatus::Passed
            } else {
                ResultStatus::Failed
            },
            score: Some(score),
            answer: None,
            latency_ms: Some(100),
            ttft_ms: None,
            usage: Usage {
                total_tokens: Some(10),
                ..Usage::default()
            },
            dify: DifyIds::default(),
            error_code: None,
            error_message: None,
            attempts: 1,
            detail: ScoreDetail::default(),
            finished_at: 0,
            trace: None,
            turns: Default::default(),
        }
    }

    fn batch(id: i64, versions: &[(i64, &str)]) -> Batch {
        Batch {
            id: BatchId(id),
            name: format!("b{id}"),
            status: BatchStatus::Completed,
            concurrency: 1,
            per_version_cap: None,
            scoring: ScoringConfig::default(),
            repeats: 1,
            total_tests: 0,
            completed_tests: 0,
            passed_tests: 0,
            failed_tests: 0,
            average_score: None,
            pass_rate: Some(100.0),
            error_message: None,
            created_at: 0,
            started_at: None,
            finished_at: None,
            versions: versions
                .iter()
                .map(|&(id, name)| BatchVersion {
                    version_id: VersionId(id),
                    name: name.into(),
                    app_mode: AppMode::Chat,
                    response_mode: ResponseMode::Blocking,
                    base_url: String::new(),
                    api_key_hint: String::new(),
                    workflow_id: None,
                })
                .collect(),
            created_by: None,
        }
    }

    #[test]
    fn references_are_reports_or_runs() {
        let none = |_: &Path| false;
        assert_eq!(
            BaselineRef::parse("out/base.json", none),
            Ok(BaselineRef::Report("out/base.json".into()))
        );
        assert_eq!(
            BaselineRef::parse("12:3", none),
            Ok(BaselineRef::Run {
                batch: BatchId(12),
                version: VersionSel::Id(VersionId(3))
            })
        );
        assert_eq!(
            BaselineRef::parse("12:prod v2", none),
            Ok(BaselineRef::Run {
                batch: BatchId(12),
                version: VersionSel::Name("prod v2".into())
            })
        );
        // A file that exists wins, whatever its name.
        assert_eq!(
            BaselineRef::parse("12:3", |_| true),
            Ok(BaselineRef::Report("12:3".into()))
        );
        for bad in ["baseline", "x:3", "12:", ""] {
            let err = BaselineRef::parse(bad, none).unwrap_err();
            assert!(
                err.contains("neither a report file") && err.contains("BATCH:VERSION"),
                "{err}"
            );
        }
    }

    /// Cases are matched by name whatever their ids: here the candidate's file gained a case at
    /// the top, so every id moved by one. One case changed its question (left out as changed),
    /// one is only in the baseline, one only in the candidate, and a name held twice in the
    /// candidate matches nothing.
    #[test]
    fn cases_are_matched_by_name_not_by_id() {
        let base = BatchReport {
            batch: batch(1, &[(1, "v")]),
            cases: vec![
                case(1, "alpha", "qa"),
                case(2, "beta", "qb"),
                case(3, "gamma", "qg"),
                case(4, "gone", "qx"),
                case(5, "twice", "qt"),
            ],
            results: vec![
                result(1, 1, true, 90.0),
                result(1, 2, true, 80.0),
                result(1, 3, true, 85.0),
                result(1, 4, true, 85.0),
                result(1, 5, true, 85.0),
            ],
        };
        let cand = BatchReport {
            batch: batch(7, &[(4, "v")]),
            cases: vec![
                case(1, "new", "qn"),
                case(2, "alpha", "qa"),
                case(3, "beta", "qb"),
                case(4, "gamma", "a different question"),
                case(5, "twice", "qt"),
                case(6, "twice", "qt2"),
            ],
            results: vec![
                result(4, 1, true, 90.0),
                result(4, 2, false, 30.0),
                result(4, 3, true, 80.0),
                result(4, 4, false, 10.0),
                result(4, 5, true, 90.0),
                result(4, 6, true, 90.0),
            ],
        };
        let (view, ambiguous) = compare_reports(&base, VersionId(1), &cand, VersionId(4));
        assert_eq!(ambiguous, vec!["twice".to_string()]);
        let s = &view.summary;
        assert_eq!(s.cases_shared, 3, "alpha, beta, gamma");
        assert_eq!(s.classes.regressed, 1);
        assert_eq!(s.classes.case_changed, 1, "gamma's question changed");
        assert_eq!(s.classes.unchanged, 1);
        assert_eq!(s.cases_compared, 2);
        assert_eq!((view.only_in_a, view.only_in_b), (1, 1), "gone / new");
        assert_eq!(view.total_rows, 1);
        let row = &view.rows[0];
        assert_eq!(row.name, "alpha");
        assert_eq!(row.case.case_id, CaseId(2), "the candidate's id");
        assert_eq!(row.case.score.delta, Some(-60.0));
        assert_eq!(view.a.version_name, "v");
        assert_eq!(view.b.batch_id, BatchId(7));
    }

    #[test]
    fn versions_pair_by_name_unless_the_baseline_is_one_run() {
        let report = RunReport {
            report: BatchReport {
                batch: batch(3, &[(1, "stable"), (2, "canary")]),
                cases: vec![],
                results: vec![],
            },
            run_totals: Vec::new(),
            server: None,
            comparisons: vec![],
            missing_inputs: vec![],
        };
        let by_name = Baseline::Report {
            path: "base.json".into(),
            report: Box::new(report.clone()),
            version: None,
        };
        assert_eq!(
            by_name.pair(&["canary", "stable"]),
            Ok(vec![VersionId(2), VersionId(1)])
        );
        let err = by_name.pair(&["stable", "next"]).unwrap_err();
        assert!(
            err.contains("none is named `next`") && err.contains("--baseline-version"),
            "{err}"
        );
        let fixed = Baseline::Run {
            batch: Box::new(report.report.batch.clone()),
            version: VersionId(1),
        };
        assert_eq!(
            fixed.pair(&["canary", "next"]),
            Ok(vec![VersionId(1), VersionId(1)])
        );
        let err =
            select_version(&report.report.batch, &VersionSel::Name("nope".into())).unwrap_err();
        assert_eq!(
            err,
            "batch 3 has no version named `nope` (`b3`); it ran `stable` (1), `canary` (2)"
        );
        let err = select_version(&report.report.batch, &VersionSel::Id(VersionId(9))).unwrap_err();
        assert!(err.starts_with("version 9 did not run in batch 3"), "{err}");
    }

    #[test]
    fn repeated_case_names_are_refused_with_their_rows() {
        let draft = |name: &str| CaseDraft {
            name: name.into(),
            query: "q".into(),
            ..CaseDraft::default()
        };
        assert!(check_unique_names(&[draft("a"), draft("b")]).is_ok());
        let err = check_unique_names(&[draft("a"), draft("b"), draft("a")]).unwrap_err();
        assert!(err.starts_with("cases 1 and 3 are both named `a`"), "{err}");
    }

    #[test]
    fn an_export_reads_as_a_report_and_a_report_round_trips() {
        let plain = BatchReport {
            batch: batch(2, &[(1, "v")]),
            cases: vec![case(1, "alpha", "qa")],
            results: vec![result(1, 1, true, 90.0)],
        };
        let text = serde_json::to_string(&plain).unwrap();
        let read: RunReport = serde_json::from_str(&text).unwrap();
        assert_eq!(read.report, plain);
        assert_eq!(read.server, None);
        let full = RunReport {
            server: Some("http://bench:3000".into()),
            ..read
        };
        let back: RunReport = serde_json::from_str(&serde_json::to_string(&full).unwrap()).unwrap();
        assert_eq!(back, full);
    }

    #[test]
    fn the_gate_fails_for_each_reason_it_names() {
        let mut b = batch(5, &[(1, "v")]);
        b.pass_rate = Some(40.0);
        assert!(failures(&b, 40.0, &[]).is_empty());
        let below = failures(&b, 50.0, &[]);
        assert_eq!(below.len(), 1);
        assert_eq!(
            below[0].to_string(),
            "pass rate 40.0% is below the required 50.0%"
        );
        b.status = BatchStatus::Cancelled;
        assert_eq!(
            failures(&b, 0.0, &[])[0].to_string(),
            "the batch ended cancelled: no message"
        );
        let worse = Failure::Worse {
            version: "v2".into(),
            baseline: "v1".into(),
            batch: Some(BatchId(12)),
        };
        assert_eq!(
            worse.to_string(),
            "`v2` is significantly worse than its baseline `v1` (batch 12)"
        );
    }
}
