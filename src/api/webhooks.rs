//! Webhooks: list, save, delete, send a test, and each one's delivery log. Admins only (the
//! access table); the signing secret is write-only — a generated one is in the answer that
//! generated it, and nowhere after.

use super::ApiError;
use super::JsonText;
#[cfg(feature = "ssr")]
use crate::model::{Webhook, WebhookDraft};
use crate::model::{WebhookDelivery, WebhookEvent, WebhookId, WebhookSaved};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::engine;

/// Deliveries the log shows at most.
pub const DELIVERY_LOG_MAX: u32 = 200;

#[cfg(feature = "ssr")]
fn hooks() -> Result<std::sync::Arc<crate::server::webhooks::Webhooks>, ApiError> {
    engine()?.webhooks().cloned().ok_or_else(|| {
        ApiError::new(
            super::ErrorKind::Unavailable,
            "webhooks are not sent by this process",
        )
    })
}

/// Every webhook, oldest first. Secrets appear only as hints.
#[server(prefix = "/api", endpoint = "list_webhooks", input = Json, output = JsonText)]
pub async fn list_webhooks() -> Result<Vec<crate::model::Webhook>, ApiError> {
    let records = engine()?.store().list_webhooks().await?;
    Ok(records.into_iter().map(|r| r.webhook).collect())
}

/// Creates a webhook (no `id`) or updates one. `secret` is write-only: entered (16–200
/// characters), or left out — on create one is generated and returned once in
/// `generated_secret`; on update the stored one is kept unless `regenerate_secret`. The URL is
/// refused if the outbound policy refuses its address.
#[server(prefix = "/api", endpoint = "save_webhook", input = Json, output = JsonText)]
pub async fn save_webhook(
    id: Option<WebhookId>,
    name: String,
    url: String,
    events: Vec<WebhookEvent>,
    enabled: Option<bool>,
    secret: Option<String>,
    regenerate_secret: Option<bool>,
) -> Result<WebhookSaved, ApiError> {
    use crate::server::secret::Secret;
    use crate::server::webhooks::sign::generate_secret;
    let draft = WebhookDraft {
        name,
        url,
        events,
        enabled: enabled.unwrap_or(true),
        secret,
    }
    .normalized()
    .map_err(ApiError::bad_request)?;
    let hooks = hooks()?;
    hooks
        .check_target(&draft.url)
        .await
        .map_err(ApiError::bad_request)?;
    let engine = engine()?;
    let store = engine.store();
    let by = super::ssr::caller_label();
    let generate = match id {
        None => draft.secret.is_none(),
        Some(_) => draft.secret.is_none() && regenerate_secret.unwrap_or(false),
    };
    if draft.secret.is_some() && regenerate_secret.unwrap_or(false) {
        return Err(ApiError::bad_request(
            "give a secret or ask for a new one to be generated, not both",
        ));
    }
    let generated = generate.then(generate_secret);
    let secret = draft
        .secret
        .clone()
        .or_else(|| generated.clone())
        .map(Secret::new);
    let id = match id {
        None => {
            let secret = secret.ok_or_else(|| ApiError::bad_request("a secret is required"))?;
            store.insert_webhook(&draft, &secret, by.as_deref()).await?
        }
        Some(id) => {
            if !store
                .update_webhook(id, &draft, secret.as_ref(), by.as_deref())
                .await?
            {
                return Err(ApiError::not_found(format!("webhook {id} does not exist")));
            }
            id
        }
    };
    let webhook: Webhook = store
        .get_webhook(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {id} does not exist")))?
        .webhook;
    Ok(WebhookSaved {
        webhook,
        generated_secret: generated,
    })
}

/// Deletes a webhook and its delivery log; its pending deliveries are not sent.
#[server(prefix = "/api", endpoint = "delete_webhook", input = Json, output = JsonText)]
pub async fn delete_webhook(id: WebhookId) -> Result<(), ApiError> {
    if !engine()?.store().delete_webhook(id).await? {
        return Err(ApiError::not_found(format!("webhook {id} does not exist")));
    }
    Ok(())
}

/// Queues a `webhook.test` delivery (sent even while the webhook is disabled) and returns it;
/// its outcome shows in the log moments later.
#[server(prefix = "/api", endpoint = "test_webhook", input = Json, output = JsonText)]
pub async fn test_webhook(id: WebhookId) -> Result<WebhookDelivery, ApiError> {
    hooks()?
        .send_test(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {id} does not exist")))
}

/// A webhook's latest deliveries, newest first (`limit` default 50, at most 200).
#[server(prefix = "/api", endpoint = "webhook_deliveries", input = Json, output = JsonText)]
pub async fn webhook_deliveries(
    id: WebhookId,
    limit: Option<u32>,
) -> Result<Vec<WebhookDelivery>, ApiError> {
    let store = engine()?.store().clone();
    if store.get_webhook(id).await?.is_none() {
        return Err(ApiError::not_found(format!("webhook {id} does not exist")));
    }
    let limit = limit.unwrap_or(50).clamp(1, DELIVERY_LOG_MAX);
    Ok(store.webhook_deliveries(id, i64::from(limit)).await?)
}
