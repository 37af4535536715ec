//! `run --server URL --token T`: the batch runs on a dify-bench server instead of in-process, so
//! CI runs land in its history and can be opened and compared in the UI. A client of the public
//! API only (server functions under `/api`, the progress stream, the exports), authenticated with
//! an API token that is sent in one header and never printed.
//!
//! Before the batch starts, the server is made to hold what the config names:
//! - **Versions** are matched by name. A missing one is created with the config's key (creating
//!   or changing a version needs an admin token: versions hold Dify keys). One that exists with
//!   another base URL, mode, answer field, inputs or key (told apart by the key's hint), or
//!   disabled, is refused with the differences listed — unless `--update-versions` asks for it to
//!   be overwritten with the config's settings (again an admin's call).
//! - **Cases** are matched by name too (the cases file is the truth): an equal case is reused, one
//!   whose content differs is updated in place (keeping its id), a new one is imported. Running
//!   CI again with the same file therefore runs the same case ids, which is what makes its runs
//!   comparable on the server. Of several server cases with one name, an equal one is taken,
//!   else the oldest. Cases need an editor token.
//!
//! Progress comes from the progress stream (`GET /api/batches/{id}/progress`), reconnecting
//! when it drops; the summary from `batch_page`; the JSON report and JUnit XML from the batch's
//! `results.json` and `results.junit.xml`; a comparison with a baseline run from `compare_runs`.
//! Every failure to reach the server or be allowed by it is a [`ConfigError`] (exit 2) naming
//! the server, the step and the server's own message.

use super::gate::REGRESSED_LISTED;
use super::{ConfigError, Display, Prepared, Ran, RunArgs};
use crate::api::ApiError;
use crate::model::compare::CompareView;
use crate::model::{
    key_hint, Batch, BatchId, BatchReport, BatchView, CaseDraft, CaseId, Judge, JudgeId, Me,
    Progress, Role, TestCase, Version, VersionDraft, VersionId,
};
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

/// An API call's time limit; downloads get [`DOWNLOAD_TIMEOUT`], the progress stream none (it
/// has keep-alives instead).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(900);
/// The progress stream sends a keep-alive every 15 s; silence this long means it is gone.
const STREAM_SILENCE: Duration = Duration::from_secs(60);
/// Reconnections of the progress stream in a row without news, before giving up.
const STREAM_RETRIES: u32 = 6;
/// Cases per `import_cases` call: the JSON of a case list, kept well under the body limit.
const IMPORT_CHUNK_BYTES: usize = 2 * 1024 * 1024;

/// A dify-bench server and the token to call it with.
pub struct Remote {
    base: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("base", &self.base).finish()
    }
}

/// What a server function answered with besides success.
enum Failure {
    /// The server could not be reached, or answered what is not JSON.
    Transport(String),
    Refused(StatusCode, String),
}

impl Remote {
    /// Checks the URL and the token's form; nothing is sent yet.
    pub fn new(url: &str, token: &str) -> Result<Remote, ConfigError> {
        let parsed = reqwest::Url::parse(url.trim()).map_err(|e| {
            ConfigError(format!(
                "--server `{url}` is not a URL ({e}); write e.g. https://bench.example.com"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ConfigError(format!(
                "--server `{url}` must be an http:// or https:// address"
            )));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty()
        {
            return Err(ConfigError(format!(
                "--server `{url}`: give the server's address only (no user, query or fragment)"
            )));
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(ConfigError(
                "--server needs an API token: --token or DIFY_BENCH_TOKEN (make one with \
                 `dify-bench token create --role editor`)"
                    .into(),
            ));
        }
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            ConfigError("--token holds characters an HTTP header cannot carry".into())
        })?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError(format!("cannot start an HTTP client: {e}")))?;
        Ok(Remote {
            base: parsed.as_str().trim_end_matches('/').to_string(),
            http,
        })
    }

