//! `dify-bench run --config FILE`: one batch without the web server, for CI.
//!
//! The same engine as the server runs it against a private temporary SQLite store — or, with
//! `--server URL`, a dify-bench server runs it ([`remote`]). A progress bar on a TTY (plain lines
//! otherwise), a per-version summary and each run's totals (tokens, cost, latency and
//! time-to-first-token percentiles, errors by code) at the end, optional JSON, JUnit and Markdown
//! reports, a
//! comparison with `--baseline` ([`gate`]), and an exit code: 0 when the pass rate reaches the
//! threshold and no version is significantly worse than its baseline, 1 otherwise (or when the
//! batch could not finish), 2 for a configuration or usage error.
//!
//! The start-up is a CI run's fixed cost, so each of its steps logs a debug line under the
//! target `dify_bench::startup`: `RUST_LOG=warn,dify_bench::startup=debug` timestamps them
//! (`scripts/bench-ci-process.sh profile` puts them next to the exec and the first Dify call).

pub mod gate;
pub mod markdown;
pub mod missing;
pub mod remote;

use crate::model::{
    AppMode, Batch, BatchReport, CaseDraft, CaseId, EmbeddingScoring, JudgeDraft, JudgeId,
    JudgeKind, JudgeScoring, Progress, ResponseMode, Role, Rubric, RunTotals, ScoringConfig,
    TestCase, VersionDraft, VersionSummary,
};
use crate::server::import::{parse_cases, Format};
use crate::server::runner::StartBatch;
use crate::server::store::VersionTally;
use crate::ui::format;
use serde::Deserialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The TOML file. Unknown keys are refused, so a typo is an error rather than a silent default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    #[serde(default)]
    pub name: String,
    /// Path of a CSV or JSON cases file, relative to the config file.
    pub cases: String,
    pub concurrency: Option<u32>,
    pub per_version_cap: Option<u32>,
    /// Runs of every (version, case), 1–20 (default 1): repeats tell a flaky case from a broken
    /// one. The pass rate counts every repetition.
    pub repeats: Option<u32>,
    /// Percent of tests that must pass (0–100); `--min-pass-rate` overrides it.
    pub min_pass_rate: Option<f64>,
    #[serde(default)]
    pub scoring: ScoringConfig,
    /// An LLM judge grading every answer (see [`JudgeConfig`]).
    pub judge: Option<JudgeConfig>,
    /// An embeddings endpoint scoring similarity to the expected answer.
    pub embedding: Option<EmbeddingConfig>,
    pub versions: Vec<VersionConfig>,
}

/// `[judge]`: the judge and how it counts. In-process it is created for the run; with
/// `--server`, the server's judge of this name is used, or created (an admin's call) when it has
/// none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeConfig {
    pub name: Option<String>,
    #[serde(default)]
    pub kind: JudgeKind,
    pub base_url: String,
    pub model: Option<String>,
    pub app_mode: Option<AppMode>,
    /// The key itself, or `env:NAME`. Not needed with `--server` when the server has the judge.
    pub api_key: Option<String>,
    pub json_mode: Option<bool>,
    pub concurrency: Option<u32>,
    pub input_price_per_mtok: Option<f64>,
    pub output_price_per_mtok: Option<f64>,
    #[serde(default)]
    pub rubric: Rubric,
    pub weight: Option<f64>,
    #[serde(default)]
    pub must_pass: bool,
}

/// `[embedding]`: an OpenAI-compatible `/embeddings` endpoint, found or created as `[judge]` is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingConfig {
    pub name: Option<String>,
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub concurrency: Option<u32>,
    pub weight: Option<f64>,
}

/// A judge (or embeddings endpoint) of the config, checked, with how it counts in the score.
#[derive(Debug, Clone)]
pub struct PreparedJudge {
    pub draft: JudgeDraft,
    pub rubric: Rubric,
    pub weight: f64,
    pub must_pass: bool,
}

