//! Accounts and access: who is asking, and may they.
//!
//! - `credential`: password hashes, session ids, API tokens (pure functions);
//! - `policy`: the one table of what each route needs;
//! - `layer`: the one axum layer that decides every request — Host, CSRF, CORS, credentials,
//!   role — and sets the security headers; server functions read the [`Principal`] it leaves;
//! - `throttle`: failed sign-ins per username and per address;
//! - `links`: one-time links printed to the terminal (first-admin setup, demo sign-in).
//!
//! It does not own the tables (`store::accounts`) or the server functions (`api::auth`).

pub mod cli;
pub mod credential;
pub mod layer;
pub mod links;
pub mod policy;
pub mod throttle;

use crate::model::{CreatedToken, Me, Role, User};
use crate::server::store::{Store, StoreError, StoreResult};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "dify_bench_session";

/// Who a request was made by, as the layer established it. Server functions read it from the
/// request's extensions ([`crate::api`]'s `principal()`).
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub who: Who,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Who {
    /// A browser session; `session_hash` is the digest of its cookie (to sign it out).
    User {
        id: i64,
        username: String,
        session_hash: String,
    },
    Token {
        id: i64,
        name: String,
    },
}

impl Principal {
    /// What is recorded as the author of a change: `alice`, or `token:ci`.
    pub fn label(&self) -> String {
        match &self.who {
            Who::User { username, .. } => username.clone(),
            Who::Token { name, .. } => format!("token:{name}"),
        }
    }

    pub fn me(&self) -> Me {
        Me {
            name: self.label(),
            role: self.role,
            session: matches!(self.who, Who::User { .. }),
        }
    }

    fn of_user(user: User, session_hash: String) -> Principal {
        Principal {
            role: user.role,
            who: Who::User {
                id: user.id,
                username: user.username,
                session_hash,
            },
        }
    }
}

/// How accounts behave; from `serve`'s flags.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// How long a browser session lasts from sign-in.
    pub session_ttl: Duration,
    /// `--public-url`: the origin people reach the server at through a proxy (its host is an
    /// accepted `Host`, and `https` makes the cookie `Secure`).
    pub public_url: Option<PublicUrl>,
    /// `--cors-origins`: other origins whose pages may call the API with a bearer token.
    pub cors_origins: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            public_url: None,
            cors_origins: Vec::new(),
        }
    }
}

/// A parsed `--public-url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `https://bench.example.com` (scheme, host, port if not the default).
    pub origin: String,
    /// `bench.example.com`, lower case.
    pub host: String,
    pub https: bool,
}

impl PublicUrl {
    pub fn parse(raw: &str) -> Result<PublicUrl, String> {
        let origin = normalize_origin(raw.trim().trim_end_matches('/'))
            .ok_or_else(|| format!("--public-url `{raw}` is not an http(s)://host[:port] URL"))?;
        let https = origin.starts_with("https://");
        let host = host_of_authority(origin.split_once("://").map_or("", |(_, a)| a));
        Ok(PublicUrl {
            https,
            host: host.to_string(),
            origin,
        })
    }
}

/// `scheme://host[:port]` in lower case, or None when `raw` is not an http(s) origin (a path,
/// query, fragment or userinfo makes it no origin).
pub fn normalize_origin(raw: &str) -> Option<String> {
    let (scheme, authority) = raw.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// The host of `host[:port]` or `[v6]:port`, lower case, without brackets.
pub fn host_of_authority(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority.rsplit_once(':').map_or(authority, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            authority
        }
    })
}

/// Shared by the layer and the server functions: the store, the rules, the throttles, the
/// one-time links, and the last-seen `auth_epoch`.
pub struct Auth {
    pub store: Store,
    pub config: AuthConfig,
    pub user_throttle: throttle::Throttle,
    pub address_throttle: throttle::Throttle,
    pub links: links::Links,
    epoch: AtomicI64,
    /// When each token's `last_used_at` was last written (so a busy script writes it once a
    /// minute, not once a request).
    token_touched: parking_lot::Mutex<std::collections::HashMap<i64, i64>>,
}

/// How often the server re-reads `auth_epoch` (credential changes made by the CLI or another
/// instance reach open streams this fast).
const EPOCH_POLL: Duration = Duration::from_secs(1);
const TOKEN_TOUCH_EVERY_MS: i64 = 60_000;

impl Auth {
    pub fn new(store: Store, config: AuthConfig) -> Arc<Auth> {
        Arc::new(Auth {
            store,
            config,
            user_throttle: throttle::Throttle::new(throttle::PER_USER),
            address_throttle: throttle::Throttle::new(throttle::PER_ADDRESS),
            links: links::Links::default(),
            epoch: AtomicI64::new(i64::MIN),
            token_touched: parking_lot::Mutex::new(Default::default()),
        })
    }

