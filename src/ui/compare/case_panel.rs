//! An opened case row of the compare page: both answers side by side (stacked on narrow screens),
//! marked where they differ — struck through on A's side, highlighted on B's — then each side's
//! status, score breakdown, timings and cost ([`crate::ui::result_facts`]). With repeats, the
//! first repetitions are the ones compared, and each side folds its others below.
//!
//! The panel fetches `compare_case` when it opens. The diff is the server's ([`crate::model::diff`]):
//! this only renders its runs, so the browser carries no diff algorithm.

use crate::api::compare_case;
use crate::model::compare::{CompareCaseView, CompareSide, RunLabel};
use crate::model::diff::{DiffOp, DiffRun, Granularity};
use crate::model::{CaseId, ResultStatus, TestCase, TestResult};
use crate::ui::i18n::use_i18n;
use crate::ui::result_facts::{ResultFacts, ResultOutcome};
use crate::ui::trace_view::FirstNodeDifference;
use leptos::prelude::*;

#[component]
pub fn CasePanel(a: RunLabel, b: RunLabel, case_id: CaseId) -> impl IntoView {
    let i18n = use_i18n();
    let (ab, av, bb, bv) = (a.batch_id, a.version_id, b.batch_id, b.version_id);
    let data = LocalResource::new(move || compare_case(ab, av, bb, bv, case_id));
    let titles = (side_title(&a), side_title(&b));
    view! {
        <div class="case-panel" data-testid="case-panel">
            {move || match data.get() {
                None => view! { <p class="muted">{move || i18n.t().loading}</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                Some(Ok(c)) => view! { <Sides c titles=titles.clone()/> }.into_any(),
            }}
        </div>
    }
}

/// `good · nightly 12`: the version, then the batch it ran in.
fn side_title(run: &RunLabel) -> String {
    format!("{} · {}", run.version_name, run.batch_name)
}

#[component]
fn Sides(c: CompareCaseView, titles: (String, String)) -> impl IntoView {
    let i18n = use_i18n();
    let CompareCaseView { a, b, diff, .. } = c;
    // One question and expected answer above both sides, unless the case changed between runs.
    let shown = |c: &TestCase| (c.query.clone(), c.expected_answer.clone());
    let same_case = match (&a.case, &b.case) {
        (Some(x), Some(y)) => shown(x) == shown(y),
        _ => true,
    };
    let shared = if same_case {
        b.case.clone().or_else(|| a.case.clone())
    } else {
        None
    };
    let first_trace =
        |s: &crate::model::compare::CompareSide| s.results.first().and_then(|r| r.trace.clone());
    let (trace_a, trace_b) = (first_trace(&a), first_trace(&b));
    let note = diff.as_ref().map(|d| (d.granularity, d.changed()));
    let (mut runs_a, mut runs_b) = (None, None);
    if let Some(d) = diff {
        let (mut ra, mut rb) = (Vec::new(), Vec::new());
        for run in d.runs {
            match run.op {
                DiffOp::Equal => {
                    ra.push(run.clone());
                    rb.push(run);
                }
                DiffOp::Delete => ra.push(run),
                DiffOp::Insert => rb.push(run),
            }
        }
        (runs_a, runs_b) = (Some(ra), Some(rb));
    }
    let note = note.map(|(granularity, changed)| {
        if !changed {
            return view! { <p class="muted" data-testid="diff-note">{move || i18n.t().cmp().identical}</p> }
                .into_any();
        }
        let coarse = (granularity != Granularity::Word).then(|| {
            view! {
                <p class="notice notice-info" data-testid="diff-note">
                    {move || if granularity == Granularity::Line {
                        i18n.t().cmp().diff_by_lines
                    } else {
                        i18n.t().cmp().diff_whole
                    }}
                </p>
            }
        });
        view! {
            {coarse}
            <p class="diff-legend">
                <del>{move || i18n.t().cmp().only_in_a}</del>
                <ins>{move || i18n.t().cmp().only_in_b}</ins>
            </p>
        }
        .into_any()
    });
    view! {
        {shared.map(|t| view! { <CaseTextView t/> })}
        {note}
        <FirstNodeDifference a=trace_a b=trace_b/>
        <div class="case-sides">
            <Side letter="A" title=titles.0 side=a runs=runs_a show_case=!same_case/>
            <Side letter="B" title=titles.1 side=b runs=runs_b show_case=!same_case/>
        </div>
    }
}

#[component]
fn CaseTextView(t: TestCase) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <dl class="facts case-text">
            <dt>{move || i18n.t().f_query}</dt><dd>{t.query}</dd>
            <dt>{move || i18n.t().expected_answer}</dt><dd><div class="answer-text">{t.expected_answer}</div></dd>
        </dl>
    }
}