impl PreparedJudge {
    /// The batch's scoring with this judge (`grades`) or embedding scorer, now known as `id`.
    pub fn apply(&self, scoring: &mut ScoringConfig, id: JudgeId) {
        if self.draft.kind.grades() {
            scoring.judge = Some(JudgeScoring {
                judge_id: id,
                rubric: self.rubric,
                weight: self.weight,
                must_pass: self.must_pass,
            });
        } else {
            scoring.embedding = Some(EmbeddingScoring {
                judge_id: id,
                weight: self.weight,
            });
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionConfig {
    pub name: String,
    pub base_url: String,
    /// The key itself, or `env:NAME` to read it from the environment (keep keys out of files).
    pub api_key: String,
    #[serde(default)]
    pub app_mode: AppMode,
    #[serde(default)]
    pub response_mode: ResponseMode,
    pub answer_field: Option<String>,
    pub inputs: Option<toml::Table>,
    /// A published workflow version to pin (workflow and chatflow apps).
    pub workflow_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    pub config: PathBuf,
    pub concurrency: Option<u32>,
    pub min_pass_rate: Option<f64>,
    pub json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    /// A report file or `BATCH:VERSION` on the server ([`gate::BaselineRef`]).
    pub baseline: Option<String>,
    /// The version of a baseline report every version is compared with.
    pub baseline_version: Option<String>,
    pub markdown: Option<PathBuf>,
    /// Run on this dify-bench server instead of in-process.
    pub server: Option<String>,
    /// The server's API token; never printed.
    pub token: Option<String>,
    /// Overwrite a server version whose settings differ from the config's.
    pub update_versions: bool,
}

/// A run that could not be set up: exit code 2, with this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Everything the config names, loaded and checked, before anything runs.
pub struct Prepared {
    pub config: RunConfig,
    pub versions: Vec<VersionDraft>,
    pub cases: Vec<CaseDraft>,
    pub min_pass_rate: f64,
    /// `[judge]` and `[embedding]`, in that order, where given.
    pub judges: Vec<PreparedJudge>,
}

pub fn prepare(
    args: &RunArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Prepared, ConfigError> {
    let path = &args.config;
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "{}: cannot read the config file: {e}",
            path.display()
        ))
    })?;
    // toml's message names the line, the column and the offending key.
    let config: RunConfig =
        toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    if config.versions.is_empty() {
        return Err(ConfigError(format!(
            "{}: no [[versions]] to test",
            path.display()
        )));
    }
    if config.scoring.judge.is_some() || config.scoring.embedding.is_some() {
        return Err(ConfigError(
            "[scoring]: a judge or embedding scorer goes in its own [judge] or [embedding] \
             section"
                .into(),
        ));
    }
    let judges = prepare_judges(&config, &env)?;
    let mut with_judges = config.scoring.clone();
    for (n, j) in judges.iter().enumerate() {
        // Placeholder ids: only the weights are checked here.
        j.apply(&mut with_judges, JudgeId(n as i64 + 1));
    }
    with_judges
        .validate()
        .map_err(|e| ConfigError(format!("[scoring]: {e}")))?;
    let min_pass_rate = args.min_pass_rate.or(config.min_pass_rate).unwrap_or(0.0);
    if !(0.0..=100.0).contains(&min_pass_rate) {
        return Err(ConfigError(format!(
            "min_pass_rate must be between 0 and 100, got {min_pass_rate}"
        )));
    }
    let mut versions = Vec::with_capacity(config.versions.len());
    for (i, v) in config.versions.iter().enumerate() {
        let label = format!("versions[{}] (`{}`)", i + 1, v.name);
        let api_key = match v.api_key.strip_prefix("env:") {
            Some(var) => env(var).filter(|k| !k.trim().is_empty()).ok_or_else(|| {
                ConfigError(format!("{label}: environment variable {var} is not set"))
            })?,
            None => v.api_key.clone(),
        };
        let inputs = match &v.inputs {
            Some(t) => Some(
                serde_json::to_value(t)
                    .map_err(|e| ConfigError(format!("{label}: inputs: {e}")))?,
            ),
            None => None,
        };
        let draft = VersionDraft {
            name: v.name.clone(),
            description: String::new(),
            base_url: v.base_url.clone(),
            api_key: Some(api_key),
            app_mode: v.app_mode,
            response_mode: v.response_mode,
            answer_field: v.answer_field.clone(),
            inputs,
            enabled: Some(true),
            workflow_id: v.workflow_id.clone(),
        }
        .normalized()
        .map_err(|e| ConfigError(format!("{label}: {e}")))?;
        if draft.api_key.is_none() {
            return Err(ConfigError(format!("{label}: api_key is empty")));
        }
        if versions.iter().any(|d: &VersionDraft| d.name == draft.name) {
            return Err(ConfigError(format!("{label}: the name is used twice")));
        }
        versions.push(draft);
    }
    let cases_path = resolve(path, &config.cases);
    let format = Format::from_path(&config.cases).map_err(ConfigError)?;
    let content = std::fs::read_to_string(&cases_path).map_err(|e| {
        ConfigError(format!(
            "{}: cannot read the cases file: {e}",
            cases_path.display()
        ))
    })?;
    let cases = parse_cases(format, &content)
        .map_err(|e| ConfigError(format!("{}: {e}", cases_path.display())))?;
    Ok(Prepared {
        config,
        versions,
        cases,
        min_pass_rate,
        judges,
    })
}

/// `env:NAME` read from the environment, anything else as it is; None for none.
fn key_from(
    given: Option<&str>,
    label: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    match given.map(|k| (k, k.strip_prefix("env:"))) {
        None => Ok(None),
        Some((_, Some(var))) => env(var)
            .filter(|k| !k.trim().is_empty())
            .map(Some)
            .ok_or_else(|| ConfigError(format!("{label}: environment variable {var} is not set"))),
        Some((k, None)) => Ok(Some(k.to_string())),
    }
}

