//! Small building blocks shared by the pages: the accessible modal, progress bars, status tags,
//! toasts, the confirmation dialog and time stamps. They know nothing of any page.

use crate::model::{Alert, BatchStatus, VersionId, VersionRunStatus};
use crate::ui::i18n::use_i18n;
use crate::ui::use_batch_progress::ConnectionState;
use leptos::ev::KeyboardEvent;
use leptos::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// A fresh DOM id for `aria-labelledby` (modals only render in the browser, after a click).
fn fresh_id(prefix: &str) -> String {
    format!("{prefix}-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// A modal dialog: `role="dialog"`, focus moved inside on open and kept there (Tab cycles),
/// restored on close. Esc and a click on the backdrop call `on_dismiss` only while `dismissible`.
#[component]
pub fn Modal(
    #[prop(into)] title: Signal<String>,
    #[prop(into)] dismissible: Signal<bool>,
    on_dismiss: Callback<()>,
    /// Shown beside the title (e.g. the connection tag).
    #[prop(optional, into)]
    title_extra: ViewFn,
    #[prop(optional)] class: &'static str,
    #[prop(optional)] test_id: &'static str,
    children: Children,
) -> impl IntoView {
    let title_id = fresh_id("modal-title");
    let labelled_by = title_id.clone();
    let dialog: NodeRef<leptos::html::Div> = NodeRef::new();
    focus::take_focus(dialog);
    // Keys are handled at the window so they work even when focus fell out of the dialog (e.g.
    // the focused button disappeared); only the topmost dialog reacts.
    focus::on_key(dialog, move |ev: &KeyboardEvent| match ev.key().as_str() {
        "Escape" => {
            ev.prevent_default();
            if dismissible.get_untracked() {
                on_dismiss.run(());
            }
        }
        "Tab" => focus::trap(ev, dialog),
        _ => {}
    });
    view! {
        <div
            class="modal-backdrop"
            on:click=move |ev| {
                // Only a click on the backdrop itself, not one bubbling from the dialog.
                if ev.target() == ev.current_target() && dismissible.get_untracked()
                {
                    on_dismiss.run(());
                }
            }
        >
            <div
                class=format!("modal {class}")
                role="dialog"
                aria-modal="true"
                aria-labelledby=labelled_by
                tabindex="-1"
                data-testid=test_id
                node_ref=dialog
            >
                <div class="modal-head">
                    <h2 id=title_id>{title}</h2>
                    {title_extra.run()}
                </div>
                <div class="modal-body">{children()}</div>
            </div>
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod focus {
    use leptos::prelude::*;
    use leptos::wasm_bindgen::JsCast;
    use leptos::web_sys::{Element, HtmlElement};

    const FOCUSABLE: &str = "button:not([disabled]), [href], input:not([disabled]), \
        select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

    fn focusables(root: &Element) -> Vec<HtmlElement> {
        let Ok(list) = root.query_selector_all(FOCUSABLE) else {
            return Vec::new();
        };
        (0..list.length())
            .filter_map(|i| list.get(i))
            .filter_map(|n| n.dyn_into::<HtmlElement>().ok())
            .collect()
    }

    /// Focuses the first control inside on open (the dialog itself if none), restores on close.
    pub fn take_focus(dialog: NodeRef<leptos::html::Div>) {
        let previous: StoredValue<Option<HtmlElement>, LocalStorage> = StoredValue::new_local(
            document()
                .active_element()
                .and_then(|e| e.dyn_into::<HtmlElement>().ok()),
        );
        Effect::new(move |_| {
            if let Some(el) = dialog.get() {
                let el: &HtmlElement = &el;
                match focusables(el)
                    .into_iter()
                    .find(|e| e.get_attribute("data-autofocus").is_some())
                {
                    Some(first) => {
                        let _ = first.focus();
                    }
                    None => {
                        let _ = el.focus();
                    }
                }
            }
        });
        on_cleanup(move || {
            if let Some(Some(prev)) = previous.try_with_value(|p| p.clone()) {
                if prev.is_connected() {
                    let _ = prev.focus();
                }
            }
        });
    }

    /// Calls `f` for keydowns anywhere while this dialog is the topmost one.
    pub fn on_key(
        dialog: NodeRef<leptos::html::Div>,
        f: impl Fn(&leptos::ev::KeyboardEvent) + 'static,
    ) {
        let handle = window_event_listener(leptos::ev::keydown, move |ev| {
            let Some(me) = dialog.get_untracked() else {
                return;
            };
            let topmost = document()
                .query_selector_all("[role='dialog']")
                .ok()
                .and_then(|l| l.get(l.length().checked_sub(1)?))
                .is_some_and(|last| {
                    let me: &leptos::web_sys::Node = me.as_ref();
                    &last == me
                });
            if topmost {
                f(&ev);
            }
        });
        on_cleanup(move || handle.remove());
    }

    /// Keeps Tab and Shift+Tab inside the dialog.
    pub fn trap(ev: &leptos::ev::KeyboardEvent, dialog: NodeRef<leptos::html::Div>) {
        let Some(root) = dialog.get_untracked() else {
            return;
        };
        let items = focusables(&root);
        let (Some(first), Some(last)) = (items.first(), items.last()) else {
            ev.prevent_default();
            return;
        };
        let active = document().active_element();
        let inside = active
            .as_ref()
            .is_some_and(|a| root.contains(Some(a.unchecked_ref())));
        let at = |e: &HtmlElement| active.as_ref() == Some(e.unchecked_ref::<Element>());
        if ev.shift_key() && (at(first) || !inside || active.as_ref() == Some(&root)) {
            ev.prevent_default();
            let _ = last.focus();
        } else if !ev.shift_key() && (at(last) || !inside) {
            ev.prevent_default();
            let _ = first.focus();
        }
    }
}

#[cfg(not(feature = "hydrate"))]
mod focus {
    use leptos::prelude::*;
    pub fn take_focus(_dialog: NodeRef<leptos::html::Div>) {}
    pub fn trap(_ev: &leptos::ev::KeyboardEvent, _dialog: NodeRef<leptos::html::Div>) {}
    pub fn on_key(
        _dialog: NodeRef<leptos::html::Div>,
        _f: impl Fn(&leptos::ev::KeyboardEvent) + 'static,
    ) {
    }
}

/// A progress bar with `role="progressbar"`: the original's gradient, 12 px, the percentage.
#[component]
pub fn ProgressBar(
    #[prop(into)] value: Signal<f64>,
    #[prop(into)] label: Signal<String>,
    /// The original's "exception" status: red, for a batch that ended in error.
    #[prop(optional, into)]
    exception: Signal<bool>,
    /// Animated while work is under way (the original's "active").
    #[prop(optional, into)]
    active: Signal<bool>,
    #[prop(optional)] thin: bool,
    #[prop(optional)] show_text: bool,
    #[prop(optional)] test_id: &'static str,
) -> impl IntoView {
    let clamped = move || value.get().clamp(0.0, 100.0);
    view! {
        <div
            class="bar"
            class:bar-thin=thin
            class:bar-exception=move || exception.get()
            class:bar-active=move || active.get()
            role="progressbar"
            aria-valuemin="0"
            aria-valuemax="100"
            aria-valuenow=move || format!("{:.1}", clamped())
            aria-label=label
            data-testid=test_id
        >
            <div class="bar-track">
                <div class="bar-fill" style:width=move || format!("{:.1}%", clamped())></div>
            </div>
            {show_text.then(|| view! { <span class="bar-text">{move || format!("{:.1}%", clamped())}</span> })}
        </div>
    }
}

/// A version's run status: waiting grey, running blue with a spinner, completed green check,
/// failed red cross, cancelled grey.
#[component]
pub fn VersionStatusTag(#[prop(into)] status: Signal<VersionRunStatus>) -> impl IntoView {
    let i18n = use_i18n();
    let class = move || {
        let s = match status.get() {
            VersionRunStatus::Waiting => "waiting",
            VersionRunStatus::Running => "running",
            VersionRunStatus::Completed => "completed",
            VersionRunStatus::Failed => "failed",
            VersionRunStatus::Cancelled => "cancelled",
        };
        format!("tag tag-{s}")
    };
    view! {
        <span class=class data-status=move || format!("{:?}", status.get()).to_lowercase()>
            {move || match status.get() {
                VersionRunStatus::Running => view! { <span class="spinner" aria-hidden="true"></span> }.into_any(),
                VersionRunStatus::Completed => view! { <span class="icon" aria-hidden="true">"✓"</span> }.into_any(),
                VersionRunStatus::Failed => view! { <span class="icon" aria-hidden="true">"✕"</span> }.into_any(),
                VersionRunStatus::Waiting => view! { <span class="icon" aria-hidden="true">"○"</span> }.into_any(),
                VersionRunStatus::Cancelled => view! { <span class="icon" aria-hidden="true">"■"</span> }.into_any(),
            }}
            {move || i18n.t().version_status(status.get())}
        </span>
    }
}

/// A batch's status as a coloured tag.
#[component]
pub fn BatchStatusTag(#[prop(into)] status: Signal<BatchStatus>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <span
            class=move || format!("tag tag-{}", status.get().as_str())
            data-status=move || status.get().as_str()
        >
            {move || (status.get() == BatchStatus::Running).then(|| view! { <span class="spinner" aria-hidden="true"></span> })}
            {move || i18n.t().batch_status(status.get())}
        </span>
    }
}

/// The progress stream's connection state as a tag.
#[component]
pub fn ConnectionTag(#[prop(into)] state: Signal<ConnectionState>) -> impl IntoView {
    let i18n = use_i18n();
    let key = move || match state.get() {
        ConnectionState::Idle | ConnectionState::Connecting => "connecting",
        ConnectionState::Connected => "connected",
        ConnectionState::Reconnecting => "reconnecting",
        ConnectionState::Disconnected => "disconnected",
        ConnectionState::Closed => "closed",
    };
    view! {
        <span class=move || format!("tag conn conn-{}", key()) data-testid="connection-tag" data-state=key role="status">
            <span class="dot" aria-hidden="true"></span>
            {move || i18n.t().connection(state.get())}
        </span>
    }
}

/// A Unix-milliseconds instant: UTC in the server's HTML (identical when hydrating), then the
/// browser's local time.
#[component]
pub fn LocalTime(ms: i64) -> impl IntoView {
    let text = RwSignal::new(crate::ui::format::utc_datetime(ms));
    Effect::new(move |_| text.set(crate::ui::browser::local_datetime(ms as f64)));
    view! { <time>{text}</time> }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    Success,
    Info,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
struct Toast {
    id: u64,
    kind: ToastKind,
    text: String,
}

/// Short messages in a corner, each gone after a few seconds.
#[derive(Clone, Copy)]
pub struct Toasts {
    items: RwSignal<Vec<Toast>>,
    next: StoredValue<u64>,
}

impl Toasts {
    pub fn push(&self, kind: ToastKind, text: impl Into<String>) {
        let id = self.next.get_value();
        self.next.set_value(id + 1);
        self.items.update(|v| {
            v.push(Toast {
                id,
                kind,
                text: text.into(),
            })
        });
        let items = self.items;
        let linger = if kind == ToastKind::Error { 8 } else { 5 };
        set_timeout(
            move || {
                items.try_update(|v| v.retain(|t| t.id != id));
            },
            Duration::from_secs(linger),
        );
    }
    pub fn success(&self, text: impl Into<String>) {
        self.push(ToastKind::Success, text)
    }
    pub fn info(&self, text: impl Into<String>) {
        self.push(ToastKind::Info, text)
    }
    pub fn error(&self, text: impl Into<String>) {
        self.push(ToastKind::Error, text)
    }
}

/// What an add/edit form does with its save's answer: on success a toast (`saved`), the list
/// reloaded and the form closed; on failure the message stays in the form.
pub fn settle_save<T>(
    result: Result<T, crate::api::ApiError>,
    toasts: Toasts,
    saved: &str,
    reload: RwSignal<u64>,
    close: impl FnOnce(),
    error: RwSignal<Option<String>>,
) {
    match result {
        Ok(_) => {
            toasts.success(saved);
            reload.update(|n| *n += 1);
            close();
        }
        Err(e) => error.set(Some(e.message)),
    }
}

pub fn provide_toasts() -> Toasts {
    let t = Toasts {
        items: RwSignal::new(Vec::new()),
        next: StoredValue::new(1),
    };
    provide_context(t);
    t
}

pub fn use_toasts() -> Toasts {
    expect_context()
}

/// Where toasts appear. The live region is there from the start (a screen reader announces
/// what is added to it); the list inside is a chunk loaded with the first toast (ui/lazy.rs).
#[component]
pub fn ToastHost() -> impl IntoView {
    let toasts = use_toasts();
    // Stays true once a toast was shown, so the loaded list is kept rather than made again.
    let shown = Memo::new(move |before: Option<&bool>| {
        before.copied().unwrap_or(false) || toasts.items.with(|v| !v.is_empty())
    });
    view! {
        <div class="toasts" aria-live="polite">
            <Show when=move || shown.get()>
                {crate::ui::lazy::on_demand(toast_list(toasts))}
            </Show>
        </div>
    }
}

#[lazy]
fn toast_list(toasts: Toasts) -> AnyView {
    view! {
        <For each=move || toasts.items.get() key=|t| t.id let:t>
            <div
                class=match t.kind {
                    ToastKind::Success => "toast toast-success",
                    ToastKind::Info => "toast toast-info",
                    ToastKind::Error => "toast toast-error",
                }
                role=if t.kind == ToastKind::Error { "alert" } else { "status" }
            >
                {t.text}
            </div>
        </For>
    }
    .into_any()
}

/// A pending question for the confirmation dialog.
#[derive(Clone)]
struct ConfirmRequest {
    message: String,
    yes: String,
    danger: bool,
    /// Not a `Callback`: that would belong to the reactive owner of the click that asked, and a
    /// live page re-renders its buttons (disposing that owner) while the dialog is open, and
    /// longer so while the dialog's chunk loads — the answer would then be lost.
    on_yes: Arc<dyn Fn() + Send + Sync>,
}

/// Asks the user before something that cannot be undone or that hides a running batch.
#[derive(Clone, Copy)]
pub struct Confirm {
    pending: RwSignal<Option<ConfirmRequest>>,
}

impl Confirm {
    pub fn ask(
        &self,
        message: impl Into<String>,
        yes: impl Into<String>,
        danger: bool,
        on_yes: impl Fn() + Send + Sync + 'static,
    ) {
        self.pending.set(Some(ConfirmRequest {
            message: message.into(),
            yes: yes.into(),
            danger,
            on_yes: Arc::new(on_yes),
        }));
    }
}

pub fn provide_confirm() -> Confirm {
    let c = Confirm {
        pending: RwSignal::new(None),
    };
    provide_context(c);
    c
}

pub fn use_confirm() -> Confirm {
    expect_context()
}

/// The dialog of a pending [`Confirm::ask`]. Its code is a chunk loaded the first time a
/// question is asked (ui/lazy.rs): the first page only asks after a click.
#[component]
pub fn ConfirmHost() -> impl IntoView {
    let confirm = use_confirm();
    move || {
        confirm
            .pending
            .get()
            .map(|req| crate::ui::lazy::on_demand(confirm_dialog(req, confirm)))
    }
}

#[lazy]
fn confirm_dialog(req: ConfirmRequest, confirm: Confirm) -> AnyView {
    view! { <ConfirmDialog req confirm/> }.into_any()
}

#[component]
fn ConfirmDialog(req: ConfirmRequest, confirm: Confirm) -> impl IntoView {
    let i18n = use_i18n();
    let cancel = Callback::new(move |()| confirm.pending.set(None));
    let on_yes = req.on_yes.clone();
    view! {
        <Modal
            title=Signal::derive(move || i18n.t().confirm_title.to_string())
            dismissible=true
            on_dismiss=cancel
            class="modal-small"
            test_id="confirm-dialog"
        >
            <p class="confirm-message">{req.message.clone()}</p>
            <div class="modal-foot">
                <button type="button" data-autofocus on:click=move |_| cancel.run(())>
                    {move || i18n.t().no_go_back}
                </button>
                <button
                    type="button"
                    class=if req.danger { "danger" } else { "primary" }
                    on:click=move |_| {
                        confirm.pending.set(None);
                        on_yes();
                    }
                >
                    {req.yes.clone()}
                </button>
            </div>
        </Modal>
    }
}

/// A batch's alerts, oldest first, one banner each: the kind's title in the page's language,
/// the version's name, and what was seen (in numbers). Nothing when there are none.
#[component]
pub fn AlertBanners(
    #[prop(into)] alerts: Signal<Vec<Alert>>,
    /// Each version's name, by id.
    #[prop(into)]
    names: Signal<Vec<(VersionId, String)>>,
) -> impl IntoView {
    let i18n = use_i18n();
    move || {
        let list = alerts.get();
        (!list.is_empty()).then(|| {
            let names = names.get();
            view! {
                <section class="alert-banners" data-testid="alerts" aria-label=move || i18n.t().alerts_heading>
                    {list
                        .into_iter()
                        .map(|a| {
                            let name = names
                                .iter()
                                .find(|(v, _)| *v == a.version_id)
                                .map_or_else(|| format!("#{}", a.version_id.0), |(_, n)| n.clone());
                            let kind = a.kind;
                            view! {
                                <div
                                    class="notice notice-warn alert-banner"
                                    role="alert"
                                    data-testid="alert-banner"
                                    data-kind=kind.as_str()
                                    data-version-id=a.version_id.0
                                >
                                    <strong>{move || (i18n.t().alert_title)(kind)}</strong>
                                    " — "{name}": "
                                    <span class="alert-message">{a.message}</span>
                                </div>
                            }
                        })
                        .collect_view()}
                </section>
            }
        })
    }
}
