//! `run --markdown FILE`: the run's outcome as a pull-request comment (GitHub-flavoured Markdown).
//! Pure rendering of what the run and the gate found; nothing is computed here but formatting.
//!
//! Short on purpose: the gate's result and why, then per compared version the verdict sentence,
//! one table of both sides with the change and its 95 % interval, the class counts, and the first
//! [`REGRESSED_LISTED`](super::gate::REGRESSED_LISTED) regressed cases ("…and N more"), linked to
//! the compare page when both runs are on one server. Without a baseline: one row per version.
//! Every name that came from a user is escaped, so a case called `| **x** <img>` stays text.

use super::gate::{Failure, GateComparison};
use crate::model::compare::{CaseComparison, Percentiles};
use crate::model::verdict_text::{grouped, p_value, signed};
use crate::model::{Batch, VersionSummary};
use std::fmt::Write;

/// What the comment shows.
pub struct Input<'a> {
    pub batch: &'a Batch,
    /// One per version, in the batch's version order.
    pub summaries: &'a [VersionSummary],
    /// The batch's page, when it ran on a server.
    pub batch_url: Option<&'a str>,
    pub min_pass_rate: f64,
    pub comparisons: &'a [GateComparison],
    /// Why the gate fails ([`super::gate::failures`]); empty when it passes.
    pub failures: &'a [Failure],
    /// The launch check's warnings: cases that leave out inputs a version's form requires.
    pub missing_inputs: &'a [super::missing::MissingInputsWarning],
}

/// Cases named per version in the launch check's warning.
const MISSING_LISTED: usize = 10;

/// Names longer than this are cut (with `…`) in tables.
const MAX_NAME_CHARS: usize = 80;

pub fn render(input: &Input) -> String {
    let mut out = String::new();
    let head = match (input.failures.is_empty(), input.comparisons.is_empty()) {
        (true, true) => "✅ dify-bench: passed",
        (true, false) => "✅ dify-bench: no regression against the baseline",
        (false, _) => "❌ dify-bench: failed",
    };
    let _ = writeln!(out, "## {head}\n");
    let b = input.batch;
    // An in-process batch's id means nothing elsewhere; a server's is in its URL.
    let batch = match input.batch_url {
        Some(url) => format!("[batch {} {}]({url})", b.id, quoted(&b.name)),
        None => format!("batch {}", quoted(&b.name)),
    };
    let _ = writeln!(
        out,
        "{batch} · {} · pass rate {} (required {:.1} %)\n",
        b.status.as_str(),
        b.pass_rate
            .map_or_else(|| "—".to_string(), |r| format!("{r:.1} %")),
        input.min_pass_rate
    );
    for f in input.failures {
        let _ = writeln!(out, "- ❌ {}", failure(f));
    }
    if !input.failures.is_empty() {
        out.push('\n');
    }
    for w in input.missing_inputs {
        let _ = writeln!(
            out,
            "> ⚠️ **{}** (version {}): {} — Dify refuses such calls with 400; give these cases \
             the inputs, or the version a default.\n",
            w.headline(),
            quoted(&w.version),
            w.list(MISSING_LISTED, cut, cut),
        );
    }
    if input.comparisons.is_empty() {
        versions_table(&mut out, input);
    }
    for c in input.comparisons {
        comparison(&mut out, c);
    }
    out
}

fn versions_table(out: &mut String, input: &Input) {
    let _ = writeln!(
        out,
        "| version | tests | pass rate | mean score | avg latency |\n|---|--:|--:|--:|--:|"
    );
    for (v, s) in input.batch.versions.iter().zip(input.summaries) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            cut(&v.name),
            grouped(s.completed.max(0) as u64),
            s.pass_rate.map_or_else(dash, |r| format!("{r:.1} %")),
            s.average_score.map_or_else(dash, |x| format!("{x:.1}")),
            s.avg_latency_ms.map_or_else(dash, duration),
        );
    }
}

