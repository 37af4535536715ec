//! The app-wide watch on one batch: which batch the progress modal shows, whether the modal is
//! open, and what happens when that batch ends (toast, browser notification, list refresh, the
//! modal closing itself). Closing the modal while the batch runs keeps the watch, so the end is
//! still announced. Also the header's indicator of running batches, which survives a refresh
//! because it asks the server (`running_batches`).

use crate::api::{get_batch, running_batches};
use crate::model::{Batch, BatchId, BatchStatus};
use crate::ui::browser;
use crate::ui::components::{use_toasts, ProgressBar};
use crate::ui::i18n::use_i18n;
use crate::ui::lazy::on_demand;
use crate::ui::use_batch_progress::{use_batch_progress, BatchProgress};
use leptos::prelude::*;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// How long the modal stays after a batch completes (the original's 2.5 s).
pub const AUTO_CLOSE: Duration = Duration::from_millis(2500);
/// While batches run, the header indicator refreshes this often to notice ones that end.
const RUNNING_REFRESH: Duration = Duration::from_secs(10);

#[derive(Clone, Copy)]
pub struct Monitor {
    /// The batch whose stream is open (modal shown or not).
    pub watched: RwSignal<Option<BatchId>>,
    pub modal_open: RwSignal<bool>,
    /// Bumped when a watched batch ends: pages key their resources on it.
    pub finished: RwSignal<u64>,
    /// Bumped to refresh the header's running list.
    pub running_tick: RwSignal<u64>,
    pub progress: BatchProgress,
}

impl Monitor {
    /// Shows a batch's progress modal.
    pub fn open(&self, id: BatchId) {
        self.watched.set(Some(id));
        self.modal_open.set(true);
    }

    /// A batch was just started here.
    pub fn started(&self, id: BatchId) {
        self.open(id);
        self.running_tick.update(|n| *n += 1);
    }

    /// Hides the modal; the batch and the watch go on.
    pub fn hide(&self) {
        self.modal_open.set(false);
    }

    /// Hides the modal and stops watching.
    pub fn close(&self) {
        self.modal_open.set(false);
        self.watched.set(None);
    }
}

pub fn use_monitor() -> Monitor {
    expect_context()
}

/// Creates the monitor and its end-of-batch handling; call once, in `<App/>`.
pub fn provide_monitor() -> Monitor {
    let watched = RwSignal::new(None::<BatchId>);
    let monitor = Monitor {
        watched,
        modal_open: RwSignal::new(false),
        finished: RwSignal::new(0),
        running_tick: RwSignal::new(0),
        progress: use_batch_progress(watched.into()),
    };
    provide_context(monitor);

    let i18n = use_i18n();
    let toasts = use_toasts();
    // Each alert raised while a batch is watched is a toast; those it had when the watch began
    // are not news (the modal and the batch page show them).
    let alerts_seen = StoredValue::new(None::<(BatchId, usize)>);
    Effect::new(move |_| {
        let fresh = monitor.progress.data.with(|d| {
            let p = d.as_ref()?;
            let from = match alerts_seen.get_value() {
                Some((id, n)) if id == p.batch_id => n.min(p.alerts.len()),
                _ => p.alerts.len(),
            };
            alerts_seen.set_value(Some((p.batch_id, p.alerts.len())));
            Some(
                p.alerts[from..]
                    .iter()
                    .map(|a| {
                        let name = p
                            .versions
                            .iter()
                            .find(|v| v.version_id == a.version_id)
                            .map_or_else(String::new, |v| v.version_name.clone());
                        (a.kind, name)
                    })
                    .collect::<Vec<_>>(),
            )
        });
        let t = i18n.t_untracked();
        for (kind, name) in fresh.into_iter().flatten() {
            toasts.error(format!("{}: {name}", (t.alert_title)(kind)));
        }
    });
    let announced = StoredValue::new(None::<BatchId>);
    Effect::new(move |_| {
        let Some((id, status, completed, name, message)) = monitor.progress.data.with(|d| {
            d.as_ref().filter(|p| p.status.is_terminal()).map(|p| {
                (
                    p.batch_id,
                    p.status,
                    p.completed_tests,
                    p.batch_name.clone(),
                    p.error_message.clone(),
                )
            })
        }) else {
            return;
        };
        if announced.get_value() == Some(id) {
            return;
        }
        announced.set_value(Some(id));
        let t = i18n.t_untracked();
        let text = match status {
            BatchStatus::Completed => (t.toast_completed)(completed),
            BatchStatus::Cancelled => (t.toast_cancelled)(&name),
            _ => (t.toast_error)(&name, message.as_deref().unwrap_or("")),
        };
        match status {
            BatchStatus::Completed => toasts.success(text.clone()),
            BatchStatus::Cancelled => toasts.info(text.clone()),
            _ => toasts.error(text.clone()),
        }
        if browser::document_hidden() {
            browser::notify(&name, &text);
        }
        monitor.finished.update(|n| *n += 1);
        monitor.running_tick.update(|n| *n += 1);
        if !monitor.modal_open.get_untracked() {
            monitor.watched.set(None);
        } else if status == BatchStatus::Completed {
            set_timeout(
                move || {
                    if monitor.watched.get_untracked() == Some(id) {
                        monitor.close();
                    }
                },
                AUTO_CLOSE,
            );
        }
    });
    monitor
}

