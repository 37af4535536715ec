//! Who is signed in, for the whole app: the `me` resource, the header's user menu, and
//! [`IfRole`], which shows its children only to a role that may use them (the server decides
//! access either way; this keeps buttons that would answer 403 off the page).
//!
//! A session can end under an open page (expiry, sign-out elsewhere, a removed user): every
//! route change re-asks `me`, and when the answer is "nobody" on a page that needs someone, the
//! browser goes to the sign-in page with the way back in `?next=`.

use crate::api::{current_user, logout, ApiError};
use crate::model::{Me, Role};
use crate::ui::browser;
use crate::ui::i18n::use_i18n;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

#[derive(Clone, Copy)]
pub struct Session {
    pub me: Resource<Result<Option<Me>, ApiError>>,
    refresh: RwSignal<u64>,
}

impl Session {
    /// Asks the server again (after signing in or out).
    pub fn refresh(&self) {
        self.refresh.update(|n| *n += 1);
    }
}

pub fn provide_session() -> Session {
    let refresh = RwSignal::new(0u64);
    let me_resource = Resource::new(move || refresh.get(), |_| current_user());
    let session = Session {
        me: me_resource,
        refresh,
    };
    provide_context(session);
    session
}

pub fn use_session() -> Session {
    expect_context()
}

/// A router location as `?next=` carries it: the path, and the query when there is one (the
/// router keeps it without its `?`).
fn path_and_query(path: &str, search: &str) -> String {
    if search.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{search}")
    }
}

fn is_public(path: &str) -> bool {
    path.starts_with("/login") || path.starts_with("/setup")
}

/// Re-asks `me` on every route change, and sends a visitor whose session ended to sign in.
#[component]
pub fn SessionWatch() -> impl IntoView {
    let session = use_session();
    let location = use_location();
    Effect::new(move |prev: Option<String>| {
        let path = location.pathname.get();
        if prev.is_some_and(|p| p != path) {
            session.refresh();
        }
        path
    });
    Effect::new(move |_| {
        if let Some(Ok(None)) = session.me.get() {
            // The router's location, not the address bar: navigating to a lazily loaded page
            // changes the address only once its chunk is in, and the way back is that page.
            let here = path_and_query(
                &location.pathname.get_untracked(),
                &location.search.get_untracked(),
            );
            if !is_public(&here) {
                browser::go_to(&format!(
                    "/login?next={}",
                    crate::model::encode_component(&here)
                ));
            }
        }
    });
}

/// Shows `children` only when the signed-in role is at least `min`; otherwise `otherwise`
/// (nothing by default — e.g. a read-only switch in place of a live one).
#[component]
pub fn IfRole(
    min: Role,
    #[prop(optional, into)] otherwise: ViewFn,
    children: ChildrenFn,
) -> impl IntoView {
    let session = use_session();
    let children = StoredValue::new(children);
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let allowed = matches!(session.me.get(), Some(Ok(Some(m))) if m.role >= min);
                if allowed {
                    children.read_value()().into_any()
                } else {
                    otherwise.run().into_any()
                }
            }}
        </Suspense>
    }
}

/// The header's user menu: who is signed in, the admin page for admins, sign out.
/// Signs out and goes to the sign-in page. A chunk loaded on the click (ui/lazy.rs).
#[lazy]
fn sign_out() {
    leptos::task::spawn_local(async {
        let _ = logout().await;
        browser::go_to("/login");
    });
}

#[component]
pub fn UserMenu() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    view! {
        <Suspense fallback=|| ()>
            {move || {
                session.me.get().and_then(Result::ok).flatten().map(|m| {
                    let admin = m.role == Role::Admin;
                    let role = m.role;
                    view! {
                        <div class="user-menu" data-testid="user-menu">
                            <span class="user-name">{m.name.clone()}</span>
                            <span class="tag user-role">{move || i18n.t().role(role)}</span>
                            {admin.then(|| view! {
                                <A href="/admin">{move || i18n.t().nav_admin}</A>
                            })}
                            {m.session.then(|| view! {
                                <button type="button" class="link" on:click=move |_| leptos::task::spawn_local(sign_out())>
                                    {move || i18n.t().sign_out}
                                </button>
                            })}
                        </div>
                    }
                })
            }}
        </Suspense>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_way_back_keeps_the_query() {
        assert_eq!(path_and_query("/cases", ""), "/cases");
        assert_eq!(path_and_query("/cases", "x=1"), "/cases?x=1");
        assert_eq!(
            path_and_query("/compare", "base=1:2&cand=3:4"),
            "/compare?base=1:2&cand=3:4"
        );
    }
}
