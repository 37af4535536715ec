//! The compare page (`/compare?base=12:3&cand=14:3[&class=regressed][&page=0]`): the verdict in
//! plain words on top, the summary with intervals, then the case table — regressions first —
//! filterable by class, one page of 50 at a time; a row opens both answers side by side with
//! what changed between them ([`case_panel`]). Everything but an opened row is in the URL, so a
//! comparison can be shared. Without `base`, the server compares with the latest earlier run of the candidate's
//! version.

mod case_panel;

use crate::api::compare_runs;
use crate::model::compare::{
    parse_run_ref, CaseClass, CompareRow, CompareView, Interval, Paired, Percentiles, RunLabel,
    SidePair, Verdict,
};
use crate::ui::app_identity::AppChangedWarning;
use crate::ui::format;
use crate::ui::i18n::use_i18n;
use case_panel::CasePanel;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

/// `/compare?…` for a baseline, a candidate, a class and a page.
pub fn compare_href(base: Option<&str>, cand: &str, class: Option<CaseClass>, page: u64) -> String {
    let mut href = format!("/compare?cand={cand}");
    if let Some(b) = base {
        href.push_str(&format!("&base={b}"));
    }
    if let Some(c) = class {
        href.push_str(&format!("&class={}", c.as_str()));
    }
    if page > 0 {
        href.push_str(&format!("&page={page}"));
    }
    href
}

#[component]
pub fn ComparePage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let args = move || {
        let q = query.read();
        (
            q.get("base"),
            q.get("cand"),
            q.get("class"),
            q.get("page").and_then(|p| p.parse::<u64>().ok()),
        )
    };
    let data = Resource::new(args, |(base, cand, class, page)| async move {
        let cand =
            cand.ok_or_else(|| "the candidate run is missing: ?cand=BATCH:VERSION".to_string())?;
        let (cb, cv) = parse_run_ref(&cand)?;
        let base = base.map(|b| parse_run_ref(&b)).transpose()?;
        compare_runs(base.map(|b| b.0), base.map(|b| b.1), cb, cv, class, page)
            .await
            .map_err(|e| e.message)
    });
    view! {
        <div class="page-head">
            <h1>{move || i18n.t().cmp().title}</h1>
        </div>
        <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
            {move || data.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                Ok(v) => view! { <Comparison v/> }.into_any(),
            })}
        </Transition>
    }
}

fn run_ref(batch: crate::model::BatchId, version: crate::model::VersionId) -> String {
    format!("{batch}:{version}")
}

/// `p = 0.013`, or `p < 0.001` (three decimals cannot show smaller).
fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {p:.3}")
    }
}

fn points(x: f64) -> String {
    format!("{x:+.1}")
}

fn interval(ci: Interval) -> String {
    format!("[{:+.1}, {:+.1}]", ci.lo, ci.hi)
}

fn delta_of(p: &Paired, digits: usize) -> String {
    p.delta
        .map_or_else(|| "—".to_string(), |d| format!("{d:+.digits$}"))
}

