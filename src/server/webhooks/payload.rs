//! What a delivery says: a JSON body with `event`, a Slack-compatible one-line `text` (Slack's
//! incoming webhooks, Mattermost and Rocket.Chat post it as it is), and the event's structured
//! fields. Pure functions; the sender signs and sends what they build.

use crate::model::{Alert, BatchStatus, WebhookEvent, WEBHOOK_TEST_EVENT};
use serde_json::{json, Value};

/// One version's totals at the end of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSummary {
    pub id: i64,
    pub name: String,
    /// Tests planned (cases × repeats).
    pub total: i64,
    pub completed: i64,
    pub passed: i64,
    pub errors: i64,
}

impl VersionSummary {
    /// passed / completed × 100; None before any test.
    pub fn pass_rate(&self) -> Option<f64> {
        (self.completed > 0).then(|| self.passed as f64 * 100.0 / self.completed as f64)
    }
}

/// A batch as its end event tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSummary {
    pub id: i64,
    pub name: String,
    pub status: BatchStatus,
    pub error_message: Option<String>,
    pub versions: Vec<VersionSummary>,
    /// `https://bench.example.com/batches/12`, when `--public-url` is set.
    pub url: Option<String>,
}

/// The event a batch's end is.
pub fn batch_event(status: BatchStatus) -> Option<WebhookEvent> {
    match status {
        BatchStatus::Completed => Some(WebhookEvent::BatchCompleted),
        BatchStatus::Error => Some(WebhookEvent::BatchFailed),
        BatchStatus::Cancelled => Some(WebhookEvent::BatchCancelled),
        BatchStatus::Queued | BatchStatus::Running => None,
    }
}

/// The link to a batch's page under a public origin.
pub fn batch_url(public_origin: Option<&str>, batch: i64) -> Option<String> {
    public_origin.map(|o| format!("{}/batches/{batch}", o.trim_end_matches('/')))
}

