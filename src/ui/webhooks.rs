//! The admin page's webhooks panel: add, edit, delete, send a test, and each webhook's delivery
//! log. The signing secret is write-only: a generated one is shown once, as API tokens are, and
//! the form never holds the stored one.

use crate::api::{delete_webhook, list_webhooks, save_webhook, test_webhook, webhook_deliveries};
use crate::model::{DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent, WebhookId};
use crate::ui::components::{use_confirm, use_toasts, LocalTime, Modal};
use crate::ui::i18n::use_i18n;
use leptos::prelude::*;

/// While a shown log has pending deliveries it is read again this often.
const LOG_REFRESH: std::time::Duration = std::time::Duration::from_millis(1000);

#[component]
pub fn WebhooksPanel() -> impl IntoView {
    let i18n = use_i18n();
    let reload = RwSignal::new(0u64);
    let hooks = Resource::new(move || reload.get(), |_| list_webhooks());
    let editing = RwSignal::new(None::<Option<Webhook>>);
    let shown_secret = RwSignal::new(None::<String>);
    // The webhook whose log is open (id, name), and a tick that reads it again.
    let log = RwSignal::new(None::<(WebhookId, String)>);
    let log_tick = RwSignal::new(0u64);
    view! {
        <section class="panel" data-testid="webhooks">
            <div class="panel-head">
                <h2>{move || i18n.t().hook().webhooks}</h2>
                <button type="button" class="primary" data-testid="add-webhook"
                    on:click=move |_| editing.set(Some(None))>
                    {move || i18n.t().hook().add}
                </button>
            </div>
            <p class="muted">{move || i18n.t().hook().help}</p>
            {move || shown_secret.get().map(|secret| view! {
                <div class="token-once" role="status" data-testid="webhook-secret">
                    <p>{move || i18n.t().hook().secret_shown_once}</p>
                    <code class="secret">{secret}</code>
                    <button type="button" on:click=move |_| shown_secret.set(None)>{move || i18n.t().close}</button>
                </div>
            })}
            <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
                {move || hooks.get().map(|r| match r {
                    Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    Ok(list) if list.is_empty() => {
                        view! { <p class="empty">{move || i18n.t().hook().none}</p> }.into_any()
                    }
                    Ok(list) => view! {
                        <div class="table-wrap">
                            <table class="grid">
                                <thead><tr>
                                    <th>{move || i18n.t().hook().col_target}</th>
                                    <th>{move || i18n.t().hook().col_events}</th>
                                    <th>{move || i18n.t().hook().col_secret}</th>
                                    <th>{move || i18n.t().col_actions}</th>
                                </tr></thead>
                                <tbody>
                                    {list.into_iter()
                                        .map(|h| view! { <WebhookRow hook=h reload editing log log_tick/> })
                                        .collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                })}
            </Transition>
            {move || log.get().map(|(id, name)| view! { <DeliveryLog id name log log_tick/> })}
            {move || editing.get().map(|h| view! { <WebhookForm hook=h editing reload shown_secret/> })}
        </section>
    }
}

#[component]
fn WebhookRow(
    hook: Webhook,
    reload: RwSignal<u64>,
    editing: RwSignal<Option<Option<Webhook>>>,
    log: RwSignal<Option<(WebhookId, String)>>,
    log_tick: RwSignal<u64>,
) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let confirm = use_confirm();
    let id = hook.id;
    let name = hook.name.clone();
    let sending = RwSignal::new(false);
    let send_test = {
        let name = name.clone();
        move |_| {
            sending.set(true);
            let name = name.clone();
            leptos::task::spawn_local(async move {
                match test_webhook(id).await {
                    Ok(_) => {
                        toasts.info(i18n.t_untracked().hook().test_queued);
                        log.set(Some((id, name)));
                        log_tick.update(|n| *n += 1);
                    }
                    Err(e) => toasts.error(e.message),
                }
                sending.set(false);
            });
        }
    };
    let show_log = {
        let name = name.clone();
        move |_| {
            log.set(Some((id, name.clone())));
            log_tick.update(|n| *n += 1);
        }
    };
    let delete = {
        let name = name.clone();
        move |_| {
            let t = i18n.t_untracked();
            confirm.ask(
                (t.hook().delete_confirm)(&name),
                t.delete,
                true,
                move || {
                    leptos::task::spawn_local(async move {
                        match delete_webhook(id).await {
                            Ok(()) => {
                                toasts.info(i18n.t_untracked().deleted);
                                if log.get_untracked().is_some_and(|(l, _)| l == id) {
                                    log.set(None);
                                }
                                reload.update(|n| *n += 1);
                            }
                            Err(e) => toasts.error(e.message),
                        }
                    });
                },
            );
        }
    };
    let events = hook.events.clone();
    let enabled = hook.enabled;
    let for_edit = hook.clone();
    view! {
        <tr data-testid="webhook-row" data-webhook=hook.name.clone() class:row-disabled=!enabled>
            <td>
                <b>{hook.name.clone()}</b>
                {(!enabled).then(|| view! { " " <span class="tag">{move || i18n.t().hook().disabled}</span> })}
                <div class="muted small break">{hook.url.clone()}</div>
            </td>
            <td>
                {events.into_iter()
                    .map(|e| view! { <span class="tag">{move || (i18n.t().hook().event)(e.as_str())}</span> " " })
                    .collect_view()}
            </td>
            <td><code>{hook.secret_hint.clone()}</code></td>
            <td class="row-actions">
                <button type="button" on:click=move |_| editing.set(Some(Some(for_edit.clone())))>
                    {move || i18n.t().edit}
                </button>
                <button type="button" data-testid="test-webhook" disabled=move || sending.get() on:click=send_test>
                    {move || if sending.get() { i18n.t().testing } else { i18n.t().hook().send_test }}
                </button>
                <button type="button" data-testid="show-deliveries" on:click=show_log>
                    {move || i18n.t().hook().show_log}
                </button>
                <button type="button" class="danger-text" on:click=delete>{move || i18n.t().delete}</button>
            </td>
        </tr>
    }
}

/// One webhook's latest deliveries; read again while any is pending.
#[component]
fn DeliveryLog(
    id: WebhookId,
    name: String,
    log: RwSignal<Option<(WebhookId, String)>>,
    log_tick: RwSignal<u64>,
) -> impl IntoView {
    let i18n = use_i18n();
    let rows = Resource::new(
        move || log_tick.get(),
        move |_| webhook_deliveries(id, None),
    );
    // Pending rows: look again shortly (the sender works in the background).
    Effect::new(move |_| {
        let pending = rows.get().is_some_and(|r| {
            r.is_ok_and(|list| list.iter().any(|d| d.status == DeliveryStatus::Pending))
        });
        if pending {
            let tick = log_tick.get_untracked();
            set_timeout(
                move || {
                    if log_tick.get_untracked() == tick
                        && log.get_untracked().is_some_and(|(l, _)| l == id)
                    {
                        log_tick.update(|n| *n += 1);
                    }
                },
                LOG_REFRESH,
            );
        }
    });
    let title = name.clone();
    view! {
        <div class="webhook-log" data-testid="webhook-log">
            <div class="panel-head">
                <h3>{move || (i18n.t().hook().log_of)(&title)}</h3>
                <div class="row-actions">
                    <button type="button" on:click=move |_| log_tick.update(|n| *n += 1)>
                        {move || i18n.t().hook().refresh}
                    </button>
                    <button type="button" on:click=move |_| log.set(None)>{move || i18n.t().close}</button>
                </div>
            </div>
            <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
                {move || rows.get().map(|r| match r {
                    Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    Ok(list) if list.is_empty() => {
                        view! { <p class="empty">{move || i18n.t().hook().no_deliveries}</p> }.into_any()
                    }
                    Ok(list) => view! {
                        <div class="table-wrap">
                            <table class="grid">
                                <thead><tr>
                                    <th>{move || i18n.t().hook().col_event}</th>
                                    <th>{move || i18n.t().hook().col_status}</th>
                                    <th>{move || i18n.t().hook().col_attempts}</th>
                                    <th>{move || i18n.t().hook().col_http}</th>
                                    <th>{move || i18n.t().hook().col_error}</th>
                                    <th>{move || i18n.t().hook().col_created}</th>
                                    <th>{move || i18n.t().hook().col_last_attempt}</th>
                                </tr></thead>
                                <tbody>
                                    {list.into_iter().map(|d| view! { <DeliveryRow d/> }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                })}
            </Transition>
        </div>
    }
}

#[component]
fn DeliveryRow(d: WebhookDelivery) -> impl IntoView {
    let i18n = use_i18n();
    let status = d.status;
    let class = match status {
        DeliveryStatus::Pending => "tag tag-running",
        DeliveryStatus::Delivered => "tag tag-completed",
        DeliveryStatus::Failed => "tag tag-failed",
    };
    let event = d.event.clone();
    view! {
        <tr data-testid="delivery-row" data-status=status.as_str()>
            <td title=d.delivery_id.clone()>{move || (i18n.t().hook().event)(&event)}</td>
            <td><span class=class>{move || (i18n.t().hook().status)(status)}</span></td>
            <td class="num">{d.attempts}</td>
            <td class="num">{d.http_status.map(|s| s.to_string()).unwrap_or_else(|| "—".into())}</td>
            <td class="small break">{d.error.clone().unwrap_or_default()}</td>
            <td><LocalTime ms=d.created_at/></td>
            <td>{match d.last_attempt_at {
                Some(ms) => view! { <LocalTime ms/> }.into_any(),
                None => view! { <span class="muted">"—"</span> }.into_any(),
            }}</td>
        </tr>
    }
}

/// Add or edit a webhook. The secret is write-only: the form never holds the stored one.
#[component]
fn WebhookForm(
    hook: Option<Webhook>,
    editing: RwSignal<Option<Option<Webhook>>>,
    reload: RwSignal<u64>,
    shown_secret: RwSignal<Option<String>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let id = hook.as_ref().map(|h| h.id);
    let hint = hook.as_ref().map(|h| h.secret_hint.clone());
    let name = RwSignal::new(hook.as_ref().map(|h| h.name.clone()).unwrap_or_default());
    let url = RwSignal::new(hook.as_ref().map(|h| h.url.clone()).unwrap_or_default());
    let events = RwSignal::new(
        hook.as_ref()
            .map(|h| h.events.clone())
            .unwrap_or_else(|| WebhookEvent::ALL.to_vec()),
    );
    let enabled = RwSignal::new(hook.as_ref().is_none_or(|h| h.enabled));
    let secret = RwSignal::new(String::new());
    let regenerate = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let close = Callback::new(move |()| editing.set(None));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saving.set(true);
        error.set(None);
        let s = secret.get_untracked();
        let chosen: Vec<WebhookEvent> = WebhookEvent::ALL
            .into_iter()
            .filter(|e| events.get_untracked().contains(e))
            .collect();
        leptos::task::spawn_local(async move {
            let result = save_webhook(
                id,
                name.get_untracked(),
                url.get_untracked(),
                chosen,
                Some(enabled.get_untracked()),
                (!regenerate.get_untracked() && !s.trim().is_empty()).then_some(s),
                Some(regenerate.get_untracked()),
            )
            .await;
            saving.set(false);
            match result {
                Ok(saved) => {
                    toasts.success(i18n.t_untracked().saved);
                    shown_secret.set(saved.generated_secret);
                    reload.update(|n| *n += 1);
                    editing.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };

    view! {
        <Modal
            title=Signal::derive(move || {
                let t = i18n.t();
                if id.is_some() { t.hook().edit_title } else { t.hook().new_title }.to_string()
            })
            dismissible=true
            on_dismiss=close
            test_id="webhook-form"
        >
            <form class="form" on:submit=submit>
                <label>
                    <span>{move || i18n.t().f_name}</span>
                    <input type="text" name="webhook-name" required data-autofocus bind:value=name/>
                </label>
                <label>
                    <span>{move || i18n.t().hook().f_url}</span>
                    <input type="url" name="webhook-url" required placeholder="https://hooks.slack.com/services/…" bind:value=url/>
                    <small>{move || i18n.t().hook().f_url_help}</small>
                </label>
                <fieldset class="checks">
                    <legend>{move || i18n.t().hook().f_events}</legend>
                    {WebhookEvent::ALL
                        .into_iter()
                        .map(|e| view! {
                            <label class="inline">
                                <input type="checkbox" name=e.as_str()
                                    prop:checked=move || events.get().contains(&e)
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        events.update(|list| {
                                            list.retain(|x| *x != e);
                                            if on {
                                                list.push(e);
                                            }
                                        });
                                    }/>
                                <span>{move || (i18n.t().hook().event)(e.as_str())}</span>
                            </label>
                        })
                        .collect_view()}
                </fieldset>
                <label class="inline">
                    <input type="checkbox" name="webhook-enabled" bind:checked=enabled/>
                    <span>{move || i18n.t().f_enabled}</span>
                </label>
                <label>
                    <span>{move || i18n.t().hook().f_secret}</span>
                    <input type="password" name="webhook-secret" autocomplete="off"
                        disabled=move || regenerate.get() bind:value=secret/>
                    <small>
                        {move || match &hint {
                            Some(h) => (i18n.t().hook().f_secret_keep)(h),
                            None => i18n.t().hook().f_secret_new.to_string(),
                        }}
                    </small>
                </label>
                {id.is_some().then(|| view! {
                    <label class="inline">
                        <input type="checkbox" name="regenerate-secret" bind:checked=regenerate/>
                        <span>{move || i18n.t().hook().regenerate}</span>
                    </label>
                })}
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <div class="modal-foot">
                    <button type="button" on:click=move |_| close.run(())>{move || i18n.t().cancel}</button>
                    <button type="submit" class="primary" disabled=move || saving.get()>{move || i18n.t().save}</button>
                </div>
            </form>
        </Modal>
    }
}
