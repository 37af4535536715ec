//! A version's input form, read from its Dify app (`GET /parameters`) with the version's stored
//! key, on the server: the key never leaves it. The case form shows the fields; `save_case` with
//! `form_version` and the Run Batch CSV import check inputs against the same form.

use super::ApiError;
use super::JsonText;
use crate::model::inputs::InputForm;
use crate::model::VersionId;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// Version `version_id`'s input form as its Dify app answers `GET /parameters` now: each field's
/// variable, label, type, whether it is required, its `max_length`, options and default.
#[server(prefix = "/api", endpoint = "version_input_form", input = Json, output = JsonText)]
pub async fn version_input_form(version_id: VersionId) -> Result<InputForm, ApiError> {
    load_form(version_id).await.map(|(_, form)| form)
}

/// The version (with its configured inputs) and its app's form now.
#[cfg(feature = "ssr")]
pub(crate) async fn load_form(
    version_id: VersionId,
) -> Result<(crate::server::store::VersionRecord, InputForm), ApiError> {
    use super::ssr::engine;
    use super::ErrorKind;
    use crate::model::inputs::parse_form;
    let engine = engine()?;
    let record = engine
        .store()
        .get_version(version_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("version {version_id} does not exist")))?;
    let endpoint = crate::server::runner::endpoint_of(&record);
    let parameters = engine
        .client()
        .app_json(&endpoint, "parameters")
        .await
        .map_err(|f| {
            ApiError::new(
                ErrorKind::Unavailable,
                format!(
                    "cannot read version {version_id}'s input form: GET /parameters failed: {f}"
                ),
            )
        })?;
    let raw = parameters.get("user_input_form").ok_or_else(|| {
        ApiError::new(
            ErrorKind::Unavailable,
            format!(
                "version {version_id}'s app answered GET /parameters without a `user_input_form`"
            ),
        )
    })?;
    let fields = parse_form(raw).map_err(|e| {
        ApiError::new(
            ErrorKind::Unavailable,
            format!("version {version_id}'s input form cannot be read: {e}"),
        )
    })?;
    let form = InputForm {
        version_id,
        app_mode: record.version.app_mode,
        fields,
    };
    Ok((record, form))
}
