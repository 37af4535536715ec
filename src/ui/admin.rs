//! The admin page (`/admin`): users (add, change role, set password, remove) and API tokens
//! (create — the secret is shown once — and revoke), judges (`ui::judges`) and webhooks
//! (`ui::webhooks`). Only admins reach it; the server refuses
//! everyone else whatever this page shows.

use crate::api::{
    create_token, create_user, delete_user, list_tokens, list_users, revoke_token,
    set_user_password, set_user_role,
};
use crate::model::{ApiToken, Role, User};
use crate::ui::components::{use_confirm, use_toasts, LocalTime};
use crate::ui::i18n::use_i18n;
use leptos::prelude::*;

#[component]
pub fn AdminPage() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="page-head">
            <h1>{move || i18n.t().acc().admin_title}</h1>
        </div>
        <Users/>
        <Tokens/>
        <crate::ui::judges::JudgesPanel/>
        <crate::ui::webhooks::WebhooksPanel/>
    }
}

fn role_select(value: RwSignal<Role>, label: String) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <select
            aria-label=label
            on:change=move |ev| {
                if let Some(r) = Role::parse(&event_target_value(&ev)) {
                    value.set(r);
                }
            }
        >
            {Role::ALL
                .into_iter()
                .map(|r| view! {
                    <option value=r.as_str() selected=move || value.get() == r>
                        {move || i18n.t().role(r)}
                    </option>
                })
                .collect_view()}
        </select>
    }
}

#[component]
fn Users() -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let reload = RwSignal::new(0u64);
    let users = Resource::new(move || reload.get(), |_| list_users());
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (n, p, r) = (
            name.get_untracked(),
            password.get_untracked(),
            role.get_untracked(),
        );
        leptos::task::spawn_local(async move {
            match create_user(n, p, r).await {
                Ok(u) => {
                    toasts.success((i18n.t_untracked().acc().user_added)(&u.username));
                    name.set(String::new());
                    password.set(String::new());
                    reload.update(|n| *n += 1);
                }
                Err(e) => toasts.error(e.message),
            }
        });
    };
    view! {
        <section class="panel" data-testid="users">
            <h2>{move || i18n.t().acc().users}</h2>
            <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
                {move || users.get().map(|r| match r {
                    Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap">
                            <table class="grid">
                                <thead><tr>
                                    <th>{move || i18n.t().acc().username}</th>
                                    <th>{move || i18n.t().acc().role_col}</th>
                                    <th>{move || i18n.t().col_actions}</th>
                                </tr></thead>
                                <tbody>
                                    {list.into_iter().map(|u| view! { <UserRow u reload/> }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                })}
            </Transition>
            <form class="inline-form" data-testid="add-user" on:submit=add>
                <input type="text" required placeholder=move || i18n.t().acc().username
                    aria-label=move || i18n.t().acc().username
                    prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                <input type="password" required autocomplete="new-password"
                    placeholder=move || i18n.t().acc().password
                    aria-label=move || i18n.t().acc().password
                    prop:value=password on:input=move |ev| password.set(event_target_value(&ev))/>
                {move || role_select(role, i18n.t().acc().role_col.to_string())}
                <button type="submit" class="primary">{move || i18n.t().acc().add_user}</button>
            </form>
        </section>
    }
}

#[component]
fn UserRow(u: User, reload: RwSignal<u64>) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let confirm = use_confirm();
    let role = RwSignal::new(u.role);
    let username = u.username.clone();
    let new_password = RwSignal::new(String::new());
    Effect::new({
        let username = username.clone();
        move |prev: Option<Role>| {
            let r = role.get();
            if prev.is_some_and(|p| p != r) {
                let username = username.clone();
                leptos::task::spawn_local(async move {
                    match set_user_role(username, r).await {
                        Ok(()) => toasts.success(i18n.t_untracked().acc().saved),
                        Err(e) => {
                            toasts.error(e.message);
                            reload.update(|n| *n += 1);
                        }
                    }
                });
            }
            r
        }
    });
    let set_password = {
        let username = username.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let (u, p) = (username.clone(), new_password.get_untracked());
            leptos::task::spawn_local(async move {
                match set_user_password(u, p).await {
                    Ok(()) => {
                        new_password.set(String::new());
                        toasts.success(i18n.t_untracked().acc().password_set);
                    }
                    Err(e) => toasts.error(e.message),
                }
            });
        }
    };
    let remove = {
        let username = username.clone();
        move |_| {
            let t = i18n.t_untracked();
            let u = username.clone();
            confirm.ask(
                (t.acc().remove_user_confirm)(&u),
                t.delete,
                true,
                move || {
                    let u = u.clone();
                    leptos::task::spawn_local(async move {
                        match delete_user(u).await {
                            Ok(()) => reload.update(|n| *n += 1),
                            Err(e) => toasts.error(e.message),
                        }
                    });
                },
            );
        }
    };
    let label = (i18n.t_untracked().acc().role_of)(&username);
    view! {
        <tr data-user=username.clone()>
            <td>{username.clone()}</td>
            <td>{role_select(role, label)}</td>
            <td class="row-actions">
                <form class="inline-form" on:submit=set_password>
                    <input type="password" required autocomplete="new-password"
                        placeholder=move || i18n.t().acc().new_password
                        aria-label=move || i18n.t().acc().new_password
                        prop:value=new_password
                        on:input=move |ev| new_password.set(event_target_value(&ev))/>
                    <button type="submit">{move || i18n.t().acc().set_password}</button>
                </form>
                <button type="button" class="danger-text" on:click=remove>{move || i18n.t().delete}</button>
            </td>
        </tr>
    }
}

