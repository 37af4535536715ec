//! The sign-in page (`/login`, also taking a one-time `?link=` from demo mode) and the first-run
//! setup page (`/setup?link=…`, the link the server prints while no user exists).

use crate::api::{link_sign_in, login, setup_admin};
use crate::ui::browser;
use crate::ui::i18n::use_i18n;
use crate::ui::session::use_session;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Where to go after signing in: `?next=` when it is a path on this site, else `/`.
fn next_path(next: Option<String>) -> String {
    next.filter(|p| p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\"))
        .unwrap_or_else(|| "/".into())
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let query = use_query_map();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let next = move || next_path(query.read_untracked().get("next"));
    let submit = Action::new(move |(u, p): &(String, String)| {
        let (u, p) = (u.clone(), p.clone());
        async move { login(u, p).await }
    });
    let by_link = Action::new(move |link: &String| {
        let link = link.clone();
        async move { link_sign_in(link).await }
    });
    // A demo sign-in link signs in by itself once the page is live.
    Effect::new(move |done: Option<bool>| {
        if done != Some(true) {
            if let Some(link) = query.read_untracked().get("link") {
                by_link.dispatch(link);
            }
        }
        true
    });
    Effect::new(move |_| {
        let outcome = submit.value().get().or_else(|| by_link.value().get());
        match outcome {
            Some(Ok(_)) => {
                session.refresh();
                browser::go_to(&next());
            }
            Some(Err(e)) => error.set(Some(e.message)),
            None => {}
        }
    });
    view! {
        <section class="auth-card" data-testid="login">
            <h1>{move || i18n.t().acc().sign_in_title}</h1>
            <form on:submit=move |ev| {
                ev.prevent_default();
                error.set(None);
                submit.dispatch((username.get_untracked(), password.get_untracked()));
            }>
                <Field label=move || i18n.t().acc().username kind="text" name="username" autocomplete="username" value=username/>
                <Field label=move || i18n.t().acc().password kind="password" name="password" autocomplete="current-password" value=password/>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <button type="submit" class="primary" disabled=move || submit.pending().get()>
                    {move || i18n.t().acc().sign_in}
                </button>
            </form>
        </section>
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let query = use_query_map();
    let username = RwSignal::new("admin".to_string());
    let password = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let create = Action::new(move |(l, u, p): &(String, String, String)| {
        let (l, u, p) = (l.clone(), u.clone(), p.clone());
        async move { setup_admin(l, u, p).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => {
            session.refresh();
            browser::go_to("/admin");
        }
        Some(Err(e)) => error.set(Some(e.message)),
        None => {}
    });
    view! {
        <section class="auth-card" data-testid="setup">
            <h1>{move || i18n.t().acc().setup_title}</h1>
            <p>{move || i18n.t().acc().setup_intro}</p>
            <form on:submit=move |ev| {
                ev.prevent_default();
                error.set(None);
                if password.get_untracked() != again.get_untracked() {
                    error.set(Some(i18n.t_untracked().acc().passwords_differ.to_string()));
                    return;
                }
                let link = query.read_untracked().get("link").unwrap_or_default();
                create.dispatch((link, username.get_untracked(), password.get_untracked()));
            }>
                <Field label=move || i18n.t().acc().username kind="text" name="username" autocomplete="username" value=username/>
                <Field label=move || i18n.t().acc().password kind="password" name="password" autocomplete="new-password" value=password/>
                <Field label=move || i18n.t().acc().password_again kind="password" name="again" autocomplete="new-password" value=again/>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <button type="submit" class="primary" disabled=move || create.pending().get()>
                    {move || i18n.t().acc().create_admin}
                </button>
            </form>
        </section>
    }
}

/// A labelled, required text or password input bound to a signal.
#[component]
fn Field(
    #[prop(into)] label: Signal<&'static str>,
    kind: &'static str,
    name: &'static str,
    autocomplete: &'static str,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <label>
            {label}
            <input type=kind name=name autocomplete=autocomplete required
                prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
        </label>
    }
}

#[cfg(test)]
mod tests {
    use super::next_path;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            next_path(Some("/batches/3?page=2".into())),
            "/batches/3?page=2"
        );
        assert_eq!(next_path(Some("//evil.example/".into())), "/");
        assert_eq!(next_path(Some("/\\evil.example".into())), "/");
        assert_eq!(next_path(Some("https://evil.example/".into())), "/");
        assert_eq!(next_path(None), "/");
    }
}