    /// The server's address, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn batch_url(&self, id: BatchId) -> String {
        format!("{}/batches/{id}", self.base)
    }

    async fn try_call<T: DeserializeOwned>(&self, name: &str, body: Value) -> Result<T, Failure> {
        let res = self
            .http
            .post(format!("{}/api/{name}", self.base))
            .timeout(CALL_TIMEOUT)
            .json(&body)
            .send()
            .await
            .map_err(|e| Failure::Transport(chain(&e)))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| Failure::Transport(chain(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                Failure::Transport(format!(
                    "the answer to {name} is not what a dify-bench server sends ({e}); is \
                     this the right address?"
                ))
            });
        }
        Err(Failure::Refused(status, server_message(&bytes)))
    }

    /// A server function; `doing` names the step in a failure's message ("starting the batch").
    async fn call<T: DeserializeOwned>(
        &self,
        name: &str,
        body: Value,
        doing: &str,
    ) -> Result<T, ConfigError> {
        self.try_call(name, body)
            .await
            .map_err(|f| self.explain(f, doing))
    }

    fn explain(&self, failure: Failure, doing: &str) -> ConfigError {
        let base = &self.base;
        ConfigError(match failure {
            Failure::Transport(e) => {
                format!("cannot reach the dify-bench server at {base} while {doing}: {e}")
            }
            Failure::Refused(StatusCode::UNAUTHORIZED, m) => format!(
                "{base} refused the API token (401 unauthorized: {m}); check --token or \
                 DIFY_BENCH_TOKEN (`dify-bench token list` shows the server's tokens)"
            ),
            Failure::Refused(status, m) => format!("{base} refused {doing} ({status}: {m})"),
        })
    }

    /// A GET of an export, as text.
    async fn download(&self, path: &str, doing: &str) -> Result<bytes::Bytes, ConfigError> {
        let failure = match self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .await
        {
            Err(e) => Failure::Transport(chain(&e)),
            Ok(res) => {
                let status = res.status();
                match res.bytes().await {
                    Err(e) => Failure::Transport(chain(&e)),
                    Ok(bytes) if status.is_success() => return Ok(bytes),
                    Ok(bytes) => Failure::Refused(status, server_message(&bytes)),
                }
            }
        };
        Err(self.explain(failure, doing))
    }

    /// Makes the server hold the config's versions and cases, starts the batch there, shows its
    /// progress to the end, and reads its summary.
    pub(super) async fn run(
        &self,
        args: &RunArgs,
        prepared: &Prepared,
    ) -> Result<Ran, ConfigError> {
        let version_ids = self
            .ensure_versions(&prepared.versions, args.update_versions)
            .await?;
        let case_ids = self.ensure_cases(&prepared.cases).await?;
        let mut scoring = prepared.config.scoring.clone();
        for j in &prepared.judges {
            let id = self.ensure_judge(j).await?;
            j.apply(&mut scoring, id);
        }
        if case_ids.is_empty() {
            return Err(ConfigError(
                "every case of the cases file is disabled: there is nothing to run".into(),
            ));
        }
        let config = &prepared.config;
        let id = self
            .start_batch(
                config,
                &scoring,
                &version_ids,
                &case_ids,
                args.concurrency.or(config.concurrency),
            )
            .await?;
        eprintln!("batch {id} started: {}", self.batch_url(id));
        let mut display = Display::new(std::io::stderr().is_terminal());
        let followed = self.follow(id, &mut display).await;
        display.finish();
        followed?;
        let view = self.batch_view(id).await?;
        let records =
            super::missing::wait_for_records(&view.batch.versions, || self.app_identities(id))
                .await;
        // A server without the launch check (older than it) still gives its results.
        let missing_inputs = match records {
            Ok(records) => super::missing::warnings(&view.batch.versions, records),
            Err(e) => {
                eprintln!("note: the launch check's warnings are not available: {e}");
                Vec::new()
            }
        };
        Ok(Ran {
            batch: view.batch,
            summaries: view.summaries,
            repeat_stats: view.repeat_stats,
            run_totals: view.run_totals,
            report: None,
            missing_inputs,
        })
    }

    /// The launch records of batch `id` (`batch_identity`), by version.
    async fn app_identities(
        &self,
        id: BatchId,
    ) -> Result<std::collections::HashMap<VersionId, crate::model::AppIdentity>, ConfigError> {
        let views: Vec<crate::model::identity::VersionIdentityView> = self
            .call(
                "batch_identity",
                serde_json::json!({ "id": id }),
                "reading the launch check",
            )
            .await?;
        Ok(views
            .into_iter()
            .filter_map(|v| v.identity.map(|i| (v.version_id, i)))
            .collect())
    }

    /// Who the token is; refused (with what it would take) below `needed`.
    pub async fn check_role(&self, needed: Role, doing: &str) -> Result<Me, ConfigError> {
        let me: Option<Me> = self
            .call("current_user", json!({}), "checking the token")
            .await?;
        let me = me.ok_or_else(|| {
            ConfigError(format!(
                "{} did not take the API token as a sign-in; check --token or DIFY_BENCH_TOKEN",
                self.base
            ))
        })?;
        if me.role < needed {
            return Err(ConfigError(format!(
                "the API token `{}` is a {}'s; {doing} on {} needs an {needed} token (`dify-bench \
                 token create --role {needed}`)",
                me.name, me.role, self.base
            )));
        }
        Ok(me)
    }

    pub async fn get_batch(&self, id: BatchId) -> Result<Batch, ConfigError> {
        self.call(
            "get_batch",
            json!({ "id": id }),
            &format!("reading the baseline batch {id}"),
        )
        .await
    }

    /// The server's version of each config version (matched by name), created or updated as
    /// the module doc says; ids in config order.
    pub async fn ensure_versions(
        &self,
        drafts: &[VersionDraft],
        update: bool,
    ) -> Result<Vec<VersionId>, ConfigError> {
        let existing: Vec<Version> = self
            .call("list_versions", json!({}), "listing versions")
            .await?;
        let mut ids = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let same: Vec<&Version> = existing.iter().filter(|v| v.name == draft.name).collect();
            let id = match same.as_slice() {
                [] => {
                    let doing = format!(
                        "creating version `{}`, which it does not have yet (an admin's call; or \
                         create it once in the UI)",
                        draft.name
                    );
                    let saved: Version = self
                        .call("save_version", version_body(None, draft, ""), &doing)
                        .await?;
                    eprintln!("server: created version `{}` ({})", draft.name, saved.id);
                    saved.id
                }
                [v] => {
                    let diffs = version_differences(v, draft);
                    if diffs.is_empty() {
                        v.id
                    } else if update {
                        let doing = format!(
                            "updating version `{}` (--update-versions is an admin's call)",
                            draft.name
                        );
                        self.call::<Version>(
                            "save_version",
                            version_body(Some(v.id), draft, &v.description),
                            &doing,
                        )
                        .await?;
                        eprintln!(
                            "server: updated version `{}` ({}): {}",
                            draft.name,
                            v.id,
                            diffs.join("; ")
                        );
                        v.id
                    } else {
                        return Err(ConfigError(format!(
                            "version `{}` ({}) on {} differs from the config: {}. Rename the \
                             version in the config, or pass --update-versions to overwrite the \
                             server's with the config's (an admin token)",
                            draft.name,
                            v.id,
                            self.base,
                            diffs.join("; ")
                        )));
                    }
                }
                many => {
                    let ids: Vec<String> = many.iter().map(|v| v.id.to_string()).collect();
                    return Err(ConfigError(format!(
                        "{} has {} versions named `{}` (ids {}); rename all but one so the \
                         config's name picks one",
                        self.base,
                        many.len(),
                        draft.name,
                        ids.join(", ")
                    )));
                }
            };
            ids.push(id);
        }
        Ok(ids)
    }

    /// The server's case for each config case (matched by name), imported or updated as the
    /// module doc says; returns the ids of the enabled ones, in file order.
    pub async fn ensure_cases(&self, drafts: &[CaseDraft]) -> Result<Vec<CaseId>, ConfigError> {
        let existing: Vec<TestCase> = self
            .call("list_cases", json!({}), "listing test cases")
            .await?;
        let plan = plan_cases(&existing, drafts);
        for &(i, id) in &plan.update {
            self.call::<TestCase>(
                "save_case",
                case_body(Some(id), &drafts[i]),
                &format!("updating test case `{}` ({id})", drafts[i].name),
            )
            .await?;
        }
        let mut ids = plan.ids.clone();
        if !plan.create.is_empty() {
            for chunk in import_chunks(drafts, &plan.create) {
                self.call::<Value>(
                    "import_cases",
                    json!({ "format": "json", "content": chunk }),
                    "importing test cases",
                )
                .await?;
            }
            let now: Vec<TestCase> = self
                .call("list_cases", json!({}), "listing test cases")
                .await?;
            let again = plan_cases(&now, drafts);
            for &i in &plan.create {
                ids[i] = again.ids[i];
                if ids[i].is_none() {
                    return Err(ConfigError(format!(
                        "{}: test case `{}` was imported but is not listed",
                        self.base, drafts[i].name
                    )));
                }
            }
        }
        let reused = drafts.len() - plan.update.len() - plan.create.len();
        eprintln!(
            "server: test cases: {reused} reused, {} updated, {} created",
            plan.update.len(),
            plan.create.len()
        );
        Ok(drafts
            .iter()
            .zip(ids)
            .filter(|(d, _)| d.enabled.unwrap_or(true))
            .filter_map(|(_, id)| id)
            .collect())
    }

    /// The server's judge of the config judge's name, created when it has none (an admin's
    /// call, with the config's key). An existing one is used as the server has it: its key and
    /// settings are the server admin's.
    pub async fn ensure_judge(&self, j: &super::PreparedJudge) -> Result<JudgeId, ConfigError> {
        let existing: Vec<Judge> = self
            .call("list_judges", json!({}), "listing judges")
            .await?;
        if let Some(found) = existing.iter().find(|e| e.name == j.draft.name) {
            if found.kind != j.draft.kind {
                return Err(ConfigError(format!(
                    "the server's judge `{}` is a {} endpoint, the config's a {} one",
                    found.name, found.kind, j.draft.kind
                )));
            }
            return Ok(found.id);
        }
        let d = &j.draft;
        if d.api_key.is_none() {
            return Err(ConfigError(format!(
                "the server has no judge named `{}`, and the config gives no api_key to create it",
                d.name
            )));
        }
        let doing = format!(
            "creating judge `{}`, which it does not have yet (an admin's call; or create it \
             once on the admin page)",
            d.name
        );
        let saved: Judge = self
            .call(
                "save_judge",
                json!({
                    "name": d.name, "kind": d.kind, "base_url": d.base_url, "model": d.model,
                    "app_mode": d.app_mode, "api_key": d.api_key, "json_mode": d.json_mode,
                    "concurrency": d.concurrency,
                    "input_price_per_mtok": d.input_price_per_mtok,
                    "output_price_per_mtok": d.output_price_per_mtok,
                }),
                &doing,
            )
            .await?;
        eprintln!("server: created judge `{}` ({})", d.name, saved.id);
        Ok(saved.id)
    }

    /// `start_batch`: the new batch's id.
    pub async fn start_batch(
        &self,
        config: &super::RunConfig,
        scoring: &crate::model::ScoringConfig,
        version_ids: &[VersionId],
        case_ids: &[CaseId],
        concurrency: Option<u32>,
    ) -> Result<BatchId, ConfigError> {
        self.call(
            "start_batch",
            json!({
                "name": config.name,
                "version_ids": version_ids,
                "case_ids": case_ids,
                "concurrency": concurrency,
                "per_version_cap": config.per_version_cap,
                "repeats": config.repeats,
                "pass_threshold": scoring.pass_threshold,
                "keyword_weight": scoring.keyword_weight,
                "similarity_weight": scoring.similarity_weight,
                "judge": scoring.judge,
                "embedding": scoring.embedding,
            }),
            "starting the batch",
        )
        .await
    }

    /// Shows the batch's progress until it ends, reconnecting to the stream when it drops.
    pub(super) async fn follow(
        &self,
        id: BatchId,
        display: &mut Display,
    ) -> Result<(), ConfigError> {
        let mut misses = 0u32;
        let mut last_completed = None;
        loop {
            let outcome = self.watch(id, display, &mut last_completed).await;
            match outcome {
                Watch::Ended => return Ok(()),
                Watch::Fatal(e) => return Err(e),
                Watch::Dropped { progressed, why } => {
                    misses = if progressed { 1 } else { misses + 1 };
                    if misses > STREAM_RETRIES {
                        return Err(ConfigError(format!(
                            "lost the progress of batch {id} on {} ({why}); it goes on running \
                             there: {}",
                            self.base,
                            self.batch_url(id)
                        )));
                    }
                    tokio::time::sleep(Duration::from_secs(1 << misses.min(4))).await;
                }
            }
        }
    }

    async fn watch(
        &self,
        id: BatchId,
        display: &mut Display,
        last_completed: &mut Option<u64>,
    ) -> Watch {
        let url = format!("{}/api/batches/{id}/progress", self.base);
        let res = match self
            .http
            .get(url)
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
        {
            Ok(res) => res,
            Err(e) => {
                return Watch::Dropped {
                    progressed: false,
                    why: chain(&e),
                }
            }
        };
        let status = res.status();
        if !status.is_success() {
            let retry = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
            let message = server_message(&res.bytes().await.unwrap_or_default());
            if retry {
                return Watch::Dropped {
                    progressed: false,
                    why: format!("{status}: {message}"),
                };
            }
            return Watch::Fatal(self.explain(
                Failure::Refused(status, message),
                "watching the batch's progress",
            ));
        }
        let mut stream = res.bytes_stream();
        let mut buf = Vec::new();
        let mut progressed = false;
        loop {
            let chunk = match tokio::time::timeout(STREAM_SILENCE, stream.next()).await {
                Err(_) => {
                    return Watch::Dropped {
                        progressed,
                        why: format!("nothing for {} s", STREAM_SILENCE.as_secs()),
                    }
                }
                Ok(None) => {
                    return Watch::Dropped {
                        progressed,
                        why: "the stream ended before the batch did".into(),
                    }
                }
                Ok(Some(Err(e))) => {
                    return Watch::Dropped {
                        progressed,
                        why: chain(&e),
                    }
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            buf.extend_from_slice(&chunk);
            for p in take_progress(&mut buf) {
                display.show(&p);
                if *last_completed != Some(p.completed_tests) {
                    progressed = true;
                    *last_completed = Some(p.completed_tests);
                }
                if p.status.is_terminal() {
                    return Watch::Ended;
                }
            }
        }
    }

    /// The batch and its per-version summaries, as the batch page shows them.
    pub async fn batch_view(&self, id: BatchId) -> Result<BatchView, ConfigError> {
        self.call(
            "batch_page",
            json!({ "id": id, "page": 0 }),
            "reading the batch",
        )
        .await
    }

    /// Every result (`results.json`).
    pub async fn results(&self, id: BatchId) -> Result<BatchReport, ConfigError> {
        let bytes = self
            .download(
                &format!("/api/batches/{id}/results.json"),
                "downloading the results",
            )
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ConfigError(format!(
                "{}: batch {id}'s results.json cannot be read: {e}",
                self.base
            ))
        })
    }

    /// The batch's JUnit XML (`results.junit.xml`).
    pub async fn junit(&self, id: BatchId) -> Result<String, ConfigError> {
        let bytes = self
            .download(
                &format!("/api/batches/{id}/results.junit.xml"),
                "downloading the JUnit report",
            )
            .await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `compare_runs`, regressions only, the first [`REGRESSED_LISTED`] of them kept.
    pub async fn compare(
        &self,
        base: (BatchId, VersionId),
        cand: (BatchId, VersionId),
    ) -> Result<CompareView, ConfigError> {
        let mut view: CompareView = self
            .call(
                "compare_runs",
                json!({
                    "base_batch": base.0, "base_version": base.1,
                    "cand_batch": cand.0, "cand_version": cand.1,
                    "class": "regressed", "page": 0,
                }),
                "comparing with the baseline",
            )
            .await?;
        view.rows.truncate(REGRESSED_LISTED as usize);
        Ok(view)
    }
}

