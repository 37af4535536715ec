//! Replay: a finished batch's timeline, for playing its progress back on the batch page.

use super::ApiError;
use super::JsonText;
use crate::model::replay::Timeline;
use crate::model::BatchId;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::engine;

/// A finished (completed, error or cancelled) batch's run as compact columns, one entry per
/// result in finish order: version and case indexes, status, score, the gap to the previous
/// finish and the latency, ms (`model::replay::Timeline`; about 21 bytes a result). 404 for an
/// unknown batch, 409 while it is queued or running (its live progress is the stream).
#[server(prefix = "/api", endpoint = "batch_timeline", input = Json, output = JsonText)]
pub async fn batch_timeline(id: BatchId) -> Result<Timeline, ApiError> {
    use super::ErrorKind;
    let engine = engine()?;
    let (batch, timeline) = crate::server::replay::load(engine.store(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("batch {id} does not exist")))?;
    if !batch.status.is_terminal() {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            format!(
                "batch {id} is {}: only a finished batch can be replayed",
                batch.status.as_str()
            ),
        ));
    }
    Ok(timeline)
}
