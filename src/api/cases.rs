//! Test cases: list, save, enable/disable, delete, import (all-or-nothing), export.

use super::ApiError;
use super::JsonText;
use crate::model::{Assertion, CaseId, ImportReport, TestCase};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::engine;
#[cfg(feature = "ssr")]
use crate::model::CaseDraft;

#[cfg(feature = "ssr")]
fn unavailable(e: crate::server::offload::OffloadError) -> ApiError {
    ApiError::new(super::ErrorKind::Unavailable, e.to_string())
}

#[server(prefix = "/api", endpoint = "list_cases", input = Json, output = JsonText)]
pub async fn list_cases() -> Result<Vec<TestCase>, ApiError> {
    Ok(engine()?.store().list_cases().await?)
}

/// Creates a case (no `id`) or updates one.
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/api", endpoint = "save_case", input = Json, output = JsonText)]
pub async fn save_case(
    id: Option<CaseId>,
    query: String,
    name: Option<String>,
    expected_answer: Option<String>,
    keywords: Option<Vec<String>>,
    category: Option<String>,
    tags: Option<Vec<String>>,
    pass_threshold: Option<f64>,
    assertions: Option<Vec<Assertion>>,
    inputs: Option<serde_json::Value>,
    enabled: Option<bool>,
    rubric: Option<String>,
    form_version: Option<crate::model::VersionId>,
    turns: Option<Vec<crate::model::Turn>>,
) -> Result<TestCase, ApiError> {
    let draft = CaseDraft {
        name: name.unwrap_or_default(),
        query,
        expected_answer: expected_answer.unwrap_or_default(),
        keywords: keywords.unwrap_or_default(),
        category: category.unwrap_or_default(),
        tags: tags.unwrap_or_default(),
        pass_threshold,
        assertions: assertions.unwrap_or_default(),
        inputs,
        enabled,
        rubric,
        turns: turns.unwrap_or_default(),
    };
    // A regex is compiled to check it: off the async threads (see `server::offload`).
    let heavy = crate::server::offload::compiles_regex(&draft.assertions);
    let draft = crate::server::offload::cpu_if(heavy, move || crate::server::import::check(draft))
        .await
        .map_err(unavailable)?
        .map_err(ApiError::bad_request)?;
    if let Some(version) = form_version {
        check_against_form(&draft, version).await?;
    }
    let engine = engine()?;
    let store = engine.store();
    let created = id.is_none();
    let id = match id {
        None => store.insert_case(&draft).await?,
        Some(id) => {
            let by = super::ssr::caller_label();
            if !store
                .update_case_noting(id, &draft, by.as_deref(), "edited")
                .await?
            {
                return Err(ApiError::not_found(format!(
                    "test case {id} does not exist"
                )));
            }
            id
        }
    };
    super::ssr::stamp(
        store,
        crate::server::store::Authored::Case,
        &[id.0],
        created,
    )
    .await?;
    store
        .get_case(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("test case {id} does not exist")))
}

/// With `form_version`: the case's inputs (over the version's own, with the query where the app
/// takes it as an input) must be what the version's Dify form accepts; Dify's messages if not.
#[cfg(feature = "ssr")]
async fn check_against_form(
    draft: &CaseDraft,
    version: crate::model::VersionId,
) -> Result<(), ApiError> {
    use crate::model::inputs::{check_inputs, effective_inputs, InputError};
    let (record, form) = super::inputs::load_form(version).await?;
    let inputs = effective_inputs(
        form.app_mode,
        &record.version.inputs,
        draft.inputs.as_ref(),
        &draft.query,
    );
    let errors = check_inputs(&form.fields, &inputs);
    if errors.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = errors
        .into_iter()
        .map(|InputError { message, .. }| message)
        .collect();
    Err(ApiError::bad_request(format!(
        "the inputs do not fit version {version}'s input form: {}",
        list.join("; ")
    )))
}