enum Watch {
    /// The terminal event arrived.
    Ended,
    /// The stream dropped before it; `progressed` when it brought news first.
    Dropped {
        progressed: bool,
        why: String,
    },
    Fatal(ConfigError),
}

/// An error and its causes, one line (reqwest's own message stops at "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The `message` of the server's `{error, message}` body, else the start of the body.
fn server_message(body: &[u8]) -> String {
    match serde_json::from_slice::<ApiError>(body) {
        Ok(e) => e.message,
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.trim().chars().take(200).collect();
            if text.is_empty() {
                "no message".into()
            } else {
                text
            }
        }
    }
}

/// Takes every complete event off the front of `buf` and returns its progress snapshots (other
/// events, comments and `retry:` lines are skipped).
fn take_progress(buf: &mut Vec<u8>) -> Vec<Progress> {
    let mut out = Vec::new();
    while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
        let frame: Vec<u8> = buf.drain(..end + 2).collect();
        let frame = String::from_utf8_lossy(&frame);
        let mut event = "message";
        let mut data = String::new();
        for line in frame.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim();
            } else if let Some(v) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if event == "progress" {
            if let Ok(p) = serde_json::from_str::<Progress>(&data) {
                out.push(p);
            }
        }
    }
    out
}

/// What makes a server version not the config's, in words (keys by their hints only).
fn version_differences(v: &Version, d: &VersionDraft) -> Vec<String> {
    let mut out = Vec::new();
    if v.base_url != d.base_url {
        out.push(format!(
            "base_url is `{}` there, `{}` in the config",
            v.base_url, d.base_url
        ));
    }
    if v.app_mode != d.app_mode {
        out.push(format!(
            "app_mode is `{}` there, `{}` in the config",
            v.app_mode.as_str(),
            d.app_mode.as_str()
        ));
    }
    if v.response_mode != d.response_mode {
        out.push(format!(
            "response_mode is `{}` there, `{}` in the config",
            v.response_mode.as_str(),
            d.response_mode.as_str()
        ));
    }
    if v.answer_field != d.answer_field {
        out.push(format!(
            "answer_field is {} there, {} in the config",
            shown(v.answer_field.as_deref()),
            shown(d.answer_field.as_deref())
        ));
    }
    if v.workflow_id != d.workflow_id {
        out.push(format!(
            "workflow_id is {} there, {} in the config",
            shown(v.workflow_id.as_deref()),
            shown(d.workflow_id.as_deref())
        ));
    }
    if !same_inputs(&v.inputs, d.inputs.as_ref()) {
        out.push("its inputs differ".into());
    }
    let hint = d.api_key.as_deref().map(key_hint).unwrap_or_default();
    if v.api_key_hint != hint {
        out.push(format!(
            "its API key is another (`{}` there, `{hint}` in the config)",
            v.api_key_hint
        ));
    }
    if !v.enabled {
        out.push("it is disabled".into());
    }
    out
}

