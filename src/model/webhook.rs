//! Webhooks as the API shows them: where batch-end and alert events are POSTed, which events, and
//! the log of their deliveries. The signing secret is write-only: the API shows its hint, and a
//! secret the server generates once, in the answer that created it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A configured webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookId(pub i64);

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a webhook can be told about. The wire names (`batch.completed`, …) are the payload's
/// `event` field and the `X-Dify-Bench-Event` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WebhookEvent {
    /// A batch ended with every test run.
    #[serde(rename = "batch.completed")]
    BatchCompleted,
    /// A batch stopped with an error (its results could not be saved).
    #[serde(rename = "batch.failed")]
    BatchFailed,
    /// A batch was cancelled.
    #[serde(rename = "batch.cancelled")]
    BatchCancelled,
    /// A live alert was raised during a batch (`server::alerts`).
    #[serde(rename = "alert.raised")]
    AlertRaised,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 4] = [
        WebhookEvent::BatchCompleted,
        WebhookEvent::BatchFailed,
        WebhookEvent::BatchCancelled,
        WebhookEvent::AlertRaised,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::BatchCompleted => "batch.completed",
            WebhookEvent::BatchFailed => "batch.failed",
            WebhookEvent::BatchCancelled => "batch.cancelled",
            WebhookEvent::AlertRaised => "alert.raised",
        }
    }

    pub fn parse(s: &str) -> Option<WebhookEvent> {
        WebhookEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// The event name of the deliveries "Send test" makes (sent whatever events are chosen).
pub const WEBHOOK_TEST_EVENT: &str = "webhook.test";

/// A webhook as the API shows it: the secret only as its hint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub name: String,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub enabled: bool,
    /// `whsec_…abcd`.
    pub secret_hint: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
}

/// What `save_webhook` answers: the webhook, and the secret when the server generated it (shown
/// once; it is never readable again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSaved {
    pub webhook: Webhook,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_secret: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not sent yet, or to be retried.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: a 4xx other than 408/429, a refused address, or every attempt failed.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// One event sent (or being sent) to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub id: i64,
    pub webhook_id: WebhookId,
    /// The `X-Dify-Bench-Delivery` header: the same on every attempt, for the receiver to
    /// drop a duplicate.
    pub delivery_id: String,
    pub event: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// The last answer's HTTP status, if one came.
    pub http_status: Option<i64>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    pub created_at: i64,
    pub last_attempt_at: Option<i64>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
}

/// The longest name.
pub const WEBHOOK_NAME_MAX: usize = 100;
/// The longest URL.
pub const WEBHOOK_URL_MAX: usize = 2000;
/// The shortest and longest secret an admin may enter (a generated one is 43 characters after
/// its prefix).
pub const WEBHOOK_SECRET_MIN: usize = 16;
pub const WEBHOOK_SECRET_MAX: usize = 200;

/// A webhook as an admin entered it, checked and trimmed ([`WebhookDraft::normalized`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDraft {
    pub name: String,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub enabled: bool,
    /// An entered secret; None keeps the stored one (or, on create, has one generated).
    pub secret: Option<String>,
}

impl WebhookDraft {
    /// Trims, checks and dedups; the error names the field. The URL's address is the outbound
    /// policy's business (checked on the server when saved).
    pub fn normalized(mut self) -> Result<WebhookDraft, String> {
        self.name = self.name.trim().to_string();
        if self.name.is_empty() {
            return Err("name is required".into());
        }
        if self.name.chars().count() > WEBHOOK_NAME_MAX {
            return Err(format!("name is longer than {WEBHOOK_NAME_MAX} characters"));
        }
        self.url = self.url.trim().to_string();
        if self.url.len() > WEBHOOK_URL_MAX {
            return Err(format!("url is longer than {WEBHOOK_URL_MAX} characters"));
        }
        let rest = self
            .url
            .strip_prefix("https://")
            .or_else(|| self.url.strip_prefix("http://"))
            .ok_or_else(|| format!("url `{}` must start with http:// or https://", self.url))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.is_empty() {
            return Err(format!("url `{}` has no host", self.url));
        }
        if authority.contains('@') {
            return Err(
                "url must not carry a user name or password (the signature authenticates \
                 deliveries)"
                    .into(),
            );
        }
        if self.url.chars().any(char::is_whitespace) {
            return Err("url must not contain spaces".into());
        }
        let mut events = Vec::new();
        for e in self.events {
            if !events.contains(&e) {
                events.push(e);
            }
        }
        if events.is_empty() {
            return Err("choose at least one event".into());
        }
        self.events = events;
        self.secret = match self.secret.map(|s| s.trim().to_string()) {
            None => None,
            Some(s) if s.is_empty() => None,
            Some(s) if s.chars().any(char::is_whitespace) => {
                return Err("secret must not contain spaces".into())
            }
            Some(s) if s.len() < WEBHOOK_SECRET_MIN => {
                return Err(format!(
                    "secret is shorter than {WEBHOOK_SECRET_MIN} characters (leave it empty to \
                     have one generated)"
                ))
            }
            Some(s) if s.len() > WEBHOOK_SECRET_MAX => {
                return Err(format!(
                    "secret is longer than {WEBHOOK_SECRET_MAX} characters"
                ))
            }
            Some(s) => Some(s),
        };
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> WebhookDraft {
        WebhookDraft {
            name: " ops ".into(),
            url: " https://hooks.example.com/x ".into(),
            events: vec![WebhookEvent::BatchCompleted, WebhookEvent::BatchCompleted],
            enabled: true,
            secret: Some("  ".into()),
        }
    }

    #[test]
    fn a_draft_is_trimmed_and_deduplicated() {
        let d = draft().normalized().unwrap();
        assert_eq!(d.name, "ops");
        assert_eq!(d.url, "https://hooks.example.com/x");
        assert_eq!(d.events, vec![WebhookEvent::BatchCompleted]);
        assert_eq!(d.secret, None, "an empty secret means: keep or generate");
    }

    #[test]
    fn bad_fields_are_named() {
        let bad = |f: fn(&mut WebhookDraft)| {
            let mut d = draft();
            f(&mut d);
            d.normalized().unwrap_err()
        };
        assert!(bad(|d| d.name = " ".into()).contains("name"));
        assert!(bad(|d| d.url = "ftp://x".into()).contains("http"));
        assert!(bad(|d| d.url = "https://".into()).contains("no host"));
        assert!(bad(|d| d.url = "https://u:p@x.example/".into()).contains("password"));
        assert!(bad(|d| d.events.clear()).contains("event"));
        assert!(bad(|d| d.secret = Some("short".into())).contains("shorter"));
    }

    #[test]
    fn event_names_round_trip() {
        for e in WebhookEvent::ALL {
            assert_eq!(WebhookEvent::parse(e.as_str()), Some(e));
            assert_eq!(
                serde_json::to_value(e).unwrap(),
                serde_json::json!(e.as_str())
            );
        }
    }
}
