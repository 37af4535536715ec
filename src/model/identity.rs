//! "What exactly was tested": a Dify app's identity as Dify reported it when a batch launched
//! (`GET /info`, `GET /parameters`, the `workflow_id` its workflow events named), and how two
//! such identities differ. A version names an endpoint and a key, not a fixed app: someone may
//! republish the workflow, change its input form or even its mode underneath it, and such a
//! change must not pass for a regression in the prompt. Pure types and functions; the server
//! fetches (`server::identity`), the store keeps them per batch and version, the pages show them.

use serde::{Deserialize, Serialize};

use super::VersionId;

/// The largest `user_input_form` kept with a batch (its JSON, in bytes). A larger form is
/// still fingerprinted whole, but stored as `null` with `form_truncated`.
pub const MAX_FORM_BYTES: usize = 16 << 10;

/// One version's app as Dify described it at a batch's launch. Holds no key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AppIdentity {
    pub version_id: VersionId,
    /// `GET /info`: all None (with `info_error`) when it could not be read.
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// Dify's mode name as sent (`chat`, `agent-chat`, `advanced-chat`, `completion`, `workflow`).
    pub mode: Option<String>,
    pub author_name: Option<String>,
    /// Why `/info` is unknown ("HTTP 404: …" from a Dify release without it, a timeout, …).
    pub info_error: Option<String>,
    /// A fingerprint of `user_input_form` (see `server::identity::form_fingerprint`): equal
    /// fingerprints, the same form. None (with `form_error`) when `/parameters` failed.
    pub form_fingerprint: Option<String>,
    /// The form itself, when its JSON is at most [`MAX_FORM_BYTES`].
    pub form: Option<serde_json::Value>,
    pub form_truncated: bool,
    pub form_error: Option<String>,
    /// The workflow version the batch pinned (its snapshot's `workflow_id`).
    pub pinned_workflow_id: Option<String>,
    /// The `workflow_id` Dify's workflow events named in the version's first answer
    /// (`workflow_started.data.workflow_id`); None for chat, agent and completion apps, and
    /// until a first answer came.
    pub seen_workflow_id: Option<String>,
    /// When `/info` and `/parameters` were read (ms since the epoch); 0 when they have not
    /// been yet.
    pub recorded_at: i64,
    /// The batch's cases whose inputs (over the version's own) leave out a variable the form
    /// requires: Dify would refuse each such call with 400. The first [`MAX_MISSING_LISTED`].
    pub missing_inputs: Vec<MissingInputs>,
    /// How many cases miss a required input in all (`missing_inputs` lists the first ones).
    pub missing_inputs_cases: usize,
}

/// Cases listed in [`AppIdentity::missing_inputs`] at most.
pub const MAX_MISSING_LISTED: usize = 100;

/// One case that leaves out required inputs of a version's form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MissingInputs {
    pub case_id: super::CaseId,
    pub case_name: String,
    /// The required variables it leaves out, in form order.
    pub variables: Vec<String>,
}

impl AppIdentity {
    /// The workflow version that ran: the one Dify named, else the one pinned.
    pub fn workflow_id(&self) -> Option<&str> {
        self.seen_workflow_id
            .as_deref()
            .or(self.pinned_workflow_id.as_deref())
    }

    /// `user_input_form`'s fields as `variable (type)`, in form order: the form at a glance.
    pub fn form_summary(&self) -> Vec<String> {
        let Some(form) = self.form.as_ref().and_then(|f| f.as_array()) else {
            return Vec::new();
        };
        form.iter()
            .filter_map(|item| {
                let (kind, field) = item.as_object()?.iter().next()?;
                let variable = field.get("variable").and_then(|v| v.as_str())?;
                Some(format!("{variable} ({kind})"))
            })
            .collect()
    }
}

/// One version of a batch as the batch page's "what exactly was tested" shows it
/// (`batch_identity`): its record, and how its app changed since the version's previous batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionIdentityView {
    pub version_id: VersionId,
    pub version_name: String,
    /// None: nothing recorded (a batch run before dify-bench recorded identities, or one whose
    /// launch has not read `/info` yet). The pin, if any, is always filled from the snapshot.
    pub identity: Option<AppIdentity>,
    /// The version's previous batch with a record, which `changes` compares with.
    pub previous_batch: Option<super::BatchId>,
    pub changes: Vec<AppChange>,
}

/// What changed in a version's app between two runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppChangeKind {
    /// Another published workflow version ran.
    WorkflowId,
    /// The app's mode changed (e.g. a chatbot turned into a chatflow).
    Mode,
    /// The input form (`user_input_form`) changed.
    InputForm,
}

impl AppChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AppChangeKind::WorkflowId => "workflow_id",
            AppChangeKind::Mode => "mode",
            AppChangeKind::InputForm => "input_form",
        }
    }
}

/// One difference between a version's app in an earlier run (`before`) and a later one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppChange {
    pub kind: AppChangeKind,
    pub before: String,
    pub after: String,
    /// The warning in English (the pages word it in the reader's language).
    pub message: String,
}

impl AppChange {
    fn new(kind: AppChangeKind, before: &str, after: &str) -> AppChange {
        let what = match kind {
            AppChangeKind::WorkflowId => "workflow version",
            AppChangeKind::Mode => "mode",
            AppChangeKind::InputForm => "input form",
        };
        AppChange {
            kind,
            before: before.to_string(),
            after: after.to_string(),
            message: format!(
                "the app changed underneath this version: its {what} was {before}, now {after}; \
                 score differences may come from the app, not the prompt"
            ),
        }
    }
}

