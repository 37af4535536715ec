//! Each simulated app's published workflow versions and what it says of itself, and what a test
//! can learn of the requests an app received.
//!
//! - **Published versions.** An app (an API key) starts with [`INITIAL_VERSIONS`] published
//!   workflow versions, ids derived from the key; the newest is what an unpinned call runs. A
//!   call may pin any of them (`POST /workflows/{id}/run`, or `workflow_id` in a chatflow's
//!   body): its workflow events then name that id. An id the app never published answers 404
//!   `not_found`; a key with the `nopin` token answers every pin with Dify Cloud's Sandbox
//!   refusal, 403 `workflow_version_execution_not_allowed`.
//! - **Republishing.** `POST /v1/sim/republish` (the app's key as bearer) publishes a new
//!   version, as someone editing the app in Dify would: unpinned calls now run it and name its
//!   id, and the input form (`GET /parameters`) gains an `audience` field. Tests use it to change
//!   an app underneath a version between two batches.
//! - **Requests seen.** `GET /v1/sim/requests` (the app's key as bearer) lists the app's last
//!   [`KEPT_REQUESTS`] generation requests: path and the body's `workflow_id`, so a test can
//!   prove where a pinned call went. Only the key's own requests are shown.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{json, Value};

use super::rng::{stable_uuid, StableHash};

/// Versions every app has published before any republish.
pub const INITIAL_VERSIONS: u64 = 3;
/// Requests kept per key for `GET /v1/sim/requests`.
pub const KEPT_REQUESTS: usize = 200;
/// Keys whose requests and revisions are kept; past it, the oldest state is forgotten wholesale
/// (a simulator serving a benchmark's key per test must not grow without bound).
const MAX_KEYS: usize = 10_000;

/// One generation request as an app received it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SeenRequest {
    pub path: String,
    /// The body's `workflow_id`, when it had one.
    pub workflow_id: Option<String>,
}

#[derive(Default)]
pub struct Apps {
    revisions: Mutex<HashMap<String, u64>>,
    requests: Mutex<HashMap<String, VecDeque<SeenRequest>>>,
}

/// The id of an app's `n`-th published workflow version (0-based).
pub fn workflow_id(key: &str, n: u64) -> String {
    stable_uuid(StableHash::new("workflow").str(key).u64(n))
}

impl Apps {
    /// How many times the app was republished.
    pub fn revision(&self, key: &str) -> u64 {
        self.revisions.lock().get(key).copied().unwrap_or(0)
    }

    /// Publishes a new version; answers the new revision and the new latest id.
    pub fn republish(&self, key: &str) -> (u64, String) {
        let mut revisions = self.revisions.lock();
        if revisions.len() >= MAX_KEYS && !revisions.contains_key(key) {
            revisions.clear();
        }
        let r = revisions.entry(key.to_string()).or_insert(0);
        *r += 1;
        let r = *r;
        (r, workflow_id(key, INITIAL_VERSIONS - 1 + r))
    }

    /// Every published version's id, oldest first; the last is the latest.
    pub fn published(&self, key: &str) -> Vec<String> {
        let count = INITIAL_VERSIONS + self.revision(key);
        (0..count).map(|n| workflow_id(key, n)).collect()
    }

    /// The version an unpinned call runs.
    pub fn latest(&self, key: &str) -> String {
        workflow_id(key, INITIAL_VERSIONS - 1 + self.revision(key))
    }

    pub fn is_published(&self, key: &str, id: &str) -> bool {
        let id = id.to_ascii_lowercase();
        self.published(key).contains(&id)
    }

    pub fn record(&self, key: &str, request: SeenRequest) {
        let mut all = self.requests.lock();
        if all.len() >= MAX_KEYS && !all.contains_key(key) {
            all.clear();
        }
        let list = all.entry(key.to_string()).or_default();
        if list.len() == KEPT_REQUESTS {
            list.pop_front();
        }
        list.push_back(request);
    }

    pub fn requests(&self, key: &str) -> Vec<SeenRequest> {
        self.requests
            .lock()
            .get(key)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The app's typed input form, as `GET /parameters` lists it: `query` first for workflow
    /// and completion apps (required: it carries the question), then optional fields of every
    /// type Dify has — paragraph, select, number, file — and, once republished, `audience`.
    pub fn input_form(&self, key: &str, asks_query: bool) -> Value {
        let mut form = Vec::new();
        if asks_query {
            form.push(json!({"text-input": {
                "label": "Query", "variable": "query", "required": true, "max_length": 4000, "default": ""
            }}));
        }
        form.extend([
            json!({"paragraph": {
                "label": "Extra context", "variable": "context", "required": false, "default": ""
            }}),
            json!({"select": {
                "label": "Answer language", "variable": "language", "required": false,
                "default": "en", "options": ["en", "zh-TW"]
            }}),
            json!({"number": {
                "label": "Maximum words", "variable": "max_words", "required": false, "default": ""
            }}),
            json!({"file": {
                "label": "Attachment", "variable": "attachment", "required": false,
                "allowed_file_types": ["document", "image"],
                "allowed_file_upload_methods": ["remote_url", "local_file"]
            }}),
        ]);
        if self.revision(key) > 0 {
            form.push(json!({"text-input": {
                "label": "Audience", "variable": "audience", "required": false, "max_length": 48,
                "default": ""
            }}));
        }
        Value::Array(form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn republishing_adds_a_latest_version_and_changes_the_form() {
        let apps = Apps::default();
        let key = "app-workflow.q80";
        let before = apps.published(key);
        assert_eq!(before.len(), INITIAL_VERSIONS as usize);
        assert_eq!(apps.latest(key), before[2]);
        assert!(before.iter().all(|id| apps.is_published(key, id)));
        assert!(apps.is_published(key, &before[0].to_ascii_uppercase()));
        let form = apps.input_form(key, true);

        let (rev, latest) = apps.republish(key);
        assert_eq!(rev, 1);
        assert_eq!(apps.latest(key), latest);
        assert!(!before.contains(&latest));
        assert_eq!(apps.published(key)[..3], before[..]);
        assert_ne!(apps.input_form(key, true), form);
        // Another key's app is untouched, and ids differ per app.
        assert_eq!(apps.revision("app-workflow.q70"), 0);
        assert!(!apps.is_published("app-workflow.q70", &before[0]));
    }

    #[test]
    fn requests_are_kept_per_key_within_a_bound() {
        let apps = Apps::default();
        for i in 0..(KEPT_REQUESTS + 5) {
            apps.record(
                "app-a.q1",
                SeenRequest {
                    path: format!("/v1/{i}"),
                    workflow_id: None,
                },
            );
        }
        let seen = apps.requests("app-a.q1");
        assert_eq!(seen.len(), KEPT_REQUESTS);
        assert_eq!(seen[0].path, "/v1/5");
        assert!(apps.requests("app-b.q1").is_empty());
    }
}