    /// Polls `auth_epoch` (and drops expired sessions now and then) for as long as the server runs.
    pub fn spawn_watcher(self: &Arc<Self>) {
        let auth = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EPOCH_POLL);
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                let Some(auth) = auth.upgrade() else { return };
                match auth.store.auth_epoch().await {
                    Ok(e) => auth.epoch.store(e, Ordering::Release),
                    Err(e) => tracing::warn!(error = %e, "reading auth_epoch"),
                }
                n += 1;
                if n.is_multiple_of(600) {
                    if let Err(e) = auth.store.purge_expired_sessions().await {
                        tracing::warn!(error = %e, "purging expired sessions");
                    }
                }
            }
        });
    }

    /// The last `auth_epoch` seen; it moves whenever some credential stopped being valid.
    pub fn epoch(&self) -> i64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Records (in memory at once, in the store on the next poll) that a credential changed.
    pub fn note_change(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The principal of a session cookie's value, if the session is live.
    pub async fn by_session(&self, cookie: &str) -> StoreResult<Option<Principal>> {
        let hash = credential::digest(cookie);
        Ok(self
            .store
            .session_user(&hash)
            .await?
            .map(|u| Principal::of_user(u, hash)))
    }

    /// The principal of a bearer token, if it is live.
    pub async fn by_token(&self, token: &str) -> StoreResult<Option<Principal>> {
        if !token.starts_with(credential::TOKEN_PREFIX) {
            return Ok(None);
        }
        let Some(t) = self.store.token_by_hash(&credential::digest(token)).await? else {
            return Ok(None);
        };
        let now = crate::server::store::now_ms();
        let due = {
            let mut touched = self.token_touched.lock();
            let last = touched.get(&t.id).copied().unwrap_or(i64::MIN);
            let due = now.saturating_sub(last) >= TOKEN_TOUCH_EVERY_MS;
            if due {
                touched.insert(t.id, now);
            }
            due
        };
        if due {
            self.store.touch_token(t.id, now).await?;
        }
        Ok(Some(Principal {
            role: t.role,
            who: Who::Token {
                id: t.id,
                name: t.name,
            },
        }))
    }

    /// Whether a principal established earlier still holds, with the role it has now (a
    /// revoked token, a removed user or an ended session gives None).
    pub async fn recheck(&self, p: &Principal) -> StoreResult<Option<Principal>> {
        match &p.who {
            Who::User { session_hash, .. } => Ok(self
                .store
                .session_user(session_hash)
                .await?
                .map(|u| Principal::of_user(u, session_hash.clone()))),
            Who::Token { id, .. } => Ok(self.store.live_token(*id).await?.map(|t| Principal {
                role: t.role,
                who: p.who.clone(),
            })),
        }
    }

    /// Starts a session for a user; returns the cookie's value.
    pub async fn start_session(&self, user: &User) -> StoreResult<String> {
        let id = credential::new_session_id();
        let expires = crate::server::store::now_ms() + self.config.session_ttl.as_millis() as i64;
        self.store
            .insert_session(&credential::digest(&id), user.id, expires)
            .await?;
        Ok(id)
    }

    /// The `Set-Cookie` value for a new session.
    pub fn session_cookie(&self, id: &str) -> String {
        let secure = if self.config.public_url.as_ref().is_some_and(|u| u.https) {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.config.session_ttl.as_secs()
        )
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn cleared_cookie(&self) -> String {
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    }
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Bad input, with a message naming it.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a user: the username and password are checked, the password hashed off the async
/// threads. Shared by the admin page, the CLI and demo mode.
pub async fn add_user(
    store: &Store,
    username: &str,
    password: &str,
    role: Role,
) -> Result<User, AccountError> {
    crate::model::check_username(username).map_err(AccountError::Invalid)?;
    crate::model::check_password(password).map_err(AccountError::Invalid)?;
    let hash = credential::hash_password_blocking(password.to_string())
        .await
        .map_err(AccountError::Invalid)?;
    Ok(store.insert_user(username, &hash, role).await?)
}

/// Creates an API token; the answer carries its secret, which is stored only as a digest.
pub async fn issue_token(
    store: &Store,
    name: &str,
    role: Role,
    created_by: &str,
) -> Result<CreatedToken, AccountError> {
    crate::model::check_token_name(name).map_err(AccountError::Invalid)?;
    let secret = credential::new_token();
    let token = store
        .insert_token(
            name.trim(),
            &credential::digest(&secret),
            &credential::shown_prefix(&secret),
            role,
            created_by,
        )
        .await?;
    Ok(CreatedToken { token, secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_hosts_parse() {
        assert_eq!(
            normalize_origin("HTTPS://Bench.Example.com:8443"),
            Some("https://bench.example.com:8443".into())
        );
        assert_eq!(normalize_origin("https://x.com/path"), None);
        assert_eq!(normalize_origin("https://u@x.com"), None);
        assert_eq!(normalize_origin("ftp://x.com"), None);
        assert_eq!(host_of_authority("127.0.0.1:3000"), "127.0.0.1");
        assert_eq!(host_of_authority("[::1]:3000"), "::1");
        assert_eq!(host_of_authority("example.com"), "example.com");
        let u = PublicUrl::parse("https://bench.example.com/").unwrap();
        assert_eq!(u.origin, "https://bench.example.com");
        assert_eq!(u.host, "bench.example.com");
        assert!(u.https);
        assert!(PublicUrl::parse("bench.example.com").is_err());
    }
}