#[server(prefix = "/api", endpoint = "set_case_enabled", input = Json, output = JsonText)]
pub async fn set_case_enabled(id: CaseId, enabled: bool) -> Result<(), ApiError> {
    let engine = engine()?;
    if !engine.store().set_case_enabled(id, enabled).await? {
        return Err(ApiError::not_found(format!(
            "test case {id} does not exist"
        )));
    }
    super::ssr::stamp(
        engine.store(),
        crate::server::store::Authored::Case,
        &[id.0],
        false,
    )
    .await
}

#[server(prefix = "/api", endpoint = "delete_case", input = Json, output = JsonText)]
pub async fn delete_case(id: CaseId) -> Result<(), ApiError> {
    if !engine()?.store().delete_case(id).await? {
        return Err(ApiError::not_found(format!(
            "test case {id} does not exist"
        )));
    }
    Ok(())
}

/// Imports cases from CSV or JSON text. Every row is checked first; one bad row (named by its
/// number) refuses the whole file. `dry_run` parses and returns the preview without storing.
/// `format` `run_batch`: Dify's Run Batch CSV, its columns the inputs of version `version_id`'s
/// form (see `server::run_batch`).
#[server(prefix = "/api", endpoint = "import_cases", input = Json, output = JsonText)]
pub async fn import_cases(
    format: String,
    content: String,
    dry_run: Option<bool>,
    version_id: Option<crate::model::VersionId>,
) -> Result<ImportReport, ApiError> {
    use crate::server::import::{parse_cases, Format};
    let cases = if is_run_batch(&format) {
        let (record, form) = super::inputs::load_form(run_batch_version(version_id)?).await?;
        let inputs = record.version.inputs;
        crate::server::offload::cpu(move || {
            crate::server::run_batch::parse(&form, &inputs, &content)
        })
        .await
        .map_err(unavailable)?
        .map_err(ApiError::bad_request)?
    } else {
        let format = Format::parse(&format).map_err(ApiError::bad_request)?;
        // Up to 10 MiB of rows, each normalised and its regexes compiled: off the async threads.
        crate::server::offload::cpu(move || parse_cases(format, &content))
            .await
            .map_err(unavailable)?
            .map_err(ApiError::bad_request)?
    };
    let dry_run = dry_run.unwrap_or(false);
    if !dry_run {
        let engine = engine()?;
        let ids = engine.store().insert_cases(&cases).await?;
        let ids: Vec<i64> = ids.into_iter().map(|id| id.0).collect();
        super::ssr::stamp(
            engine.store(),
            crate::server::store::Authored::Case,
            &ids,
            true,
        )
        .await?;
    }
    Ok(ImportReport {
        imported: if dry_run { 0 } else { cases.len() },
        dry_run,
        cases,
    })
}

#[cfg(feature = "ssr")]
fn is_run_batch(format: &str) -> bool {
    format.trim().eq_ignore_ascii_case("run_batch")
}

#[cfg(feature = "ssr")]
fn run_batch_version(
    version_id: Option<crate::model::VersionId>,
) -> Result<crate::model::VersionId, ApiError> {
    version_id.ok_or_else(|| {
        ApiError::bad_request(
            "format `run_batch` needs `version_id`: the version whose input form names the columns",
        )
    })
}

/// Every case as CSV or JSON text, in the shape `import_cases` reads; `run_batch`: as Dify's Run
/// Batch CSV for version `version_id`'s form.
#[server(prefix = "/api", endpoint = "export_cases", input = Json, output = JsonText)]
pub async fn export_cases(
    format: String,
    version_id: Option<crate::model::VersionId>,
) -> Result<String, ApiError> {
    use crate::server::import::{export_csv, export_json, Format};
    if is_run_batch(&format) {
        let (_, form) = super::inputs::load_form(run_batch_version(version_id)?).await?;
        let cases = engine()?.store().list_cases().await?;
        return Ok(crate::server::run_batch::export(&form, &cases));
    }
    let format = Format::parse(&format).map_err(ApiError::bad_request)?;
    let cases = engine()?.store().list_cases().await?;
    Ok(match format {
        Format::Csv => export_csv(&cases),
        Format::Json => export_json(&cases),
    })
}
