//! Versions: list, save (create or update), enable/disable, delete, test the connection.

use super::ApiError;
use super::JsonText;
use crate::model::{AppMode, ConnectionReport, ResponseMode, Version, VersionId};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::engine;
#[cfg(feature = "ssr")]
use crate::model::VersionDraft;

/// Every version, oldest first. Keys appear only as hints.
#[server(prefix = "/api", endpoint = "list_versions", input = Json, output = JsonText)]
pub async fn list_versions() -> Result<Vec<Version>, ApiError> {
    let engine = engine()?;
    let records = engine.store().list_versions().await?;
    Ok(records.into_iter().map(|r| r.version).collect())
}

/// Creates a version (no `id`) or updates one. `api_key` is write-only: required on create,
/// and on update left out (or empty) to keep the stored key.
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/api", endpoint = "save_version", input = Json, output = JsonText)]
pub async fn save_version(
    id: Option<VersionId>,
    name: String,
    base_url: String,
    api_key: Option<String>,
    app_mode: Option<AppMode>,
    response_mode: Option<ResponseMode>,
    description: Option<String>,
    answer_field: Option<String>,
    inputs: Option<serde_json::Value>,
    enabled: Option<bool>,
    workflow_id: Option<String>,
) -> Result<Version, ApiError> {
    let draft = VersionDraft {
        name,
        description: description.unwrap_or_default(),
        base_url,
        api_key,
        app_mode: app_mode.unwrap_or_default(),
        response_mode: response_mode.unwrap_or_default(),
        answer_field,
        inputs,
        enabled,
        workflow_id,
    }
    .normalized()
    .map_err(ApiError::bad_request)?;
    let engine = engine()?;
    let store = engine.store();
    let created = id.is_none();
    let id = match id {
        None => {
            if draft.api_key.is_none() {
                return Err(ApiError::bad_request(
                    "api_key is required for a new version",
                ));
            }
            store.insert_version(&draft).await?
        }
        Some(id) => {
            let stored = store
                .get_version(id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("version {id} does not exist")))?;
            // The stored key goes only where it went before: a new scheme, host or port needs
            // the key given again (else anyone able to edit the URL could send it anywhere).
            if draft.api_key.is_none()
                && origin_of(&stored.version.base_url) != origin_of(&draft.base_url)
            {
                return Err(ApiError::bad_request(
                    "base_url moves to another scheme, host or port: enter the API key again \
                     (the stored key is only ever sent where it was first meant to go)",
                ));
            }
            if !store.update_version(id, &draft).await? {
                return Err(ApiError::not_found(format!("version {id} does not exist")));
            }
            id
        }
    };
    super::ssr::stamp(
        store,
        crate::server::store::Authored::Version,
        &[id.0],
        created,
    )
    .await?;
    let saved = store
        .get_version(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("version {id} does not exist")))?;
    Ok(saved.version)
}

/// `scheme://host:port` of an http(s) URL, lower case, with the default port made explicit.
#[cfg(feature = "ssr")]
pub(super) fn origin_of(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    Some(format!(
        "{}://{}:{}",
        parsed.scheme(),
        parsed.host_str()?.to_ascii_lowercase(),
        parsed.port_or_known_default()?
    ))
}

#[server(prefix = "/api", endpoint = "set_version_enabled", input = Json, output = JsonText)]
pub async fn set_version_enabled(id: VersionId, enabled: bool) -> Result<(), ApiError> {
    let engine = engine()?;
    if !engine.store().set_version_enabled(id, enabled).await? {
        return Err(ApiError::not_found(format!("version {id} does not exist")));
    }
    super::ssr::stamp(
        engine.store(),
        crate::server::store::Authored::Version,
        &[id.0],
        false,
    )
    .await
}

/// Deletes a version. Batches that ran it keep their snapshot and results.
#[server(prefix = "/api", endpoint = "delete_version", input = Json, output = JsonText)]
pub async fn delete_version(id: VersionId) -> Result<(), ApiError> {
    if !engine()?.store().delete_version(id).await? {
        return Err(ApiError::not_found(format!("version {id} does not exist")));
    }
    Ok(())
}

/// Calls the version's Dify app (`GET /info`) through the server and reports what answered.
#[server(prefix = "/api", endpoint = "test_connection", input = Json, output = JsonText)]
pub async fn test_connection(id: VersionId) -> Result<ConnectionReport, ApiError> {
    let engine = engine()?;
    let record = engine
        .store()
        .get_version(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("version {id} does not exist")))?;
    let endpoint = crate::server::runner::endpoint_of(&record);
    let started = std::time::Instant::now();
    let outcome = engine.client().info(&endpoint).await;
    let latency_ms = started.elapsed().as_millis() as i64;
    Ok(match outcome {
        Ok(info) => {
            let expected = record.version.app_mode.as_str();
            let message = info
                .mode
                .as_deref()
                .filter(|m| *m != expected)
                .map(|m| format!("the app's mode is `{m}`, the version says `{expected}`"));
            ConnectionReport {
                ok: message.is_none(),
                app_name: info.name,
                app_mode: info.mode,
                message,
                latency_ms,
            }
        }
        Err(f) => ConnectionReport {
            ok: false,
            app_name: None,
            app_mode: None,
            message: Some(format!("{}: {}", f.code, f.message)),
            latency_ms,
        },
    })
}