fn comparison(out: &mut String, c: &GateComparison) {
    let v = &c.view;
    let s = &v.summary;
    let batch = match &c.baseline_url {
        Some(_) => format!("batch {} {}", v.a.batch_id, quoted(&v.a.batch_name)),
        None => format!("batch {}", quoted(&v.a.batch_name)),
    };
    let mut title = format!(
        "### {} against the baseline {} ({batch})",
        quoted(&v.b.version_name),
        quoted(&v.a.version_name),
    );
    if let Some(url) = &c.compare_url {
        let _ = write!(title, " · [compare]({url})");
    } else if let Some(url) = &c.baseline_url {
        let _ = write!(title, " · [baseline]({url})");
    }
    // The sentence is the verdict's own words and numbers, no user's text: as it is.
    let _ = writeln!(out, "{title}\n\n> {}\n", s.sentence);
    // Dify's ids, mode names and fingerprints come from the far side: made inert like names.
    for change in &v.app_changes {
        let _ = writeln!(
            out,
            "> ⚠️ **The app changed:** {} was {}, now {} — score differences may come from \
             the app, not the prompt.\n",
            match change.kind {
                crate::model::identity::AppChangeKind::WorkflowId => "its workflow version",
                crate::model::identity::AppChangeKind::Mode => "its mode",
                crate::model::identity::AppChangeKind::InputForm => "its input form",
            },
            cut(&change.before),
            cut(&change.after),
        );
    }

    let _ = writeln!(
        out,
        "| | baseline | candidate | change (95 % CI) |\n|---|--:|--:|---|"
    );
    if let Some(p) = &s.pass_rate {
        let _ = writeln!(
            out,
            "| pass rate | {:.1} % | {:.1} % | {} points ({} to {}), {} |",
            p.a,
            p.b,
            signed(p.delta),
            signed(p.ci.lo),
            signed(p.ci.hi),
            p_value(p.p_value)
        );
    }
    if let Some(sc) = &s.score {
        let _ = writeln!(
            out,
            "| mean score | {:.1} | {:.1} | {} ({} to {}) |",
            sc.a,
            sc.b,
            signed(sc.delta),
            signed(sc.ci.lo),
            signed(sc.ci.hi)
        );
    }
    let pct = |p: &Option<Percentiles>| {
        p.map_or_else(dash, |p| {
            format!("{} / {}", duration(p.p50), duration(p.p95))
        })
    };
    if s.latency_ms.a.is_some() || s.latency_ms.b.is_some() {
        let _ = writeln!(
            out,
            "| latency p50 / p95 | {} | {} | |",
            pct(&s.latency_ms.a),
            pct(&s.latency_ms.b)
        );
    }
    if s.total_tokens.a.is_some() || s.total_tokens.b.is_some() {
        let tokens = |t: Option<i64>| t.map_or_else(dash, |t| grouped(t.max(0) as u64));
        let delta = match (s.total_tokens.a, s.total_tokens.b) {
            (Some(a), Some(b)) => signed_int(b - a),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| tokens | {} | {} | {delta} |",
            tokens(s.total_tokens.a),
            tokens(s.total_tokens.b)
        );
    }
    if s.total_cost.a.is_some() || s.total_cost.b.is_some() {
        let cost = |c: Option<f64>| c.map_or_else(dash, |c| format!("{c:.4}"));
        let delta = match (s.total_cost.a, s.total_cost.b) {
            (Some(a), Some(b)) => signed_cost(b - a),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| cost | {} | {} | {delta} |",
            cost(s.total_cost.a),
            cost(s.total_cost.b)
        );
    }
    out.push('\n');

    let k = s.classes;
    let _ = write!(
        out,
        "{} compared: {} regressed · {} improved · {} inconclusive · {} changed · {} unchanged.",
        plural(s.cases_compared, "case"),
        k.regressed,
        k.improved,
        k.inconclusive,
        k.case_changed,
        k.unchanged
    );
    if v.only_in_a > 0 || v.only_in_b > 0 {
        let _ = write!(
            out,
            " Not compared: {} only in the baseline, {} only in this run.",
            v.only_in_a, v.only_in_b
        );
    }
    if !c.ambiguous_names.is_empty() {
        let names: Vec<String> = c
            .ambiguous_names
            .iter()
            .take(5)
            .map(|n| quoted(n))
            .collect();
        let more = c.ambiguous_names.len().saturating_sub(5);
        let _ = write!(
            out,
            " Left out, their names held by two cases: {}{}.",
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    out.push_str("\n\n");

    if v.total_rows == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "**Regressed cases** ({}):\n\n| case | baseline → candidate | score change |\n|---|---|--:|",
        v.total_rows
    );
    for row in &v.rows {
        let _ = writeln!(
            out,
            "| {} | {} → {} | {} |",
            cut(&row.name),
            outcome(&row.case, Side::A),
            outcome(&row.case, Side::B),
            row.case.score.delta.map_or_else(dash, signed)
        );
    }
    let more = v.total_rows.saturating_sub(v.rows.len() as u64);
    if more > 0 {
        let _ = write!(out, "\n…and {more} more");
        if let Some(url) = &c.compare_url {
            let _ = write!(out, " ([all regressed cases]({url}&class=regressed))");
        }
        out.push_str(".\n");
    }
    out.push('\n');
}

/// A failure in words, its names in bold.
fn failure(f: &Failure) -> String {
    match f {
        Failure::Worse {
            version,
            baseline,
            batch,
        } => format!(
            "{} is significantly worse than its baseline {}{}",
            quoted(version),
            quoted(baseline),
            batch.map_or_else(String::new, |b| format!(" (batch {b})"))
        ),
        other => text(&other.to_string()),
    }
}

#[derive(Clone, Copy)]
enum Side {
    A,
    B,
}

/// `pass 82`, `fail 31`, `3/5 pass 64` (with repeats), `no result`.
fn outcome(c: &CaseComparison, side: Side) -> String {
    let (passed, total, score) = match side {
        Side::A => (c.passed_a, c.total_a, c.score.a),
        Side::B => (c.passed_b, c.total_b, c.score.b),
    };
    let verdict = match (passed, total) {
        (_, 0) => return "no result".to_string(),
        (1, 1) => "pass".to_string(),
        (0, 1) => "fail".to_string(),
        (p, t) => format!("{p}/{t} pass"),
    };
    match score {
        Some(s) => format!("{verdict} {s:.0}"),
        None => verdict,
    }
}

fn dash() -> String {
    "—".to_string()
}

/// `850 ms`, `1.2 s`.
fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

fn signed_int(n: i64) -> String {
    match n {
        0 => "0".to_string(),
        n if n > 0 => format!("+{}", grouped(n as u64)),
        n => format!("\u{2212}{}", grouped(n.unsigned_abs())),
    }
}

fn signed_cost(x: f64) -> String {
    let s = format!("{:.4}", x.abs());
    if s.chars().all(|c| c == '0' || c == '.') {
        s
    } else if x < 0.0 {
        format!("\u{2212}{s}")
    } else {
        format!("+{s}")
    }
}

fn plural(n: usize, noun: &str) -> String {
    format!(
        "{} {noun}{}",
        grouped(n as u64),
        if n == 1 { "" } else { "s" }
    )
}

/// A name in bold, escaped and cut.
fn quoted(name: &str) -> String {
    format!("**{}**", cut(name))
}

/// A name for a table cell or a title: [`text`], at most [`MAX_NAME_CHARS`] characters.
fn cut(name: &str) -> String {
    let name = name.trim();
    let mut short: String = name.chars().take(MAX_NAME_CHARS).collect();
    if name.chars().count() > MAX_NAME_CHARS {
        short.push('…');
    }
    text(&short)
}

/// Text that may hold a user's words, made inert in Markdown and in a table cell: one line,
/// Markdown's punctuation escaped and HTML's brackets as entities.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.trim().chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::compare::*;
    use crate::model::*;

    fn batch() -> Batch {
        Batch {
            id: BatchId(14),
            name: "pr-7".into(),
            status: BatchStatus::Completed,
            concurrency: 4,
            per_version_cap: None,
            scoring: ScoringConfig::default(),
            repeats: 1,
            total_tests: 3,
            completed_tests: 3,
            passed_tests: 2,
            failed_tests: 0,
            average_score: Some(70.0),
            pass_rate: Some(66.666),
            error_message: None,
            created_at: 0,
            started_at: None,
            finished_at: None,
            versions: vec![BatchVersion {
                version_id: VersionId(3),
                name: "v1.3".into(),
                app_mode: AppMode::Chat,
                response_mode: ResponseMode::Blocking,
                base_url: String::new(),
                api_key_hint: String::new(),
                workflow_id: None,
            }],
            created_by: None,
        }
    }

    fn summaries() -> Vec<VersionSummary> {
        vec![VersionSummary {
            version_id: VersionId(3),
            completed: 3,
            passed: 2,
            errors: 0,
            average_score: Some(70.0),
            pass_rate: Some(66.666),
            avg_latency_ms: Some(1250.0),
            judge: None,
            reviewed: 0,
            reviewed_pass_rate: Some(66.666),
        }]
    }

    fn row(id: i64, name: &str, a: f64, b: f64) -> CompareRow {
        CompareRow {
            name: name.into(),
            case: CaseComparison {
                case_id: CaseId(id),
                class: CaseClass::Regressed,
                evidence: Evidence::SingleRun,
                passed_a: 1,
                total_a: 1,
                passed_b: 0,
                total_b: 1,
                flaky_a: false,
                flaky_b: false,
                pass_rate: Paired::new(Some(100.0), Some(0.0)),
                p_value: None,
                q_value: None,
                score: Paired::new(Some(a), Some(b)),
                latency_ms: Paired::default(),
                ttft_ms: Paired::default(),
                tokens: Paired::default(),
                cost: Paired::default(),
            },
        }
    }

    /// A hand-made comparison (the numbers are inputs here, not results: rendering only).
    fn worse() -> GateComparison {
        let label = |batch, version, bname: &str, vname: &str| RunLabel {
            batch_id: BatchId(batch),
            batch_name: bname.into(),
            version_id: VersionId(version),
            version_name: vname.into(),
            started_at: None,
        };
        GateComparison {
            view: CompareView {
                a: label(12, 2, "main", "v1.2"),
                b: label(14, 3, "pr-7", "v1.3"),
                summary: Summary {
                    cases_shared: 40,
                    cases_compared: 40,
                    single_runs: true,
                    pass_rate: Some(PassRateSummary {
                        a: 85.0,
                        b: 77.0,
                        delta: -8.0,
                        ci: Interval {
                            lo: -12.1,
                            hi: -3.9,
                        },
                        ci_method: CiMethod::NewcombeHybridScore,
                        cases_down: 12,
                        cases_up: 1,
                        p_value: 0.0034,
                    }),
                    score: Some(ScoreSummary {
                        cases: 40,
                        moved: 30,
                        a: 80.1,
                        b: 75.3,
                        delta: -4.8,
                        ci: Interval { lo: -7.0, hi: -2.5 },
                    }),
                    classes: ClassCounts {
                        regressed: 12,
                        improved: 1,
                        unchanged: 27,
                        inconclusive: 0,
                        case_changed: 0,
                    },
                    latency_ms: SidePair {
                        a: Some(Percentiles {
                            count: 40,
                            p50: 300.0,
                            p95: 800.0,
                        }),
                        b: Some(Percentiles {
                            count: 40,
                            p50: 350.0,
                            p95: 1500.0,
                        }),
                    },
                    ttft_ms: SidePair { a: None, b: None },
                    total_tokens: SidePair {
                        a: Some(12_345),
                        b: Some(13_000),
                    },
                    total_cost: SidePair {
                        a: Some(0.0123),
                        b: Some(0.0130),
                    },
                    detectable: None,
                    verdict: Verdict::Worse,
                    decided_by: Some(DecidedBy::PassRate),
                    sentence: "B is worse than A: pass rate −8.0 points (95 % CI −12.1 to −3.9), \
                               p = 0.003, 12 cases regressed."
                        .into(),
                    alpha: 0.05,
                    power: 0.8,
                    bootstrap: BootstrapSettings {
                        resamples: 2000,
                        seed: 1,
                    },
                },
                class: Some(CaseClass::Regressed),
                total_rows: 12,
                page: 0,
                pages: 2,
                page_size: 10,
                rows: vec![
                    row(5, "Lane rate | **bold** <img src=x>", 82.0, 31.0),
                    row(9, "DDR5 timing", 70.0, 55.5),
                ],
                only_in_a: 1,
                only_in_b: 0,
                identity: Default::default(),
                app_changes: Vec::new(),
            },
            compare_url: Some("http://bench:3000/compare?base=12:2&cand=14:3".into()),
            baseline_url: Some("http://bench:3000/batches/12".into()),
            ambiguous_names: vec![],
        }
    }

    #[test]
    fn an_app_that_changed_is_said_above_the_numbers() {
        let mut c = worse();
        let before = crate::model::AppIdentity {
            seen_workflow_id: Some("wf-old".into()),
            form_fingerprint: Some("sha256:aaaa".into()),
            ..Default::default()
        };
        let after = crate::model::AppIdentity {
            seen_workflow_id: Some("wf-new".into()),
            form_fingerprint: Some("sha256:aaaa".into()),
            ..Default::default()
        };
        c.view.app_changes = crate::model::identity::app_changes(&before, &after);
        let mut out = String::new();
        comparison(&mut out, &c);
        let warning = out
            .lines()
            .find(|l| l.contains("The app changed"))
            .expect("a warning line");
        assert!(
            warning.contains("its workflow version was wf-old, now wf-new"),
            "{warning}"
        );
        assert!(out.find("The app changed") < out.find("| | baseline"));
        let mut quiet = String::new();
        comparison(&mut quiet, &worse());
        assert!(!quiet.contains("The app changed"));
    }

    #[test]
    fn a_regression_reads_as_a_short_comment_with_its_cases() {
        let b = batch();
        let s = summaries();
        let comparisons = [worse()];
        let failures = [Failure::Worse {
            version: "v1.3".into(),
            baseline: "v1.2".into(),
            batch: Some(BatchId(12)),
        }];
        let md = render(&Input {
            batch: &b,
            summaries: &s,
            batch_url: Some("http://bench:3000/batches/14"),
            min_pass_rate: 50.0,
            comparisons: &comparisons,
            failures: &failures,
            missing_inputs: &[],
        });
        let expected = "\
## ❌ dify-bench: failed

[batch 14 **pr-7**](http://bench:3000/batches/14) · completed · pass rate 66.7 % (required 50.0 %)

- ❌ **v1.3** is significantly worse than its baseline **v1.2** (batch 12)

### **v1.3** against the baseline **v1.2** (batch 12 **main**) · [compare](http://bench:3000/compare?base=12:2&cand=14:3)

> B is worse than A: pass rate −8.0 points (95 % CI −12.1 to −3.9), p = 0.003, 12 cases regressed.

| | baseline | candidate | change (95 % CI) |
|---|--:|--:|---|
| pass rate | 85.0 % | 77.0 % | −8.0 points (−12.1 to −3.9), p = 0.003 |
| mean score | 80.1 | 75.3 | −4.8 (−7.0 to −2.5) |
| latency p50 / p95 | 300 ms / 800 ms | 350 ms / 1.5 s | |
| tokens | 12,345 | 13,000 | +655 |
| cost | 0.0123 | 0.0130 | +0.0007 |

40 cases compared: 12 regressed · 1 improved · 0 inconclusive · 0 changed · 27 unchanged. Not compared: 1 only in the baseline, 0 only in this run.

**Regressed cases** (12):

| case | baseline → candidate | score change |
|---|---|--:|
| Lane rate \\| \\*\\*bold\\*\\* &lt;img src=x&gt; | pass 82 → fail 31 | −51.0 |
| DDR5 timing | pass 70 → fail 56 | −14.5 |

…and 10 more ([all regressed cases](http://bench:3000/compare?base=12:2&cand=14:3&class=regressed)).

";
        assert_eq!(md, expected, "got:\n{md}");
    }

    #[test]
    fn without_a_baseline_it_lists_the_versions() {
        let b = batch();
        let s = summaries();
        let md = render(&Input {
            batch: &b,
            summaries: &s,
            batch_url: None,
            min_pass_rate: 0.0,
            comparisons: &[],
            failures: &[],
            missing_inputs: &[],
        });
        assert!(md.starts_with("## ✅ dify-bench: passed\n\nbatch **pr-7** · completed"));
        assert!(md.contains("| v1.3 | 3 | 66.7 % | 70.0 | 1.2 s |"), "{md}");
    }

    #[test]
    fn cases_that_leave_out_required_inputs_are_warned_about() {
        use crate::model::identity::MissingInputs;
        let (b, s) = (batch(), summaries());
        let warning = crate::server::headless::missing::MissingInputsWarning {
            version_id: VersionId(3),
            version: "v1.3".into(),
            cases: 12,
            listed: (1..=12)
                .map(|n| MissingInputs {
                    case_id: CaseId(n),
                    case_name: if n == 1 {
                        "a | *b*".into()
                    } else {
                        format!("c{n}")
                    },
                    variables: vec!["region".into(), "lang".into()],
                })
                .collect(),
        };
        let md = render(&Input {
            batch: &b,
            summaries: &s,
            batch_url: None,
            min_pass_rate: 0.0,
            comparisons: &[],
            failures: &[],
            missing_inputs: std::slice::from_ref(&warning),
        });
        let line = md
            .lines()
            .find(|l| l.starts_with("> ⚠️"))
            .unwrap_or_else(|| panic!("no warning:\n{md}"));
        assert_eq!(
            line,
            "> ⚠️ **12 cases leave out inputs the app's form requires** (version **v1.3**): \
             a \\| \\*b\\* (region, lang), c2 (region, lang), c3 (region, lang), c4 (region, lang), \
             c5 (region, lang), c6 (region, lang), c7 (region, lang), c8 (region, lang), \
             c9 (region, lang), c10 (region, lang), and 2 more — Dify refuses such calls with 400; \
             give these cases the inputs, or the version a default."
        );
        // Above the versions table.
        assert!(md.find("> ⚠️").unwrap() < md.find("| version |").unwrap());
    }

    #[test]
    fn a_passing_comparison_has_no_case_table_and_links_the_baseline() {
        let b = batch();
        let s = summaries();
        let mut c = worse();
        c.view.summary.verdict = Verdict::NoDetectableDifference;
        c.view.summary.sentence = "No detectable difference.".into();
        c.view.total_rows = 0;
        c.view.rows.clear();
        c.compare_url = None;
        c.baseline_url = Some("http://bench:3000/batches/12".into());
        c.ambiguous_names = vec!["dup".into()];
        let md = render(&Input {
            batch: &b,
            summaries: &s,
            batch_url: None,
            min_pass_rate: 0.0,
            comparisons: &[c],
            failures: &[],
            missing_inputs: &[],
        });
        assert!(md.starts_with("## ✅ dify-bench: no regression against the baseline"));
        assert!(
            md.contains("· [baseline](http://bench:3000/batches/12)\n"),
            "{md}"
        );
        assert!(md.contains("Left out, their names held by two cases: **dup**."));
        assert!(!md.contains("Regressed cases"), "{md}");
    }

    #[test]
    fn user_text_cannot_break_out_of_a_cell_or_a_line() {
        assert_eq!(text("a|b\nc"), "a\\|b c");
        assert_eq!(text("<script>"), "&lt;script&gt;");
        assert_eq!(text("[x](http://evil)"), "\\[x\\](http://evil)");
        let long = "長".repeat(100);
        assert_eq!(cut(&long).chars().count(), MAX_NAME_CHARS + 1);
        assert_eq!(signed_int(-1234), "\u{2212}1,234");
        assert_eq!(signed_cost(-0.00001), "0.0000");
        assert_eq!(duration(999.4), "999 ms");
    }
}