fn shown(field: Option<&str>) -> String {
    field.map_or_else(|| "unset".to_string(), |f| format!("`{f}`"))
}

/// Absent, null and `{}` inputs are the same: none.
fn same_inputs(stored: &Value, given: Option<&Value>) -> bool {
    let empty = |v: &Value| v.is_null() || v.as_object().is_some_and(|o| o.is_empty());
    match given {
        None => empty(stored),
        Some(g) if empty(g) => empty(stored),
        Some(g) => stored == g,
    }
}

fn version_body(id: Option<VersionId>, d: &VersionDraft, description: &str) -> Value {
    json!({
        "id": id,
        "name": d.name,
        "base_url": d.base_url,
        "api_key": d.api_key,
        "app_mode": d.app_mode,
        "response_mode": d.response_mode,
        "description": description,
        "answer_field": d.answer_field,
        "inputs": d.inputs,
        "enabled": true,
        "workflow_id": d.workflow_id,
    })
}

fn case_body(id: Option<CaseId>, d: &CaseDraft) -> Value {
    json!({
        "id": id,
        "query": d.query,
        "name": d.name,
        "expected_answer": d.expected_answer,
        "keywords": d.keywords,
        "category": d.category,
        "tags": d.tags,
        "pass_threshold": d.pass_threshold,
        "assertions": d.assertions,
        "inputs": d.inputs,
        "enabled": d.enabled.unwrap_or(true),
        "rubric": d.rubric,
        "turns": d.turns,
    })
}

