//! The launch check's warning in a headless run: the cases whose inputs leave out a variable a
//! version's app form requires (`AppIdentity::missing_inputs`, which the batch page shows), so
//! that Dify refused them with 400. Read once the run ends from the launch records (in-process
//! or the server's `batch_identity`), printed with the summary, in the Markdown comment and in
//! the `--json` report.

use crate::model::identity::{AppIdentity, MissingInputs};
use crate::model::{BatchVersion, VersionId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// How long the end of a run waits for launch records still being read (they are read from
/// the launch on, beside the calls: normally they are in long before the last answer).
pub const RECORD_WAIT: Duration = Duration::from_secs(10);

/// Cases named in the console line at most ("… and N more").
const NAMED: usize = 5;

/// One version whose cases leave out required inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingInputsWarning {
    pub version_id: VersionId,
    pub version: String,
    /// How many cases in all; `listed` names the first ones with the variables they leave out.
    pub cases: usize,
    pub listed: Vec<MissingInputs>,
}

impl MissingInputsWarning {
    /// `3 cases leave out inputs the app's form requires`.
    pub fn headline(&self) -> String {
        match self.cases {
            1 => "1 case leaves out inputs the app's form requires".to_string(),
            n => format!("{n} cases leave out inputs the app's form requires"),
        }
    }

    /// The first `at_most` cases as `name (var, var)`, the case's name written by `name` and
    /// the variables by `var` (each makes them safe for where they go), then `and N more` when
    /// there are more.
    pub fn list(
        &self,
        at_most: usize,
        name: impl Fn(&str) -> String,
        var: impl Fn(&str) -> String,
    ) -> String {
        let mut parts: Vec<String> = self
            .listed
            .iter()
            .take(at_most)
            .map(|m| format!("{} ({})", name(&m.case_name), var(&m.variables.join(", "))))
            .collect();
        let shown = parts.len();
        if self.cases > shown {
            parts.push(format!("and {} more", self.cases - shown));
        }
        parts.join(", ")
    }
}

/// The warnings of a batch's versions from its launch records, in the batch's order.
pub fn warnings(
    versions: &[BatchVersion],
    mut records: HashMap<VersionId, AppIdentity>,
) -> Vec<MissingInputsWarning> {
    versions
        .iter()
        .filter_map(|v| {
            let record = records.remove(&v.version_id)?;
            (record.missing_inputs_cases > 0).then(|| MissingInputsWarning {
                version_id: v.version_id,
                version: v.name.clone(),
                cases: record.missing_inputs_cases,
                listed: record.missing_inputs,
            })
        })
        .collect()
}

/// Are the launch records of every version in?
pub fn all_recorded(versions: &[BatchVersion], records: &HashMap<VersionId, AppIdentity>) -> bool {
    versions.iter().all(|v| {
        records
            .get(&v.version_id)
            .is_some_and(|r| r.recorded_at > 0)
    })
}

/// The launch records `read` gives, read again until every version's is in or
/// [`RECORD_WAIT`] has passed (then what there is).
pub async fn wait_for_records<E, F, Fut>(
    versions: &[BatchVersion],
    mut read: F,
) -> Result<HashMap<VersionId, AppIdentity>, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<HashMap<VersionId, AppIdentity>, E>>,
{
    let deadline = std::time::Instant::now() + RECORD_WAIT;
    loop {
        let records = read().await?;
        if all_recorded(versions, &records) || std::time::Instant::now() >= deadline {
            return Ok(records);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The console's lines, on stderr with the other warnings.
pub fn print(warnings: &[MissingInputsWarning]) {
    for w in warnings {
        eprintln!(
            "warning: version `{}`: {} — Dify refuses such calls with 400: {}",
            w.version,
            w.headline(),
            w.list(NAMED, |n| format!("`{n}`"), str::to_string)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppMode, CaseId, ResponseMode};

    #[test]
    fn warnings_follow_the_batch_order_and_skip_clean_versions() {
        let versions: Vec<BatchVersion> = [(1, "a"), (2, "b"), (3, "c")]
            .into_iter()
            .map(|(id, name)| BatchVersion {
                version_id: VersionId(id),
                name: name.into(),
                app_mode: AppMode::Chat,
                response_mode: ResponseMode::Blocking,
                base_url: String::new(),
                api_key_hint: String::new(),
                workflow_id: None,
            })
            .collect();
        let missing = |n: i64| MissingInputs {
            case_id: CaseId(n),
            case_name: format!("case {n}"),
            variables: vec!["region".into()],
        };
        let records = HashMap::from([
            (
                VersionId(3),
                AppIdentity {
                    version_id: VersionId(3),
                    recorded_at: 5,
                    missing_inputs: (1..=7).map(missing).collect(),
                    missing_inputs_cases: 9,
                    ..Default::default()
                },
            ),
            (
                VersionId(1),
                AppIdentity {
                    version_id: VersionId(1),
                    recorded_at: 5,
                    ..Default::default()
                },
            ),
        ]);
        assert!(!all_recorded(&versions, &records), "b has no record yet");
        let found = warnings(&versions, records);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].version.as_str(), found[0].cases), ("c", 9));
        assert_eq!(
            found[0].headline(),
            "9 cases leave out inputs the app's form requires"
        );
        assert_eq!(
            found[0].list(2, |n| format!("`{n}`"), str::to_string),
            "`case 1` (region), `case 2` (region), and 7 more"
        );
    }
}
