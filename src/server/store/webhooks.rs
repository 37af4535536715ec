//! The `webhooks` table (signing secrets sealed for [`Purpose::WEBHOOK_SECRET`]) and the
//! `webhook_deliveries` queue and log.
//!
//! A delivery is written once per event and webhook when the event happens, then claimed by a
//! sender with a lease — a conditional update that only one instance's can win, as tests are
//! claimed — so that on several instances each goes out once, and one whose sender vanished
//! mid-attempt is taken up again when its lease ends. What to send and when to retry is
//! `server::webhooks`' business; this module stores and reads.

use super::{now_ms, on_pool, Store, StoreError, StoreResult};
use crate::model::{
    DeliveryStatus, Webhook, WebhookDelivery, WebhookDraft, WebhookEvent, WebhookId,
};
use crate::server::secret::{Purpose, Secret};

/// A webhook with its secret: only the sender ever sees one.
#[derive(Debug, Clone)]
pub struct WebhookRecord {
    pub webhook: Webhook,
    pub secret: Secret,
}

/// A delivery a sender has claimed, to attempt now.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub webhook_id: WebhookId,
    pub uid: String,
    pub event: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The claim's token: only its holder records the attempt.
    pub token: String,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub status: DeliveryStatus,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    /// When to try again (pending only).
    pub next_attempt_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: i64,
    name: String,
    url: String,
    events: String,
    enabled: bool,
    secret: String,
    created_at: i64,
    updated_at: i64,
    created_by: Option<String>,
    updated_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    webhook_id: i64,
    uid: String,
    event: String,
    status: String,
    attempts: i64,
    http_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    last_attempt_at: Option<i64>,
    next_attempt_at: i64,
    delivered_at: Option<i64>,
}

const COLUMNS: &str = "id, name, url, events, enabled, secret, created_at, updated_at, \
                       created_by, updated_by";
const DELIVERY_COLUMNS: &str = "id, webhook_id, uid, event, status, attempts, http_status, \
                                last_error, created_at, last_attempt_at, next_attempt_at, \
                                delivered_at";

