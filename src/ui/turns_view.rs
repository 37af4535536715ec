//! A multi-turn result's turns as definition-list items (the caller owns the `<dl>`): each
//! turn's query, answer, score and pass, or its error. The cell detail shows them above the last
//! turn's facts, which are the result's own.

use crate::model::{ResultStatus, TurnResult};
use crate::ui::format;
use crate::ui::i18n::use_i18n;
use leptos::prelude::*;

#[component]
pub fn TurnsFacts(turns: Vec<TurnResult>) -> impl IntoView {
    let i18n = use_i18n();
    let items = turns
        .into_iter()
        .map(|t| {
            let status = match (&t.error, t.passed) {
                (Some(_), _) => ResultStatus::Error,
                (None, true) => ResultStatus::Passed,
                (None, false) => ResultStatus::Failed,
            };
            let n = t.turn as usize;
            let answer = match t.answer {
                Some(a) => view! { <div class="answer-text">{a}</div> }.into_any(),
                None => view! { <div class="muted">{move || i18n.t().trn().no_answer}</div> }.into_any(),
            };
            view! {
                <li class=format!("turn turn-{}", status.as_str()) data-testid="result-turn">
                    <div class="turn-head">
                        <b>{move || (i18n.t().trn().turn_n)(n)}</b>" "
                        <span class=format!("tag tag-{}", status.as_str())>
                            {move || i18n.t().result_status(status)}
                        </span>" "
                        <span class="turn-score">{format::score(t.score)}</span>" "
                        <span class="muted">{format::millis(t.latency_ms)}</span>
                    </div>
                    <div class="turn-query"><span class="muted">{move || i18n.t().trn().query}": "</span>{t.query}</div>
                    {answer}
                    {t.error.map(|e| view! { <div class="error">{e}</div> })}
                </li>
            }
        })
        .collect_view();
    view! {
        <dt>{move || i18n.t().trn().conversation}</dt>
        <dd><ol class="result-turns" data-testid="result-turns">{items}</ol></dd>
    }
}
