//! Accounts: sign in and out, first-run setup, who am I; users and API tokens (admin).
//!
//! Access is decided by the layer (`server::auth::policy`), not here; these functions validate,
//! call the store, and keep the rules only they can know (the last admin stays an admin).

use super::ApiError;
use super::JsonText;
use crate::model::{ApiToken, CreatedToken, Me, Role, User};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::{ssr::*, ErrorKind};

#[cfg(feature = "ssr")]
fn account_error(e: crate::server::auth::AccountError) -> ApiError {
    match e {
        crate::server::auth::AccountError::Invalid(m) => ApiError::bad_request(m),
        crate::server::auth::AccountError::Store(e) => e.into(),
    }
}

#[cfg(feature = "ssr")]
fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::Unauthorized, message)
}

/// Signs in with a username and password; sets the session cookie and returns who you are.
/// Failed attempts are throttled per username and per client address (429 says for how long).
#[server(prefix = "/api", endpoint = "login", input = Json, output = JsonText)]
pub async fn login(username: String, password: String) -> Result<Me, ApiError> {
    use crate::server::auth::credential;
    let auth = auth()?;
    let username = username.trim().to_string();
    let now = crate::server::store::now_ms().max(0) as u64;
    let addr_key = client_addr().map(|a| a.to_string());
    let user_key = username.to_lowercase();
    let wait = auth
        .user_throttle
        .check(&user_key, now)
        .into_iter()
        .chain(
            addr_key
                .as_deref()
                .and_then(|k| auth.address_throttle.check(k, now)),
        )
        .max();
    if let Some(ms) = wait {
        return Err(ApiError::new(
            ErrorKind::TooManyRequests,
            format!(
                "too many failed sign-ins; try again in {} s",
                ms.div_ceil(1000)
            ),
        ));
    }
    if password.chars().count() > crate::model::MAX_PASSWORD_CHARS {
        return Err(unauthorized("wrong username or password"));
    }
    let creds = auth.store.user_credentials(&username).await?;
    // Verify against a decoy when the user does not exist: the same work either way.
    let phc = creds.as_ref().map_or_else(
        || credential::decoy_hash().to_string(),
        |c| c.password_hash.clone(),
    );
    let ok = credential::verify_password_blocking(password, phc).await;
    let Some(creds) = creds.filter(|_| ok) else {
        auth.user_throttle.fail(&user_key, now);
        if let Some(k) = &addr_key {
            auth.address_throttle.fail(k, now);
        }
        tracing::info!(user = %username, addr = ?addr_key, "failed sign-in");
        return Err(unauthorized("wrong username or password"));
    };
    auth.user_throttle.clear(&user_key);
    tracing::info!(user = %creds.user.username, "signed in");
    start_session(&auth, creds.user).await
}

/// Starts a browser session for `user`: the cookie on the answer, and who they are.
#[cfg(feature = "ssr")]
async fn start_session(auth: &crate::server::auth::Auth, user: User) -> Result<Me, ApiError> {
    let session = auth.start_session(&user).await?;
    set_header(
        axum::http::header::SET_COOKIE,
        &auth.session_cookie(&session),
    );
    Ok(Me {
        name: user.username,
        role: user.role,
        session: true,
    })
}

/// Ends the caller's browser session (the cookie is cleared too). Harmless without one.
#[server(prefix = "/api", endpoint = "logout", input = Json, output = JsonText)]
pub async fn logout() -> Result<(), ApiError> {
    use crate::server::auth::Who;
    let auth = auth()?;
    if let Some(Who::User { session_hash, .. }) = caller().map(|p| p.who) {
        auth.store.delete_session(&session_hash).await?;
        auth.note_change();
    }
    set_header(axum::http::header::SET_COOKIE, &auth.cleared_cookie());
    Ok(())
}

/// Who the caller is, or null when not signed in.
#[server(prefix = "/api", endpoint = "current_user", input = Json, output = JsonText)]
pub async fn current_user() -> Result<Option<Me>, ApiError> {
    Ok(caller().map(|p| p.me()))
}

/// Creates the first admin with the one-time link printed by a server that has no user yet,
/// and signs them in. Refused once any user exists or when the link is not live.
#[server(prefix = "/api", endpoint = "setup_admin", input = Json, output = JsonText)]
pub async fn setup_admin(link: String, username: String, password: String) -> Result<Me, ApiError> {
    use crate::server::auth::{credential, links::LinkPurpose};
    let auth = auth()?;
    crate::model::check_username(username.trim()).map_err(ApiError::bad_request)?;
    crate::model::check_password(&password).map_err(ApiError::bad_request)?;
    if auth.links.peek(&link) != Some(LinkPurpose::Setup) {
        return Err(unauthorized(
            "this setup link is not valid (used already, expired, or from before a restart); \
             the server prints a new one at start while no user exists",
        ));
    }
    let username = username.trim().to_string();
    let hash = credential::hash_password_blocking(password)
        .await
        .map_err(|m| ApiError::new(ErrorKind::Internal, m))?;
    if !auth
        .store
        .insert_first_user(&username, &hash, Role::Admin)
        .await?
    {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "an account exists already: sign in instead",
        ));
    }
    auth.links.take(&link);
    let user = auth
        .store
        .get_user_by_name(&username)
        .await?
        .ok_or_else(|| ApiError::new(ErrorKind::Internal, "the new admin could not be read"))?;
    tracing::info!(user = %user.username, "first admin created with the setup link");
    start_session(&auth, user).await
}

