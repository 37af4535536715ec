//! Judges (and embedding endpoints): list, save, delete, test, and a judge's calibration
//! against human reviews. Keys are write-only, as versions' are.

use super::ApiError;
use super::JsonText;
use crate::model::{AppMode, Judge, JudgeId, JudgeKind, JudgeProbe, JudgeReport};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::engine;
#[cfg(feature = "ssr")]
use crate::model::JudgeDraft;

/// Every judge, oldest first. Keys appear only as hints.
#[server(prefix = "/api", endpoint = "list_judges", input = Json, output = JsonText)]
pub async fn list_judges() -> Result<Vec<Judge>, ApiError> {
    let records = engine()?.store().list_judges().await?;
    Ok(records.into_iter().map(|r| r.judge).collect())
}

/// Creates a judge (no `id`) or updates one. `api_key` is write-only: required on create, and on
/// update left out (or empty) to keep the stored key — unless `base_url` moves to another scheme,
/// host or port, where the key must be given again. `use_by_default`: the launch form picks it
/// for new batches.
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/api", endpoint = "save_judge", input = Json, output = JsonText)]
pub async fn save_judge(
    id: Option<JudgeId>,
    name: String,
    kind: JudgeKind,
    base_url: String,
    model: Option<String>,
    app_mode: Option<AppMode>,
    api_key: Option<String>,
    json_mode: Option<bool>,
    concurrency: Option<u32>,
    input_price_per_mtok: Option<f64>,
    output_price_per_mtok: Option<f64>,
    use_by_default: Option<bool>,
) -> Result<Judge, ApiError> {
    let defaults = JudgeDraft::default();
    let draft = JudgeDraft {
        name,
        kind,
        base_url,
        model: model.unwrap_or_default(),
        app_mode: app_mode.unwrap_or(defaults.app_mode),
        api_key,
        json_mode: json_mode.unwrap_or(defaults.json_mode),
        concurrency: concurrency.unwrap_or(defaults.concurrency),
        input_price_per_mtok,
        output_price_per_mtok,
        use_by_default: use_by_default.unwrap_or(false),
    }
    .normalized(id.is_none())
    .map_err(ApiError::bad_request)?;
    let engine = engine()?;
    let store = engine.store();
    let by = super::ssr::caller_label();
    let id = match id {
        None => store.insert_judge(&draft, by.as_deref()).await?,
        Some(id) => {
            let stored = store
                .get_judge(id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("judge {id} does not exist")))?;
            if draft.api_key.is_none()
                && super::versions::origin_of(&stored.judge.base_url)
                    != super::versions::origin_of(&draft.base_url)
            {
                return Err(ApiError::bad_request(
                    "base_url moves to another scheme, host or port: enter the API key again \
                     (the stored key is only ever sent where it was first meant to go)",
                ));
            }
            if !store.update_judge(id, &draft, by.as_deref()).await? {
                return Err(ApiError::not_found(format!("judge {id} does not exist")));
            }
            id
        }
    };
    let saved = store
        .get_judge(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("judge {id} does not exist")))?;
    Ok(saved.judge)
}

/// Deletes a judge. Results it graded keep their judgements.
#[server(prefix = "/api", endpoint = "delete_judge", input = Json, output = JsonText)]
pub async fn delete_judge(id: JudgeId) -> Result<(), ApiError> {
    if !engine()?.store().delete_judge(id).await? {
        return Err(ApiError::not_found(format!("judge {id} does not exist")));
    }
    Ok(())
}

/// Grades one tiny sample answer (or embeds one word) through the judge, uncached.
#[server(prefix = "/api", endpoint = "test_judge", input = Json, output = JsonText)]
pub async fn test_judge(id: JudgeId) -> Result<JudgeProbe, ApiError> {
    let engine = engine()?;
    let record = engine
        .store()
        .get_judge(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("judge {id} does not exist")))?;
    let started = std::time::Instant::now();
    let outcome = engine.judging().probe(&record).await;
    let latency_ms = started.elapsed().as_millis() as i64;
    Ok(match outcome {
        Ok(message) => JudgeProbe {
            ok: true,
            message,
            latency_ms,
        },
        Err(message) => JudgeProbe {
            ok: false,
            message,
            latency_ms,
        },
    })
}

/// How far a judge agrees with human reviews, per rubric: percent agreement, Cohen's κ and the
/// confusion matrix, over every reviewed result the judge gave a verdict on.
#[server(prefix = "/api", endpoint = "judge_calibration", input = Json, output = JsonText)]
pub async fn judge_calibration(id: JudgeId) -> Result<JudgeReport, ApiError> {
    use crate::model::{ReviewVerdict, Rubric};
    let engine = engine()?;
    let store = engine.store();
    let judge = store
        .get_judge(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("judge {id} does not exist")))?
        .judge;
    let reviewed = store.reviewed_judgements().await?;
    let rubrics = Rubric::ALL
        .into_iter()
        .filter_map(|rubric| {
            let pairs: Vec<(bool, bool)> = reviewed
                .iter()
                .filter_map(|r| {
                    let j = r.detail.judge.as_ref()?;
                    (j.judge_id == Some(id) && j.rubric == rubric && j.error.is_none())
                        .then_some((j.passed?, r.verdict == ReviewVerdict::Pass))
                })
                .collect();
            (!pairs.is_empty())
                .then(|| crate::server::judge::calibration::calibrate(Some(id), rubric, &pairs))
        })
        .collect();
    Ok(JudgeReport { judge, rubrics })
}