#[component]
fn Comparison(v: CompareView) -> impl IntoView {
    let i18n = use_i18n();
    let s = v.summary.clone();
    let base = run_ref(v.a.batch_id, v.a.version_id);
    let cand = run_ref(v.b.batch_id, v.b.version_id);
    let verdict_class = match s.verdict {
        Verdict::Worse => "verdict verdict-worse",
        Verdict::Better => "verdict verdict-better",
        _ => "verdict verdict-none",
    };
    let verdict = s.verdict;
    let sentence = StoredValue::new(s.clone());
    let pass = s.pass_rate;
    let score = s.score;
    let latency: SidePair<Option<Percentiles>> = s.latency_ms;
    let ttft = s.ttft_ms;
    let tokens = s.total_tokens;
    let cost = s.total_cost;
    let counts = s.classes;
    let count_of = move |c: Option<CaseClass>| match c {
        None => {
            counts.regressed
                + counts.improved
                + counts.unchanged
                + counts.inconclusive
                + counts.case_changed
        }
        Some(CaseClass::Regressed) => counts.regressed,
        Some(CaseClass::Improved) => counts.improved,
        Some(CaseClass::Unchanged) => counts.unchanged,
        Some(CaseClass::Inconclusive) => counts.inconclusive,
        Some(CaseClass::CaseChanged) => counts.case_changed,
    };
    let filters = std::iter::once(None)
        .chain(CaseClass::ALL.into_iter().map(Some))
        .map(|c| {
            let href = compare_href(Some(&base), &cand, c, 0);
            let current = v.class == c;
            view! {
                <A href=href attr:class="button-link" attr:aria-current=current.then_some("true")>
                    {move || c.map_or(i18n.t().cmp().all, |c| i18n.t().cmp().class(c))}
                    " ("{count_of(c)}")"
                </A>
            }
        })
        .collect_view();
    let rows = v.rows.clone();
    let runs = (v.a.clone(), v.b.clone());
    let empty = rows.is_empty();
    let (page, pages, class) = (v.page, v.pages, v.class);
    let pager = (pages > 1).then(|| {
        let prev = compare_href(Some(&base), &cand, class, page.saturating_sub(1));
        let next = compare_href(Some(&base), &cand, class, (page + 1).min(pages - 1));
        view! {
            <nav class="pager" aria-label="pages">
                <A href=prev>"‹"</A>
                <span>{format!("{} / {}", page + 1, pages)}</span>
                <A href=next>"›"</A>
            </nav>
        }
    });
    // Above the verdict: a changed app must not pass for a regression in the prompt.
    let app_changed = (!v.app_changes.is_empty()).then(|| {
        let changes = v.app_changes.clone();
        view! { <AppChangedWarning changes since=None/> }
    });
    let only = (v.only_in_a + v.only_in_b > 0).then(|| {
        let (a, b) = (v.only_in_a, v.only_in_b);
        view! { <p class="muted">{move || (i18n.t().cmp().only_in)(a, b)}</p> }
    });
    view! {
        <p class="runs" data-testid="runs">
            <span>{move || i18n.t().cmp().baseline}": "
                <a href=format!("/batches/{}", v.a.batch_id)>{v.a.batch_name.clone()}</a>
                " · "<b>{v.a.version_name.clone()}</b></span>
            " → "
            <span>{move || i18n.t().cmp().candidate}": "
                <a href=format!("/batches/{}", v.b.batch_id)>{v.b.batch_name.clone()}</a>
                " · "<b>{v.b.version_name.clone()}</b></span>
        </p>
        {app_changed}
        <section class=verdict_class data-testid="verdict" data-verdict=format!("{verdict:?}")>
            <h2>{move || i18n.t().cmp().verdict(verdict)}</h2>
            <p data-testid="verdict-sentence">{move || sentence.with_value(|s| i18n.sentence(s))}</p>
        </section>
        <div class="table-wrap">
            <table class="grid summary-table" data-testid="compare-summary">
                <thead><tr>
                    <th>{move || i18n.t().cmp().metric}</th>
                    <th>"A"</th><th>"B"</th>
                    <th>{move || i18n.t().cmp().delta}</th>
                </tr></thead>
                <tbody>
                    {pass.map(|p| view! {
                        <tr>
                            <td>{move || i18n.t().cmp().pass_rate}</td>
                            <td>{format!("{:.1} %", p.a)}</td>
                            <td>{format!("{:.1} %", p.b)}</td>
                            <td>{format!("{} {}", points(p.delta), interval(p.ci))}</td>
                        </tr>
                        <tr>
                            <td>{move || i18n.t().cmp().p_value}</td>
                            <td colspan="3">{format!("{} ({} ↓, {} ↑)", p_text(p.p_value), p.cases_down, p.cases_up)}</td>
                        </tr>
                    })}
                    {score.map(|sc| view! {
                        <tr>
                            <td>{move || i18n.t().cmp().mean_score}</td>
                            <td>{format!("{:.1}", sc.a)}</td>
                            <td>{format!("{:.1}", sc.b)}</td>
                            <td>{format!("{} {}", points(sc.delta), interval(sc.ci))}</td>
                        </tr>
                    })}
                    <tr>
                        <td>{move || i18n.t().cmp().latency}</td>
                        <td>{format::percentiles_ms(latency.a)}</td><td>{format::percentiles_ms(latency.b)}</td><td></td>
                    </tr>
                    <tr>
                        <td>{move || i18n.t().cmp().ttft}</td>
                        <td>{format::percentiles_ms(ttft.a)}</td><td>{format::percentiles_ms(ttft.b)}</td><td></td>
                    </tr>
                    <tr>
                        <td>{move || i18n.t().cmp().tokens}</td>
                        <td>{tokens.a.map(|t| t.to_string()).unwrap_or_else(|| "—".into())}</td>
                        <td>{tokens.b.map(|t| t.to_string()).unwrap_or_else(|| "—".into())}</td>
                        <td></td>
                    </tr>
                    <tr>
                        <td>{move || i18n.t().cmp().cost}</td>
                        <td>{cost.a.map(format::cost).unwrap_or_else(|| "—".into())}</td>
                        <td>{cost.b.map(format::cost).unwrap_or_else(|| "—".into())}</td>
                        <td></td>
                    </tr>
                </tbody>
            </table>
        </div>
        {only}
        <div class="actions">
            <a class="button-link" href=format!("/api/compare/cases.csv?base={base}&cand={cand}") download="">
                {move || i18n.t().export_csv}
            </a>
            <a class="button-link" href=format!("/api/compare/cases.json?base={base}&cand={cand}") download="">
                {move || i18n.t().export_json}
            </a>
        </div>
        <div class="class-filter actions" role="group" aria-label=move || i18n.t().cmp().class>{filters}</div>
        {if empty {
            view! { <p class="empty">{move || i18n.t().cmp().no_rows}</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table class="grid" data-testid="compare-table">
                        <thead><tr>
                            <th>{move || i18n.t().cmp().case}</th>
                            <th>{move || i18n.t().cmp().class}</th>
                            <th>"A"</th><th>"B"</th>
                            <th>{move || i18n.t().cmp().mean_score}" Δ"</th>
                            <th>{move || i18n.t().cmp().latency_delta}</th>
                        </tr></thead>
                        <tbody>{rows.into_iter().map(|r| view! { <Row r a=runs.0.clone() b=runs.1.clone()/> }).collect_view()}</tbody>
                    </table>
                </div>
            }.into_any()
        }}
        {pager}
    }
}

