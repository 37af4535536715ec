//! Human review of one result, inside the batch page's result dialog: the reviewed verdict (pass /
//! fail) with a comment, clearing it, and promoting the answer to the case's expected answer. And
//! the batch page's review queue: the results worth a human look.
//!
//! Editors act; viewers see the review. The server decides either way.

use crate::api::{get_review, promote_answer, review_queue, set_review};
use crate::model::{BatchId, CaseId, QueueItem, Review, ReviewVerdict, Role, VersionId};
use crate::ui::components::{use_confirm, use_toasts};
use crate::ui::format;
use crate::ui::i18n::use_i18n;
use crate::ui::session::IfRole;
use leptos::prelude::*;

/// The review of (batch, version, case, repetition). `on_change` runs after a review is saved or
/// cleared (the page's tallies change).
#[component]
pub fn ReviewBox(
    batch: BatchId,
    version: VersionId,
    case: CaseId,
    repetition: u32,
    has_answer: bool,
    on_change: Callback<()>,
) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let confirm = use_confirm();
    let current = RwSignal::new(None::<Review>);
    let comment = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let loaded = LocalResource::new(move || get_review(batch, version, case, Some(repetition)));
    Effect::new(move |_| {
        if let Some(Ok(r)) = loaded.get() {
            comment.set(r.as_ref().map(|r| r.comment.clone()).unwrap_or_default());
            current.set(r);
        }
    });
    let save = move |verdict: Option<ReviewVerdict>| {
        busy.set(true);
        let text = comment.get_untracked();
        leptos::task::spawn_local(async move {
            match set_review(batch, version, case, Some(repetition), verdict, Some(text)).await {
                Ok(r) => {
                    if r.is_none() {
                        comment.set(String::new());
                    }
                    current.set(r);
                    toasts.success(i18n.t_untracked().jdg().review_saved);
                    on_change.run(());
                }
                Err(e) => toasts.error(e.message),
            }
            busy.set(false);
        });
    };
    let promote = move |_| {
        let t = i18n.t_untracked();
        confirm.ask(
            t.jdg().promote_confirm.to_string(),
            t.jdg().promote,
            false,
            move || {
                leptos::task::spawn_local(async move {
                    match promote_answer(batch, version, case, Some(repetition)).await {
                        Ok(c) => toasts.success((i18n.t_untracked().jdg().promoted)(c.revision)),
                        Err(e) => toasts.error(e.message),
                    }
                });
            },
        );
    };
    view! {
        <section class="review" data-testid="review">
            <p class="review-title"><strong>{move || i18n.t().jdg().review}</strong></p>
            <p data-testid="review-state">
                {move || current.get().map(|r| {
                    let pass = r.verdict == ReviewVerdict::Pass;
                    let by = r.reviewed_by.clone().unwrap_or_default();
                    view! {
                        <span class=if pass { "tag tag-passed" } else { "tag tag-failed" }>
                            {move || (i18n.t().jdg().reviewed_as)(pass, &by)}
                        </span>
                        {(!r.comment.is_empty()).then(|| view! { " — "{r.comment.clone()} })}
                    }
                })}
            </p>
            <IfRole min=Role::Editor>
                <label>
                    <span>{move || i18n.t().jdg().comment}</span>
                    <textarea rows="2" data-testid="review-comment" bind:value=comment></textarea>
                </label>
                <div class="row-actions">
                    <button type="button" data-testid="review-pass" disabled=move || busy.get()
                        on:click=move |_| save(Some(ReviewVerdict::Pass))>
                        {move || i18n.t().jdg().mark_pass}
                    </button>
                    <button type="button" data-testid="review-fail" disabled=move || busy.get()
                        on:click=move |_| save(Some(ReviewVerdict::Fail))>
                        {move || i18n.t().jdg().mark_fail}
                    </button>
                    <Show when=move || current.with(Option::is_some)>
                        <button type="button" disabled=move || busy.get() on:click=move |_| save(None)>
                            {move || i18n.t().jdg().clear_review}
                        </button>
                    </Show>
                    {has_answer.then(|| view! {
                        <button type="button" data-testid="promote-answer" on:click=promote>
                            {move || i18n.t().jdg().promote}
                        </button>
                    })}
                </div>
            </IfRole>
        </section>
    }
}

/// The batch's review queue; a row opens the result's dialog through `open`. `reload` re-reads it
/// (after a review, a queue item may be gone).
#[component]
pub fn ReviewQueue(
    batch: BatchId,
    reload: Signal<u64>,
    open: Callback<(VersionId, CaseId)>,
) -> impl IntoView {
    let i18n = use_i18n();
    let queue = LocalResource::new(move || {
        reload.track();
        review_queue(batch, Some(100))
    });
    let row = move |q: QueueItem| {
        let (v, c) = (q.version_id, q.case_id);
        let reasons = q
            .reasons
            .iter()
            .map(|r| {
                let r = *r;
                view! { <span class="tag">{move || (i18n.t().jdg().reason)(r)}</span>" " }
            })
            .collect_view();
        view! {
            <tr data-testid="queue-row">
                <td>
                    <button type="button" class="link" on:click=move |_| open.run((v, c))>
                        {q.case_name.clone()}
                    </button>
                    {(q.repetition > 0).then(|| format!(" #{}", q.repetition + 1))}
                </td>
                <td>{q.version_name.clone()}</td>
                <td>{reasons}</td>
                <td>{format::score(q.score)}</td>
                <td>{format::score(q.judge_score)}</td>
                <td>{format::score(q.lexical_score)}</td>
            </tr>
        }
    };
    view! {
        <section class="panel" data-testid="review-queue">
            <h2>{move || i18n.t().jdg().review_queue}</h2>
            <p class="muted">{move || i18n.t().jdg().review_queue_help}</p>
            {move || match queue.get() {
                None => view! { <p class="muted">{move || i18n.t().loading}</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e.message}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="empty">{move || i18n.t().jdg().queue_empty}</p> }.into_any()
                }
                Some(Ok(list)) => view! {
                    <div class="table-wrap">
                    <table class="table">
                        <thead><tr>
                            <th>{move || i18n.t().f_name}</th>
                            <th>{move || i18n.t().jdg().col_version}</th>
                            <th></th>
                            <th>{move || i18n.t().score}</th>
                            <th>{move || i18n.t().jdg().judge}</th>
                            <th>{move || i18n.t().jdg().lexical}</th>
                        </tr></thead>
                        <tbody>{list.into_iter().map(row).collect_view()}</tbody>
                    </table>
                    </div>
                }.into_any(),
            }}
        </section>
    }
}