/// Signs in with a one-time sign-in link (demo mode prints one for the demo admin at start).
#[server(prefix = "/api", endpoint = "link_sign_in", input = Json, output = JsonText)]
pub async fn link_sign_in(link: String) -> Result<Me, ApiError> {
    use crate::server::auth::links::LinkPurpose;
    let auth = auth()?;
    let Some(LinkPurpose::SignIn { username }) = auth.links.peek(&link) else {
        return Err(unauthorized(
            "this sign-in link is not valid (used already, expired, or from before a restart)",
        ));
    };
    auth.links.take(&link);
    let user = auth
        .store
        .get_user_by_name(&username)
        .await?
        .ok_or_else(|| unauthorized(format!("the user `{username}` no longer exists")))?;
    start_session(&auth, user).await
}

#[server(prefix = "/api", endpoint = "list_users", input = Json, output = JsonText)]
pub async fn list_users() -> Result<Vec<User>, ApiError> {
    Ok(auth()?.store.list_users().await?)
}

/// Adds a user with a role (`viewer`, `editor`, `admin`) and an initial password.
#[server(prefix = "/api", endpoint = "create_user", input = Json, output = JsonText)]
pub async fn create_user(username: String, password: String, role: Role) -> Result<User, ApiError> {
    let user = crate::server::auth::add_user(&auth()?.store, username.trim(), &password, role)
        .await
        .map_err(account_error)?;
    tracing::info!(user = %user.username, role = %role, by = ?caller_label(), "user created");
    Ok(user)
}

/// Changes a user's role. The last admin cannot be demoted.
#[server(prefix = "/api", endpoint = "set_user_role", input = Json, output = JsonText)]
pub async fn set_user_role(username: String, role: Role) -> Result<(), ApiError> {
    let auth = auth()?;
    let user = auth
        .store
        .get_user_by_name(&username)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user `{username}` does not exist")))?;
    if user.role == Role::Admin && role != Role::Admin && auth.store.count_admins().await? <= 1 {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            format!("`{username}` is the last admin; make someone else an admin first"),
        ));
    }
    auth.store.set_user_role(&username, role).await?;
    auth.note_change();
    tracing::info!(user = %username, role = %role, by = ?caller_label(), "role changed");
    Ok(())
}

/// Sets a user's password; every session of that user ends.
#[server(prefix = "/api", endpoint = "set_user_password", input = Json, output = JsonText)]
pub async fn set_user_password(username: String, password: String) -> Result<(), ApiError> {
    crate::model::check_password(&password).map_err(ApiError::bad_request)?;
    let hash = crate::server::auth::credential::hash_password_blocking(password)
        .await
        .map_err(|m| ApiError::new(ErrorKind::Internal, m))?;
    let auth = auth()?;
    if !auth.store.set_user_password(&username, &hash).await? {
        return Err(ApiError::not_found(format!(
            "user `{username}` does not exist"
        )));
    }
    auth.note_change();
    tracing::info!(user = %username, by = ?caller_label(), "password changed");
    Ok(())
}

/// Removes a user; their sessions end at once. The last admin cannot be removed.
#[server(prefix = "/api", endpoint = "delete_user", input = Json, output = JsonText)]
pub async fn delete_user(username: String) -> Result<(), ApiError> {
    let auth = auth()?;
    let user = auth
        .store
        .get_user_by_name(&username)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user `{username}` does not exist")))?;
    if user.role == Role::Admin && auth.store.count_admins().await? <= 1 {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            format!("`{username}` is the last admin and cannot be removed"),
        ));
    }
    auth.store.delete_user(&username).await?;
    auth.note_change();
    tracing::info!(user = %username, by = ?caller_label(), "user removed");
    Ok(())
}

/// Every API token, revoked ones included; never a token's secret.
#[server(prefix = "/api", endpoint = "list_tokens", input = Json, output = JsonText)]
pub async fn list_tokens() -> Result<Vec<ApiToken>, ApiError> {
    Ok(auth()?.store.list_tokens().await?)
}

/// Creates an API token with a name and a role; the answer holds its secret, shown only once.
#[server(prefix = "/api", endpoint = "create_token", input = Json, output = JsonText)]
pub async fn create_token(name: String, role: Role) -> Result<CreatedToken, ApiError> {
    let by = caller_label().unwrap_or_else(|| "unknown".into());
    let created = crate::server::auth::issue_token(&auth()?.store, &name, role, &by)
        .await
        .map_err(account_error)?;
    tracing::info!(token = %created.token.name, role = %role, by = %by, "token created");
    Ok(created)
}

/// Revokes a token: requests with it get 401 at once, open progress streams end.
#[server(prefix = "/api", endpoint = "revoke_token", input = Json, output = JsonText)]
pub async fn revoke_token(id: i64) -> Result<(), ApiError> {
    let auth = auth()?;
    if !auth.store.revoke_token(id).await? {
        return Err(ApiError::not_found(format!("no live token with id {id}")));
    }
    auth.note_change();
    tracing::info!(token = id, by = ?caller_label(), "token revoked");
    Ok(())
}