/// The header's list of running batches; a click reopens one's progress modal.
/// The running batches' details. A chunk (ui/lazy.rs) fetched only while some batch runs: with
/// none running, the first page needs neither this nor the `Batch` decoder it brings.
#[lazy]
fn batch_details(ids: Vec<BatchId>) -> Pin<Box<dyn Future<Output = Vec<Batch>>>> {
    Box::pin(async move {
        let mut out: Vec<Batch> = Vec::with_capacity(ids.len());
        for id in ids {
            if let Ok(b) = get_batch(id).await {
                out.push(b);
            }
        }
        out
    })
}

#[component]
pub fn RunningIndicator() -> impl IntoView {
    let monitor = use_monitor();
    let i18n = use_i18n();
    let open = RwSignal::new(false);
    let running = LocalResource::new(move || {
        monitor.running_tick.track();
        async move {
            let ids = running_batches().await.unwrap_or_default();
            if ids.is_empty() {
                return Vec::new();
            }
            batch_details(ids).await.await
        }
    });
    let count = move || running.get().map_or(0, |l| l.len());
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || {
                if count() > 0 {
                    monitor.running_tick.update(|n| *n += 1);
                }
            },
            RUNNING_REFRESH,
        );
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    });
    view! {
        <div class="running" data-testid="running-indicator">
            <Show when=move || { count() > 0 }>
                <button
                    type="button"
                    class="running-toggle"
                    aria-expanded=move || open.get().to_string()
                    aria-haspopup="true"
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    <span class="spinner" aria-hidden="true"></span>
                    {move || (i18n.t().running_n)(count())}
                </button>
                <Show when=move || open.get()>
                    {on_demand(running_menu(
                        Signal::derive(move || running.get().unwrap_or_default()),
                        open,
                        monitor,
                    ))}
                </Show>
            </Show>
        </div>
    }
}

/// The list of running batches the indicator opens. A chunk loaded on the first click
/// (ui/lazy.rs).
#[lazy]
fn running_menu(running: Signal<Vec<Batch>>, open: RwSignal<bool>, monitor: Monitor) -> AnyView {
    view! {
        <ul class="running-menu">
            {move || {
                running
                    .get()
                    .into_iter()
                    .map(|b| {
                        let id = b.id;
                        let pct = if b.total_tests > 0 {
                            b.completed_tests as f64 * 100.0 / b.total_tests as f64
                        } else {
                            0.0
                        };
                        view! {
                            <li>
                                <button
                                    type="button"
                                    data-batch-id=id.0
                                    on:click=move |_| {
                                        open.set(false);
                                        monitor.open(id);
                                    }
                                >
                                    <span class="running-name">{b.name.clone()}</span>
                                    <ProgressBar value=pct label=b.name.clone() thin=true/>
                                </button>
                            </li>
                        }
                    })
                    .collect_view()
            }}
        </ul>
    }
    .into_any()
}
