//! The versions page (`/`): the table of versions with selection (enabled ones only), the
//! "Batch test (N)" button, add / edit / delete, the enabled switch, test connection, and each
//! version's latest batch result.

use crate::api::{
    delete_version, latest_version_results, list_versions, save_version, set_version_enabled,
    test_connection,
};
use crate::model::Role;
use crate::model::{AppMode, ResponseMode, Version, VersionId, VersionLatestResult};
use crate::ui::batch_config::BatchConfigModal;
use crate::ui::components::{settle_save, use_confirm, use_toasts, BatchStatusTag, Modal, Toasts};
use crate::ui::format;
use crate::ui::i18n::{use_i18n, I18n};
use crate::ui::lazy::on_demand;
use crate::ui::monitor::use_monitor;
use crate::ui::session::IfRole;
use leptos::prelude::*;
use std::collections::BTreeSet;

#[component]
pub fn VersionsPage() -> impl IntoView {
    let i18n = use_i18n();
    let monitor = use_monitor();
    let reload = RwSignal::new(0u64);
    let versions = Resource::new(
        move || (reload.get(), monitor.finished.get()),
        |_| list_versions(),
    );
    let latest = Resource::new(
        move || (reload.get(), monitor.finished.get()),
        |_| latest_version_results(),
    );
    let selected = RwSignal::new(BTreeSet::<VersionId>::new());
    // A finished batch clears the selection (the original's "clear the row selection").
    Effect::new(move |prev: Option<u64>| {
        let n = monitor.finished.get();
        if prev.is_some_and(|p| p != n) {
            selected.set(BTreeSet::new());
        }
        n
    });
    let editing = RwSignal::new(None::<Option<Version>>);
    let configuring = RwSignal::new(false);

    let enabled_ids = move || {
        versions
            .get()
            .and_then(Result::ok)
            .map(|l| {
                l.iter()
                    .filter(|v| v.enabled)
                    .map(|v| v.id)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };

    view! {
        <div class="page-head">
            <h1>{move || i18n.t().versions_title}</h1>
            <div class="actions">
                <IfRole min=Role::Admin>
                    <button type="button" on:click=move |_| editing.set(Some(None))>
                        {move || i18n.t().add_version}
                    </button>
                </IfRole>
                <IfRole min=Role::Editor>
                    <button
                        type="button"
                        class="primary"
                        data-testid="batch-test-button"
                        disabled=move || selected.with(BTreeSet::is_empty)
                        on:click=move |_| configuring.set(true)
                    >
                        {move || (i18n.t().batch_test_n)(selected.with(BTreeSet::len))}
                    </button>
                </IfRole>
            </div>
        </div>
        <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
            {move || {
                let list = match versions.get()? {
                    Err(e) => return Some(view! { <p class="error" role="alert">{e.message}</p> }.into_any()),
                    Ok(list) => list,
                };
                if list.is_empty() {
                    return Some(view! { <p class="empty">{move || i18n.t().no_versions}</p> }.into_any());
                }
                let latest_list = latest.get().and_then(Result::ok).unwrap_or_default();
                let all_enabled = list.iter().filter(|v| v.enabled).map(|v| v.id).collect::<BTreeSet<_>>();
                let rows = list
                    .into_iter()
                    .map(|v| {
                        let latest = latest_list.iter().find(|l| l.version_id == v.id).cloned();
                        view! { <VersionRow v latest selected reload editing/> }
                    })
                    .collect_view();
                Some(view! {
                    <div class="table-wrap">
                        <table class="grid versions-table">
                            <thead>
                                <tr>
                                    <th class="col-check">
                                        <input
                                            type="checkbox"
                                            aria-label=move || i18n.t().select_all_enabled
                                            prop:checked={
                                                let all = all_enabled.clone();
                                                move || !all.is_empty() && selected.with(|s| all.iter().all(|id| s.contains(id)))
                                            }
                                            on:change=move |ev| {
                                                if event_target_checked(&ev) {
                                                    selected.set(enabled_ids().into_iter().collect());
                                                } else {
                                                    selected.set(BTreeSet::new());
                                                }
                                            }
                                        />
                                    </th>
                                    <th>{move || i18n.t().col_name}</th>
                                    <th>{move || i18n.t().col_mode}</th>
                                    <th class="col-url">{move || i18n.t().col_base_url}</th>
                                    <th>{move || i18n.t().col_key}</th>
                                    <th>{move || i18n.t().col_enabled}</th>
                                    <th>{move || i18n.t().col_latest}</th>
                                    <th>{move || i18n.t().col_actions}</th>
                                </tr>
                            </thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                }.into_any())
            }}
        </Transition>
        // Both dialogs are chunks loaded when first opened (ui/lazy.rs).
        {move || editing.get().map(|v| on_demand(version_form(v, editing, reload)))}
        <Show when=move || configuring.get()>
            {on_demand(batch_config(
                selected.get_untracked().into_iter().collect(),
                Callback::new(move |()| configuring.set(false)),
            ))}
        </Show>
    }
}

#[lazy]
fn version_form(
    version: Option<Version>,
    editing: RwSignal<Option<Option<Version>>>,
    reload: RwSignal<u64>,
) -> AnyView {
    view! { <VersionForm version editing reload/> }.into_any()
}

#[lazy]
fn batch_config(version_ids: Vec<VersionId>, on_close: Callback<()>) -> AnyView {
    view! { <BatchConfigModal version_ids on_close/> }.into_any()
}

#[component]
fn VersionRow(
    v: Version,
    latest: Option<VersionLatestResult>,
    selected: RwSignal<BTreeSet<VersionId>>,
    reload: RwSignal<u64>,
    editing: RwSignal<Option<Option<Version>>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let confirm = use_confirm();
    let id = v.id;
    let enabled = v.enabled;
    let name = v.name.clone();
    let testing = RwSignal::new(false);

    let toggle_enabled = move |ev| {
        let on = event_target_checked(&ev);
        leptos::task::spawn_local(set_enabled_action(id, on, selected, reload, toasts));
    };
    let test = move |_| {
        testing.set(true);
        leptos::task::spawn_local(test_connection_action(id, testing, toasts, i18n));
    };
    let delete = {
        let name = name.clone();
        move |_| {
            let t = i18n.t_untracked();
            confirm.ask(
                (t.delete_version_confirm)(&name),
                t.delete,
                true,
                move || {
                    leptos::task::spawn_local(delete_action(id, selected, reload, toasts, i18n));
                },
            );
        }
    };
    let for_edit = v.clone();
    let label_name = name.clone();
    let switch_name = name.clone();
    view! {
        <tr data-version-id=id.0 class:row-disabled=!enabled class:row-selected=move || selected.with(|s| s.contains(&id))>
            <td class="col-check">
                <input
                    type="checkbox"
                    data-testid="select-version"
                    disabled=!enabled
                    title=move || (!enabled).then(|| i18n.t().disabled_not_selectable)
                    aria-label=move || (i18n.t().select_version)(&label_name)
                    prop:checked=move || selected.with(|s| s.contains(&id))
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        selected.update(|s| {
                            if on && enabled {
                                s.insert(id);
                            } else {
                                s.remove(&id);
                            }
                        });
                    }
                />
            </td>
            <td>{v.name}</td>
            <td>
                <span class="mono">{v.app_mode.as_str()}</span>" · "{v.response_mode.as_str()}
                {v.workflow_id.clone().map(|pin| {
                    let title = pin.clone();
                    view! {
                        " "
                        <span class="tag mono" data-testid="version-pin" title=title>
                            {move || (i18n.t().pinned_badge)(&pin)}
                        </span>
                    }
                })}
            </td>
            <td class="col-url"><span class="url">{v.base_url}</span></td>
            <td><code>{v.api_key_hint}</code></td>
            <td>
                <IfRole min=Role::Admin otherwise=move || view! {
                    <span class="muted">{move || if enabled { i18n.t().on } else { i18n.t().off }}</span>
                }>
                    <label class="switch">
                        <input
                            type="checkbox"
                            role="switch"
                            data-testid="enable-version"
                            aria-label={
                                let switch_name = switch_name.clone();
                                move || (i18n.t().enable_version)(&switch_name)
                            }
                            prop:checked=enabled
                            on:change=toggle_enabled
                        />
                        <span class="slider" aria-hidden="true"></span>
                    </label>
                </IfRole>
            </td>
            <td>
                {match latest {
                    None => view! { <span class="muted">{move || i18n.t().never_run}</span> }.into_any(),
                    Some(l) => view! {
                        <a class="latest" href=format!("/batches/{}", l.batch_id)>
                            <BatchStatusTag status=l.batch_status/>
                            " "<b>{format::score(l.average_score)}</b>
                            " · "{format::percent(l.pass_rate)}
                        </a>
                    }.into_any(),
                }}
            </td>
            <td class="row-actions">
                <IfRole min=Role::Admin>
                    <button type="button" on:click={
                        let for_edit = for_edit.clone();
                        move |_| editing.set(Some(Some(for_edit.clone())))
                    }>
                        {move || i18n.t().edit}
                    </button>
                    <button type="button" disabled=move || testing.get() on:click=test>
                        {move || if testing.get() { i18n.t().testing } else { i18n.t().test_connection }}
                    </button>
                    <button type="button" class="danger-text" on:click=delete.clone()>{move || i18n.t().delete}</button>
                </IfRole>
            </td>
        </tr>
    }
}

// A row's actions run only after a click, so each is a chunk loaded on its first use (ui/lazy.rs)
// with its server call and the decoding of the answer: the first page needs none of them. They
// run in a task, outside the component's reactive owner, so they take what they use as
// arguments instead of reading the context.

#[lazy]
fn set_enabled_action(
    id: VersionId,
    on: bool,
    selected: RwSignal<BTreeSet<VersionId>>,
    reload: RwSignal<u64>,
    toasts: Toasts,
) {
    leptos::task::spawn_local(async move {
        match set_version_enabled(id, on).await {
            Ok(()) => {
                if !on {
                    selected.update(|s| {
                        s.remove(&id);
                    });
                }
                reload.update(|n| *n += 1);
            }
            Err(e) => toasts.error(e.message),
        }
    });
}

#[lazy]
fn test_connection_action(id: VersionId, testing: RwSignal<bool>, toasts: Toasts, i18n: I18n) {
    leptos::task::spawn_local(async move {
        let t = i18n.t_untracked();
        match test_connection(id).await {
            Ok(r) if r.ok => toasts.success((t.connection_ok)(
                r.app_name.as_deref().unwrap_or("?"),
                r.app_mode.as_deref().unwrap_or("?"),
                r.latency_ms,
            )),
            Ok(r) => toasts.error((t.connection_failed)(r.message.as_deref().unwrap_or(""))),
            Err(e) => toasts.error((t.connection_failed)(&e.message)),
        }
        testing.set(false);
    });
}

#[lazy]
fn delete_action(
    id: VersionId,
    selected: RwSignal<BTreeSet<VersionId>>,
    reload: RwSignal<u64>,
    toasts: Toasts,
    i18n: I18n,
) {
    leptos::task::spawn_local(async move {
        match delete_version(id).await {
            Ok(()) => {
                selected.update(|s| {
                    s.remove(&id);
                });
                toasts.info(i18n.t_untracked().deleted);
                reload.update(|n| *n += 1);
            }
            Err(e) => toasts.error(e.message),
        }
    });
}

/// Add or edit a version. The API key is write-only: the form never holds the stored one.
#[component]
fn VersionForm(
    version: Option<Version>,
    editing: RwSignal<Option<Option<Version>>>,
    reload: RwSignal<u64>,
) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let id = version.as_ref().map(|v| v.id);
    let hint = version.as_ref().map(|v| v.api_key_hint.clone());
    let v = version.clone();
    let name = RwSignal::new(v.as_ref().map(|v| v.name.clone()).unwrap_or_default());
    let description = RwSignal::new(
        v.as_ref()
            .map(|v| v.description.clone())
            .unwrap_or_default(),
    );
    let base_url = RwSignal::new(v.as_ref().map(|v| v.base_url.clone()).unwrap_or_default());
    let api_key = RwSignal::new(String::new());
    let app_mode = RwSignal::new(v.as_ref().map(|v| v.app_mode).unwrap_or_default());
    let response_mode = RwSignal::new(v.as_ref().map(|v| v.response_mode).unwrap_or_default());
    let answer_field = RwSignal::new(
        v.as_ref()
            .and_then(|v| v.answer_field.clone())
            .unwrap_or_default(),
    );
    let workflow_id = RwSignal::new(
        v.as_ref()
            .and_then(|v| v.workflow_id.clone())
            .unwrap_or_default(),
    );
    let pinnable = move || pinnable_untracked(app_mode.get());
    let enabled = RwSignal::new(v.as_ref().is_none_or(|v| v.enabled));
    let error = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let close = Callback::new(move |()| editing.set(None));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saving.set(true);
        error.set(None);
        let key = api_key.get_untracked();
        let answer = answer_field.get_untracked();
        // Only pinnable apps send a pin: one typed before switching the mode is not kept.
        let pin = workflow_id.get_untracked();
        let pin =
            (pinnable_untracked(app_mode.get_untracked()) && !pin.trim().is_empty()).then_some(pin);
        // Checked here too, so a typo is named before the round trip.
        if let Some(Err(e)) = pin.as_deref().map(crate::model::check_workflow_id) {
            saving.set(false);
            error.set(Some(format!("workflow_id: {e}")));
            return;
        }
        leptos::task::spawn_local(async move {
            let result = save_version(
                id,
                name.get_untracked(),
                base_url.get_untracked(),
                (!key.trim().is_empty()).then_some(key),
                Some(app_mode.get_untracked()),
                Some(response_mode.get_untracked()),
                Some(description.get_untracked()),
                (!answer.trim().is_empty()).then_some(answer),
                None,
                Some(enabled.get_untracked()),
                pin,
            )
            .await;
            saving.set(false);
            let saved = i18n.t_untracked().saved;
            settle_save(result, toasts, saved, reload, || editing.set(None), error);
        });
    };

    view! {
        <Modal
            title=Signal::derive(move || {
                let t = i18n.t();
                if id.is_some() { t.vf().edit_version_title } else { t.vf().new_version_title }.to_string()
            })
            dismissible=true
            on_dismiss=close
            test_id="version-form"
        >
            <form class="form" on:submit=submit>
                <label>
                    <span>{move || i18n.t().f_name}</span>
                    <input type="text" required data-autofocus bind:value=name/>
                </label>
                <label>
                    <span>{move || i18n.t().f_base_url}</span>
                    <input type="url" required placeholder="https://api.dify.ai/v1" bind:value=base_url/>
                </label>
                <label>
                    <span>{move || i18n.t().f_api_key}</span>
                    <input
                        type="password"
                        autocomplete="off"
                        required=id.is_none()
                        placeholder="app-…"
                        bind:value=api_key
                    />
                    <small>
                        {move || match &hint {
                            Some(h) => (i18n.t().f_api_key_keep)(h),
                            None => i18n.t().f_api_key_new.to_string(),
                        }}
                    </small>
                </label>
                <div class="form-row">
                    <label>
                        <span>{move || i18n.t().vf().f_app_mode}</span>
                        <select on:change=move |ev| {
                            if let Some(m) = AppMode::parse(&event_target_value(&ev)) {
                                app_mode.set(m);
                            }
                        }>
                            {AppMode::ALL
                                .into_iter()
                                .map(|m| view! { <option value=m.as_str() selected=move || app_mode.get() == m>{m.as_str()}</option> })
                                .collect_view()}
                        </select>
                    </label>
                    <label>
                        <span>{move || i18n.t().vf().f_response_mode}</span>
                        <select on:change=move |ev| {
                            if let Some(m) = ResponseMode::parse(&event_target_value(&ev)) {
                                response_mode.set(m);
                            }
                        }>
                            {[ResponseMode::Streaming, ResponseMode::Blocking]
                                .into_iter()
                                .map(|m| view! { <option value=m.as_str() selected=move || response_mode.get() == m>{m.as_str()}</option> })
                                .collect_view()}
                        </select>
                    </label>
                </div>
                <label>
                    <span>{move || i18n.t().vf().f_answer_field}</span>
                    <input type="text" bind:value=answer_field/>
                    <small>{move || i18n.t().vf().f_answer_field_help}</small>
                </label>
                <Show when=pinnable>
                    <label>
                        <span>{move || i18n.t().idn().f_workflow_id}</span>
                        <input
                            type="text"
                            class="mono"
                            data-testid="version-workflow-id"
                            autocomplete="off"
                            spellcheck="false"
                            placeholder="3c90c3cc-0d44-4b50-8888-8dd25736052a"
                            bind:value=workflow_id
                        />
                        <small>{move || i18n.t().idn().f_workflow_id_help}</small>
                    </label>
                </Show>
                <label>
                    <span>{move || i18n.t().vf().f_description}</span>
                    <textarea rows="2" bind:value=description></textarea>
                </label>
                <label class="inline">
                    <input type="checkbox" bind:checked=enabled/>
                    <span>{move || i18n.t().f_enabled}</span>
                </label>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <div class="modal-foot">
                    <button type="button" on:click=move |_| close.run(())>{move || i18n.t().cancel}</button>
                    <button type="submit" class="primary" disabled=move || saving.get()>{move || i18n.t().save}</button>
                </div>
            </form>
        </Modal>
    }
}

/// Workflow and chatflow apps can run a pinned published workflow version; other modes cannot.
fn pinnable_untracked(mode: AppMode) -> bool {
    matches!(mode, AppMode::Workflow | AppMode::AdvancedChat)
}