fn prepare_judges(
    config: &RunConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<PreparedJudge>, ConfigError> {
    let mut out = Vec::new();
    let weight = |w: Option<f64>, label: &str| match w {
        None => Ok(1.0),
        Some(w) if w >= 0.0 && w.is_finite() => Ok(w),
        Some(w) => Err(ConfigError(format!(
            "{label}: weight must be a non-negative number, got {w}"
        ))),
    };
    if let Some(j) = &config.judge {
        if !j.kind.grades() {
            return Err(ConfigError(
                "[judge]: kind must be openai or dify_app (an embeddings endpoint goes in \
                 [embedding])"
                    .into(),
            ));
        }
        let defaults = JudgeDraft::default();
        let draft = JudgeDraft {
            name: j.name.clone().unwrap_or_else(|| "ci judge".into()),
            kind: j.kind,
            base_url: j.base_url.clone(),
            model: j.model.clone().unwrap_or_default(),
            app_mode: j.app_mode.unwrap_or(defaults.app_mode),
            api_key: key_from(j.api_key.as_deref(), "[judge]", env)?,
            json_mode: j.json_mode.unwrap_or(defaults.json_mode),
            concurrency: j.concurrency.unwrap_or(defaults.concurrency),
            input_price_per_mtok: j.input_price_per_mtok,
            output_price_per_mtok: j.output_price_per_mtok,
            use_by_default: false,
        }
        .normalized(false)
        .map_err(|e| ConfigError(format!("[judge]: {e}")))?;
        out.push(PreparedJudge {
            draft,
            rubric: j.rubric,
            weight: weight(j.weight, "[judge]")?,
            must_pass: j.must_pass,
        });
    }
    if let Some(e) = &config.embedding {
        let draft = JudgeDraft {
            name: e.name.clone().unwrap_or_else(|| "ci embeddings".into()),
            kind: JudgeKind::Embeddings,
            base_url: e.base_url.clone(),
            model: e.model.clone(),
            api_key: key_from(e.api_key.as_deref(), "[embedding]", env)?,
            concurrency: e
                .concurrency
                .unwrap_or(crate::model::DEFAULT_JUDGE_CONCURRENCY),
            ..JudgeDraft::default()
        }
        .normalized(false)
        .map_err(|e| ConfigError(format!("[embedding]: {e}")))?;
        out.push(PreparedJudge {
            draft,
            rubric: Rubric::default(),
            weight: weight(e.weight, "[embedding]")?,
            must_pass: false,
        });
    }
    Ok(out)
}

fn resolve(config: &Path, relative: &str) -> PathBuf {
    let p = Path::new(relative);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    config.parent().unwrap_or(Path::new(".")).join(p)
}

/// Runs a prepared batch to its end — here, or on `--server` — compares it with `--baseline`,
/// and reports. Returns the process exit code.
pub async fn run(args: &RunArgs, prepared: Prepared) -> Result<i32, ConfigError> {
    let remote = match &args.server {
        Some(url) => Some(remote::Remote::new(
            url,
            args.token.as_deref().unwrap_or_default(),
        )?),
        None if args.update_versions => {
            return Err(ConfigError(
                "--update-versions is about versions on a server: give --server URL".into(),
            ))
        }
        None => None,
    };
    if let Some(r) = &remote {
        r.check_role(Role::Editor, "running a batch").await?;
    }
    if args.server.is_some() || args.baseline.is_some() {
        gate::check_unique_names(&prepared.cases).map_err(ConfigError)?;
    }
    let baseline = match &args.baseline {
        Some(reference) => Some(
            gate::load(
                reference,
                args.baseline_version.as_deref(),
                &prepared,
                remote.as_ref(),
            )
            .await?,
        ),
        None if args.baseline_version.is_some() => {
            return Err(ConfigError(
                "--baseline-version picks a version of the --baseline report: give --baseline"
                    .into(),
            ))
        }
        None => None,
    };

    // The candidate's every result is read only for a report that needs it (JSON, JUnit, a
    // comparison with a report file): for 10,000 tests that read is most of a run's tail.
    let needs_results =
        args.json.is_some() || args.junit.is_some() || baseline_is_report(&baseline);
    let ran = match &remote {
        Some(r) => r.run(args, &prepared).await?,
        None => run_here(args, &prepared, needs_results).await?,
    };
    print_summary(&ran.batch, &ran.summaries);
    if ran.batch.repeats > 1 {
        print_repeats(&ran.batch, &ran.repeat_stats);
    }
    println!();
    print_totals(&ran.batch, &ran.run_totals);
    missing::print(&ran.missing_inputs);
    // The candidate's every result, when needed: read in-process; from the server (whose
    // JUnit comes from the server itself).
    let report = match (ran.report, &remote) {
        (Some(report), _) => Some(report),
        (None, Some(r)) if args.json.is_some() || baseline_is_report(&baseline) => {
            Some(r.results(ran.batch.id).await?)
        }
        (None, _) => None,
    };
    let comparisons = match &baseline {
        Some(b) => gate::compare_all(b, &ran.batch, report.as_ref(), remote.as_ref()).await?,
        None => Vec::new(),
    };
    gate::print(&comparisons);
    let server = remote.as_ref().map(|r| r.base().to_string());
    if let (Some(path), Some(report)) = (&args.json, &report) {
        let document = gate::RunReport {
            report: report.clone(),
            run_totals: ran.run_totals.clone(),
            server: server.clone(),
            comparisons: comparisons.clone(),
            missing_inputs: ran.missing_inputs.clone(),
        };
        let json = serde_json::to_string_pretty(&document).unwrap_or_default();
        std::fs::write(path, json)
            .map_err(|e| ConfigError(format!("{}: cannot write: {e}", path.display())))?;
    }
    if let Some(path) = &args.junit {
        let xml = match (&remote, &report) {
            (Some(r), _) => r.junit(ran.batch.id).await?,
            (None, Some(report)) => junit(report),
            (None, None) => String::new(),
        };
        std::fs::write(path, xml)
            .map_err(|e| ConfigError(format!("{}: cannot write: {e}", path.display())))?;
    }
    let failures = gate::failures(&ran.batch, prepared.min_pass_rate, &comparisons);
    if let Some(path) = &args.markdown {
        let batch_url = remote.as_ref().map(|r| r.batch_url(ran.batch.id));
        let text = markdown::render(&markdown::Input {
            batch: &ran.batch,
            summaries: &ran.summaries,
            batch_url: batch_url.as_deref(),
            min_pass_rate: prepared.min_pass_rate,
            comparisons: &comparisons,
            failures: &failures,
            missing_inputs: &ran.missing_inputs,
        });
        std::fs::write(path, text)
            .map_err(|e| ConfigError(format!("{}: cannot write: {e}", path.display())))?;
    }

    if !failures.is_empty() {
        for f in &failures {
            eprintln!("FAIL: {f}");
        }
        return Ok(1);
    }
    eprintln!(
        "OK: pass rate {:.1}% (required {:.1}%){}",
        ran.batch.pass_rate.unwrap_or(0.0),
        prepared.min_pass_rate,
        if comparisons.is_empty() {
            ""
        } else {
            "; no version is significantly worse than its baseline"
        }
    );
    Ok(0)
}

fn baseline_is_report(baseline: &Option<gate::Baseline>) -> bool {
    matches!(baseline, Some(gate::Baseline::Report { .. }))
}

/// A batch that ran to its end: the batch, its per-version summaries, and (in-process, when a
/// report needs them) every result.
pub(crate) struct Ran {
    pub batch: Batch,
    pub summaries: Vec<VersionSummary>,
    /// With repeats: per version, pass^k and the flaky cases.
    pub repeat_stats: Vec<crate::model::RepeatStats>,
    /// Per version, in the batch's order: tokens, cost, latency and ttft percentiles, errors.
    pub run_totals: Vec<RunTotals>,
    pub report: Option<BatchReport>,
    /// Per version, the cases that leave out inputs its app's form requires (launch check).
    pub missing_inputs: Vec<missing::MissingInputsWarning>,
}

/// The store of a run here: SQLite's private temporary database (the empty file name). It lives
/// in SQLite's page cache (2 MiB) and spills to a file SQLite unlinks as it creates it (under
/// `$SQLITE_TMPDIR`, `$TMPDIR` or `/tmp`), so nothing outlives the run, even a killed one, and
/// the process's memory no longer grows with its results as with `:memory:` (BENCHMARKS.md, j.3).
const RUN_STORE_URL: &str = "sqlite:";

/// Runs the batch in-process, against a private temporary store; reads every result back at the
/// end only when `with_results`.
async fn run_here(
    args: &RunArgs,
    prepared: &Prepared,
    with_results: bool,
) -> Result<Ran, ConfigError> {
    // The operator wrote every target into the config file themselves, so loopback and private
    // targets are allowed here (a Dify on the CI runner or the office network); link-local and
    // metadata addresses still never are. (`serve` refuses them by default: there, the targets
    // come from whoever can reach the UI.)
    let outbound = crate::server::outbound::OutboundPolicy::allowing_private();
    let engine = crate::server::http::engine_for(RUN_STORE_URL, outbound)
        .await
        .map_err(|e| ConfigError(format!("cannot start the engine: {e}")))?;
    tracing::debug!(target: "dify_bench::startup", "engine ready (temporary store migrated)");
    let store = engine.store();
    let internal = |e: crate::server::store::StoreError| ConfigError(e.to_string());
    let mut version_ids = Vec::new();
    for v in &prepared.versions {
        version_ids.push(store.insert_version(v).await.map_err(internal)?);
    }
    // The cases go to the batch as they are, not through the store's case table: this store
    // lives only as long as the run, and the batch keeps its own snapshot of every case.
    let now = crate::server::store::now_ms();
    let cases: Vec<TestCase> = prepared
        .cases
        .iter()
        .enumerate()
        .map(|(i, draft)| TestCase::from_draft(CaseId(i as i64 + 1), draft.clone(), now))
        .collect();
    tracing::debug!(target: "dify_bench::startup", "versions stored, cases ready");
    let mut scoring = prepared.config.scoring.clone();
    for j in &prepared.judges {
        if j.draft.api_key.is_none() {
            return Err(ConfigError(format!(
                "`{}`: api_key is needed to run it here (only --server can use a judge the \
                 server already has)",
                j.draft.name
            )));
        }
        let id = store.insert_judge(&j.draft, None).await.map_err(internal)?;
        j.apply(&mut scoring, id);
    }
    let id = engine
        .start_batch_with_cases(
            StartBatch {
                name: prepared.config.name.clone(),
                version_ids,
                case_ids: None,
                concurrency: args.concurrency.or(prepared.config.concurrency),
                per_version_cap: prepared.config.per_version_cap,
                scoring: Some(scoring),
                repeats: prepared.config.repeats,
                created_by: None,
            },
            cases,
        )
        .await
        .map_err(|e| ConfigError(e.to_string()))?;
    tracing::debug!(target: "dify_bench::startup", "batch started");

    let mut rx = engine
        .registry()
        .subscribe(id)
        .ok_or_else(|| ConfigError("the batch did not start".into()))?;
    let mut display = Display::new(std::io::stderr().is_terminal());
    loop {
        let event = rx.borrow_and_update().clone();
        display.show(&event.progress());
        if event.is_terminal() {
            break;
        }
        if rx.changed().await.is_err() {
            break;
        }
    }
    display.finish();

    let (batch, tallies) = store
        .batch_with_tallies(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ConfigError("the batch vanished".into()))?;
    let summaries = VersionTally::summaries(&batch.versions, &tallies);
    let repeat_stats = if batch.repeats > 1 {
        store
            .repeat_stats(id, batch.repeats)
            .await
            .map_err(internal)?
    } else {
        Vec::new()
    };
    let run_totals = store
        .run_totals(id, &batch.versions)
        .await
        .map_err(internal)?;
    let records = missing::wait_for_records(&batch.versions, || store.app_identities(id))
        .await
        .map_err(internal)?;
    let missing_inputs = missing::warnings(&batch.versions, records);
    let report = if with_results {
        Some(BatchReport {
            batch: batch.clone(),
            cases: store.batch_cases(id).await.map_err(internal)?,
            results: store.list_results(id).await.map_err(internal)?,
        })
    } else {
        None
    };
    Ok(Ran {
        batch,
        summaries,
        repeat_stats,
        run_totals,
        report,
        missing_inputs,
    })
}

/// A progress bar on a terminal; a line per 10 % (and the end) otherwise, so CI logs stay short.
struct Display {
    bar: Option<indicatif::ProgressBar>,
    last_decile: i64,
}

impl Display {
    fn new(tty: bool) -> Display {
        let bar = tty.then(|| {
            let bar = indicatif::ProgressBar::new(0);
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} [{bar:40.cyan/blue}] {pos}/{len} ({percent}%) eta {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Display {
            bar,
            last_decile: -1,
        }
    }

    fn show(&mut self, p: &Progress) {
        let eta = p
            .estimated_remaining_time
            .map(|s| format!("{s:.0}s"))
            .unwrap_or_else(|| "?".into());
        match &self.bar {
            Some(bar) => {
                bar.set_length(p.total_tests);
                bar.set_position(p.completed_tests);
                bar.set_message(format!(
                    "{eta} | passed {} errors {} | {}",
                    p.passed_tests,
                    p.failed_tests,
                    p.current_version.as_deref().unwrap_or("")
                ));
            }
            None => {
                let decile = (p.progress / 10.0).floor() as i64;
                if decile > self.last_decile || p.status.is_terminal() {
                    self.last_decile = decile;
                    eprintln!(
                        "[{:>5.1}%] {}/{} done, {} passed, {} errors, eta {eta}",
                        p.progress,
                        p.completed_tests,
                        p.total_tests,
                        p.passed_tests,
                        p.failed_tests
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The per-version table, from the same tallies the batch page shows (`VersionTally`).
fn print_summary(batch: &Batch, summaries: &[VersionSummary]) {
    let width = batch
        .versions
        .iter()
        .map(|v| v.name.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    println!(
        "{:<width$}  {:>6}  {:>6}  {:>6}  {:>6}  {:>9}  {:>9}  {:>11}",
        "version", "tests", "passed", "failed", "errors", "pass rate", "avg score", "avg latency"
    );
    let dash = || "—".to_string();
    for (v, t) in batch.versions.iter().zip(summaries) {
        let failed = t.completed - t.passed - t.errors;
        let rate = t.pass_rate.map_or_else(dash, |r| format!("{r:.1}%"));
        let score = t.average_score.map_or_else(dash, |s| format!("{s:.1}"));
        let latency = t.avg_latency_ms.map_or_else(dash, |l| format!("{l:.0} ms"));
        let pad = width.saturating_sub(v.name.chars().count());
        println!(
            "{}{}  {:>6}  {:>6}  {:>6}  {:>6}  {:>9}  {:>9}  {:>11}",
            v.name,
            " ".repeat(pad),
            t.completed,
            t.passed,
            failed,
            t.errors,
            rate,
            score,
            latency
        );
    }
    print_judge(batch, summaries);
}

/// With a judge: per version, its mean score, what it judged (from the cache), its errors, and
/// its tokens and cost.
fn print_judge(batch: &Batch, summaries: &[VersionSummary]) {
    if batch.scoring.judge.is_none() {
        return;
    }
    println!("judge:");
    for (v, t) in batch.versions.iter().zip(summaries) {
        let Some(j) = t.judge else { continue };
        let mean = j
            .average_score
            .map_or_else(|| "—".to_string(), |s| format!("{s:.1}"));
        let cost = j
            .cost
            .map_or_else(String::new, |c| format!(", cost {c:.6}"));
        println!(
            "  {}: mean {mean}, {} judged ({} from the cache), {} judge errors, {} tokens{cost}",
            v.name,
            j.judged,
            j.cached,
            j.errors,
            j.tokens.unwrap_or(0)
        );
    }
}

/// With repeats: per version, pass^k (the cases that passed every repeat) and the flaky cases.
fn print_repeats(batch: &Batch, stats: &[crate::model::RepeatStats]) {
    println!("repeats: {} per case", batch.repeats);
    for v in &batch.versions {
        let Some(s) = stats.iter().find(|s| s.version_id == v.version_id) else {
            continue;
        };
        let pass_all = s
            .pass_all_rate()
            .map_or_else(|| "—".to_string(), |r| format!("{r:.1}%"));
        println!(
            "  {}: every repeat passed in {} of {} cases (pass^{} {pass_all}), {} flaky",
            v.name, s.all_passed, s.complete, batch.repeats, s.flaky
        );
    }
}

/// Each run's totals, as its card on the batch page shows them (the same [`format`]ting).
fn print_totals(batch: &Batch, totals: &[RunTotals]) {
    println!("{}", totals_table(batch, totals));
}

fn totals_table(batch: &Batch, totals: &[RunTotals]) -> String {
    let dash = || "—".to_string();
    let mut rows: Vec<[String; 6]> = vec![[
        "version".into(),
        "tokens (prompt / completion / total)".into(),
        "cost".into(),
        "latency p50 / p95".into(),
        "ttft p50 / p95".into(),
        "errors".into(),
    ]];
    for (v, t) in batch.versions.iter().zip(totals) {
        let tokens = match (t.prompt_tokens, t.completion_tokens, t.total_tokens) {
            (None, None, None) => dash(),
            (p, c, total) => [p, c, total]
                .map(|n| n.map_or_else(dash, format::count))
                .join(" / "),
        };
        // Listed side by side, never added: a run may be priced in more than one currency.
        let cost = t
            .cost
            .iter()
            .map(|c| format::money(c.amount, c.currency.as_deref()))
            .collect::<Vec<_>>()
            .join(", ");
        let errors = t
            .errors
            .iter()
            .map(|e| format!("{} × {}", e.code.as_deref().unwrap_or("(no code)"), e.count))
            .collect::<Vec<_>>()
            .join(", ");
        let or_dash = |s: String| if s.is_empty() { dash() } else { s };
        rows.push([
            v.name.clone(),
            tokens,
            or_dash(cost),
            format::percentiles_ms(t.latency_ms),
            format::percentiles_ms(t.ttft_ms),
            or_dash(errors),
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// JUnit XML: a test suite per version, a test case per case (see [`crate::server::junit`]).
pub fn junit(results: &BatchReport) -> String {
    crate::server::junit::report(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn args(config: PathBuf) -> RunArgs {
        RunArgs {
            config,
            ..RunArgs::default()
        }
    }

    const CONFIG: &str = r#"
name = "ci"
cases = "cases.csv"
[[versions]]
name = "v1"
base_url = "http://127.0.0.1:5001/v1"
api_key = "env:TEST_KEY"
"#;

    #[test]
    fn judge_sections_are_checked_by_name() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "cases.csv", "query\nq1\n");
        let judge = "[judge]\nbase_url = \"http://127.0.0.1:5001/v1\"\nmodel = \"m\"\n\
                     api_key = \"env:JUDGE\"\nweight = 2\nmust_pass = true\n";
        let cfg = write(dir.path(), "j.toml", &format!("{CONFIG}{judge}"));
        let p = prepare(&args(cfg), |_| Some("k-123".into())).unwrap();
        assert_eq!(p.judges.len(), 1);
        let j = &p.judges[0];
        assert_eq!(
            (j.draft.name.as_str(), j.weight, j.must_pass),
            ("ci judge", 2.0, true)
        );
        assert_eq!(j.draft.api_key.as_deref(), Some("k-123"));
        for (bad, why) in [
            (
                judge.replace("model = \"m\"\n", ""),
                "[judge]: model is empty",
            ),
            (
                format!("{judge}kind = \"embeddings\"\n"),
                "[judge]: kind must be openai or dify_app",
            ),
            (
                judge.replace("weight = 2", "weight = -1"),
                "[judge]: weight must be a non-negative number",
            ),
            (
                "[scoring.judge]\njudge_id = 1\n".to_string(),
                "[scoring]: a judge or embedding scorer goes in its own",
            ),
        ] {
            let cfg = write(dir.path(), "bad.toml", &format!("{CONFIG}{bad}"));
            let err = prepare(&args(cfg), |_| Some("k".into()))
                .err()
                .expect("should be refused")
                .0;
            assert!(err.starts_with(why), "{why}: {err}");
        }
        let unset = write(dir.path(), "unset.toml", &format!("{CONFIG}{judge}"));
        let err = prepare(&args(unset), |v| (v == "TEST_KEY").then(|| "k".into()))
            .err()
            .expect("should be refused")
            .0;
        assert_eq!(err, "[judge]: environment variable JUDGE is not set");
    }

    #[test]
    fn a_good_config_loads_with_the_key_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "cases.csv", "query,keywords\nq1,a;b\n");
        let cfg = write(dir.path(), "run.toml", CONFIG);
        let p = prepare(&args(cfg), |v| {
            (v == "TEST_KEY").then(|| "app-secret-123456".into())
        })
        .unwrap();
        assert_eq!(p.versions[0].api_key.as_deref(), Some("app-secret-123456"));
        assert_eq!(p.cases[0].keywords, vec!["a", "b"]);
        assert_eq!(p.min_pass_rate, 0.0);
    }

    #[test]
    fn bad_configs_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "cases.csv", "query\nq1\n");
        let cfg = write(dir.path(), "run.toml", CONFIG);
        let err = prepare(&args(cfg), |_| None)
            .err()
            .expect("should be refused")
            .0;
        assert_eq!(
            err,
            "versions[1] (`v1`): environment variable TEST_KEY is not set"
        );

        let typo = write(
            dir.path(),
            "typo.toml",
            &CONFIG.replace("base_url", "base_ur1"),
        );
        let err = prepare(&args(typo), |_| Some("k".into()))
            .err()
            .expect("should be refused")
            .0;
        assert!(err.contains("base_ur1"), "{err}");

        let url = write(
            dir.path(),
            "url.toml",
            &CONFIG.replace("http://127.0.0.1:5001/v1", "localhost"),
        );
        let err = prepare(&args(url), |_| Some("k".into()))
            .err()
            .expect("should be refused")
            .0;
        assert!(err.contains("base_url"), "{err}");
        // The same base_url rules as the server's: no credentials, query or fragment.
        for (base, why) in [
            ("http://u:pw@127.0.0.1:5001/v1", "user name or password"),
            ("http://127.0.0.1:5001/v1?x=1", "has a query string"),
            ("http://127.0.0.1:5001/v1#x", "has a fragment"),
        ] {
            let url = write(
                dir.path(),
                "url.toml",
                &CONFIG.replace("http://127.0.0.1:5001/v1", base),
            );
            let err = prepare(&args(url), |_| Some("k".into()))
                .err()
                .expect("should be refused")
                .0;
            assert!(err.starts_with("versions[1] (`v1`): base_url: "), "{err}");
            assert!(err.contains(why), "{base}: {err}");
            assert!(!err.contains("pw@"), "{err}");
        }

        write(dir.path(), "bad.csv", "query\n \n");
        let cases = write(
            dir.path(),
            "cases.toml",
            &CONFIG.replace("cases.csv", "bad.csv"),
        );
        let err = prepare(&args(cases), |_| Some("k".into()))
            .err()
            .expect("should be refused")
            .0;
        assert!(err.ends_with("row 2: column `query` is empty"), "{err}");

        let rate = RunArgs {
            min_pass_rate: Some(120.0),
            ..args(dir.path().join("run.toml"))
        };
        assert!(prepare(&rate, |_| Some("k".into()))
            .err()
            .expect("should be refused")
            .0
            .contains("min_pass_rate"));
    }

    fn batch(versions: &[&str]) -> Batch {
        use crate::model::*;
        Batch {
            id: BatchId(1),
            name: "b".into(),
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
            pass_rate: None,
            error_message: None,
            created_at: 0,
            started_at: None,
            finished_at: None,
            versions: versions
                .iter()
                .enumerate()
                .map(|(i, name)| BatchVersion {
                    version_id: VersionId(i as i64 + 1),
                    name: name.to_string(),
                    app_mode: AppMode::Chat,
                    response_mode: ResponseMode::Streaming,
                    base_url: String::new(),
                    api_key_hint: String::new(),
                    workflow_id: None,
                })
                .collect(),
            created_by: None,
        }
    }

    #[test]
    fn the_totals_table_lists_currencies_apart_and_dashes_what_is_missing() {
        use crate::model::compare::Percentiles;
        use crate::model::*;
        let b = batch(&["streamed", "blocking v2"]);
        let streamed = RunTotals {
            version_id: VersionId(1),
            results: 4,
            prompt_tokens: Some(12_000),
            completion_tokens: Some(3_456),
            total_tokens: Some(15_456),
            cost: vec![
                CurrencyTotal {
                    currency: Some("RMB".into()),
                    amount: 1.5,
                    results: 1,
                },
                CurrencyTotal {
                    currency: Some("USD".into()),
                    amount: 0.0042,
                    results: 2,
                },
            ],
            latency_ms: Some(Percentiles {
                count: 3,
                p50: 800.4,
                p95: 1_540.6,
            }),
            ttft_ms: Some(Percentiles {
                count: 3,
                p50: 120.0,
                p95: 300.0,
            }),
            errors: vec![
                ErrorCount {
                    code: Some("too_many_requests".into()),
                    count: 2,
                },
                ErrorCount {
                    code: None,
                    count: 1,
                },
            ],
        };
        let blocking = RunTotals::empty(VersionId(2));
        let table = totals_table(&b, &[streamed, blocking]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("version      tokens (prompt / completion / total)  cost"));
        assert_eq!(
            lines[1],
            "streamed     12,000 / 3,456 / 15,456               1.5000 RMB, 0.004200 USD  \
             800 / 1541 ms      120 / 300 ms    too_many_requests × 2, (no code) × 1"
        );
        assert_eq!(
            lines[2],
            "blocking v2  —                                     —                         \
             —                  —               —"
        );
    }

    #[test]
    fn junit_escapes_and_reports_failures_and_errors() {
        use crate::model::*;
        let batch = Batch {
            id: BatchId(1),
            name: "b <1>".into(),
            status: BatchStatus::Completed,
            concurrency: 1,
            per_version_cap: None,
            scoring: ScoringConfig::default(),
            repeats: 1,
            total_tests: 2,
            completed_tests: 2,
            passed_tests: 0,
            failed_tests: 1,
            average_score: None,
            pass_rate: Some(0.0),
            error_message: None,
            created_at: 0,
            started_at: None,
            finished_at: None,
            versions: vec![BatchVersion {
                version_id: VersionId(1),
                name: "v&1".into(),
                app_mode: AppMode::Chat,
                response_mode: ResponseMode::Streaming,
                base_url: String::new(),
                api_key_hint: String::new(),
                workflow_id: None,
            }],
            created_by: None,
        };
        let result = |case: i64, status, code: Option<&str>| TestResult {
            batch_id: BatchId(1),
            version_id: VersionId(1),
            case_id: CaseId(case),
            repetition: 0,
            status,
            score: Some(10.0),
            answer: None,
            latency_ms: Some(1500),
            ttft_ms: None,
            usage: Usage::default(),
            dify: DifyIds::default(),
            error_code: code.map(str::to_string),
            error_message: code.map(|_| "quota \"exceeded\"".to_string()),
            attempts: 1,
            detail: ScoreDetail {
                keywords_missed: vec!["lane".into()],
                ..Default::default()
            },
            finished_at: 0,
            trace: None,
            turns: Default::default(),
        };
        let xml = junit(&BatchReport {
            batch,
            cases: vec![],
            results: vec![
                result(1, ResultStatus::Failed, None),
                result(2, ResultStatus::Error, Some("rate_limit_error")),
            ],
        });
        assert!(xml.contains("<testsuites name=\"b &lt;1&gt;\" tests=\"2\">"));
        assert!(xml.contains(
            "testsuite name=\"v&amp;1\" tests=\"2\" failures=\"1\" errors=\"1\" time=\"3.000\""
        ));
        assert!(xml.contains("<failure message=\"score 10.0; missed keywords: lane\"/>"));
        assert!(xml
            .contains("<error type=\"rate_limit_error\" message=\"quota &quot;exceeded&quot;\"/>"));
    }
}
