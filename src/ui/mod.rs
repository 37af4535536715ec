//! Pages. They render shared DTOs from server functions; they never see the engine or a key.

use crate::api::{batch_results, list_batches, list_cases, list_versions};
use crate::model::BatchId;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn VersionsPage() -> impl IntoView {
    let versions = Resource::new(|| (), |_| list_versions());
    view! {
        <h1>"Versions"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || versions.get().map(|r| match r {
                Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                Ok(list) if list.is_empty() => view! {
                    <p class="empty">"No versions yet. Add one with the save_version API."</p>
                }.into_any(),
                Ok(list) => view! {
                    <table class="grid">
                        <thead><tr>
                            <th>"Name"</th><th>"Mode"</th><th>"Base URL"</th><th>"Key"</th><th>"Enabled"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|v| view! {
                                <tr data-version-id=v.id.0>
                                    <td>{v.name}</td>
                                    <td>{v.app_mode.as_str()}" / "{v.response_mode.as_str()}</td>
                                    <td>{v.base_url}</td>
                                    <td><code>{v.api_key_hint}</code></td>
                                    <td>{if v.enabled { "yes" } else { "no" }}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
pub fn CasesPage() -> impl IntoView {
    let cases = Resource::new(|| (), |_| list_cases());
    view! {
        <h1>"Test cases"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || cases.get().map(|r| match r {
                Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                Ok(list) => view! {
                    <table class="grid">
                        <thead><tr><th>"Name"</th><th>"Query"</th><th>"Keywords"</th><th>"Category"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|c| view! {
                                <tr>
                                    <td>{c.name}</td>
                                    <td>{c.query}</td>
                                    <td>{c.keywords.join(", ")}</td>
                                    <td>{c.category}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
pub fn BatchesPage() -> impl IntoView {
    let batches = Resource::new(|| (), |_| list_batches(None));
    view! {
        <h1>"Batches"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || batches.get().map(|r| match r {
                Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                Ok(list) => view! {
                    <table class="grid">
                        <thead><tr>
                            <th>"Name"</th><th>"Status"</th><th>"Completed"</th><th>"Pass rate"</th><th>"Average score"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|b| view! {
                                <tr>
                                    <td><a href=format!("/batches/{}", b.id)>{b.name}</a></td>
                                    <td>{b.status.as_str()}</td>
                                    <td>{b.completed_tests}" / "{b.total_tests}</td>
                                    <td>{fmt_opt(b.pass_rate, "%")}</td>
                                    <td>{fmt_opt(b.average_score, "")}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
pub fn BatchPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok());
    let data = Resource::new(id, |id| async move {
        match id {
            Some(id) => batch_results(BatchId(id)).await.map(Some),
            None => Ok(None),
        }
    });
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || data.get().map(|r| match r {
                Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                Ok(None) => view! { <p class="error">"Batch not found."</p> }.into_any(),
                Ok(Some(b)) => view! {
                    <h1>{b.batch.name.clone()}</h1>
                    <p>
                        {b.batch.status.as_str()}" — "{b.batch.completed_tests}" / "
                        {b.batch.total_tests}" tests, pass rate "{fmt_opt(b.batch.pass_rate, "%")}
                    </p>
                }.into_any(),
            })}
        </Suspense>
    }
}

fn fmt_opt(x: Option<f64>, unit: &str) -> String {
    x.map(|v| format!("{v:.1}{unit}"))
        .unwrap_or_else(|| "—".into())
}