/// The server's case for each config case, and what to do about the rest.
#[derive(Debug, PartialEq)]
struct CasePlan {
    /// Per config case: the server case it is (None: to be created).
    ids: Vec<Option<CaseId>>,
    /// (config case, server case) whose content differs: updated in place.
    update: Vec<(usize, CaseId)>,
    /// Config cases with no server case of their name.
    create: Vec<usize>,
}

/// Matches config cases to server cases by name; see the module doc.
fn plan_cases(server: &[TestCase], drafts: &[CaseDraft]) -> CasePlan {
    let mut by_name: HashMap<&str, Vec<&TestCase>> = HashMap::new();
    for case in server {
        by_name.entry(case.name.as_str()).or_default().push(case);
    }
    for cases in by_name.values_mut() {
        cases.sort_by_key(|c| c.id);
    }
    let mut plan = CasePlan {
        ids: Vec::with_capacity(drafts.len()),
        update: Vec::new(),
        create: Vec::new(),
    };
    for (i, draft) in drafts.iter().enumerate() {
        let Some(cases) = by_name.get(draft.name.as_str()) else {
            plan.ids.push(None);
            plan.create.push(i);
            continue;
        };
        let id = match cases.iter().find(|c| same_content(c, draft)) {
            Some(equal) => equal.id,
            None => {
                plan.update.push((i, cases[0].id));
                cases[0].id
            }
        };
        plan.ids.push(Some(id));
    }
    plan
}

