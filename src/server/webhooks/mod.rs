//! Webhooks: admin-configured receivers told when a batch ends and when an alert is raised.
//!
//! Events become rows of `webhook_deliveries` when they happen (one per subscribed, enabled
//! webhook; a batch's end is written before its terminal event goes out), and a sender task in
//! every `serve` process sends them: it claims due rows with a lease (`store::webhooks`), so on
//! several instances each goes out once, and pending ones survive a restart. The runner only
//! writes rows; a slow or dead receiver never slows a batch.
//!
//! Each attempt is a signed JSON POST ([`sign`]) through the outbound policy (its resolver and
//! [`OutboundPolicy::check_url`]): a refused address fails the delivery, naming the policy.
//! Network errors, timeouts, 5xx, 408 and 429 are retried with backoff and jitter, honouring
//! `Retry-After` ([`backoff`]); other answers end it.

pub mod backoff;
pub mod payload;
pub mod sign;

use crate::model::{
    Alert, BatchId, DeliveryStatus, WebhookDelivery, WebhookEvent, WebhookId, WEBHOOK_TEST_EVENT,
};
use crate::server::outbound::{refusal_in, Host, OutboundPolicy};
use crate::server::store::{now_ms, AttemptRecord, ClaimedDelivery, Store, StoreResult};
use backoff::{after_status, Next, RetryPolicy};
use payload::{BatchSummary, VersionSummary};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How webhooks are sent; from `serve`'s flags.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub retry: RetryPolicy,
    /// One attempt's limit, connect to last byte (`--webhook-timeout-ms`).
    pub timeout: Duration,
    /// `--public-url`'s origin: batch links in the payloads.
    pub public_origin: Option<String>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            public_origin: None,
        }
    }
}

/// Deliveries one process sends at once.
const IN_FLIGHT: usize = 16;
/// The sender looks for work others queued (another instance's events) at least this often.
const POLL: Duration = Duration::from_secs(1);
/// A claim outlives the attempt's timeout by this much before another sender may take it.
const LEASE_MARGIN: Duration = Duration::from_secs(15);
/// How much of a refusing receiver's answer the log keeps.
const BODY_SNIPPET: usize = 200;