/// A case row; its name opens the panel with both answers under it.
#[component]
fn Row(r: CompareRow, a: RunLabel, b: RunLabel) -> impl IntoView {
    let i18n = use_i18n();
    let c = r.case;
    let class = c.class;
    let case_id = c.case_id;
    let open = RwSignal::new(false);
    let panel_id = format!("case-panel-{case_id}");
    let outcome = |passed: u32, total: u32, score: Option<f64>| {
        if total == 0 {
            "—".to_string()
        } else if total == 1 {
            format!(
                "{} · {}",
                if passed == 1 { "✓" } else { "✗" },
                format::score(score)
            )
        } else {
            format!("{passed}/{total} · {}", format::score(score))
        }
    };
    let panel = {
        let panel_id = panel_id.clone();
        move || {
            open.get().then(|| {
                view! {
                    <tr class="case-panel-row" id=panel_id.clone()>
                        <td colspan="6"><CasePanel a=a.clone() b=b.clone() case_id/></td>
                    </tr>
                }
            })
        }
    };
    view! {
        <tr data-class=class.as_str() class:row-open=move || open.get()>
            <td>
                <button
                    type="button"
                    class="row-toggle"
                    aria-expanded=move || if open.get() { "true" } else { "false" }
                    aria-controls=panel_id
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    <span class="toggle-mark" aria-hidden="true">"▸"</span>
                    {r.name}
                </button>
            </td>
            <td><span class=format!("tag class-{}", class.as_str())>{move || i18n.t().cmp().class(class)}</span></td>
            <td>{outcome(c.passed_a, c.total_a, c.score.a)}</td>
            <td>{outcome(c.passed_b, c.total_b, c.score.b)}</td>
            <td>{delta_of(&c.score, 1)}</td>
            <td>{delta_of(&c.latency_ms, 0)}</td>
        </tr>
        {panel}
    }
}
