//! The batches page (`/batches`): history — name, status, started, duration, versions, tests,
//! pass rate, average score — newest first, a page at a time, filtered by version, status, date
//! and who started it, searched by name; a finished batch can be deleted (editors). The page and
//! the filters live in the address (`?page=2&status=completed&q=nightly`), so a view can be
//! shared and the browser's back button works.

use crate::api::{batch_history, delete_batch};
use crate::model::dashboard::HistoryPage;
use crate::model::{Batch, BatchStatus, Role, VersionId};
use crate::ui::components::{use_confirm, use_toasts, BatchStatusTag, LocalTime};
use crate::ui::format;
use crate::ui::i18n::use_i18n;
use crate::ui::monitor::use_monitor;
use crate::ui::session::IfRole;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

/// How long a batch ran (or has run so far), in seconds; None before it started.
pub fn batch_duration_secs(b: &Batch, now_ms: f64) -> Option<f64> {
    let start = b.started_at?;
    let end = b.finished_at.map_or(now_ms, |f| f as f64);
    Some(((end - start as f64) / 1000.0).max(0.0))
}

/// The history's filters and page, as in the address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryQuery {
    pub page: u64,
    pub version: Option<VersionId>,
    pub status: Option<BatchStatus>,
    pub from: String,
    pub to: String,
    pub by: String,
    pub q: String,
}

impl HistoryQuery {
    /// `/batches?…` for these filters (no query string when there are none).
    pub fn href(&self) -> String {
        let enc = |s: &str| js_encode(s);
        let mut parts = Vec::new();
        if self.page > 0 {
            parts.push(format!("page={}", self.page));
        }
        if let Some(v) = self.version {
            parts.push(format!("version={v}"));
        }
        if let Some(s) = self.status {
            parts.push(format!("status={}", s.as_str()));
        }
        for (k, v) in [
            ("from", &self.from),
            ("to", &self.to),
            ("by", &self.by),
            ("q", &self.q),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", enc(v)));
            }
        }
        if parts.is_empty() {
            "/batches".into()
        } else {
            format!("/batches?{}", parts.join("&"))
        }
    }

    fn filtered(&self) -> bool {
        Self {
            page: 0,
            ..self.clone()
        } != Self::default()
    }
}

/// Percent-encodes a query value (what `encodeURIComponent` leaves alone stays).
fn js_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[component]
pub fn BatchesPage() -> impl IntoView {
    let i18n = use_i18n();
    let monitor = use_monitor();
    let query = use_query_map();
    let reload = RwSignal::new(0u64);
    let current = Memo::new(move |_| {
        let q = query.read();
        HistoryQuery {
            page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0),
            version: q.get("version").and_then(|v| v.parse().ok()).map(VersionId),
            status: q.get("status").and_then(|s| BatchStatus::parse(&s)),
            from: q.get("from").unwrap_or_default(),
            to: q.get("to").unwrap_or_default(),
            by: q.get("by").unwrap_or_default(),
            q: q.get("q").unwrap_or_default(),
        }
    });
    let batches = Resource::new(
        move || {
            (
                current.get(),
                monitor.finished.get(),
                monitor.running_tick.get(),
                reload.get(),
            )
        },
        |(h, ..)| {
            let opt = |s: String| (!s.is_empty()).then_some(s);
            batch_history(
                Some(h.page),
                h.version,
                h.status,
                opt(h.from),
                opt(h.to),
                opt(h.by),
                opt(h.q),
            )
        },
    );
    view! {
        <div class="page-head">
            <h1>{move || i18n.t().bat().batches_title}</h1>
        </div>
        <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
            {move || {
                let h = match batches.get()? {
                    Err(e) => return Some(view! { <p class="error" role="alert">{e.message}</p> }.into_any()),
                    Ok(h) => h,
                };
                Some(view! { <History h current=current.get() reload/> }.into_any())
            }}
        </Transition>
    }
}

