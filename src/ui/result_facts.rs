//! One stored result's facts, as items of a definition list (`<dt>`/`<dd>` pairs; the caller
//! owns the `<dl>` and what else it lists): [`ResultOutcome`] is the status and score,
//! [`ResultFacts`] why the score is what it is (keyword coverage, similarity to the expected
//! answer, the judge's score, verdict and reason, the embedding score, keywords hit and missed,
//! assertions, the node timeline, tools and retrieved chunks) and what the call cost (latency, time to first
//! token, tokens, price, attempts, error). The batch page's cell detail and the compare page's
//! opened case both use them, so a result reads the same wherever it is shown.

use crate::model::{Assertion, JudgeOutcome, ResultStatus, TestResult, Usage};
use crate::ui::format;
use crate::ui::i18n::use_i18n;
use crate::ui::trace_view::TraceFacts;
use crate::ui::turns_view::TurnsFacts;
use leptos::prelude::*;

#[component]
pub fn ResultOutcome(status: ResultStatus, score: Option<f64>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <dt>{move || i18n.t().col_status}</dt>
        <dd>
            <span class=format!("tag tag-{}", status.as_str())>{move || i18n.t().result_status(status)}</span>
        </dd>
        <dt>{move || i18n.t().score}</dt><dd data-testid="detail-score">{format::score(score)}</dd>
    }
}

#[component]
pub fn ResultFacts(result: TestResult) -> impl IntoView {
    let i18n = use_i18n();
    let detail = result.detail;
    let keywords = move |list: Vec<String>, class: &'static str| {
        if list.is_empty() {
            view! { <span class="muted">{move || i18n.t().none}</span> }.into_any()
        } else {
            list.into_iter()
                .map(|k| view! { <span class=format!("kw {class}")>{k}</span> })
                .collect_view()
                .into_any()
        }
    };
    let assertions = (!detail.assertions.is_empty()).then(|| {
        let items = detail
            .assertions
            .into_iter()
            .map(|a| {
                let (class, mark) = if a.passed {
                    ("assertion-held", "✓")
                } else {
                    ("assertion-broken", "✗")
                };
                view! {
                    <li class=class>
                        {mark}" "<code>{assertion_text(&a.assertion)}</code>
                        {a.message.map(|m| view! { " — "{m} })}
                    </li>
                }
            })
            .collect_view();
        view! {
            <dt>{move || i18n.t().cmp().assertions}</dt>
            <dd><ul class="assertions">{items}</ul></dd>
        }
    });
    let trace = result.trace.map(|trace| view! { <TraceFacts trace/> });
    let turns = (!result.turns.is_empty()).then(|| view! { <TurnsFacts turns=result.turns/> });
    let error = error_text(result.error_code, result.error_message);
    let judge = detail.judge.map(|j| view! { <JudgeFacts j/> });
    let embedding =
        (detail.embedding_score.is_some() || detail.embedding_error.is_some()).then(|| {
            view! {
                <dt>{move || i18n.t().jdg().embedding_score}</dt>
                <dd data-testid="detail-embedding">
                    {format::score(detail.embedding_score)}
                    {detail.embedding_error.map(|e| view! { " "<span class="error">{e}</span> })}
                </dd>
            }
        });
    view! {
        {turns}
        {judge}
        {embedding}
        <dt>{move || i18n.t().cmp().keyword_coverage}</dt><dd>{format::score(detail.keyword_score)}</dd>
        <dt>{move || i18n.t().cmp().similarity}</dt><dd>{format::score(detail.similarity_score)}</dd>
        <dt>{move || i18n.t().bat().keywords_hit}</dt><dd>{keywords(detail.keywords_hit, "kw-hit")}</dd>
        <dt>{move || i18n.t().bat().keywords_missed}</dt><dd>{keywords(detail.keywords_missed, "kw-missed")}</dd>
        {assertions}
        {trace}
        <dt>{move || i18n.t().latency}</dt><dd>{format::millis(result.latency_ms)}</dd>
        <dt>{move || i18n.t().bat().ttft}</dt><dd>{format::millis(result.ttft_ms)}</dd>
        <dt>{move || i18n.t().bat().tokens}</dt><dd>{tokens_text(&result.usage)}</dd>
        <dt>{move || i18n.t().cmp().cost}</dt><dd data-testid="detail-cost">{price_text(&result.usage)}</dd>
        <dt>{move || i18n.t().bat().attempts}</dt><dd>{result.attempts}</dd>
        {error.map(|e| view! { <dt>{move || i18n.t().error}</dt><dd class="error">{e}</dd> })}
    }
}

