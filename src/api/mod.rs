//! Server functions: the JSON API under `/api/`, used by the UI and by scripts alike.
//!
//! Each is `POST /api/<name>` with a JSON object of its (flat) arguments, answering JSON. They stay
//! thin: validate, call the engine or the store, return shared DTOs from [`crate::model`] — never a
//! row with a key. Errors are [`ApiError`]: `{"error": kind, "message": text}` with a 4xx/5xx status.

// Server functions take flat JSON arguments, so some take many; `#[server]` copies a function's
// signature into the client stub without its `#[allow]`, hence the allowance at module level.
mod auth;
#[allow(clippy::too_many_arguments)]
mod batches;
#[allow(clippy::too_many_arguments)]
mod cases;
#[allow(clippy::too_many_arguments)]
mod compare;
#[allow(clippy::too_many_arguments)]
mod dashboard;
mod identity;
mod inputs;
#[allow(clippy::too_many_arguments)]
mod judges;
mod overview;
mod replay;
mod reviews;
#[allow(clippy::too_many_arguments)]
mod versions;
#[allow(clippy::too_many_arguments)]
mod webhooks;

pub use auth::*;
pub use batches::*;
pub use cases::*;
pub use compare::*;
pub use dashboard::*;
pub use identity::*;
pub use inputs::*;
pub use judges::*;
pub use overview::*;
pub use replay::*;
pub use reviews::*;
pub use versions::*;
pub use webhooks::*;

use leptos::server_fn::codec::{JsonEncoding, Post};
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The answer's encoding of every server function: JSON, the same request and response as
/// Leptos' `Json` (`application/json`, `serde_json`), but the browser reads the answer as text
/// (`serde_json::from_str`) instead of bytes (`from_slice`). A page's resources are read from the
/// server-rendered HTML as text too, and serde_json compiles one deserialiser per (type, input
/// kind): with both paths on text, a type the first page both hydrates and fetches (the version
/// list, the latest results, the signed-in user) has one deserialiser in the main WASM instead
/// of two (BENCHMARKS.md § f2.1).
pub type JsonText = Post<JsonTextEncoding>;

/// The codec of [`JsonText`].
pub struct JsonTextEncoding;

impl ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonTextEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}

/// What kind of failure, which fixes the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 400: the request cannot be carried out as given.
    BadRequest,
    /// 401: no credentials, or ones that do not hold (a wrong password, a revoked token).
    Unauthorized,
    /// 403: signed in, but the role is too low.
    Forbidden,
    /// 404
    NotFound,
    /// 409: the request conflicts with the current state (a name taken, a batch already ended).
    Conflict,
    /// 429: too many attempts (sign-in throttling); the message says when to try again.
    TooManyRequests,
    /// 500: our fault; details are in the server log, not here.
    Internal,
    /// 503: the server cannot take this now (it is shutting down); the message says what to do.
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub error: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        #[cfg(feature = "ssr")]
        set_status(kind);
        ApiError {
            error: kind,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::NotFound, message)
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The request body did not fit the function's arguments: the caller's mistake.
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                ApiError::bad_request(format!("invalid arguments: {m}"))
            }
            // On the server the only thing deserialised is the request's arguments.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(m) => {
                ApiError::bad_request(format!("invalid arguments: {m}"))
            }
            ServerFnErrorErr::Request(m) => ApiError {
                error: ErrorKind::Internal,
                message: format!("the server could not be reached: {m}"),
            },
            other => ApiError::new(ErrorKind::Internal, other.to_string()),
        }
    }
}

/// Sets the response status for the server function being answered.
#[cfg(feature = "ssr")]
fn set_status(kind: ErrorKind) {
    use axum::http::StatusCode;
    let status = match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    if let Some(res) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(status);
    }
}

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    //! Server-side helpers shared by the server functions.
    use super::{ApiError, ErrorKind};
    use crate::server::auth::layer::ClientAddr;
    use crate::server::auth::{Auth, Principal};
    use crate::server::runner::{Engine, EngineError};
    use crate::server::store::StoreError;
    use std::sync::Arc;

    pub fn engine() -> Result<Arc<Engine>, ApiError> {
        leptos::prelude::use_context::<Arc<Engine>>()
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "the engine is not available"))
    }

    pub fn auth() -> Result<Arc<Auth>, ApiError> {
        leptos::prelude::use_context::<Arc<Auth>>()
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "accounts are not available"))
    }

    /// Who is calling, as the access layer established it (None on a public route called
    /// without credentials). Access itself was decided by the layer; this is for recording
    /// who did what and for the few functions that act on the caller's own session.
    pub fn caller() -> Option<Principal> {
        leptos::prelude::use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>().cloned())
    }

    /// The caller's label for `created_by` columns: `alice`, `token:ci`.
    pub fn caller_label() -> Option<String> {
        caller().map(|p| p.label())
    }

    /// Records the caller as the author of rows just created (`created`) or changed.
    pub async fn stamp(
        store: &crate::server::store::Store,
        kind: crate::server::store::Authored,
        ids: &[i64],
        created: bool,
    ) -> Result<(), ApiError> {
        if let Some(by) = caller_label() {
            store.stamp_author(kind, ids, &by, created).await?;
        }
        Ok(())
    }

    /// The client's address, for sign-in throttling.
    pub fn client_addr() -> Option<std::net::IpAddr> {
        leptos::prelude::use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<ClientAddr>().copied())
            .and_then(|a| a.0)
    }

    /// Adds a response header to the server function's answer.
    pub fn set_header(name: axum::http::HeaderName, value: &str) {
        if let (Some(res), Ok(v)) = (
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
            axum::http::HeaderValue::from_str(value),
        ) {
            res.append_header(name, v);
        }
    }

    impl From<StoreError> for ApiError {
        fn from(e: StoreError) -> ApiError {
            match e {
                StoreError::Conflict(m) => ApiError::new(ErrorKind::Conflict, m),
                other => {
                    tracing::error!(error = %other, "store error in a server function");
                    ApiError::new(
                        ErrorKind::Internal,
                        "a database error occurred; see the server log",
                    )
                }
            }
        }
    }

    impl From<EngineError> for ApiError {
        fn from(e: EngineError) -> ApiError {
            match e {
                EngineError::Invalid(m) => ApiError::new(ErrorKind::BadRequest, m),
                EngineError::NotFound(m) => ApiError::new(ErrorKind::NotFound, m),
                EngineError::Conflict(m) => ApiError::new(ErrorKind::Conflict, m),
                EngineError::Unavailable(m) => ApiError::new(ErrorKind::Unavailable, m),
                EngineError::Store(e) => e.into(),
            }
        }
    }
}
