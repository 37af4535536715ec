//! The batch progress modal, every element of the original, driven only by the progress stream:
//! title + connection tag, batch info, the overall bar, three statistics, the current-execution
//! hint, one row per version, and a completion / error notice. While the batch runs, Esc and a
//! click outside do nothing and the close button asks first (the batch goes on in the
//! background). Each piece reads its own memo, so an event re-renders only what changed.

use crate::api::cancel_batch;
use crate::model::Role;
use crate::model::{
    BatchId, BatchStatus, CircuitState, Progress, VersionId, VersionProgress, VersionRunStatus,
};
use crate::ui::components::{
    use_confirm, use_toasts, AlertBanners, ConnectionTag, Modal, ProgressBar, VersionStatusTag,
};
use crate::ui::format;
use crate::ui::i18n::use_i18n;
use crate::ui::lazy::on_demand;
use crate::ui::monitor::use_monitor;
use crate::ui::session::IfRole;
use crate::ui::use_batch_progress::ProgressError;
use leptos::prelude::*;

/// Renders the modal while the monitor says it is open. Its code is a chunk loaded the first
/// time a batch is watched (the modal is never part of a server-rendered page).
#[component]
pub fn ProgressModalHost() -> impl IntoView {
    let monitor = use_monitor();
    move || {
        let id = monitor.watched.get()?;
        monitor
            .modal_open
            .get()
            .then(|| on_demand(progress_modal(id)))
    }
}

#[lazy]
fn progress_modal(id: BatchId) -> AnyView {
    view! { <ProgressModal id/> }.into_any()
}

#[component]
fn ProgressModal(id: BatchId) -> impl IntoView {
    let monitor = use_monitor();
    let i18n = use_i18n();
    let confirm = use_confirm();
    let toasts = use_toasts();
    let p = monitor.progress;

    let status = Memo::new(move |_| p.data.with(|d| d.as_ref().map(|d| d.status)));
    let not_found = Memo::new(move |_| {
        p.error.with(|e| match e {
            Some(ProgressError::NotFound(m)) => Some(m.clone()),
            _ => None,
        })
    });
    let running = Memo::new(move |_| {
        not_found.with(Option::is_none) && !status.get().is_some_and(BatchStatus::is_terminal)
    });
    let name = Memo::new(move |_| p.data.with(|d| d.as_ref().map(|d| d.batch_name.clone())));
    let close = Callback::new(move |()| {
        if running.get_untracked() {
            let t = i18n.t_untracked();
            confirm.ask(
                t.prg().close_running_confirm,
                t.prg().close_anyway,
                false,
                move || monitor.hide(),
            );
        } else {
            monitor.close();
        }
    });
    let cancel = move |_| {
        let t = i18n.t_untracked();
        confirm.ask(
            t.prg().cancel_confirm,
            t.prg().cancel_batch,
            true,
            move || {
                leptos::task::spawn_local(async move {
                    if let Err(e) = cancel_batch(id).await {
                        toasts.error(e.message);
                    }
                });
            },
        );
    };

    view! {
        <Modal
            title=Signal::derive(move || i18n.t().prg().progress_title.to_string())
            dismissible=Signal::derive(move || !running.get())
            on_dismiss=close
            title_extra=move || view! { <ConnectionTag state=p.connection/> }
            class="modal-progress"
            test_id="progress-modal"
        >
            <div class="card batch-info">
                <div>
                    <span class="label">{move || i18n.t().cfg().batch_name}</span>
                    <strong data-testid="batch-name">{move || name.get().unwrap_or_default()}</strong>
                </div>
                <div>
                    <span class="label">{move || i18n.t().batch_id}</span>
                    <code data-testid="batch-id">{id.0}</code>
                </div>
            </div>

            <ProgressPanel data=p.data running/>

            <Notice status running not_found/>

            <div class="modal-foot">
                <a href=format!("/batches/{id}") class="button-link" on:click=move |_| monitor.hide()>
                    {move || i18n.t().prg().view_details}
                </a>
                <IfRole min=Role::Editor>
                    <Show when=move || running.get()>
                        <button type="button" class="danger" on:click=cancel>
                            {move || i18n.t().prg().cancel_batch}
                        </button>
                    </Show>
                </IfRole>
                <button type="button" data-autofocus on:click=move |_| close.run(())>
                    {move || i18n.t().close}
                </button>
            </div>
        </Modal>
    }
}