/// One run's side: its answer (with the diff's marks when there is a diff), then its facts; with
/// repeats, the other repetitions folded below.
#[component]
fn Side(
    letter: &'static str,
    title: String,
    side: CompareSide,
    runs: Option<Vec<DiffRun>>,
    /// Show this side's own question and expected answer (the case changed between runs).
    show_case: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let CompareSide { case, results } = side;
    let in_run = case.is_some();
    let own_case = case
        .filter(|_| show_case)
        .map(|t| view! { <CaseTextView t/> });
    let mut results = results.into_iter();
    let body = match results.next() {
        _ if !in_run => {
            view! { <p class="muted">{move || i18n.t().cmp().not_in_run}</p> }.into_any()
        }
        None => view! { <p class="muted">{move || i18n.t().bat().not_run_yet}</p> }.into_any(),
        Some(first) => {
            let others: Vec<TestResult> = results.collect();
            // With repeats: how many passed, then the first repetition (the one diffed) in full
            // and the others folded below it.
            let tally = (!others.is_empty()).then(|| {
                let n = others.len() as u32 + 1;
                let passed = std::iter::once(&first)
                    .chain(&others)
                    .filter(|r| r.status == ResultStatus::Passed)
                    .count() as u32;
                let number = first.repetition + 1;
                view! {
                    <p class="repeat-tally">
                        <strong>{move || (i18n.t().rep().passed_of)(passed, n)}</strong>
                        {(passed > 0 && passed < n).then(|| view! { " "<span class="tag tag-flaky">{move || i18n.t().rep().flaky}</span> })}
                        " · "{move || (i18n.t().rep().repeat_n)(number)}
                    </p>
                }
            });
            let others = (!others.is_empty()).then(|| {
                let n = others.len();
                let items = others
                    .into_iter()
                    .map(|r| {
                        let number = r.repetition + 1;
                        view! {
                            <h4>{move || (i18n.t().rep().repeat_n)(number)}</h4>
                            <Answer runs=None answer=r.answer.clone()/>
                            <dl class="facts"><ResultOutcome status=r.status score=r.score/><ResultFacts result=r/></dl>
                        }
                    })
                    .collect_view();
                view! {
                    <details class="repetitions">
                        <summary>{move || (i18n.t().cmp().other_repetitions)(n)}</summary>
                        {items}
                    </details>
                }
            });
            view! {
                {tally}
                <Answer runs answer=first.answer.clone()/>
                <dl class="facts"><ResultOutcome status=first.status score=first.score/><ResultFacts result=first/></dl>
                {others}
            }
            .into_any()
        }
    };
    view! {
        <section class="case-side" data-side=letter data-testid=format!("side-{letter}")>
            <h3><span class="side-letter">{letter}</span>" "{title}</h3>
            {own_case}
            {body}
        </section>
    }
}

/// An answer: marked by the diff's runs for this side when there are runs, else plain.
#[component]
fn Answer(runs: Option<Vec<DiffRun>>, answer: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    match (runs, answer) {
        (Some(runs), _) => view! {
            <div class="answer-text" data-testid="answer">
                {runs.into_iter().map(|r| match r.op {
                    DiffOp::Equal => r.text.into_any(),
                    DiffOp::Delete => view! { <del>{r.text}</del> }.into_any(),
                    DiffOp::Insert => view! { <ins>{r.text}</ins> }.into_any(),
                }).collect_view()}
            </div>
        }
        .into_any(),
        (None, Some(text)) => {
            view! { <div class="answer-text" data-testid="answer">{text}</div> }.into_any()
        }
        (None, None) => {
            view! { <p class="muted">{move || i18n.t().cmp().no_answer}</p> }.into_any()
        }
    }
}
