//! The one layer every request passes: it decides, in this order,
//!
//! 1. **Host** — a name that is not this server's is refused (DNS rebinding): IP literals,
//!    `localhost` and the `--public-url` host pass; health checks are exempt (load balancers).
//! 2. **CORS preflight** — answered for `--cors-origins` only; everything else gets no CORS headers.
//! 3. **CSRF** — a state-changing request must be `Content-Type: application/json` (415), and a
//!    browser's `Origin` / `Sec-Fetch-Site` must be this origin — unless it is a listed CORS
//!    origin calling with a bearer token (never the cookie).
//! 4. **Credentials** — `Authorization: Bearer dbt_…` or the session cookie; a bad token is a
//!    401 even where none is needed, so a script learns at once that its token is dead.
//! 5. **Role** — what [`policy::access`] says the path needs: 401 (pages: a redirect to
//!    `/login`) or 403.
//!
//! It leaves the [`Principal`] (and the client's address) in the request's extensions, sets the
//! security headers on every response, and keeps checking the credential of an open progress
//! stream whenever `auth_epoch` moves, ending the stream once it no longer holds.

use super::policy::{self, Access};
use super::{host_of_authority, normalize_origin, Auth, Principal, SESSION_COOKIE};
use crate::server::sse::json_error;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The client's address as the socket saw it (behind a proxy: the proxy's).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

/// The Content-Security-Policy of a rendered page: scripts only from this origin or with the
/// page's nonce (Leptos's hydration script carries it), WASM allowed to compile, nothing framed.
/// Inline `style=""` attributes are allowed: the progress bars set their widths that way.
pub fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// For everything that is not a page (JSON, SSE, exports, assets): nothing may run or frame it.
const RESOURCE_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

pub async fn guard(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let headers = req.headers().clone();
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let cors_origin = origin
        .as_deref()
        .and_then(normalize_origin)
        .filter(|o| auth.config.cors_origins.iter().any(|c| c == o));

    let decided = decide(
        &auth,
        &mut req,
        &path,
        &method,
        &headers,
        origin.as_deref(),
        cors_origin.as_deref(),
    )
    .await;
    let mut res = match decided {
        Err(refusal) => refusal,
        Ok(principal) => {
            let res = next.run(req).await;
            match principal {
                Some(p) if is_event_stream(&res) => guard_stream(res, auth.clone(), p),
                _ => res,
            }
        }
    };
    security_headers(res.headers_mut());
    if let Some(o) = cors_origin {
        cors_headers(res.headers_mut(), &o);
    }
    res
}

/// Steps 1–5; Ok carries the principal (None on a public route without credentials).
async fn decide(
    auth: &Auth,
    req: &mut Request,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
    origin: Option<&str>,
    cors_origin: Option<&str>,
) -> Result<Option<Principal>, Response> {
    let access = policy::access(path);
    let health = path == "/healthz" || path == "/readyz";
    let host = request_host(req);
    if !health && !host_allowed(auth, host.as_deref()) {
        return Err(json_error(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected",
            &format!(
                "the Host `{}` is not this server's address; reach it by its IP address or \
                 localhost, or start it with --public-url https://<that name>",
                host.as_deref().unwrap_or("")
            ),
        ));
    }

    if method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        return Err(match cors_origin {
            Some(_) => StatusCode::NO_CONTENT.into_response(),
            None => json_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "cross-origin requests are refused from this origin (see --cors-origins)",
            ),
        });
    }

    let bearer = bearer_token(headers);
    let unsafe_method = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method {
        if !is_json(headers) {
            return Err(json_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "state-changing requests must be sent as Content-Type: application/json",
            ));
        }
        let cross = is_cross_origin(auth, headers, origin, host.as_deref());
        if cross && !(cors_origin.is_some() && bearer.is_some()) {
            return Err(json_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "cross-origin request refused: call from this server's own pages, or from an \
                 origin listed in --cors-origins with an API token",
            ));
        }
    }
    // A listed cross-origin caller is a bearer-token client: its cookie (if the browser sent one)
    // is not a credential.
    let cookie_allowed = cors_origin.is_none();

    let principal = if let Some(token) = bearer {
        match auth.by_token(token).await {
            Ok(Some(p)) => Some(p),
            Ok(None) => {
                return Err(json_error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the API token is not valid (revoked, or never issued)",
                ))
            }
            Err(e) => return Err(store_failure(e)),
        }
    } else if let Some(cookie) = session_cookie(headers).filter(|_| cookie_allowed) {
        match auth.by_session(cookie).await {
            Ok(p) => p,
            Err(e) => return Err(store_failure(e)),
        }
    } else {
        None
    };

    if let Access::Role(needed) = access {
        match &principal {
            None if policy::is_page(path) && *method == Method::GET => {
                return Err(to_login(req));
            }
            None => {
                return Err(json_error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "sign in, or send Authorization: Bearer <API token>",
                ))
            }
            Some(p) if p.role < needed => {
                return Err(json_error(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    &format!("this needs the {needed} role; you are {}", p.role),
                ))
            }
            Some(_) => {}
        }
    }
    let addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    req.extensions_mut().insert(ClientAddr(addr));
    if let Some(p) = &principal {
        req.extensions_mut().insert(p.clone());
    }
    Ok(principal)
}