#[component]
fn Tokens() -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let reload = RwSignal::new(0u64);
    let tokens = Resource::new(move || reload.get(), |_| list_tokens());
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let shown = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (n, r) = (name.get_untracked(), role.get_untracked());
        leptos::task::spawn_local(async move {
            match create_token(n, r).await {
                Ok(c) => {
                    shown.set(Some(c.secret));
                    name.set(String::new());
                    reload.update(|n| *n += 1);
                }
                Err(e) => toasts.error(e.message),
            }
        });
    };
    view! {
        <section class="panel" data-testid="tokens">
            <h2>{move || i18n.t().acc().tokens}</h2>
            {move || shown.get().map(|secret| view! {
                <div class="token-once" role="status" data-testid="new-token">
                    <p>{move || i18n.t().acc().token_shown_once}</p>
                    <code class="secret">{secret}</code>
                    <button type="button" on:click=move |_| shown.set(None)>{move || i18n.t().close}</button>
                </div>
            })}
            <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
                {move || tokens.get().map(|r| match r {
                    Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty">{move || i18n.t().acc().no_tokens}</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap">
                            <table class="grid">
                                <thead><tr>
                                    <th>{move || i18n.t().col_name}</th>
                                    <th>{move || i18n.t().acc().token_col}</th>
                                    <th>{move || i18n.t().acc().role_col}</th>
                                    <th>{move || i18n.t().acc().created_by}</th>
                                    <th>{move || i18n.t().acc().last_used}</th>
                                    <th>{move || i18n.t().col_actions}</th>
                                </tr></thead>
                                <tbody>
                                    {list.into_iter().map(|t| view! { <TokenRow t reload/> }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                })}
            </Transition>
            <form class="inline-form" data-testid="create-token" on:submit=create>
                <input type="text" required placeholder=move || i18n.t().acc().token_name
                    aria-label=move || i18n.t().acc().token_name
                    prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                {move || role_select(role, i18n.t().acc().role_col.to_string())}
                <button type="submit" class="primary">{move || i18n.t().acc().create_token}</button>
            </form>
        </section>
    }
}

#[component]
fn TokenRow(t: ApiToken, reload: RwSignal<u64>) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let confirm = use_confirm();
    let id = t.id;
    let name = t.name.clone();
    let revoke = move |_| {
        let tr = i18n.t_untracked();
        confirm.ask(
            (tr.acc().revoke_confirm)(&name),
            tr.acc().revoke,
            true,
            move || {
                leptos::task::spawn_local(async move {
                    match revoke_token(id).await {
                        Ok(()) => reload.update(|n| *n += 1),
                        Err(e) => toasts.error(e.message),
                    }
                });
            },
        );
    };
    let revoked = t.revoked_at.is_some();
    let role = t.role;
    view! {
        <tr data-token=t.id class:row-disabled=revoked>
            <td>{t.name.clone()}</td>
            <td><code>{format!("{}…", t.prefix)}</code></td>
            <td>{move || i18n.t().role(role)}</td>
            <td>{t.created_by.clone()}</td>
            <td>{match t.last_used_at {
                Some(ms) => view! { <LocalTime ms/> }.into_any(),
                None => view! { <span class="muted">"—"</span> }.into_any(),
            }}</td>
            <td>
                {if revoked {
                    view! { <span class="tag">{move || i18n.t().acc().revoked}</span> }.into_any()
                } else {
                    view! {
                        <button type="button" class="danger-text" on:click=revoke>{move || i18n.t().acc().revoke}</button>
                    }.into_any()
                }}
            </td>
        </tr>
    }
}