/// Text as Slack reads it: `&`, `<` and `>` are its control characters (escaped as HTML
/// entities), and a line break would break the one line.
pub fn slack_escape(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, with `…` when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `[dify-bench] Batch #12 "nightly" completed: v1 92.0% (46/50) · v2 88.0% (44/50, 2 errors) — <url>`
pub fn batch_text(b: &BatchSummary) -> String {
    let status = match b.status {
        BatchStatus::Error => "failed",
        other => other.as_str(),
    };
    let mut text = format!(
        "[dify-bench] Batch #{} \"{}\" {status}",
        b.id,
        slack_escape(&clip(&b.name, 120))
    );
    let versions: Vec<String> = b
        .versions
        .iter()
        .map(|v| {
            let rate = v
                .pass_rate()
                .map_or("–".to_string(), |r| format!("{r:.1}%"));
            let mut counts = format!("{}/{}", v.passed, v.completed);
            if v.completed < v.total {
                counts.push_str(&format!(" of {}", v.total));
            }
            if v.errors > 0 {
                counts.push_str(&format!(
                    ", {} error{}",
                    v.errors,
                    if v.errors == 1 { "" } else { "s" }
                ));
            }
            format!("{} {rate} ({counts})", slack_escape(&clip(&v.name, 80)))
        })
        .collect();
    if !versions.is_empty() {
        text.push_str(": ");
        text.push_str(&versions.join(" · "));
    }
    if let Some(m) = &b.error_message {
        text.push_str(&format!(" — {}", slack_escape(&clip(m, 200))));
    }
    if let Some(url) = &b.url {
        text.push_str(&format!(" — {url}"));
    }
    text
}

/// The body of a batch's end event.
pub fn batch_payload(b: &BatchSummary) -> Value {
    let event = batch_event(b.status).map_or("batch.ended", WebhookEvent::as_str);
    json!({
        "event": event,
        "text": batch_text(b),
        "batch": {
            "id": b.id,
            "name": b.name,
            "status": b.status.as_str(),
            "error_message": b.error_message,
            "url": b.url,
            "versions": b.versions.iter().map(|v| json!({
                "id": v.id,
                "name": v.name,
                "total": v.total,
                "completed": v.completed,
                "passed": v.passed,
                "failed": v.completed - v.passed - v.errors,
                "errors": v.errors,
                "pass_rate": v.pass_rate(),
            })).collect::<Vec<_>>(),
        },
    })
}

/// `[dify-bench] Alert in batch #12 "nightly": v2 error_spike — 15 of the last 20 tests … — <url>`
pub fn alert_text(
    batch: i64,
    batch_name: &str,
    version_name: &str,
    alert: &Alert,
    url: Option<&str>,
) -> String {
    let mut text = format!(
        "[dify-bench] Alert in batch #{batch} \"{}\": {} {} — {}",
        slack_escape(&clip(batch_name, 120)),
        slack_escape(&clip(version_name, 80)),
        alert.kind.as_str(),
        slack_escape(&clip(&alert.message, 300)),
    );
    if let Some(url) = url {
        text.push_str(&format!(" — {url}"));
    }
    text
}

/// The body of an alert event.
pub fn alert_payload(
    batch: i64,
    batch_name: &str,
    version_name: &str,
    alert: &Alert,
    url: Option<&str>,
) -> Value {
    json!({
        "event": WebhookEvent::AlertRaised.as_str(),
        "text": alert_text(batch, batch_name, version_name, alert, url),
        "batch": { "id": batch, "name": batch_name, "url": url },
        "alert": {
            "kind": alert.kind.as_str(),
            "version_id": alert.version_id.0,
            "version_name": version_name,
            "message": alert.message,
            "since": alert.since,
        },
    })
}

/// The body "Send test" sends.
pub fn test_payload(webhook_name: &str) -> Value {
    json!({
        "event": WEBHOOK_TEST_EVENT,
        "text": format!(
            "[dify-bench] Test delivery for webhook \"{}\": the receiver is reached and can check \
             the signature.",
            slack_escape(&clip(webhook_name, 120))
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlertKind, VersionId};

    fn summary() -> BatchSummary {
        BatchSummary {
            id: 12,
            name: "nightly <main>".into(),
            status: BatchStatus::Completed,
            error_message: None,
            versions: vec![
                VersionSummary {
                    id: 1,
                    name: "v1".into(),
                    total: 50,
                    completed: 50,
                    passed: 46,
                    errors: 0,
                },
                VersionSummary {
                    id: 2,
                    name: "v2 & co".into(),
                    total: 50,
                    completed: 50,
                    passed: 44,
                    errors: 2,
                },
            ],
            url: batch_url(Some("https://bench.example.com/"), 12),
        }
    }

    #[test]
    fn the_batch_text_is_one_escaped_line_with_rates_and_the_link() {
        assert_eq!(
            batch_text(&summary()),
            "[dify-bench] Batch #12 \"nightly &lt;main&gt;\" completed: v1 92.0% (46/50) · \
             v2 &amp; co 88.0% (44/50, 2 errors) — https://bench.example.com/batches/12"
        );
    }

    #[test]
    fn a_cut_short_batch_says_failed_how_far_and_why() {
        let mut b = summary();
        b.status = BatchStatus::Error;
        b.error_message = Some("results could not\nbe saved".into());
        b.url = None;
        b.versions.truncate(1);
        b.versions[0].completed = 10;
        b.versions[0].passed = 9;
        b.versions[0].errors = 1;
        let text = batch_text(&b);
        assert_eq!(
            text,
            "[dify-bench] Batch #12 \"nightly &lt;main&gt;\" failed: v1 90.0% (9/10 of 50, 1 \
             error) — results could not be saved"
        );
        assert!(!text.contains('\n'));
        let body = batch_payload(&b);
        assert_eq!(body["event"], "batch.failed");
        assert_eq!(body["batch"]["versions"][0]["failed"], 0);
        assert_eq!(body["batch"]["versions"][0]["pass_rate"], 90.0);
    }

    #[test]
    fn a_version_without_results_has_no_rate() {
        let mut b = summary();
        b.status = BatchStatus::Cancelled;
        b.versions[1].completed = 0;
        b.versions[1].passed = 0;
        b.versions[1].errors = 0;
        assert!(batch_text(&b).contains("v2 &amp; co – (0/0 of 50)"));
        assert_eq!(batch_payload(&b)["event"], "batch.cancelled");
        assert!(batch_payload(&b)["batch"]["versions"][1]["pass_rate"].is_null());
    }

    #[test]
    fn the_alert_text_names_batch_version_kind_and_message() {
        let a = Alert {
            kind: AlertKind::ErrorSpike,
            version_id: VersionId(2),
            message: "15 of the last 20 tests ended in error".into(),
            since: 1_700_000_000_000,
        };
        assert_eq!(
            alert_text(12, "nightly", "v2", &a, Some("http://x/batches/12")),
            "[dify-bench] Alert in batch #12 \"nightly\": v2 error_spike — 15 of the last 20 \
             tests ended in error — http://x/batches/12"
        );
        let body = alert_payload(12, "nightly", "v2", &a, None);
        assert_eq!(body["event"], "alert.raised");
        assert_eq!(body["alert"]["kind"], "error_spike");
        assert_eq!(body["alert"]["version_id"], 2);
        assert!(body["batch"]["url"].is_null());
    }
}