/// What the judge said: its score and verdict, its reason (or its error), and whether it came
/// from the cache.
#[component]
fn JudgeFacts(j: JudgeOutcome) -> impl IntoView {
    let i18n = use_i18n();
    let rubric = j.rubric;
    match j.error {
        Some(e) => view! {
            <dt>{move || i18n.t().jdg().judge}</dt>
            <dd class="error" data-testid="detail-judge-error">
                <span class="tag tag-error">{move || i18n.t().jdg().judge_error}</span>" "{e}
            </dd>
        }
        .into_any(),
        None => {
            let passed = j.passed.unwrap_or(false);
            let extra = match (j.cached, j.tokens) {
                (true, _) => Some(i18n.t_untracked().jdg().from_cache.to_string()),
                (false, Some(t)) => Some(format!("{t} tokens")),
                _ => None,
            };
            view! {
                <dt>{move || i18n.t().jdg().judge_score}</dt>
                <dd data-testid="detail-judge">
                    <b>{format::score(j.score)}</b>" "
                    <span class=if passed { "tag tag-passed" } else { "tag tag-failed" }>
                        {move || (i18n.t().jdg().judge_verdict)(passed)}
                    </span>
                    " · "{move || (i18n.t().jdg().rubric)(rubric)}
                    {extra.map(|x| view! { <span class="muted">" · "{x}</span> })}
                </dd>
                <dt>{move || i18n.t().jdg().judge}</dt>
                <dd data-testid="detail-judge-reason" class="judge-reason">{j.reason}</dd>
            }
            .into_any()
        }
    }
}

/// `12 / 48 / 60` (prompt / completion / total), `—` where Dify reported none.
fn tokens_text(usage: &Usage) -> String {
    let n = |v: Option<i64>| v.map_or_else(|| "—".to_string(), |v| v.to_string());
    format!(
        "{} / {} / {}",
        n(usage.prompt_tokens),
        n(usage.completion_tokens),
        n(usage.total_tokens)
    )
}

/// `0.000123 USD`, or `—`.
fn price_text(usage: &Usage) -> String {
    match (usage.total_price, usage.currency.as_deref()) {
        (Some(p), Some(c)) => format!("{p:.6} {c}"),
        (Some(p), None) => format!("{p:.6}"),
        (None, _) => "—".to_string(),
    }
}

/// `too_many_requests Rate limit exceeded`, or None without an error.
fn error_text(code: Option<String>, message: Option<String>) -> Option<String> {
    match (code, message) {
        (None, None) => None,
        (c, m) => Some(
            format!("{} {}", c.unwrap_or_default(), m.unwrap_or_default())
                .trim()
                .to_string(),
        ),
    }
}

/// An assertion as a case file writes it: `contains "2.5 Gbps"`, `max_latency_ms 5000`.
fn assertion_text(a: &Assertion) -> String {
    match a {
        Assertion::Contains { value } => format!("contains {value:?}"),
        Assertion::NotContains { value } => format!("not_contains {value:?}"),
        Assertion::Regex { pattern } => format!("regex /{pattern}/"),
        Assertion::MaxLatencyMs { ms } => format!("max_latency_ms {ms}"),
        Assertion::NodeSucceeded { node } => format!("node_succeeded {node:?}"),
        Assertion::NodeMaxLatencyMs { node, ms } => format!("node_max_latency_ms {node:?} {ms}"),
        Assertion::NodeOutputContains { node, value } => {
            format!("node_output_contains {node:?} {value:?}")
        }
        Assertion::NodeOutputMatches { node, pattern } => {
            format!("node_output_matches {node:?} /{pattern}/")
        }
        Assertion::ToolCalled { tool } => format!("tool_called {tool:?}"),
        Assertion::CitesDocument { document } => format!("cites_document {document:?}"),
        Assertion::MinRetrievalScore { score } => format!("min_retrieval_score {score}"),
        Assertion::MinChunks { count } => format!("min_chunks {count}"),
    }
}