/// How the app a version called differs between an earlier run and a later one: its workflow
/// version ([`AppIdentity::workflow_id`]), mode and input form fingerprint. What either run
/// does not know is not compared (an unreadable `/info` is no evidence of a change).
pub fn app_changes(before: &AppIdentity, after: &AppIdentity) -> Vec<AppChange> {
    let mut out = Vec::new();
    let pairs = [
        (
            AppChangeKind::WorkflowId,
            before.workflow_id(),
            after.workflow_id(),
        ),
        (
            AppChangeKind::Mode,
            before.mode.as_deref(),
            after.mode.as_deref(),
        ),
        (
            AppChangeKind::InputForm,
            before.form_fingerprint.as_deref(),
            after.form_fingerprint.as_deref(),
        ),
    ];
    for (kind, b, a) in pairs {
        if let (Some(b), Some(a)) = (b, a) {
            if b != a {
                out.push(AppChange::new(kind, b, a));
            }
        }
    }
    out
}

/// A Dify workflow id as a version may pin it: a UUID (8-4-4-4-12 hex digits), answered in
/// lower case. Dify answers anything else with a 400, so it is refused before a batch runs.
pub fn check_workflow_id(id: &str) -> Result<String, String> {
    let id = id.trim();
    let groups: Vec<&str> = id.split('-').collect();
    let shaped = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !shaped {
        let shown: String = id.chars().take(60).collect();
        return Err(format!(
            "`{shown}` is not a Dify workflow id: it is a UUID like \
             3c90c3cc-0d44-4b50-8888-8dd25736052a (copy it from the app's published versions)"
        ));
    }
    Ok(id.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WF_A: &str = "3c90c3cc-0d44-4b50-8888-8dd25736052a";
    const WF_B: &str = "9d5c1f0e-5e0b-4a8e-9b0b-1f2e3d4c5b6a";

    fn identity(workflow: Option<&str>, mode: &str, form: &str) -> AppIdentity {
        AppIdentity {
            version_id: VersionId(1),
            mode: Some(mode.into()),
            form_fingerprint: Some(form.into()),
            seen_workflow_id: workflow.map(str::to_string),
            ..AppIdentity::default()
        }
    }

    #[test]
    fn workflow_ids_are_uuids_in_lower_case() {
        assert_eq!(
            check_workflow_id(" 3C90C3CC-0D44-4B50-8888-8DD25736052A ").unwrap(),
            WF_A
        );
        for bad in [
            "",
            "latest",
            "3c90c3cc0d444b5088888dd25736052a",
            "3c90c3cc-0d44-4b50-8888-8dd25736052",
            "3c90c3cc-0d44-4b50-8888-8dd25736052g",
            "3c90c3cc-0d44-4b50-8888-8dd25736052a-1",
            "../../x/run",
        ] {
            let e = check_workflow_id(bad).unwrap_err();
            assert!(e.contains("is not a Dify workflow id"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_same_app_has_no_changes() {
        let a = identity(Some(WF_A), "workflow", "f1");
        assert!(app_changes(&a, &a.clone()).is_empty());
    }

    #[test]
    fn each_kind_of_change_is_named_once() {
        let a = identity(Some(WF_A), "workflow", "f1");
        let b = identity(Some(WF_B), "advanced-chat", "f2");
        let changes = app_changes(&a, &b);
        let kinds: Vec<AppChangeKind> = changes.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                AppChangeKind::WorkflowId,
                AppChangeKind::Mode,
                AppChangeKind::InputForm
            ]
        );
        assert_eq!(
            (changes[0].before.as_str(), changes[0].after.as_str()),
            (WF_A, WF_B)
        );
        assert!(changes[1]
            .message
            .contains("its mode was workflow, now advanced-chat"));
    }

    #[test]
    fn unknowns_are_not_changes_and_a_pin_counts_until_a_run_names_one() {
        let known = identity(Some(WF_A), "workflow", "f1");
        let unknown = AppIdentity {
            info_error: Some("HTTP 404".into()),
            ..AppIdentity::default()
        };
        assert!(app_changes(&known, &unknown).is_empty());
        assert!(app_changes(&unknown, &known).is_empty());

        // Pinned to B, no answer yet: B is what runs, so A → B is a change.
        let pinned = AppIdentity {
            pinned_workflow_id: Some(WF_B.into()),
            ..identity(None, "workflow", "f1")
        };
        assert_eq!(pinned.workflow_id(), Some(WF_B));
        let changes = app_changes(&known, &pinned);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, AppChangeKind::WorkflowId);
        // What Dify named wins over the pin.
        let seen = AppIdentity {
            seen_workflow_id: Some(WF_A.into()),
            ..pinned
        };
        assert!(app_changes(&known, &seen).is_empty());
    }

    #[test]
    fn the_form_summary_lists_variables_and_types_in_order() {
        let id = AppIdentity {
            form: Some(serde_json::json!([
                {"text-input": {"variable": "query", "label": "Q"}},
                {"select": {"variable": "lang", "options": ["en", "zh"]}},
                {"weird": 3},
            ])),
            ..AppIdentity::default()
        };
        assert_eq!(id.form_summary(), ["query (text-input)", "lang (select)"]);
    }
}