#[component]
fn History(h: HistoryPage, current: HistoryQuery, reload: RwSignal<u64>) -> impl IntoView {
    let i18n = use_i18n();
    let navigate = use_navigate();
    let go = {
        let navigate = navigate.clone();
        move |q: HistoryQuery| navigate(&q.href(), Default::default())
    };
    if h.total == 0 && !current.filtered() {
        return view! { <p class="empty">{move || i18n.t().bat().no_batches}</p> }.into_any();
    }
    // Every filter change goes back to the first page.
    let with = {
        let current = current.clone();
        move |f: &dyn Fn(&mut HistoryQuery)| {
            let mut q = current.clone();
            q.page = 0;
            f(&mut q);
            q
        }
    };
    let on_search = {
        let (go, with) = (go.clone(), with.clone());
        move |ev: leptos::ev::Event| {
            let v = event_target_value(&ev);
            go(with(&|q| q.q = v.trim().to_string()));
        }
    };
    let on_version = {
        let (go, with) = (go.clone(), with.clone());
        move |ev: leptos::ev::Event| {
            let v = event_target_value(&ev).parse().ok().map(VersionId);
            go(with(&|q| q.version = v));
        }
    };
    let on_status = {
        let (go, with) = (go.clone(), with.clone());
        move |ev: leptos::ev::Event| {
            let s = BatchStatus::parse(&event_target_value(&ev));
            go(with(&|q| q.status = s));
        }
    };
    let on_by = {
        let (go, with) = (go.clone(), with.clone());
        move |ev: leptos::ev::Event| {
            let v = event_target_value(&ev);
            go(with(&|q| q.by = v.clone()));
        }
    };
    let on_from = {
        let (go, with) = (go.clone(), with.clone());
        move |ev: leptos::ev::Event| {
            let v = event_target_value(&ev);
            go(with(&|q| q.from = v.clone()));
        }
    };
    let on_to = {
        let (go, with) = (go.clone(), with.clone());
        move |ev: leptos::ev::Event| {
            let v = event_target_value(&ev);
            go(with(&|q| q.to = v.clone()));
        }
    };
    let version_options = h
        .versions
        .iter()
        .map(|v| {
            let selected = current.version == Some(v.version_id);
            view! { <option value=v.version_id.0 selected=selected>{v.name.clone()}</option> }
        })
        .collect_view();
    let statuses = [
        BatchStatus::Queued,
        BatchStatus::Running,
        BatchStatus::Completed,
        BatchStatus::Error,
        BatchStatus::Cancelled,
    ];
    let status_options = statuses
        .into_iter()
        .map(|s| {
            let selected = current.status == Some(s);
            view! { <option value=s.as_str() selected=selected>{move || i18n.t().batch_status(s)}</option> }
        })
        .collect_view();
    let starter_options = h
        .starters
        .iter()
        .map(|who| {
            let selected = current.by == *who;
            view! { <option value=who.clone() selected=selected>{who.clone()}</option> }
        })
        .collect_view();

    let pager = {
        let (page, pages, total) = (h.page, h.pages, h.total);
        let prev = (page > 0).then(|| HistoryQuery {
            page: page - 1,
            ..current.clone()
        });
        let next = (page + 1 < pages).then(|| HistoryQuery {
            page: page + 1,
            ..current.clone()
        });
        view! {
            <nav class="pager" aria-label="pages" data-testid="history-pager">
                {prev.map(|q| view! { <a href=q.href() rel="prev">{move || i18n.t().prev}</a> })}
                <span data-testid="page-info">{move || (i18n.t().dash().page_info)(page + 1, pages, total)}</span>
                {next.map(|q| view! { <a href=q.href() rel="next">{move || i18n.t().next}</a> })}
            </nav>
        }
    };

    let empty = h.batches.is_empty();
    let rows = h
        .batches
        .into_iter()
        .map(|b| view! { <HistoryRow b reload/> })
        .collect_view();
    let table = if empty {
        view! { <p class="empty" data-testid="no-match">{move || i18n.t().dash().no_match}</p> }
            .into_any()
    } else {
        view! {
            <div class="table-wrap">
                <table class="grid batches-table">
                    <thead>
                        <tr>
                            <th>{move || i18n.t().col_name}</th>
                            <th>{move || i18n.t().col_status}</th>
                            <th>{move || i18n.t().bat().col_started}</th>
                            <th>{move || i18n.t().bat().col_duration}</th>
                            <th>{move || i18n.t().bat().col_versions}</th>
                            <th>{move || i18n.t().bat().col_tests}</th>
                            <th>{move || i18n.t().pass_rate}</th>
                            <th>{move || i18n.t().average_score}</th>
                            <th>{move || i18n.t().dash().started_by}</th>
                            <th><span class="sr-only">{move || i18n.t().dash().col_actions}</span></th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        <form class="history-filters" role="search" on:submit=|ev| ev.prevent_default()>
            <label class="field-inline">
                {move || i18n.t().dash().search}
                <input type="search" name="q" prop:value=current.q.clone() on:change=on_search data-testid="history-search"/>
            </label>
            <label class="field-inline">
                {move || i18n.t().dash().filter_version}
                <select on:change=on_version data-testid="history-version">
                    <option value="" selected=current.version.is_none()>{move || i18n.t().dash().any}</option>
                    {version_options}
                </select>
            </label>
            <label class="field-inline">
                {move || i18n.t().dash().filter_status}
                <select on:change=on_status data-testid="history-status">
                    <option value="" selected=current.status.is_none()>{move || i18n.t().dash().any}</option>
                    {status_options}
                </select>
            </label>
            <label class="field-inline">
                {move || i18n.t().dash().started_by}
                <select on:change=on_by data-testid="history-by">
                    <option value="" selected=current.by.is_empty()>{move || i18n.t().dash().any}</option>
                    {starter_options}
                </select>
            </label>
            <label class="field-inline">
                {move || i18n.t().dash().from}
                <input type="date" prop:value=current.from.clone() on:change=on_from data-testid="history-from"/>
            </label>
            <label class="field-inline">
                {move || i18n.t().dash().to}
                <input type="date" prop:value=current.to.clone() on:change=on_to data-testid="history-to"/>
            </label>
            {current.filtered().then(|| view! { <a href="/batches">{move || i18n.t().dash().clear_filters}</a> })}
        </form>
        {table}
        {pager}
    }
    .into_any()
}

#[component]
fn HistoryRow(b: Batch, reload: RwSignal<u64>) -> impl IntoView {
    let i18n = use_i18n();
    let confirm = use_confirm();
    let toasts = use_toasts();
    // Finished batches only: a running one's duration would differ between the server's render
    // and the browser's.
    let duration = b.finished_at.and_then(|_| batch_duration_secs(&b, 0.0));
    let open = matches!(b.status, BatchStatus::Queued | BatchStatus::Running);
    let (id, name) = (b.id, b.name.clone());
    let delete = move |_| {
        let t = i18n.t_untracked();
        confirm.ask(
            (t.dash().delete_confirm)(&name),
            t.delete,
            true,
            move || {
                leptos::task::spawn_local(async move {
                    match delete_batch(id).await {
                        Ok(()) => {
                            toasts.info(i18n.t_untracked().dash().batch_deleted);
                            reload.update(|n| *n += 1);
                        }
                        Err(e) => toasts.error(e.message),
                    }
                });
            },
        );
    };
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
            <td>{b.created_by.clone().unwrap_or_else(|| "—".into())}</td>
            <td>
                <IfRole min=Role::Editor>
                    <button
                        type="button"
                        class="danger-text"
                        data-testid="delete-batch"
                        disabled=open
                        title=move || open.then(|| i18n.t().dash().cancel_first)
                        on:click=delete.clone()
                    >
                        {move || i18n.t().delete}
                    </button>
                </IfRole>
            </td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_carries_the_filters() {
        assert_eq!(HistoryQuery::default().href(), "/batches");
        let q = HistoryQuery {
            page: 2,
            status: Some(BatchStatus::Completed),
            q: "night ly&x".into(),
            by: "token:ci".into(),
            ..Default::default()
        };
        assert_eq!(
            q.href(),
            "/batches?page=2&status=completed&by=token%3Aci&q=night%20ly%26x"
        );
        assert!(q.filtered());
        assert!(!HistoryQuery {
            page: 3,
            ..Default::default()
        }
        .filtered());
    }
}
