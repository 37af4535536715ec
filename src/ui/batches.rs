//! The batches page (`/batches`): history — name, status, started, duration, versions, tests,
//! pass rate, average score — newest first.

use crate::api::list_batches;
use crate::model::Batch;
use crate::ui::components::{BatchStatusTag, LocalTime};
use crate::ui::format;
use crate::ui::i18n::use_i18n;
use crate::ui::monitor::use_monitor;
use leptos::prelude::*;

/// How long a batch ran (or has run so far), in seconds; None before it started.
pub fn batch_duration_secs(b: &Batch, now_ms: f64) -> Option<f64> {
    let start = b.started_at?;
    let end = b.finished_at.map_or(now_ms, |f| f as f64);
    Some(((end - start as f64) / 1000.0).max(0.0))
}

#[component]
pub fn BatchesPage() -> impl IntoView {
    let i18n = use_i18n();
    let monitor = use_monitor();
    let batches = Resource::new(
        move || (monitor.finished.get(), monitor.running_tick.get()),
        |_| list_batches(None),
    );
    view! {
        <div class="page-head">
            <h1>{move || i18n.t().batches_title}</h1>
        </div>
        <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
            {move || {
                let list = match batches.get()? {
                    Err(e) => return Some(view! { <p class="error" role="alert">{e.message}</p> }.into_any()),
                    Ok(list) => list,
                };
                if list.is_empty() {
                    return Some(view! { <p class="empty">{move || i18n.t().no_batches}</p> }.into_any());
                }
                Some(view! {
                    <div class="table-wrap">
                        <table class="grid batches-table">
                            <thead>
                                <tr>
                                    <th>{move || i18n.t().col_name}</th>
                                    <th>{move || i18n.t().col_status}</th>
                                    <th>{move || i18n.t().col_started}</th>
                                    <th>{move || i18n.t().col_duration}</th>
                                    <th>{move || i18n.t().col_versions}</th>
                                    <th>{move || i18n.t().col_tests}</th>
                                    <th>{move || i18n.t().pass_rate}</th>
                                    <th>{move || i18n.t().average_score}</th>
                                </tr>
                            </thead>
                            <tbody>
                                {list.into_iter().map(|b| {
                                    // Finished batches only: a running one's duration would differ
                                    // between the server's render and the browser's.
                                    let duration = b.finished_at.and_then(|_| batch_duration_secs(&b, 0.0));
                                    view! {
                                        <tr data-batch-id=b.id.0>
                                            <td><a href=format!("/batches/{}", b.id)>{b.name.clone()}</a></td>
                                            <td><BatchStatusTag status=b.status/></td>
                                            <td>{b.started_at.map(|ms| view! { <LocalTime ms/> })}</td>
                                            <td>{move || duration.map(|s| (i18n.t().duration)(s)).unwrap_or_else(|| "—".into())}</td>
                                            <td>{b.versions.len()}</td>
                                            <td>{b.completed_tests}" / "{b.total_tests}</td>
                                            <td>{format::percent(b.pass_rate)}</td>
                                            <td>{format::score(b.average_score)}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any())
            }}
        </Transition>
    }
}