/// The progress itself, as the stream (or a replay) describes it: the overall bar, the three
/// statistics, the current-execution hint, alert banners and one row per version. Shared by the
/// live modal and the replay (`ui::replay`), so both draw a batch the same way.
#[component]
pub fn ProgressPanel(
    #[prop(into)] data: Signal<Option<Progress>>,
    /// Whether the batch is (or, in a replay, was at that moment) under way.
    #[prop(into)]
    running: Signal<bool>,
) -> impl IntoView {
    let i18n = use_i18n();
    let status = Memo::new(move |_| data.with(|d| d.as_ref().map(|d| d.status)));
    let progress = Memo::new(move |_| data.with(|d| d.as_ref().map_or(0.0, |d| d.progress)));
    let counts = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref()
                .map(|d| (d.completed_tests, d.total_tests, d.failed_tests))
        })
    });
    let eta =
        Memo::new(move |_| data.with(|d| d.as_ref().and_then(|d| d.estimated_remaining_time)));
    let current = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref().and_then(|d| {
                d.current_version
                    .clone()
                    .map(|v| (v, d.current_test_case.clone().unwrap_or_default()))
            })
        })
    });
    let alerts =
        Memo::new(move |_| data.with(|d| d.as_ref().map(|d| d.alerts.clone()).unwrap_or_default()));
    let names = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref()
                .map(|d| {
                    d.versions
                        .iter()
                        .map(|v| (v.version_id, v.version_name.clone()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let version_ids = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref()
                .map(|d| d.versions.iter().map(|v| v.version_id).collect::<Vec<_>>())
                .unwrap_or_default()
        })
    });

    view! {
        <ProgressBar
            value=progress
            label=Signal::derive(move || i18n.t().prg().overall_progress.to_string())
            exception=Signal::derive(move || status.get() == Some(BatchStatus::Error))
            active=running
            show_text=true
            test_id="overall-progress"
        />

        <div class="stats">
            <div class="stat" data-testid="stat-completed">
                <span class="label">{move || i18n.t().prg().stat_completed}</span>
                <span class="value">
                    {move || counts.get().map(|(c, t, _)| format!("{c} / {t}")).unwrap_or_else(|| "—".into())}
                </span>
            </div>
            <div class="stat" data-testid="stat-failed">
                <span class="label">{move || i18n.t().prg().stat_failed}</span>
                <span class="value" class:value-bad=move || counts.get().is_some_and(|c| c.2 > 0)>
                    {move || counts.get().map(|(_, _, f)| f.to_string()).unwrap_or_else(|| "—".into())}
                </span>
            </div>
            <div class="stat" data-testid="stat-eta">
                <span class="label">{move || i18n.t().prg().stat_remaining}</span>
                <span class="value">
                    {move || {
                        let t = i18n.t();
                        match (running.get(), eta.get()) {
                            (false, _) => (t.duration)(0.0),
                            (true, Some(s)) => (t.duration)(s),
                            (true, None) => t.prg().calculating.to_string(),
                        }
                    }}
                </span>
            </div>
        </div>

        <Show when=move || running.get() && current.with(Option::is_some)>
            <div class="current-hint" data-testid="current-hint">
                <FlameIcon/>
                <span>
                    {move || i18n.t().prg().now_running}" "
                    <strong>{move || current.get().map(|c| c.0).unwrap_or_default()}</strong>
                    " — "
                    <span>{move || current.get().map(|c| c.1).unwrap_or_default()}</span>
                </span>
            </div>
        </Show>

        <AlertBanners alerts names/>

        <section class="version-rows" aria-label=move || i18n.t().prg().per_version>
            <For each=move || version_ids.get() key=|id| *id let:vid>
                <VersionRow data vid/>
            </For>
        </section>
    }
}

/// The current-execution hint's flame (inline SVG: no icon font, no emoji font needed).
#[component]
pub fn FlameIcon() -> impl IntoView {
    view! {
        <svg class="flame" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
            <path
                fill="currentColor"
                d="M12 2c.6 3.1-.9 5-2.4 6.8C8.2 10.4 7 11.9 7 14.2 7 17.4 9.3 20 12 20s5-2.4 5-5.6c0-1.7-.7-3.1-1.6-4.2-.2 1.3-.9 2.3-1.9 2.8.3-2.9-.6-6.9-1.5-11zM12 22c-4 0-7-3.4-7-7.6 0-3.3 1.8-5.4 3.2-7C9.6 5.8 10.6 4.6 10.4 2 14 3.2 19 7.9 19 14.4 19 18.6 16 22 12 22z"
            />
        </svg>
    }
}