pub struct Webhooks {
    store: Store,
    policy: OutboundPolicy,
    client: reqwest::Client,
    settings: WebhookSettings,
    wake: Notify,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    pub fn new(
        store: Store,
        policy: OutboundPolicy,
        settings: WebhookSettings,
    ) -> Result<Arc<Webhooks>, String> {
        let client = policy
            .client_builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("dify-bench-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the webhook HTTP client could not be built: {e}"))?;
        Ok(Arc::new(Webhooks {
            store,
            policy,
            client,
            settings,
            wake: Notify::new(),
        }))
    }

    /// Whether a URL may be a webhook's: well-formed, and not an address the outbound policy
    /// refuses (a host name is resolved now; one that does not resolve yet is accepted, and
    /// checked again on every send). The message names the policy and the flag that helps.
    pub async fn check_target(&self, url: &str) -> Result<(), String> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| format!("url `{url}` is not valid: {e}"))?;
        self.policy
            .check_url(&parsed)
            .await
            .map_err(|r| format!("the outbound policy refuses this URL: {r}"))?;
        let (Some(host), Some(port)) = (
            parsed.host_str().and_then(Host::parse),
            parsed.port_or_known_default(),
        ) else {
            return Err(format!("url `{url}` has no host"));
        };
        if let Host::Name(name) = &host {
            if let Ok(addrs) = tokio::net::lookup_host((name.as_str(), port)).await {
                for addr in addrs {
                    self.policy
                        .check_addr(&host, Some(port), addr.ip())
                        .map_err(|r| format!("the outbound policy refuses this URL: {r}"))?;
                }
            }
        }
        Ok(())
    }

    /// Queues a batch's end for every enabled webhook that wants it. Called once per batch end
    /// (on several instances, by the one whose end the store recorded); errors are logged.
    pub async fn batch_ended(&self, batch: BatchId) {
        if let Err(e) = self.queue_batch_end(batch).await {
            tracing::warn!(batch = %batch, error = %e, "cannot queue the batch's webhooks");
        }
    }

    async fn queue_batch_end(&self, batch: BatchId) -> StoreResult<()> {
        let hooks = self.store.list_webhooks().await?;
        if !hooks.iter().any(|h| h.webhook.enabled) {
            return Ok(());
        }
        let Some((b, tallies)) = self.store.batch_with_tallies(batch).await? else {
            return Ok(());
        };
        let Some(event) = payload::batch_event(b.status) else {
            return Ok(());
        };
        let per_version = b.total_tests / (b.versions.len().max(1) as i64);
        let summary = BatchSummary {
            id: b.id.0,
            name: b.name.clone(),
            status: b.status,
            error_message: b.error_message.clone(),
            versions: b
                .versions
                .iter()
                .map(|v| {
                    let t = tallies.iter().find(|t| t.version_id == v.version_id.0);
                    VersionSummary {
                        id: v.version_id.0,
                        name: v.name.clone(),
                        total: per_version,
                        completed: t.map_or(0, |t| t.completed),
                        passed: t.map_or(0, |t| t.passed),
                        errors: t.map_or(0, |t| t.errored),
                    }
                })
                .collect(),
            url: payload::batch_url(self.settings.public_origin.as_deref(), b.id.0),
        };
        let body = payload::batch_payload(&summary).to_string();
        self.queue(&hooks, event, &body).await
    }

    /// Queues an alert for every enabled webhook that wants it (called once per alert: by the
    /// instance that stored it).
    pub async fn alert_raised(&self, batch: BatchId, alert: &Alert) {
        if let Err(e) = self.queue_alert(batch, alert).await {
            tracing::warn!(batch = %batch, error = %e, "cannot queue the alert's webhooks");
        }
    }

    async fn queue_alert(&self, batch: BatchId, alert: &Alert) -> StoreResult<()> {
        let hooks = self.store.list_webhooks().await?;
        if !hooks
            .iter()
            .any(|h| h.webhook.enabled && h.webhook.events.contains(&WebhookEvent::AlertRaised))
        {
            return Ok(());
        }
        let Some((batch_name, version)) = self
            .store
            .batch_and_version_name(batch, alert.version_id)
            .await?
        else {
            return Ok(());
        };
        let url = payload::batch_url(self.settings.public_origin.as_deref(), batch.0);
        let body = payload::alert_payload(batch.0, &batch_name, &version, alert, url.as_deref())
            .to_string();
        self.queue(&hooks, WebhookEvent::AlertRaised, &body).await
    }

    async fn queue(
        &self,
        hooks: &[crate::server::store::WebhookRecord],
        event: WebhookEvent,
        body: &str,
    ) -> StoreResult<()> {
        let mut queued = 0;
        for h in hooks
            .iter()
            .filter(|h| h.webhook.enabled && h.webhook.events.contains(&event))
        {
            self.store
                .enqueue_delivery(h.webhook.id, &delivery_uid(), event.as_str(), body)
                .await?;
            queued += 1;
        }
        if queued > 0 {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Queues a test delivery to one webhook (enabled or not) and returns it as logged.
    pub async fn send_test(&self, id: WebhookId) -> StoreResult<Option<WebhookDelivery>> {
        let Some(hook) = self.store.get_webhook(id).await? else {
            return Ok(None);
        };
        let body = payload::test_payload(&hook.webhook.name).to_string();
        let row = self
            .store
            .enqueue_delivery(id, &delivery_uid(), WEBHOOK_TEST_EVENT, &body)
            .await?;
        self.wake.notify_one();
        self.store.get_delivery(row).await
    }

    /// Starts the sender; it stops when `stop` is cancelled (an attempt cut short is taken up
    /// again, by this or another instance, once its lease ends).
    pub fn spawn(self: &Arc<Self>, stop: CancellationToken) {
        let me = self.clone();
        tokio::spawn(async move { me.run(stop).await });
    }

    async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut sending: JoinSet<()> = JoinSet::new();
        loop {
            let now = now_ms();
            let room = IN_FLIGHT.saturating_sub(sending.len());
            if room > 0 {
                match self.claim(now, room).await {
                    Ok(claims) => {
                        for claim in claims {
                            let me = self.clone();
                            sending.spawn(async move { me.attempt(claim).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the webhook deliveries"),
                }
            }
            // Full: a finished attempt wakes the loop. Else until the next due delivery (here or
            // another instance's), at most POLL.
            let wait = if sending.len() >= IN_FLIGHT {
                POLL
            } else {
                match self.store.next_delivery_due().await {
                    Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(5, 1_000) as u64),
                    _ => POLL,
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.wake.notified() => {}
                Some(_) = sending.join_next(), if !sending.is_empty() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn claim(&self, now: i64, room: usize) -> StoreResult<Vec<ClaimedDelivery>> {
        let lease = (self.settings.timeout + LEASE_MARGIN).as_millis() as i64;
        let mut out = Vec::new();
        for id in self.store.due_deliveries(now, room as i64).await? {
            if let Some(c) = self
                .store
                .claim_delivery(id, &delivery_uid(), now, now + lease)
                .await?
            {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// One attempt of a claimed delivery, recorded.
    async fn attempt(&self, claim: ClaimedDelivery) {
        let failed_before = u32::try_from(claim.attempts).unwrap_or(u32::MAX);
        let outcome = self.send(&claim).await;
        let (next, http_status, error, retry_after) = outcome;
        let record = match next {
            Next::Delivered => AttemptRecord {
                status: DeliveryStatus::Delivered,
                http_status,
                error: None,
                next_attempt_at: None,
            },
            Next::Retry => {
                let jitter: f64 = rand::random();
                match self
                    .settings
                    .retry
                    .delay(failed_before + 1, jitter, retry_after)
                {
                    Some(delay) => AttemptRecord {
                        status: DeliveryStatus::Pending,
                        http_status,
                        error,
                        next_attempt_at: Some(now_ms() + delay.as_millis() as i64),
                    },
                    None => AttemptRecord {
                        status: DeliveryStatus::Failed,
                        http_status,
                        error: Some(format!(
                            "gave up after {} attempts: {}",
                            failed_before + 1,
                            error.unwrap_or_default()
                        )),
                        next_attempt_at: None,
                    },
                }
            }
            Next::GiveUp => AttemptRecord {
                status: DeliveryStatus::Failed,
                http_status,
                error,
                next_attempt_at: None,
            },
        };
        tracing::info!(
            delivery = claim.id,
            webhook = %claim.webhook_id,
            event = claim.event,
            attempt = failed_before + 1,
            status = record.status.as_str(),
            http_status = record.http_status,
            error = record.error.as_deref().unwrap_or(""),
            "webhook delivery attempt"
        );
        match self.store.record_attempt(&claim, now_ms(), &record).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                delivery = claim.id,
                "a webhook attempt outlived its lease; another sender has the delivery"
            ),
            Err(e) => {
                tracing::warn!(delivery = claim.id, error = %e, "cannot record a webhook attempt")
            }
        }
    }

    /// Sends once: what it calls for, the HTTP status, the error, the `Retry-After`.
    async fn send(
        &self,
        claim: &ClaimedDelivery,
    ) -> (Next, Option<i64>, Option<String>, Option<Duration>) {
        let give_up = |m: String| (Next::GiveUp, None, Some(m), None);
        let hook = match self.store.get_webhook(claim.webhook_id).await {
            Ok(Some(h)) => h,
            Ok(None) => return give_up("the webhook was deleted".into()),
            Err(e) => return (Next::Retry, None, Some(format!("database: {e}")), None),
        };
        if !hook.webhook.enabled && claim.event != WEBHOOK_TEST_EVENT {
            return give_up("the webhook was disabled before this was sent".into());
        }
        let url = match reqwest::Url::parse(&hook.webhook.url) {
            Ok(u) => u,
            Err(e) => return give_up(format!("the webhook's url is not valid: {e}")),
        };
        if let Err(refused) = self.policy.check_url(&url).await {
            return give_up(format!("refused by the outbound policy: {refused}"));
        }
        let timestamp = now_ms() / 1000;
        let signature =
            sign::signature_header(hook.secret.expose(), timestamp, claim.payload.as_bytes());
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(sign::EVENT_HEADER, &claim.event)
            .header(sign::DELIVERY_HEADER, &claim.uid)
            .header(sign::SIGNATURE_HEADER, signature)
            .body(claim.payload.clone())
            .send()
            .await;
        let res = match sent {
            Ok(res) => res,
            Err(e) => {
                if let Some(refused) = refusal_in(&e) {
                    return give_up(format!("refused by the outbound policy: {refused}"));
                }
                let what = if e.is_timeout() {
                    format!("no answer within {} ms", self.settings.timeout.as_millis())
                } else {
                    format!("cannot reach the receiver: {}", error_chain(&e))
                };
                return (Next::Retry, None, Some(what), None);
            }
        };
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| backoff::retry_after(v, std::time::SystemTime::now()));
        let next = after_status(status);
        if next == Next::Delivered {
            return (next, Some(i64::from(status)), None, None);
        }
        let snippet = read_snippet(res).await;
        let mut error = format!("the receiver answered HTTP {status}");
        if (300..400).contains(&status) {
            error.push_str(" (redirects are not followed: use the final URL)");
        } else if next == Next::GiveUp {
            error.push_str(" (not retried)");
        }
        if !snippet.is_empty() {
            error.push_str(&format!(": {snippet}"));
        }
        (next, Some(i64::from(status)), Some(error), retry_after)
    }
}

/// The first bytes of an answer, as one line of text.
async fn read_snippet(res: reqwest::Response) -> String {
    use futures::StreamExt;
    let mut stream = res.bytes_stream();
    let mut buf = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        buf.extend_from_slice(&chunk);
        if buf.len() >= BODY_SNIPPET * 4 {
            break;
        }
    }
    let text: String = String::from_utf8_lossy(&buf)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(BODY_SNIPPET)
        .collect();
    text.trim().to_string()
}

/// A reqwest error with its causes (its own message is often just "error sending request").
fn error_chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// A delivery's id (also a claim's token): 16 random bytes in hex.
fn delivery_uid() -> String {
    let bytes: [u8; 16] = rand::random();
    sign::hex(&bytes)
}
