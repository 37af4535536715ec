//! "What exactly was tested": `batch_identity`, each version's app as Dify described it at the
//! batch's launch, with the changes since the version's previous batch. The records are
//! `server::identity`'s; the comparison is `model::identity::app_changes`.

use super::ApiError;
use super::JsonText;
use crate::model::identity::VersionIdentityView;
use crate::model::BatchId;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::engine;

/// Per version of batch `id`, in the batch's order: its app's name, description, tags, mode
/// and author (`GET /info`, or `info_error` saying why unknown), its input form and the form's
/// fingerprint (`GET /parameters`), the workflow version pinned and the one its answers named,
/// and `changes`: how the app differs from the version's previous batch (workflow version,
/// mode, input form). No key, ever.
#[server(prefix = "/api", endpoint = "batch_identity", input = Json, output = JsonText)]
pub async fn batch_identity(id: BatchId) -> Result<Vec<VersionIdentityView>, ApiError> {
    let engine = engine()?;
    let store = engine.store();
    let batch = store
        .get_batch(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("batch {id} does not exist")))?;
    let mut records = store.app_identities(id).await?;
    let mut out = Vec::with_capacity(batch.versions.len());
    for v in &batch.versions {
        let identity = match records.remove(&v.version_id) {
            Some(mut identity) => {
                identity.pinned_workflow_id.clone_from(&v.workflow_id);
                Some(identity)
            }
            None => v.workflow_id.as_ref().map(|pin| crate::model::AppIdentity {
                version_id: v.version_id,
                pinned_workflow_id: Some(pin.clone()),
                ..Default::default()
            }),
        };
        let previous = store.previous_app_identity(v.version_id, id).await?;
        let changes = match (&previous, &identity) {
            (Some((_, before)), Some(now)) => crate::model::identity::app_changes(before, now),
            _ => Vec::new(),
        };
        out.push(VersionIdentityView {
            version_id: v.version_id,
            version_name: v.name.clone(),
            identity,
            previous_batch: previous.map(|(b, _)| b),
            changes,
        });
    }
    Ok(out)
}