fn request_host(req: &Request) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
}

/// IP literals cannot be rebound (a rebinding page is always reached by a name), `localhost`
/// resolves here, and the public name is the operator's own.
fn host_allowed(auth: &Auth, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let name = host_of_authority(host).to_ascii_lowercase();
    name.parse::<IpAddr>().is_ok()
        || name == "localhost"
        || auth
            .config
            .public_url
            .as_ref()
            .is_some_and(|u| u.host == name)
}

fn is_cross_origin(
    auth: &Auth,
    headers: &HeaderMap,
    origin: Option<&str>,
    host: Option<&str>,
) -> bool {
    if let Some(origin) = origin {
        let Some(o) = normalize_origin(origin) else {
            return true; // `null` (sandboxed frames, file://) and anything unparsable
        };
        let own = host.map(|h| h.to_ascii_lowercase()).unwrap_or_default();
        let same = o == format!("http://{own}")
            || o == format!("https://{own}")
            || auth
                .config
                .public_url
                .as_ref()
                .is_some_and(|u| u.origin == o);
        if !same {
            return true;
        }
    }
    matches!(
        headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        Some("cross-site" | "same-site")
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// 303 to `/login?next=<where they were going>`.
fn to_login(req: &Request) -> Response {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let location = format!("/login?next={}", crate::model::encode_component(&target));
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

fn store_failure(e: crate::server::store::StoreError) -> Response {
    tracing::error!(error = %e, "checking credentials");
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "credentials could not be checked (the database is unreachable)",
    )
}

fn is_event_stream(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// Re-checks the stream's credential before each chunk once `auth_epoch` has moved since the
/// last check; a credential that no longer holds ends the stream (the browser's reconnect then
/// meets the 401).
fn guard_stream(res: Response, auth: Arc<Auth>, principal: Principal) -> Response {
    let (parts, body) = res.into_parts();
    let seen = auth.epoch();
    let chunks = body.into_data_stream();
    let guarded = futures::stream::unfold(
        (chunks, auth, principal, seen),
        |(mut chunks, auth, principal, mut seen)| async move {
            let chunk = chunks.next().await?;
            let now = auth.epoch();
            if now != seen {
                match auth.recheck(&principal).await {
                    Ok(Some(_)) => seen = now,
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::warn!(error = %e, "re-checking a stream's credential");
                        return None;
                    }
                }
            }
            Some((chunk, (chunks, auth, principal, seen)))
        },
    );
    Response::from_parts(parts, Body::from_stream(guarded))
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(RESOURCE_CSP),
        );
    }
}

fn cors_headers(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_tokens_and_the_session_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer dbt_abc"),
        );
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("lang=zh-TW; dify_bench_session=s3cr3t; x=y"),
        );
        assert_eq!(bearer_token(&h), Some("dbt_abc"));
        assert_eq!(session_cookie(&h), Some("s3cr3t"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
    }

    #[test]
    fn only_json_counts_as_json() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(is_json(&h));
    }
}