#[component]
fn VersionRow(data: Signal<Option<Progress>>, vid: VersionId) -> impl IntoView {
    let i18n = use_i18n();
    let v = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref()
                .and_then(|d| d.versions.iter().find(|v| v.version_id == vid).cloned())
        })
    });
    let get = move |f: fn(&VersionProgress) -> String| {
        move || v.with(|v| v.as_ref().map(f).unwrap_or_default())
    };
    let status = Signal::derive(move || {
        v.with(|v| v.as_ref().map_or(VersionRunStatus::Waiting, |v| v.status))
    });
    let name = Signal::derive(get(|v| v.version_name.clone()));
    view! {
        <div
            class="version-row"
            class:version-running=move || status.get() == VersionRunStatus::Running
            data-testid="version-row"
            data-version-id=vid.0
        >
            <div class="version-row-head">
                <strong>{name}</strong>
                <VersionStatusTag status/>
            </div>
            <div class="version-row-bar">
                <ProgressBar
                    value=Signal::derive(move || v.with(|v| v.as_ref().map_or(0.0, |v| v.progress)))
                    label=name
                    active=Signal::derive(move || status.get() == VersionRunStatus::Running)
                    thin=true
                />
                <span class="count">{get(|v| format!("{} / {}", v.completed_tests, v.total_tests))}</span>
            </div>
            <div class="version-row-results">
                <span>{move || i18n.t().average_score}": "<b>{get(|v| format::score(v.average_score))}</b></span>
                <span>{move || i18n.t().pass_rate}": "<b>{get(|v| format::percent(v.pass_rate))}</b></span>
                <span>{move || i18n.t().failed}": "<b>{get(|v| v.failed_tests.to_string())}</b></span>
                {move || v.with(|v| v.as_ref().and_then(|v| v.in_flight_limit)).map(|n| view! {
                    <span data-testid="version-limit">
                        {move || i18n.t().prg().in_flight_limit}": "<b>{n}</b>
                    </span>
                })}
                {move || v.with(|v| v.as_ref().and_then(|v| v.circuit)).and_then(|c| {
                    let text = match c {
                        CircuitState::Closed => return None,
                        CircuitState::Open => i18n.t().prg().circuit_open,
                        CircuitState::HalfOpen => i18n.t().prg().circuit_half_open,
                    };
                    Some(view! {
                        <span class="error" role="status" data-testid="version-circuit" data-circuit=c.as_str()>
                            {text}
                        </span>
                    })
                })}
                {move || v.with(|v| v.as_ref().and_then(|v| v.judge)).map(|j| view! {
                    <span data-testid="version-judge">
                        {move || i18n.t().jdg().judge_mean}": "<b>{format::score(j.average_score)}</b>
                        {(j.errors > 0).then(|| view! {
                            " · "<span class="error">{move || i18n.t().jdg().judge_error}" "{j.errors}</span>
                        })}
                    </span>
                })}
            </div>
        </div>
    }
}

/// The notice at the bottom: completed, error, cancelled, not found, or connection trouble.
#[component]
fn Notice(
    status: Memo<Option<BatchStatus>>,
    running: Memo<bool>,
    not_found: Memo<Option<String>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let monitor = use_monitor();
    move || {
        let t = i18n.t();
        if not_found.with(Option::is_some) {
            return Some(view! {
                <div class="notice notice-error" role="alert" data-testid="notice">{t.prg().batch_not_found}</div>
            }.into_any());
        }
        let (class, text) = match status.get() {
            Some(BatchStatus::Completed) => {
                let done = monitor
                    .progress
                    .data
                    .with(|d| d.as_ref().map_or(0, |d| d.completed_tests));
                ("notice notice-success", (t.prg().notice_completed)(done))
            }
            Some(BatchStatus::Cancelled) => {
                ("notice notice-info", t.prg().notice_cancelled.to_string())
            }
            Some(BatchStatus::Error) => {
                let msg = monitor
                    .progress
                    .data
                    .with(|d| d.as_ref().and_then(|d| d.error_message.clone()))
                    .unwrap_or_default();
                (
                    "notice notice-error",
                    format!("{} {msg}", t.prg().notice_error),
                )
            }
            _ if running.get()
                && monitor
                    .progress
                    .error
                    .with(|e| matches!(e, Some(ProgressError::ConnectionLost))) =>
            {
                ("notice notice-warn", t.prg().connection_lost.to_string())
            }
            _ => return None,
        };
        Some(view! { <div class=class role="alert" data-testid="notice">{text}</div> }.into_any())
    }
}