fn events_text(events: &[WebhookEvent]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl Store {
    fn webhook_record(&self, row: WebhookRow) -> StoreResult<WebhookRecord> {
        let events = row
            .events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(|e| {
                WebhookEvent::parse(e)
                    .ok_or_else(|| StoreError::Corrupt(format!("webhook {}: event `{e}`", row.id)))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let secret = self
            .keys()
            .for_purpose(Purpose::WEBHOOK_SECRET)
            .open(&row.secret)
            .map_err(|source| StoreError::Sealed {
                what: format!("webhook {}'s signing secret", row.id),
                source,
            })?;
        Ok(WebhookRecord {
            webhook: Webhook {
                id: WebhookId(row.id),
                name: row.name,
                url: row.url,
                events,
                enabled: row.enabled,
                secret_hint: crate::server::webhooks::sign::hint(secret.expose()),
                created_at: row.created_at,
                updated_at: row.updated_at,
                created_by: row.created_by,
                updated_by: row.updated_by,
            },
            secret,
        })
    }

    pub async fn list_webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM webhooks ORDER BY id");
        let rows: Vec<WebhookRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(|r| self.webhook_record(r)).collect()
    }

    pub async fn get_webhook(&self, id: WebhookId) -> StoreResult<Option<WebhookRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1");
        let row: Option<WebhookRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(id.0).fetch_optional(pool).await)?;
        row.map(|r| self.webhook_record(r)).transpose()
    }

    /// Inserts a normalised draft with its secret, recording who created it.
    pub async fn insert_webhook(
        &self,
        draft: &WebhookDraft,
        secret: &Secret,
        by: Option<&str>,
    ) -> StoreResult<WebhookId> {
        let sealed = self
            .keys()
            .for_purpose(Purpose::WEBHOOK_SECRET)
            .seal(secret)?;
        let sql = "INSERT INTO webhooks (name, url, events, enabled, secret, created_at, \
                   updated_at, created_by, updated_by) \
                   VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $7) RETURNING id";
        let id: i64 = on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(&draft.name)
            .bind(&draft.url)
            .bind(events_text(&draft.events))
            .bind(draft.enabled)
            .bind(&sealed)
            .bind(now_ms())
            .bind(by)
            .fetch_one(pool)
            .await)
        .map_err(|e| name_taken(e, &draft.name))?;
        Ok(WebhookId(id))
    }

    /// Updates a webhook; `secret` None keeps the stored one. False if there is no such id.
    pub async fn update_webhook(
        &self,
        id: WebhookId,
        draft: &WebhookDraft,
        secret: Option<&Secret>,
        by: Option<&str>,
    ) -> StoreResult<bool> {
        let sealed = match secret {
            Some(s) => Some(self.keys().for_purpose(Purpose::WEBHOOK_SECRET).seal(s)?),
            None => None,
        };
        let sql = "UPDATE webhooks SET name = $2, url = $3, events = $4, enabled = $5, \
                   secret = COALESCE($6, secret), updated_at = $7, updated_by = $8 WHERE id = $1";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(id.0)
            .bind(&draft.name)
            .bind(&draft.url)
            .bind(events_text(&draft.events))
            .bind(draft.enabled)
            .bind(&sealed)
            .bind(now_ms())
            .bind(by)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| name_taken(e, &draft.name))?;
        Ok(done == 1)
    }

    /// Deletes a webhook and its deliveries (pending ones are not sent).
    pub async fn delete_webhook(&self, id: WebhookId) -> StoreResult<bool> {
        let done = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
                .bind(id.0).execute(&mut *tx).await?;
            let n = sqlx::query("DELETE FROM webhooks WHERE id = $1")
                .bind(id.0).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok::<u64, sqlx::Error>(n)
        })?;
        Ok(done == 1)
    }

    /// Queues a delivery, due at once. `uid` is unique (the `X-Dify-Bench-Delivery` id).
    pub async fn enqueue_delivery(
        &self,
        webhook: WebhookId,
        uid: &str,
        event: &str,
        payload: &str,
    ) -> StoreResult<i64> {
        let now = now_ms();
        let id: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "INSERT INTO webhook_deliveries (webhook_id, uid, event, payload, status, attempts, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) \
             RETURNING id")
            .bind(webhook.0).bind(uid).bind(event).bind(payload).bind(now)
            .fetch_one(pool).await)?;
        Ok(id)
    }

    /// Pending deliveries due by `now` and not leased to a sender, oldest first, at most `limit`.
    pub async fn due_deliveries(&self, now: i64, limit: i64) -> StoreResult<Vec<i64>> {
        let ids: Vec<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT id FROM webhook_deliveries WHERE status = 'pending' \
             AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
             ORDER BY next_attempt_at, id LIMIT $2")
            .bind(now).bind(limit).fetch_all(pool).await)?;
        Ok(ids)
    }

    /// When the next pending delivery is due (or its lease ends), if any is pending.
    pub async fn next_delivery_due(&self) -> StoreResult<Option<i64>> {
        let at: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > next_attempt_at \
             THEN lease_until ELSE next_attempt_at END) FROM webhook_deliveries \
             WHERE status = 'pending'")
            .fetch_one(pool).await)?;
        Ok(at)
    }

    /// Claims a due delivery until `lease_until` under `token`; None when another sender got it
    /// first (or it is no longer due).
    pub async fn claim_delivery(
        &self,
        id: i64,
        token: &str,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Option<ClaimedDelivery>> {
        let row: Option<(i64, i64, String, String, String, i64)> = on_pool!(self, pool =>
            sqlx::query_as(
                "UPDATE webhook_deliveries SET lease_until = $3, lease_token = $4 \
                 WHERE id = $1 AND status = 'pending' AND next_attempt_at <= $2 \
                 AND (lease_until IS NULL OR lease_until < $2) \
                 RETURNING id, webhook_id, uid, event, payload, attempts")
            .bind(id).bind(now).bind(lease_until).bind(token)
            .fetch_optional(pool).await)?;
        Ok(row.map(
            |(id, webhook_id, uid, event, payload, attempts)| ClaimedDelivery {
                id,
                webhook_id: WebhookId(webhook_id),
                uid,
                event,
                payload,
                attempts,
                token: token.to_string(),
            },
        ))
    }

    /// Records an attempt of a claimed delivery and releases the claim; false when the claim
    /// was lost (its lease ran out and another sender took it).
    pub async fn record_attempt(
        &self,
        claim: &ClaimedDelivery,
        at: i64,
        outcome: &AttemptRecord,
    ) -> StoreResult<bool> {
        let delivered = (outcome.status == DeliveryStatus::Delivered).then_some(at);
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1, \
             http_status = $4, last_error = $5, last_attempt_at = $6, \
             next_attempt_at = COALESCE($7, next_attempt_at), delivered_at = $8, \
             lease_until = NULL, lease_token = NULL \
             WHERE id = $1 AND lease_token = $2")
            .bind(claim.id)
            .bind(&claim.token)
            .bind(outcome.status.as_str())
            .bind(outcome.http_status)
            .bind(&outcome.error)
            .bind(at)
            .bind(outcome.next_attempt_at)
            .bind(delivered)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// A webhook's latest deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        webhook: WebhookId,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
             ORDER BY id DESC LIMIT $2"
        );
        let rows: Vec<DeliveryRow> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(webhook.0).bind(limit).fetch_all(pool).await)?;
        rows.into_iter().map(delivery).collect()
    }

    /// A batch's name and the name one of its versions had when it was launched (for an
    /// alert's text), without reading the batch's cases.
    pub async fn batch_and_version_name(
        &self,
        batch: crate::model::BatchId,
        version: crate::model::VersionId,
    ) -> StoreResult<Option<(String, String)>> {
        let row: Option<(String, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT b.name, bv.config FROM batches b JOIN batch_versions bv ON bv.batch_id = b.id \
             WHERE b.id = $1 AND bv.version_id = $2")
            .bind(batch.0).bind(version.0).fetch_optional(pool).await)?;
        let Some((name, config)) = row else {
            return Ok(None);
        };
        let config: serde_json::Value = super::parse_json("batch version snapshot", &config)?;
        let version_name = config
            .get("name")
            .and_then(|n| n.as_str())
            .map_or_else(|| format!("version {version}"), str::to_string);
        Ok(Some((name, version_name)))
    }

    pub async fn get_delivery(&self, id: i64) -> StoreResult<Option<WebhookDelivery>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
        let row: Option<DeliveryRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?;
        row.map(delivery).transpose()
    }
}

fn delivery(r: DeliveryRow) -> StoreResult<WebhookDelivery> {
    let status = DeliveryStatus::parse(&r.status)
        .ok_or_else(|| StoreError::Corrupt(format!("delivery {}: status `{}`", r.id, r.status)))?;
    Ok(WebhookDelivery {
        id: r.id,
        webhook_id: WebhookId(r.webhook_id),
        delivery_id: r.uid,
        event: r.event,
        status,
        attempts: r.attempts,
        http_status: r.http_status,
        error: r.last_error,
        created_at: r.created_at,
        last_attempt_at: r.last_attempt_at,
        next_attempt_at: (status == DeliveryStatus::Pending).then_some(r.next_attempt_at),
        delivered_at: r.delivered_at,
    })
}

fn name_taken(e: sqlx::Error, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("a webhook named `{name}` already exists"))
        }
        _ => StoreError::Database(e),
    }
}