/// Everything a case file says about a case is already so on the server.
fn same_content(c: &TestCase, d: &CaseDraft) -> bool {
    c.name == d.name
        && c.query == d.query
        && c.expected_answer == d.expected_answer
        && c.keywords == d.keywords
        && c.category == d.category
        && c.tags == d.tags
        && c.pass_threshold == d.pass_threshold
        && c.assertions == d.assertions
        && same_inputs(&c.inputs, d.inputs.as_ref())
        && c.enabled == d.enabled.unwrap_or(true)
        && c.rubric == d.rubric
        && c.turns == d.turns
}

/// The cases to create as `import_cases` JSON texts, each under [`IMPORT_CHUNK_BYTES`] (or one
/// case, however large).
fn import_chunks(drafts: &[CaseDraft], create: &[usize]) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut items: Vec<String> = Vec::new();
    let mut size = 0;
    for &i in create {
        let item = serde_json::to_string(&drafts[i]).unwrap_or_default();
        if !items.is_empty() && size + item.len() > IMPORT_CHUNK_BYTES {
            chunks.push(format!("[{}]", items.join(",")));
            items.clear();
            size = 0;
        }
        size += item.len() + 1;
        items.push(item);
    }
    if !items.is_empty() {
        chunks.push(format!("[{}]", items.join(",")));
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppMode, ResponseMode};

    fn server_case(id: i64, name: &str, query: &str) -> TestCase {
        TestCase {
            id: CaseId(id),
            name: name.into(),
            query: query.into(),
            expected_answer: String::new(),
            keywords: vec![],
            category: String::new(),
            tags: vec![],
            pass_threshold: None,
            assertions: vec![],
            inputs: json!({}),
            enabled: true,
            created_at: 0,
            updated_at: 0,
            created_by: None,
            updated_by: None,
            rubric: None,
            revision: 1,
            turns: Default::default(),
        }
    }

    fn draft(name: &str, query: &str) -> CaseDraft {
        CaseDraft {
            name: name.into(),
            query: query.into(),
            ..CaseDraft::default()
        }
    }

    #[test]
    fn cases_are_reused_updated_or_created_by_name() {
        let server = [
            server_case(3, "a", "qa"),
            server_case(4, "b", "old question"),
            server_case(9, "c", "other"),
            server_case(7, "c", "qc"),
            server_case(8, "d", "x"),
            server_case(6, "d", "y"),
        ];
        let drafts = [
            draft("a", "qa"),
            draft("b", "qb"),
            draft("c", "qc"),
            draft("d", "z"),
            draft("e", "qe"),
        ];
        let plan = plan_cases(&server, &drafts);
        assert_eq!(
            plan,
            CasePlan {
                // c: the equal one (7), not the first listed; d: none equal, the oldest (6).
                ids: vec![
                    Some(CaseId(3)),
                    Some(CaseId(4)),
                    Some(CaseId(7)),
                    Some(CaseId(6)),
                    None
                ],
                update: vec![(1, CaseId(4)), (3, CaseId(6))],
                create: vec![4],
            }
        );
        // A disabled server case is not the file's (enabled) case.
        let mut disabled = server_case(3, "a", "qa");
        disabled.enabled = false;
        assert_eq!(
            plan_cases(&[disabled], &[draft("a", "qa")]).update,
            vec![(0, CaseId(3))]
        );
    }

    #[test]
    fn imports_are_cut_into_chunks_that_fit() {
        let big = "長".repeat(IMPORT_CHUNK_BYTES / 9);
        let drafts: Vec<CaseDraft> = (0..5).map(|i| draft(&format!("n{i}"), &big)).collect();
        let chunks = import_chunks(&drafts, &[0, 1, 2, 4]);
        assert_eq!(chunks.len(), 2);
        let parsed: Vec<Vec<CaseDraft>> = chunks
            .iter()
            .map(|c| serde_json::from_str(c).unwrap())
            .collect();
        let names: Vec<&str> = parsed.iter().flatten().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["n0", "n1", "n2", "n4"]);
        assert!(chunks.iter().all(|c| c.len() <= IMPORT_CHUNK_BYTES + 2));
    }

    #[test]
    fn a_differing_version_is_described_without_its_key() {
        let key = "app-secret-key-123456";
        let v = Version {
            id: VersionId(2),
            name: "prod".into(),
            description: String::new(),
            base_url: "http://dify:5001/v1".into(),
            app_mode: AppMode::Chat,
            response_mode: ResponseMode::Streaming,
            api_key_hint: key_hint(key),
            answer_field: None,
            inputs: json!({}),
            enabled: true,
            created_at: 0,
            updated_at: 0,
            created_by: None,
            updated_by: None,
            workflow_id: None,
        };
        let d = VersionDraft {
            name: "prod".into(),
            base_url: "http://dify:5001/v1".into(),
            api_key: Some(key.into()),
            app_mode: AppMode::Chat,
            response_mode: ResponseMode::Streaming,
            ..VersionDraft::default()
        };
        assert!(version_differences(&v, &d).is_empty());
        let other = VersionDraft {
            base_url: "http://dify2:5001/v1".into(),
            api_key: Some("app-another-key-999999".into()),
            app_mode: AppMode::Workflow,
            inputs: Some(json!({"lang": "en"})),
            ..d.clone()
        };
        let diffs = version_differences(&v, &other);
        assert_eq!(
            diffs,
            vec![
                "base_url is `http://dify:5001/v1` there, `http://dify2:5001/v1` in the config",
                "app_mode is `chat` there, `workflow` in the config",
                "its inputs differ",
                "its API key is another (`app-…3456` there, `app-…9999` in the config)",
            ]
        );
        assert!(!diffs.join(" ").contains("secret-key"));
    }

    #[test]
    fn progress_events_are_read_across_chunk_boundaries() {
        let p = |completed: u64, status: &str| {
            format!(
                "{{\"batch_id\":3,\"batch_name\":\"迴歸\",\"status\":\"{status}\",\"progress\":50.0,\
                 \"completed_tests\":{completed},\"total_tests\":2,\"failed_tests\":0,\
                 \"passed_tests\":0,\"current_version\":null,\"current_test_case\":null,\
                 \"estimated_remaining_time\":null,\"elapsed_time\":1.0,\"error_message\":null,\
                 \"versions\":[],\"repeats\":1}}"
            )
        };
        let text = format!(
            "retry: 3000\nevent: progress\nid: 1\ndata: {}\n\n: keep-alive\n\nevent: progress\nid: 2\ndata: {}\n\n",
            p(1, "running"),
            p(2, "completed")
        );
        let bytes = text.as_bytes();
        // Cut inside the CJK batch name and inside the separator.
        let cut = text.find("迴").unwrap() + 1;
        let mut buf = bytes[..cut].to_vec();
        assert!(take_progress(&mut buf).is_empty());
        buf.extend_from_slice(&bytes[cut..bytes.len() - 1]);
        let first = take_progress(&mut buf);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].batch_name, "迴歸");
        buf.extend_from_slice(&bytes[bytes.len() - 1..]);
        let second = take_progress(&mut buf);
        assert_eq!(second.len(), 1);
        assert!(second[0].status.is_terminal());
        assert!(buf.is_empty());
    }

    #[test]
    fn server_urls_and_tokens_are_checked_before_anything_is_sent() {
        let err = Remote::new("bench.example.com", "dbt_x").unwrap_err().0;
        assert!(err.contains("is not a URL"), "{err}");
        let err = Remote::new("ftp://bench", "dbt_x").unwrap_err().0;
        assert!(err.contains("http:// or https://"), "{err}");
        let err = Remote::new("http://bench:3000", " ").unwrap_err().0;
        assert!(err.contains("DIFY_BENCH_TOKEN"), "{err}");
        let err = Remote::new("http://bench:3000", "dbt_\nx").unwrap_err().0;
        assert!(!err.contains("dbt_"), "{err}");
        let r = Remote::new("http://bench:3000/", "dbt_x").unwrap();
        assert_eq!(r.base(), "http://bench:3000");
        assert_eq!(r.batch_url(BatchId(4)), "http://bench:3000/batches/4");
        assert!(!format!("{r:?}").contains("dbt_x"));
    }
}
