//! A run's totals on the batch page's version cards (`RunTotals` from `batch_page`): tokens,
//! cost per currency, latency and time-to-first-token p50 / p95, and the errors by code. Plain
//! rows of the card's `<dl>`; the numbers are formatted by [`format`], as on the compare page.

use crate::model::{ErrorCount, RunTotals};
use crate::ui::format;
use crate::ui::i18n::use_i18n;
use leptos::prelude::*;

/// The card's rows for one run: latency, time to first token (`—` for a blocking version),
/// tokens with their split, and cost, one line per currency (never added across currencies).
#[component]
pub fn RunTotalsRows(totals: RunTotals) -> impl IntoView {
    let i18n = use_i18n();
    let dash = || "—".to_string();
    let tokens = totals.total_tokens.map_or_else(dash, format::count);
    let split = (totals.prompt_tokens.is_some() || totals.completion_tokens.is_some()).then(|| {
        let (p, c) = (
            totals.prompt_tokens.map_or_else(dash, format::count),
            totals.completion_tokens.map_or_else(dash, format::count),
        );
        view! { <small class="muted">{move || (i18n.t().tot().token_split)(&p, &c)}</small> }
    });
    let cost = if totals.cost.is_empty() {
        view! { "—" }.into_any()
    } else {
        totals
            .cost
            .iter()
            .map(|c| view! { <span class="line">{format::money(c.amount, c.currency.as_deref())}</span> })
            .collect_view()
            .into_any()
    };
    view! {
        <dt>{move || i18n.t().tot().latency}</dt>
        <dd data-testid="run-latency">{format::percentiles_ms(totals.latency_ms)}</dd>
        <dt>{move || i18n.t().tot().ttft}</dt>
        <dd data-testid="run-ttft">{format::percentiles_ms(totals.ttft_ms)}</dd>
        <dt>{move || i18n.t().tot().tokens}</dt>
        <dd data-testid="run-tokens"><span class="line">{tokens}</span>{split}</dd>
        <dt>{move || i18n.t().tot().cost}</dt>
        <dd data-testid="run-cost">{cost}</dd>
    }
}

/// A run's errors by code, the most frequent first (`too_many_requests × 3`): a row of the
/// card's `<dl>` under the error count, as wide as the card.
#[component]
pub fn ErrorCodes(errors: Vec<ErrorCount>) -> impl IntoView {
    let i18n = use_i18n();
    (!errors.is_empty()).then(|| {
        let items = errors
            .into_iter()
            .map(|e| {
                let code = match e.code {
                    Some(code) => view! { <code>{code}</code> }.into_any(),
                    None => view! { <span>{move || i18n.t().tot().no_code}</span> }.into_any(),
                };
                view! { <li>{code}" × "{e.count}</li> }
            })
            .collect_view();
        view! {
            <dd class="error-codes">
                <ul data-testid="run-errors" aria-label=move || i18n.t().tot().errors_by_code>{items}</ul>
            </dd>
        }
    })
}
