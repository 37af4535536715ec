//! The batch runner: validates a launch, snapshots it, and runs versions × cases against Dify in
//! the background — bounded concurrency per batch and per version, under one server-wide cap on
//! calls in flight; each result scored and written as it completes, progress reported to the
//! registry, cancel at any time, resume after a restart, and a graceful stop at shutdown (calls
//! in flight cancelled, answers already received stored, the batch left to resume).
//!
//! It owns no HTTP and no Leptos: the server functions and the CLI call [`Engine`]. Which batches
//! run here, and the running-batches cap, are [`runs`]; the caps' values are [`limits`].

mod gate;
mod lanes;
mod limits;
mod runs;
mod turns;

pub use gate::{
    GateConfig, CIRCUIT_OPEN, DEFAULT_BREAKER_COOLDOWN, DEFAULT_BREAKER_ERRORS,
    DEFAULT_BREAKER_PROBES, MAX_THROTTLES_PER_TEST,
};

pub use limits::{
    EngineLimits, DEFAULT_MAX_CALLS_IN_FLIGHT, DEFAULT_MAX_RUNNING_BATCHES,
    DEFAULT_MAX_TESTS_PER_BATCH,
};

use crate::model::{
    Batch, BatchId, BatchStatus, CaseId, CircuitState, ResultStatus, ScoreDetail, ScoringConfig,
    TestCase, TestResult, VersionId, DEFAULT_CONCURRENCY, MAX_CONCURRENCY, MAX_REPEATS,
};
use crate::server::alerts::BatchWatch;
use crate::server::cluster::{self, relay::BatchEvent, Membership};
use crate::server::dify::retry::{classify, Decision};
use crate::server::dify::{AppEndpoint, DifyClient, PreparedApp, Throttles};
use crate::server::identity::SeenWorkflow;
use crate::server::judge::{BatchJudging, Judging};
use crate::server::progress::{
    BatchStart, Finished, JudgeFinish, JudgeSums, Registry, VersionStart,
};
use crate::server::scoring::{CasePlan, Semantic};
use crate::server::store::{
    BatchPlan, ClaimOutcome, LiveTally, NewBatch, PlannedVersion, RerunClaim, Store, StoreError,
    StoreResult, TestKey, VersionTally,
};
use crate::server::webhooks::Webhooks;
use crate::server::{metrics, offload};
use gate::{Gate, Signal};
use lanes::{Lanes, Waiting};
use runs::{Refusal, RunGuard, Runs, Ticket};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, AcquireError, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Results are written in groups of up to this many, one transaction each.
const WRITE_BATCH: usize = 256;
/// How long the writer waits for more results to fill a transaction. A transaction costs far
/// more than a row: at 5,000 results/s this cut the runner's CPU for 10,000 tests from 2.2 s to
/// 1.4 s. Watchers see a result once it is stored, so at most this much later.
const WRITE_LINGER: Duration = Duration::from_millis(10);
/// At shutdown, how long calls already in flight may still finish. An answer that arrives in
/// this time is stored and never paid for twice; one that does not is cancelled and its test
/// sent again on resume. Short, because `docker stop` and most service managers kill after 10 s
/// and the whole shutdown must fit: this + [`WRITER_DRAIN`] + closing HTTP (see `shutdown`).
pub const CALL_GRACE: Duration = Duration::from_secs(3);
/// At shutdown, how long the result writer may take to store the answers already received:
/// a few transactions, normally milliseconds; bounded for a database that stopped answering.
pub const WRITER_DRAIN: Duration = Duration::from_secs(2);
/// How long a cancel for a batch this instance does not run waits for the instance that runs it
/// (told over `LISTEN/NOTIFY`) to end it, before concluding that none does.
pub const REMOTE_CANCEL_WAIT: Duration = Duration::from_secs(2);
/// Shared work (PostgreSQL, several instances): the most tests one claim takes.
const CLAIM_MAX: usize = 64;
/// Shared work: how often a runner with room claims again when nothing told it to — to take
/// over the tests of a vanished instance, or slots the others freed.
const CLAIM_POLL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request cannot run as given; the message names the problem.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The server cannot take it now (it is shutting down); the message says what to do.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a launch asks for; everything optional has a default.
#[derive(Debug, Clone, Default)]
pub struct StartBatch {
    pub name: String,
    pub version_ids: Vec<VersionId>,
    /// None: every enabled case.
    pub case_ids: Option<Vec<CaseId>>,
    pub concurrency: Option<u32>,
    pub per_version_cap: Option<u32>,
    pub scoring: Option<ScoringConfig>,
    /// Runs of every (version, case), 1–[`MAX_REPEATS`]; None: 1.
    pub repeats: Option<u32>,
    /// Who started it (`alice`, `token:ci`), recorded with the batch.
    pub created_by: Option<String>,
}

pub struct Engine {
    store: Store,
    registry: Arc<Registry>,
    client: DifyClient,
    limits: EngineLimits,
    runs: Arc<Runs>,
    /// One permit per Dify call in flight, across every batch ([`EngineLimits`]).
    calls: Arc<Semaphore>,
    /// Cancelled once at shutdown: every runner stops dispatching and winds down.
    shutdown: CancellationToken,
    /// Judges and embedding scorers, their caches and limits.
    judging: Arc<Judging>,
    /// Set when this engine is one of several instances on PostgreSQL (`serve`): its runners
    /// claim tests by leases instead of keeping the batch's queue in memory.
    member: OnceLock<Membership>,
    /// Set by `serve`: told of batch ends and alerts, which it queues for the webhooks.
    webhooks: OnceLock<Arc<Webhooks>>,
}

/// What [`Engine::shutdown`] left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Batches that were running when the shutdown began (all resume on the next start).
    pub interrupted: Vec<BatchId>,
    /// Of those, the ones whose runner had not ended when the wait did.
    pub still_running: Vec<BatchId>,
}

impl Engine {
    pub fn new(store: Store, registry: Arc<Registry>, client: DifyClient) -> Arc<Engine> {
        Engine::with_limits(store, registry, client, EngineLimits::default())
    }

    pub fn with_limits(
        store: Store,
        registry: Arc<Registry>,
        client: DifyClient,
        limits: EngineLimits,
    ) -> Arc<Engine> {
        Arc::new(Engine {
            judging: Judging::new(store.clone(), client.clone()),
            store,
            registry,
            client,
            limits,
            runs: Runs::new(),
            calls: Arc::new(Semaphore::new(limits.max_calls_in_flight)),
            shutdown: CancellationToken::new(),
            member: OnceLock::new(),
            webhooks: OnceLock::new(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub fn client(&self) -> &DifyClient {
        &self.client
    }

    pub fn judging(&self) -> &Arc<Judging> {
        &self.judging
    }

    /// Makes this engine one of the instances sharing its PostgreSQL database (`cluster`):
    /// from now on its runners claim tests by leases. Set once, before any batch runs.
    /// Batch ends and alerts from here on are queued for the webhooks.
    pub fn set_webhooks(&self, hooks: Arc<Webhooks>) {
        let _ = self.webhooks.set(hooks);
    }

    pub fn webhooks(&self) -> Option<&Arc<Webhooks>> {
        self.webhooks.get()
    }

    /// Queues a batch's end for the webhooks (each end once: callers are the one place that
    /// recorded it).
    async fn tell_webhooks(&self, id: BatchId) {
        if let Some(hooks) = self.webhooks.get() {
            hooks.batch_ended(id).await;
        }
    }

    pub fn join_cluster(&self, member: Membership) {
        let _ = self.member.set(member);
    }

    pub fn membership(&self) -> Option<Membership> {
        self.member.get().copied()
    }

    /// Validates and stores a batch, starts it in the background, and returns its id at once.
    pub async fn start_batch(self: &Arc<Self>, req: StartBatch) -> Result<BatchId, EngineError> {
        self.start(req, None).await
    }

    /// [`start_batch`](Self::start_batch) over cases the caller holds instead of the stored
    /// ones (`req.case_ids` is ignored; the disabled among them are left out). The headless
    /// `run` uses it: its private in-memory store would only write the cases from its file to
    /// read them straight back (about 13 µs a case, most of a 10,000-case start-up). The cases'
    /// ids need only be distinct: the batch keeps its own snapshot of each case.
    pub async fn start_batch_with_cases(
        self: &Arc<Self>,
        req: StartBatch,
        cases: Vec<TestCase>,
    ) -> Result<BatchId, EngineError> {
        self.start(req, Some(cases)).await
    }

    async fn start(
        self: &Arc<Self>,
        req: StartBatch,
        given: Option<Vec<TestCase>>,
    ) -> Result<BatchId, EngineError> {
        let concurrency = req.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
            return Err(EngineError::Invalid(format!(
                "concurrency must be between 1 and {MAX_CONCURRENCY}, got {concurrency}"
            )));
        }
        if req.per_version_cap == Some(0) {
            return Err(EngineError::Invalid(
                "per_version_cap must be at least 1 (leave it out for no cap)".into(),
            ));
        }
        let repeats = req.repeats.unwrap_or(1);
        if !(1..=MAX_REPEATS).contains(&repeats) {
            return Err(EngineError::Invalid(format!(
                "repeats must be between 1 and {MAX_REPEATS}, got {repeats}"
            )));
        }
        let scoring = req.scoring.unwrap_or_default();
        scoring.validate().map_err(EngineError::Invalid)?;
        self.check_judges(&scoring).await?;
        let name = req.name.trim();
        let name = if name.is_empty() {
            default_batch_name()
        } else if name.chars().count() > 200 {
            return Err(EngineError::Invalid(
                "name is longer than 200 characters".into(),
            ));
        } else {
            name.to_string()
        };

        // The place is taken first, so that a refused launch has written nothing.
        let ticket = self
            .runs
            .reserve_new(self.limits.max_running_batches)
            .map_err(|r| self.refused(None, r))?;
        let versions = self.selected_versions(&req.version_ids).await?;
        let cases = match given {
            None => self.selected_cases(req.case_ids.as_deref()).await?,
            Some(cases) => {
                let enabled: Vec<TestCase> = cases.into_iter().filter(|c| c.enabled).collect();
                if enabled.is_empty() {
                    return Err(EngineError::Invalid(
                        "there are no enabled test cases to run".into(),
                    ));
                }
                enabled
            }
        };
        tracing::debug!(target: "dify_bench::startup", "start_batch: versions and cases read");
        self.limits
            .check_batch_size(versions.len(), cases.len(), repeats)
            .map_err(EngineError::Invalid)?;
        let cases = Arc::new(cases);
        // The plans are compiled once (checked here, then run with) while the batch is written
        // (its case snapshots are made as they are written): on PostgreSQL its writes take the
        // database's core while the plans take the others.
        // The batch is committed only once every plan compiled; a bad one (a regex above all)
        // refuses the launch and rolls the batch back, so a refused launch leaves nothing.
        let new = NewBatch {
            name: &name,
            concurrency: concurrency as i64,
            per_version_cap: req.per_version_cap.map(i64::from),
            scoring: &scoring,
            repeats,
            versions: &versions,
            cases: &cases,
            created_by: req.created_by.as_deref(),
        };
        let compile = async {
            let compiled = case_plans(cases.clone()).await;
            tracing::debug!(target: "dify_bench::startup", "start_batch: case plans compiled");
            compiled
        };
        let (compiled, pending) = tokio::join!(compile, self.store.begin_batch(&new));
        let compiled = match compiled {
            Ok(compiled) => compiled,
            Err(refused) => {
                if let Ok(pending) = pending {
                    if let Err(e) = pending.roll_back().await {
                        tracing::warn!(error = %e, "could not roll back a refused batch");
                    }
                }
                return Err(refused);
            }
        };
        let (batch, planned) = pending?.commit().await?;
        let cases = Arc::try_unwrap(cases).unwrap_or_else(|shared| (*shared).clone());
        let id = batch.id;
        let case_count = cases.len();
        let plan = BatchPlan {
            batch,
            versions: planned,
            cases,
        };
        tracing::debug!(target: "dify_bench::startup", "start_batch: batch and snapshots stored");
        tracing::info!(
            batch = %id,
            versions = versions.len(),
            cases = case_count,
            repeats,
            "batch queued"
        );
        // The plan just stored and its compiled cases go to the runner as they are, rather than
        // being read back and compiled again.
        let fresh = Fresh {
            plan,
            case_plans: compiled.into_iter().map(Arc::new).collect(),
        };
        self.launch_from(id, ticket, true, Some(fresh)).await?;
        Ok(id)
    }

    /// The error a refused place becomes; `id` is the batch it was asked for, if any.
    fn refused(&self, id: Option<BatchId>, refusal: Refusal) -> EngineError {
        match (refusal, id) {
            (Refusal::Closed, None) => EngineError::Unavailable(
                "the server is shutting down and starts no batch; start it again once the \
                 server is back"
                    .into(),
            ),
            (Refusal::Closed, Some(id)) => EngineError::Unavailable(format!(
                "the server is shutting down; batch {id} is saved and runs when it is back"
            )),
            (Refusal::Full(running), _) => EngineError::Conflict(
                self.limits
                    .running_batches_refusal(running)
                    .unwrap_or_else(|| "too many batches are running".into()),
            ),
            (Refusal::Busy, Some(id)) => EngineError::Conflict(format!(
                "batch {id} is already running (or being re-run); cancel it or wait for it to end"
            )),
            (Refusal::Busy, None) => EngineError::Conflict("the batch is already running".into()),
        }
    }

    /// The batch's judge must be a judge, and its embedding scorer an embeddings endpoint.
    async fn check_judges(&self, scoring: &ScoringConfig) -> Result<(), EngineError> {
        let wanted = [
            scoring.judge.as_ref().map(|j| (j.judge_id, true)),
            scoring.embedding.as_ref().map(|e| (e.judge_id, false)),
        ];
        for (id, grades) in wanted.into_iter().flatten() {
            let field = if grades { "judge" } else { "embedding" };
            let judge = self.store.get_judge(id).await?.ok_or_else(|| {
                EngineError::Invalid(format!("{field}: judge {id} does not exist"))
            })?;
            if judge.judge.kind.grades() != grades {
                return Err(EngineError::Invalid(format!(
                    "{field}: judge {id} (`{}`) is {}",
                    judge.judge.name,
                    if grades {
                        "an embeddings endpoint; choose a judge (openai or dify_app)"
                    } else {
                        "a judge; choose an embeddings endpoint"
                    }
                )));
            }
        }
        Ok(())
    }

    async fn selected_versions(
        &self,
        ids: &[VersionId],
    ) -> Result<Vec<crate::server::store::VersionRecord>, EngineError> {
        if ids.is_empty() {
            return Err(EngineError::Invalid("select at least one version".into()));
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for &id in ids {
            if !seen.insert(id) {
                continue;
            }
            let v = self
                .store
                .get_version(id)
                .await?
                .ok_or_else(|| EngineError::Invalid(format!("version {id} does not exist")))?;
            if !v.version.enabled {
                return Err(EngineError::Invalid(format!(
                    "version {id} (`{}`) is disabled; enable it to test it",
                    v.version.name
                )));
            }
            out.push(v);
        }
        Ok(out)
    }

    /// The cases of a new batch: every enabled case (`ids` None), or the ones selected, each
    /// once in the order given. Only these are read (not every stored case); the first selected
    /// id, in order, that is missing or disabled is named.
    async fn selected_cases(&self, ids: Option<&[CaseId]>) -> Result<Vec<TestCase>, EngineError> {
        let cases: Vec<TestCase> = match ids {
            None => self.store.enabled_cases().await?,
            Some([]) => return Err(EngineError::Invalid("select at least one test case".into())),
            Some(ids) => {
                let found = self.store.cases_with_ids(ids).await?;
                let mut by_id: HashMap<CaseId, TestCase> =
                    found.into_iter().map(|c| (c.id, c)).collect();
                let mut seen = HashSet::with_capacity(by_id.len());
                let mut out = Vec::with_capacity(by_id.len());
                for id in ids {
                    if !seen.insert(*id) {
                        continue;
                    }
                    let case = by_id.remove(id).ok_or_else(|| {
                        EngineError::Invalid(format!("test case {id} does not exist"))
                    })?;
                    if !case.enabled {
                        return Err(EngineError::Invalid(format!(
                            "test case {id} (`{}`) is disabled",
                            case.name
                        )));
                    }
                    out.push(case);
                }
                out
            }
        };
        if cases.is_empty() {
            return Err(EngineError::Invalid(
                "there are no enabled test cases to run".into(),
            ));
        }
        Ok(cases)
    }

    /// Asks a running batch to stop; in-flight calls are aborted and it ends `cancelled`. A batch
    /// that another instance runs (PostgreSQL) is told to stop over `LISTEN/NOTIFY`
    /// (`server::cluster`); when no instance ends it within [`REMOTE_CANCEL_WAIT`], none runs it,
    /// and it is marked cancelled here.
    pub async fn cancel_batch(&self, id: BatchId) -> Result<(), EngineError> {
        if let Some(member) = self.membership() {
            return self.cancel_shared(id, member).await;
        }
        if self.runs.cancel(id) {
            return Ok(());
        }
        let unfinished = |b: &Option<Batch>| b.as_ref().is_some_and(|b| !b.status.is_terminal());
        if unfinished(&self.store.get_batch(id).await?)
            && crate::server::cluster::announce_cancel(&self.store, id).await?
        {
            let deadline = tokio::time::Instant::now() + REMOTE_CANCEL_WAIT;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if !unfinished(&self.store.get_batch(id).await?) {
                    return Ok(());
                }
            }
        }
        match self.store.get_batch(id).await? {
            None => Err(EngineError::NotFound(format!("batch {id} does not exist"))),
            Some(b) if b.status.is_terminal() => Err(EngineError::Conflict(format!(
                "batch {id} has already ended ({})",
                b.status.as_str()
            ))),
            // Stored as unfinished but not running here (e.g. a resume that failed to start).
            Some(_) => {
                self.store
                    .mark_batch_finished(id, BatchStatus::Cancelled, None)
                    .await?;
                self.tell_webhooks(id).await;
                Ok(())
            }
        }
    }

    /// A cancel among several instances: the batch ends in the store first (so no instance
    /// claims another of its tests), then every instance is told to stop its runner and to send
    /// the terminal event.
    async fn cancel_shared(&self, id: BatchId, member: Membership) -> Result<(), EngineError> {
        if self
            .store
            .end_open_batch(id, BatchStatus::Cancelled, None)
            .await?
        {
            self.runs.cancel(id);
            self.tell_webhooks(id).await;
            cluster::announce_cancel(&self.store, id).await?;
            cluster::announce_batch(&self.store, member.instance, id, BatchEvent::End).await?;
            self.conclude_from_store(id).await;
            tracing::info!(batch = %id, "batch cancelled on every instance");
            return Ok(());
        }
        match self.store.get_batch(id).await? {
            None => Err(EngineError::NotFound(format!("batch {id} does not exist"))),
            Some(b) => Err(EngineError::Conflict(format!(
                "batch {id} has already ended ({})",
                b.status.as_str()
            ))),
        }
    }

    /// Joins a batch another instance opened (shared work): runs a runner of it here too, unless
    /// one runs already. Nothing to do on a single instance.
    pub async fn join(self: &Arc<Self>, id: BatchId) {
        if self.member.get().is_none() {
            return;
        }
        let Ok(ticket) = self.runs.reserve_batch(id, None) else {
            return;
        };
        match self.launch(id, ticket, false).await {
            Ok(()) => tracing::info!(batch = %id, "joined a batch opened by another instance"),
            Err(e) => tracing::warn!(batch = %id, error = %e, "cannot join batch"),
        }
    }

    /// Another instance ended `id`: stop running it here, and send its terminal event from the
    /// store's record.
    pub async fn ended_elsewhere(&self, id: BatchId) {
        self.runs.cancel(id);
        self.conclude_from_store(id).await;
    }

    /// The shared-work safety net, run when the listener (re)connects and once per lease: joins
    /// every open batch not running here, ends what ended unheard, and brings every live batch's
    /// counts to what the store holds (a progress note may have been missed).
    pub async fn reconcile(self: &Arc<Self>) {
        if self.member.get().is_none() {
            return;
        }
        let open = match self.store.unfinished_batches().await {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the open batches");
                return;
            }
        };
        for &id in &open {
            if !self.runs.ids().contains(&id) && !self.shutdown.is_cancelled() {
                self.join(id).await;
            }
        }
        for id in self.registry.running() {
            if open.contains(&id) {
                if let Ok(live) = self.store.live_tallies(id).await {
                    for t in &live {
                        self.registry.apply_tally(id, t, 0);
                    }
                }
            } else {
                self.ended_elsewhere(id).await;
            }
        }
    }

    /// Sends the terminal event of `id` as the store recorded its end (when it has ended).
    async fn conclude_from_store(&self, id: BatchId) {
        let end = match self.store.stored_end(id).await {
            Ok(Some(end)) if end.status.is_terminal() => end,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(batch = %id, error = %e, "cannot read how the batch ended");
                return;
            }
        };
        let tallies = if self.store.pg_pool().is_some() {
            // Alerts other instances raised, so that every instance ends on the same event.
            for alert in self.store.batch_alerts(id).await.unwrap_or_default() {
                self.registry.alert(id, alert);
            }
            self.store.live_tallies(id).await.unwrap_or_default()
        } else {
            Vec::new()
        };
        self.registry.conclude(id, end, &tallies);
    }

    /// Runs again, in a finished batch, every test that ended with an error or has no result
    /// (a batch that stopped on an error, or was cancelled); returns how many. Exactly one of
    /// several concurrent calls starts a runner; the others get a conflict.
    pub async fn rerun_failed(self: &Arc<Self>, id: BatchId) -> Result<u64, EngineError> {
        let plan = self
            .store
            .batch_plan(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("batch {id} does not exist")))?;
        if !plan.batch.status.is_terminal() {
            return Err(self.refused(Some(id), Refusal::Busy));
        }
        // Refused before anything is deleted, so the batch stays as it was.
        let tallies = self.store.version_tallies(id).await?;
        if let Some(v) = keyless_with_work(&plan, &tallies, true) {
            return Err(EngineError::Conflict(key_removed(id, v)));
        }
        // The claim, in two halves that both must be won: this process's place for the batch
        // (one lock, so of concurrent callers here one wins), then the store's conditional
        // re-open (so a caller in another process, or one that raced the first half's check of
        // the status above, loses there). Only the winner of both starts a runner.
        let ticket = self
            .runs
            .reserve_batch(id, Some(self.limits.max_running_batches))
            .map_err(|r| self.refused(Some(id), r))?;
        let to_run = match self.store.claim_for_rerun(id).await? {
            RerunClaim::Lost => return Err(self.refused(Some(id), Refusal::Busy)),
            RerunClaim::NothingToRun => return Ok(0),
            RerunClaim::Claimed { to_run } => to_run,
        };
        tracing::info!(batch = %id, tests = to_run, "re-running failed and unrun tests");
        if let Err(e) = self.launch(id, ticket, true).await {
            // Re-opened but not running. At shutdown it stays queued and runs on the next start
            // (as the message says); otherwise it ends again, saying why.
            if !matches!(e, EngineError::Unavailable(_)) {
                let message = format!("cannot re-run: {e}");
                finish(self, id, BatchStatus::Error, Some(message)).await;
            }
            return Err(e);
        }
        Ok(to_run)
    }

    /// Resumes every batch a crash or restart left unfinished; returns their ids. They take a
    /// place each even beyond the running-batches cap: they were admitted when they started.
    pub async fn resume_unfinished(self: &Arc<Self>) -> Result<Vec<BatchId>, EngineError> {
        let ids = self.store.unfinished_batches().await?;
        for &id in &ids {
            tracing::info!(batch = %id, "resuming unfinished batch");
            let launched = match self.runs.reserve_batch(id, None) {
                Ok(ticket) => self.launch(id, ticket, false).await,
                // Already joined (a note from another instance came first).
                Err(Refusal::Busy) if self.member.get().is_some() => Ok(()),
                Err(r) => Err(self.refused(Some(id), r)),
            };
            if let Err(e) = launched {
                // One unreadable batch must not keep the others (or the server) from starting.
                tracing::error!(batch = %id, error = %e, "cannot resume batch");
                finish(
                    self,
                    id,
                    BatchStatus::Error,
                    Some(format!("cannot resume: {e}")),
                )
                .await;
            }
        }
        Ok(ids)
    }

    /// Cancels `id` if this process runs it (a cancel from another instance); false otherwise.
    pub fn cancel_here(&self, id: BatchId) -> bool {
        self.runs.cancel(id)
    }

    /// Ids of the batches running in this process.
    pub fn running(&self) -> Vec<BatchId> {
        self.runs.ids()
    }

    /// Stops every runner for a shutdown, waiting at most `wait` for them to end: no batch
    /// starts from now on; each running batch stops dispatching, gives its calls in flight
    /// [`CALL_GRACE`] to finish, cancels the rest, stores what it received (within
    /// [`WRITER_DRAIN`]) and stays `running` in the store, so it resumes on the next start.
    pub async fn shutdown(&self, wait: Duration) -> ShutdownReport {
        let member = self.membership();
        if let Some(m) = member {
            // Out of the fair share at once: the others may take this instance's part.
            if let Err(e) = self.store.drain_instance(m.instance).await {
                tracing::warn!(error = %e, "cannot mark this instance as draining");
            }
        }
        let interrupted = self.runs.close();
        self.shutdown.cancel();
        if !interrupted.is_empty() {
            tracing::info!(
                batches = ?interrupted,
                grace_s = CALL_GRACE.as_secs(),
                "stopping running batches: calls in flight may finish within the grace, then \
                 are cancelled; the batches resume on the next start"
            );
        }
        let _ = tokio::time::timeout(wait, self.runs.idle()).await;
        if let Some(m) = member {
            // The tests this instance held go back at once, not after the lease time: a rolling
            // restart loses none and waits for none.
            match self.store.leave(m.instance).await {
                Ok(released) => tracing::info!(
                    released,
                    "left the instances: leases given back to the others"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot give the leases back; they expire"),
            }
        }
        ShutdownReport {
            interrupted,
            still_running: self.runs.ids(),
        }
    }

    /// Starts tracking a stored batch (from its stored tallies, so a resume starts where it
    /// stopped) and runs it in the background, in the place `ticket` holds. Tracking begins
    /// before this returns, so a caller can subscribe to the batch's progress at once.
    async fn launch(
        self: &Arc<Self>,
        id: BatchId,
        ticket: Ticket,
        announce: bool,
    ) -> Result<(), EngineError> {
        self.launch_from(id, ticket, announce, None).await
    }

    /// [`Engine::launch`], with the plan and compiled cases of a batch just created when given
    /// (`fresh`), else from the store.
    async fn launch_from(
        self: &Arc<Self>,
        id: BatchId,
        ticket: Ticket,
        announce: bool,
        fresh: Option<Fresh>,
    ) -> Result<(), EngineError> {
        let (plan, compiled) = match fresh {
            Some(Fresh { plan, case_plans }) => (plan, Some(case_plans)),
            None => (
                self.store
                    .batch_plan(id)
                    .await?
                    .ok_or_else(|| EngineError::NotFound(format!("batch {id} does not exist")))?,
                None,
            ),
        };
        // Shared work starts from the store's live tallies, with their revisions, which the
        // other instances' notes are ordered by.
        let live = match self.member.get() {
            Some(_) => Some(self.store.live_tallies(id).await?),
            None => None,
        };
        let tallies = match &live {
            Some(live) => live.iter().map(version_tally).collect(),
            None => self.store.version_tallies(id).await?,
        };
        if let Some(v) = keyless_with_work(&plan, &tallies, false) {
            return Err(EngineError::Conflict(key_removed(id, v)));
        }
        // A fresh batch gets its start time now (the store's COALESCE keeps the first one).
        let started_at = plan
            .batch
            .started_at
            .unwrap_or_else(crate::server::store::now_ms);
        let (guard, cancel) = ticket.start(id).map_err(|r| self.refused(Some(id), r))?;
        let mut start = batch_start(&plan.batch, &tallies, started_at);
        for v in &mut start.versions {
            if let Some(t) = live
                .iter()
                .flatten()
                .find(|t| t.version_id == v.version_id.0)
            {
                v.rev = t.rev.max(0) as u64;
            }
        }
        self.registry.init_batch(start);
        // A resumed or re-run batch shows what it raised before.
        for alert in self.store.batch_alerts(id).await.unwrap_or_default() {
            self.registry.alert(id, alert);
        }
        self.spawn(plan, compiled, guard, cancel);
        if let (true, Some(m)) = (announce, self.member.get()) {
            // The others join it (or find it by their sweep, should this note be lost).
            if let Err(e) =
                cluster::announce_batch(&self.store, m.instance, id, BatchEvent::Open).await
            {
                tracing::warn!(batch = %id, error = %e, "cannot tell the other instances");
            }
        }
        Ok(())
    }

    fn spawn(
        self: &Arc<Self>,
        plan: BatchPlan,
        compiled: Option<Vec<Arc<CasePlan>>>,
        guard: RunGuard,
        cancel: CancellationToken,
    ) {
        let id = plan.batch.id;
        let engine = self.clone();
        tokio::spawn(async move {
            let outcome = engine.run(plan, compiled, cancel).await;
            if let Err(e) = outcome {
                // The batch could not run at all (its plan is unreadable, the database is gone).
                tracing::error!(batch = %id, error = %e, "batch failed");
                let message = e.to_string();
                self::finish(&engine, id, BatchStatus::Error, Some(message)).await;
            }
            // Last: the place is free only once the end is recorded, so a re-run that gets the
            // place finds the batch finished in the store.
            drop(guard);
        });
    }

    /// Runs a launched batch; `compiled` are its cases' plans when the launch had them.
    async fn run(
        self: &Arc<Self>,
        plan: BatchPlan,
        compiled: Option<Vec<Arc<CasePlan>>>,
        cancel: CancellationToken,
    ) -> Result<(), EngineError> {
        let id = plan.batch.id;
        let member = self.membership();
        let done = match member {
            Some(_) => HashSet::new(),
            None => self.store.result_keys(id).await?,
        };
        if !self.store.mark_batch_running(id).await? {
            // Ended before it started here (cancelled on another instance).
            self.conclude_from_store(id).await;
            return Ok(());
        }
        // What exactly is tested, read beside the batch: the first call waits for nothing.
        crate::server::identity::record_at_launch(
            self.store.clone(),
            self.client.clone(),
            id,
            plan.versions
                .iter()
                .filter(|v| v.api_key.is_some())
                .map(|v| (v.version_id, endpoint(v)))
                .collect(),
            Arc::new(
                plan.cases
                    .iter()
                    .map(|c| {
                        (
                            c.id,
                            c.name.clone(),
                            c.query.clone(),
                            Some(c.inputs.clone()),
                        )
                    })
                    .collect(),
            ),
        );
        let case_plans = match compiled {
            Some(compiled) => compiled,
            None => case_plans(Arc::new(plan.cases.clone()))
                .await?
                .into_iter()
                .map(Arc::new)
                .collect::<Vec<_>>(),
        };
        let ended = match member {
            Some(m) => self.execute_shared(&plan, &case_plans, m, &cancel).await,
            None => self.execute(&plan, &case_plans, &done, &cancel).await,
        };
        let (status, message) = match ended {
            Ok(Ended::Finished(status)) => (status, None),
            Ok(Ended::Interrupted { cancelled, unsaved }) => {
                // Left `running` in the store: the next start resumes it.
                tracing::info!(
                    batch = %id,
                    calls_cancelled = cancelled,
                    answers_unsaved = unsaved,
                    "batch interrupted by shutdown: its cancelled calls, answers not stored and \
                     tests not yet sent run when the server starts"
                );
                return Ok(());
            }
            Ok(Ended::Gone) => {
                self.conclude_from_store(id).await;
                return Ok(());
            }
            Ok(Ended::NotSaved) => (BatchStatus::Error, Some(not_saved_message())),
            Err(e) => (BatchStatus::Error, Some(e.to_string())),
        };
        finish(self, id, status, message).await;
        Ok(())
    }

    /// The dispatch loop. Every version's tests wait in its lane ([`Lanes`]), round by round;
    /// the earliest version with a test its gate lets go sends next, so versions finish in
    /// order when nothing holds them back and share when a per-version cap or a gate does.
    /// Each call also holds a permit of the server-wide semaphore, so every batch's and
    /// version's limit sits under [`EngineLimits::max_calls_in_flight`]; a batch waiting for
    /// one queues (first come, first served) behind the other batches.
    async fn execute(
        &self,
        plan: &BatchPlan,
        case_plans: &[Arc<CasePlan>],
        done: &HashSet<TestKey>,
        cancel: &CancellationToken,
    ) -> Result<Ended, EngineError> {
        let batch = &plan.batch;
        let (tx, rx) = mpsc::channel::<TestResult>(WRITE_BATCH * 4);
        let mut d = self.dispatch(plan, case_plans, tx).await?;
        // Each version's tests, round by round: every case once, then every case again. A slow
        // spell of the app (or of Dify) then touches one repeat of many cases rather than every
        // repeat of a few, which keeps the repeats of a case closer to independent draws.
        for (vi, v) in plan.versions.iter().enumerate() {
            for rep in 0..batch.repeats.max(1) {
                for (ci, case) in d.cases.iter().enumerate() {
                    if !done.contains(&(v.version_id, case.id, rep)) {
                        d.lanes.push(vi, Waiting::fresh(ci, rep));
                    }
                }
            }
        }
        let stored = Arc::new(AtomicU64::new(0));
        let writer = tokio::spawn(write_results(
            self.store.clone(),
            self.registry.clone(),
            rx,
            stored.clone(),
            None,
            d.watch.take(),
            self.webhooks.get().cloned(),
        ));
        let mut tasks: JoinSet<TaskEnd> = JoinSet::new();
        let mut calls = Calls::default();
        let mut stop: Option<Stop> = None;
        // At shutdown: when the calls in flight stop being waited for.
        let mut grace: Option<Pin<Box<tokio::time::Sleep>>> = None;

        loop {
            if stop.is_none() && self.shutdown.is_cancelled() {
                stop = Some(Stop::Shutdown);
                grace = Some(Box::pin(tokio::time::sleep(CALL_GRACE)));
            }
            let ended = stop.is_some() || d.writer_gone;
            let now = Instant::now();
            let wake = if ended {
                calls = Calls::default();
                None
            } else {
                d.send(self, &mut tasks, &mut calls, now);
                d.lanes.wake_at(now)
            };
            if tasks.is_empty() && calls.acquiring.is_none() && (ended || d.lanes.is_empty()) {
                break;
            }
            tokio::select! {
                joined = tasks.join_next(), if !tasks.is_empty() => d.joined(self, joined),
                acquired = calls.acquired(), if calls.acquiring.is_some() => {
                    calls.acquiring = None;
                    // The semaphore is never closed; were it, this batch would stop dispatching
                    // and end with the tests it has not run left for a re-run.
                    match acquired {
                        Ok(p) => calls.permit = Some(p),
                        Err(_) => d.writer_gone = true,
                    }
                }
                () = sleep_until(wake), if wake.is_some() => {}
                _ = cancel.cancelled(), if stop != Some(Stop::Cancel) => {
                    stop = Some(Stop::Cancel);
                    tasks.abort_all();
                }
                _ = self.shutdown.cancelled(), if stop.is_none() => {
                    // Handled at the top of the loop: stop dispatching, start the grace.
                }
                () = async {
                    match grace.as_mut() {
                        Some(sleep) => sleep.await,
                        None => std::future::pending().await,
                    }
                }, if grace.is_some() => {
                    grace = None;
                    if !tasks.is_empty() {
                        tracing::info!(
                            batch = %batch.id,
                            calls = tasks.len(),
                            "cancelling the calls still in flight after the shutdown grace"
                        );
                    }
                    tasks.abort_all();
                }
            }
        }
        let run = d.wound_down(stored, stop);
        let ended = self.wind_down(batch.id, writer, run).await;
        Ok(ended.unwrap_or(Ended::Finished(BatchStatus::Completed)))
    }

    /// The dispatch loop of shared work (several instances on PostgreSQL): tests are claimed from
    /// the store (`store::work`) instead of being known up front — as many as this runner can
    /// send at once, within the batch's limits counted over every instance — into the same lanes
    /// the local loop uses; each result, stored, frees its claim. It claims again when its writer
    /// stored a group, and every [`CLAIM_POLL`] (the tests of a vanished instance become
    /// claimable once its lease expires). It ends when no test of the batch is left, or the
    /// batch ended elsewhere.
    async fn execute_shared(
        &self,
        plan: &BatchPlan,
        case_plans: &[Arc<CasePlan>],
        member: Membership,
        cancel: &CancellationToken,
    ) -> Result<Ended, EngineError> {
        let batch = &plan.batch;
        let (tx, rx) = mpsc::channel::<TestResult>(WRITE_BATCH * 4);
        let mut d = self.dispatch(plan, case_plans, tx).await?;
        let version_index: HashMap<VersionId, usize> = plan
            .versions
            .iter()
            .enumerate()
            .map(|(i, v)| (v.version_id, i))
            .collect();
        let case_index: HashMap<CaseId, usize> =
            d.cases.iter().enumerate().map(|(i, c)| (c.id, i)).collect();

        let stored = Arc::new(AtomicU64::new(0));
        let claim_again = Arc::new(Notify::new());
        let writer = tokio::spawn(write_results(
            self.store.clone(),
            self.registry.clone(),
            rx,
            stored.clone(),
            Some((member, claim_again.clone())),
            d.watch.take(),
            self.webhooks.get().cloned(),
        ));
        let mut tasks: JoinSet<TaskEnd> = JoinSet::new();
        let mut calls = Calls::default();
        let mut claiming: Option<Claiming> = None;
        let mut poll = tokio::time::interval(CLAIM_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut due = true;
        let mut asked = 0u64;
        // No test of the batch is left to claim; the batch is no longer open.
        let mut drained = false;
        let mut gone = false;
        let mut stop: Option<Stop> = None;
        let mut grace: Option<Pin<Box<tokio::time::Sleep>>> = None;

        loop {
            if stop.is_none() && self.shutdown.is_cancelled() {
                stop = Some(Stop::Shutdown);
                grace = Some(Box::pin(tokio::time::sleep(CALL_GRACE)));
            }
            let ended = stop.is_some() || d.writer_gone || gone;
            let now = Instant::now();
            let mut wake = None;
            if ended {
                claiming = None;
                calls = Calls::default();
            } else {
                d.send(self, &mut tasks, &mut calls, now);
                wake = d.lanes.wake_at(now);
                if due && claiming.is_none() && !drained {
                    // No more than it can send at once, and no more than the server has calls
                    // for: a claimed test waiting here holds a lease every instance counts.
                    let room = d
                        .limit
                        .saturating_sub(tasks.len() + d.lanes.held())
                        .min(CLAIM_MAX)
                        .min(self.calls.available_permits());
                    if room > 0 {
                        due = false;
                        let store = self.store.clone();
                        let want = room as u64;
                        asked = want;
                        let id = batch.id;
                        claiming = Some(Box::pin(async move {
                            store
                                .claim_tests(id, member.instance, want, member.lease_ms())
                                .await
                        }));
                    }
                }
            }
            let idle = claiming.is_none() && drained && d.lanes.is_empty();
            if tasks.is_empty() && calls.acquiring.is_none() && (ended || idle) {
                break;
            }
            tokio::select! {
                joined = tasks.join_next(), if !tasks.is_empty() => d.joined(self, joined),
                acquired = calls.acquired(), if calls.acquiring.is_some() => {
                    calls.acquiring = None;
                    match acquired {
                        Ok(p) => calls.permit = Some(p),
                        Err(_) => d.writer_gone = true,
                    }
                }
                claimed = async {
                    match claiming.as_mut() {
                        Some(claim) => claim.await,
                        None => std::future::pending().await,
                    }
                }, if claiming.is_some() => {
                    claiming = None;
                    match claimed {
                        Ok(ClaimOutcome { open: false, .. }) => {
                            // Ended elsewhere: nothing here is worth finishing.
                            gone = true;
                            tasks.abort_all();
                        }
                        Ok(outcome) => {
                            let got = outcome.tests.len();
                            if d.sent == 0 && got > 0 {
                                tracing::info!(
                                    batch = %batch.id,
                                    instance = %member.instance,
                                    others_leased = outcome.others_leased,
                                    "claimed tests of the batch (shared with the other instances)"
                                );
                            }
                            for test in outcome.tests {
                                let (Some(&vi), Some(&ci)) = (
                                    version_index.get(&test.version_id),
                                    case_index.get(&test.case_id),
                                ) else {
                                    // Not in this batch's snapshot (cannot happen): its lease
                                    // expires for the others.
                                    continue;
                                };
                                if test.reclaimed {
                                    tracing::info!(
                                        batch = %batch.id,
                                        version = %test.version_id,
                                        case = %test.case_id,
                                        "claimed again a test whose instance vanished or stopped; \
                                         it may have been called before"
                                    );
                                }
                                d.lanes.push(vi, Waiting::fresh(ci, test.repetition));
                            }
                            drained = got == 0 && !outcome.remaining;
                            // All it asked for: there may be more, and room for it.
                            due = got > 0 && got as u64 == asked;
                        }
                        Err(e) => {
                            tracing::warn!(batch = %batch.id, error = %e, "claiming tests failed; retrying");
                        }
                    }
                }
                () = sleep_until(wake), if wake.is_some() => {}
                () = claim_again.notified() => due = true,
                _ = poll.tick() => due = true,
                _ = cancel.cancelled(), if stop != Some(Stop::Cancel) => {
                    stop = Some(Stop::Cancel);
                    tasks.abort_all();
                }
                _ = self.shutdown.cancelled(), if stop.is_none() => {}
                () = async {
                    match grace.as_mut() {
                        Some(sleep) => sleep.await,
                        None => std::future::pending().await,
                    }
                }, if grace.is_some() => {
                    grace = None;
                    tasks.abort_all();
                }
            }
        }
        let run = d.wound_down(stored, stop);
        let ended = self.wind_down(batch.id, writer, run).await;
        Ok(match ended {
            Some(ended) => ended,
            None if gone => Ended::Gone,
            // No test left: whichever runner stores the last result completes the batch.
            None => Ended::Finished(BatchStatus::Completed),
        })
    }

    /// What both dispatch loops start from: the batch's snapshot as its tests need it, and one
    /// empty lane per version behind its gate (reported at once, so the stream shows the
    /// limits from the start).
    async fn dispatch(
        &self,
        plan: &BatchPlan,
        case_plans: &[Arc<CasePlan>],
        tx: mpsc::Sender<TestResult>,
    ) -> Result<Dispatch, EngineError> {
        let batch = &plan.batch;
        let limit = batch.concurrency.max(1) as usize;
        let cap = batch
            .per_version_cap
            .map_or(limit, |c| (c.max(1) as usize).min(limit));
        let gate = self.limits.gate;
        let versions: Vec<VersionId> = plan.versions.iter().map(|v| v.version_id).collect();
        // Alerts: each version against its own history; not again what the batch raised before.
        // Without them the batch runs all the same.
        let watch = match (
            self.store.alert_baselines(batch.id, &versions).await,
            self.store.batch_alerts(batch.id).await,
        ) {
            (Ok(baselines), Ok(already)) => BatchWatch::new(baselines, &already),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(batch = %batch.id, error = %e, "cannot read the versions' history for alerts");
                BatchWatch::new(HashMap::new(), &[])
            }
        };
        let mut d = Dispatch {
            batch_id: batch.id,
            limit,
            versions,
            watch: Some(watch),
            endpoints: plan
                .versions
                .iter()
                .map(|v| Arc::new(PreparedApp::new(endpoint(v))))
                .collect(),
            seen: plan
                .versions
                .iter()
                .map(|v| SeenWorkflow::new(self.store.clone(), batch.id, v.version_id))
                .collect(),
            cases: plan.cases.iter().cloned().map(Arc::new).collect(),
            case_plans: case_plans.to_vec(),
            scoring: Arc::new(batch.scoring.clone()),
            grading: Arc::new(self.judging.for_batch(&batch.scoring).await?),
            throttles: if gate.adaptive {
                Throttles::HandBack
            } else {
                Throttles::Retry
            },
            gate,
            lanes: Lanes::new(plan.versions.iter().map(|_| Gate::new(gate, cap)).collect()),
            open: vec![false; plan.versions.len()],
            tx,
            sent: 0,
            cancelled_calls: 0,
            writer_gone: false,
        };
        for vi in 0..d.versions.len() {
            d.report_gate(&self.registry, vi);
        }
        Ok(d)
    }

    /// The end of a dispatch loop, either kind: waits for the writer to store what it was sent
    /// (at shutdown, at most [`WRITER_DRAIN`]) and says how the run ended — None when it ran to
    /// its end, uncancelled, with every result stored.
    async fn wind_down(
        &self,
        batch: BatchId,
        mut writer: tokio::task::JoinHandle<Result<(), StoreError>>,
        run: WoundDown,
    ) -> Option<Ended> {
        let written = tokio::select! {
            joined = &mut writer => Some(joined),
            () = async {
                self.shutdown.cancelled().await;
                tokio::time::sleep(WRITER_DRAIN).await;
            } => None,
        };
        let unsaved = run
            .sent
            .saturating_sub(run.cancelled_calls as u64)
            .saturating_sub(run.stored.load(Ordering::Relaxed));
        let interrupted = Ended::Interrupted {
            cancelled: run.cancelled_calls,
            unsaved,
        };
        match written {
            None => {
                writer.abort();
                tracing::warn!(
                    batch = %batch,
                    answers = unsaved,
                    "the result writer did not finish within the shutdown's drain time; those \
                     answers were not stored"
                );
                return Some(interrupted);
            }
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(e))) => {
                tracing::error!(batch = %batch, error = %e, "results could not be saved");
                return Some(Ended::NotSaved);
            }
            Some(Err(e)) => {
                tracing::error!(batch = %batch, "the result writer stopped: {e}");
                return Some(Ended::NotSaved);
            }
        }
        if run.writer_gone {
            return Some(Ended::NotSaved);
        }
        match run.stop {
            Some(Stop::Cancel) => Some(Ended::Finished(BatchStatus::Cancelled)),
            Some(Stop::Shutdown) => Some(interrupted),
            // Shutdown may have begun after the last test was dispatched: every test has its
            // result, so the batch is complete all the same.
            None => None,
        }
    }
}

/// What a dispatch loop leaves for [`Engine::wind_down`].
struct WoundDown {
    sent: u64,
    cancelled_calls: usize,
    stored: Arc<AtomicU64>,
    writer_gone: bool,
    stop: Option<Stop>,
}

/// A claim being made.
type Claiming = Pin<Box<dyn Future<Output = StoreResult<ClaimOutcome>> + Send>>;

/// A permit of the server-wide call semaphore, being waited for.
type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// Why dispatching stopped before every test was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Cancelled by a user: calls in flight are aborted at once; the batch ends `cancelled`.
    Cancel,
    /// The server is shutting down: calls in flight get [`CALL_GRACE`]; the batch stays
    /// unfinished, to resume.
    Shutdown,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// Completed (every test has a result) or cancelled.
    Finished(BatchStatus),
    /// Stopped by a shutdown: `cancelled` calls were cut in flight and `unsaved` answers were
    /// received but not stored; those tests, like every one not yet sent, run on resume.
    Interrupted { cancelled: usize, unsaved: u64 },
    /// Results could not be saved (or a test task failed): the batch ends `error`.
    NotSaved,
    /// Shared work: the batch ended elsewhere (cancelled on another instance).
    Gone,
}

/// The `error_message` of a batch that stopped because results could not be saved. Such a batch
/// does not resume by itself (only queued and running ones do); a re-run finishes it.
fn not_saved_message() -> String {
    "results could not be saved to the database (see the server log), so the batch stopped \
     before every test had a result. Re-run failed tests (`rerun_failed`) to run the tests \
     that failed or have no result"
        .to_string()
}

/// A batch just created, handed to its runner as it was built: its plan and compiled cases.
struct Fresh {
    plan: BatchPlan,
    case_plans: Vec<Arc<CasePlan>>,
}

/// From this many cases on, the plans are compiled on every core: a plan costs about 5 µs
/// without a regex (mostly the NFKC normalisation of the expected answer and keywords), so
/// 10,000 cases take 50 ms on one core, a quarter of a cold start's budget.
const PARALLEL_PLANS_FROM: usize = 2_000;

/// Compiles each case's plan (its regexes above all), off the async threads when a regex is
/// among them or the cases are many. The message names the case.
async fn case_plans(cases: Arc<Vec<TestCase>>) -> Result<Vec<CasePlan>, EngineError> {
    per_case(cases, compile_plan).await
}

/// `one` of every case, in the cases' order: off the async threads when a regex is among them
/// or the cases are many, and on every core from [`PARALLEL_PLANS_FROM`] cases.
async fn per_case<T: Send + 'static>(
    cases: Arc<Vec<TestCase>>,
    one: fn(&TestCase) -> Result<T, EngineError>,
) -> Result<Vec<T>, EngineError> {
    let heavy = cases.len() >= PARALLEL_PLANS_FROM || offload::any_regex(&cases);
    let threads = if cases.len() >= PARALLEL_PLANS_FROM {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    } else {
        1
    };
    offload::cpu_if(heavy, move || on_threads(&cases, threads, one))
        .await
        .map_err(|e| EngineError::Unavailable(e.to_string()))?
}

/// A case's plan; the message names the case.
fn compile_plan(case: &TestCase) -> Result<CasePlan, EngineError> {
    CasePlan::new(case)
        .map_err(|e| EngineError::Invalid(format!("case {} ({}): {e}", case.id, case.name)))
}

/// The plans in the cases' order, on `threads` threads (each a contiguous share); the error
/// is the first bad case's, in order, whichever thread met it.
#[cfg(test)]
fn compile_plans(cases: &[TestCase], threads: usize) -> Result<Vec<CasePlan>, EngineError> {
    on_threads(cases, threads, compile_plan)
}

/// `one` of every case in the cases' order, on `threads` threads (each a contiguous share);
/// the error is the first failing case's, in order, whichever thread met it.
fn on_threads<T: Send>(
    cases: &[TestCase],
    threads: usize,
    one: fn(&TestCase) -> Result<T, EngineError>,
) -> Result<Vec<T>, EngineError> {
    if threads <= 1 || cases.len() < 2 {
        return cases.iter().map(one).collect();
    }
    let share = cases.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = cases
            .chunks(share)
            .map(|part| scope.spawn(move || part.iter().map(one).collect::<Result<Vec<_>, _>>()))
            .collect();
        let mut out = Vec::with_capacity(cases.len());
        for part in parts {
            match part.join() {
                Ok(done) => out.extend(done?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(out)
    })
}

/// Records the end of a batch in the store, then the registry (whose terminal event closes every
/// stream): a watcher that sees the terminal event finds every result stored.
async fn finish(engine: &Engine, id: BatchId, status: BatchStatus, message: Option<String>) {
    if let Some(member) = engine.membership() {
        return finish_shared(engine, member, id, status, message).await;
    }
    if let Err(e) = engine
        .store
        .mark_batch_finished(id, status, message.as_deref())
        .await
    {
        tracing::error!(batch = %id, error = %e, "could not record the end of the batch");
    }
    // Queued before the terminal event, so a client told the batch ended finds its deliveries.
    engine.tell_webhooks(id).await;
    engine.registry.mark_finished(id, status, message);
    tracing::info!(batch = %id, status = status.as_str(), "batch ended");
}

/// [`finish`] among several instances: of the runners that end a batch, the one whose end the
/// store records tells the others (a completed batch only once no test is left); every one then
/// sends the terminal event from the store's record, so every instance sends the same.
async fn finish_shared(
    engine: &Engine,
    member: Membership,
    id: BatchId,
    status: BatchStatus,
    message: Option<String>,
) {
    let store = &engine.store;
    let ended = match status {
        BatchStatus::Completed => store.complete_if_done(id).await,
        _ => store.end_open_batch(id, status, message.as_deref()).await,
    };
    match ended {
        Ok(true) => {
            engine.tell_webhooks(id).await;
            let told = async {
                if status != BatchStatus::Completed {
                    cluster::announce_cancel(store, id).await?;
                }
                cluster::announce_batch(store, member.instance, id, BatchEvent::End).await
            };
            if let Err(e) = told.await {
                tracing::warn!(batch = %id, error = %e, "cannot tell the other instances");
            }
            tracing::info!(batch = %id, status = status.as_str(), "batch ended");
        }
        Ok(false) => {}
        Err(e) => tracing::error!(batch = %id, error = %e, "could not record the end of the batch"),
    }
    engine.conclude_from_store(id).await;
}

/// Both dispatch loops' state but the loop's own: what a test needs to run, the lanes with
/// their gates, and the counts the wind-down reads.
struct Dispatch {
    batch_id: BatchId,
    /// The batch's concurrency.
    limit: usize,
    versions: Vec<VersionId>,
    endpoints: Vec<Arc<PreparedApp>>,
    /// Per version: the workflow id its first answer named, recorded once.
    seen: Vec<Arc<SeenWorkflow>>,
    cases: Vec<Arc<TestCase>>,
    case_plans: Vec<Arc<CasePlan>>,
    scoring: Arc<ScoringConfig>,
    grading: Arc<BatchJudging>,
    throttles: Throttles,
    gate: GateConfig,
    lanes: Lanes,
    /// Per version: its circuit is counted open in the metrics.
    open: Vec<bool>,
    /// The alert rules' state, until the writer takes it.
    watch: Option<BatchWatch>,
    tx: mpsc::Sender<TestResult>,
    /// Tests handed to a task and not sent back to wait (throttled).
    sent: u64,
    cancelled_calls: usize,
    /// A result could not be handed to the writer (or a task failed): stop dispatching.
    writer_gone: bool,
}

impl Dispatch {
    /// Sends what the gates let go, up to the batch's concurrency and as the server's permits
    /// allow; ends without a call the tests of a version whose circuit gave up.
    fn send(
        &mut self,
        engine: &Engine,
        tasks: &mut JoinSet<TaskEnd>,
        calls: &mut Calls,
        now: Instant,
    ) {
        while tasks.len() < self.limit {
            let Some((vi, test)) = self.lanes.next_given_up(now) else {
                break;
            };
            self.sent += 1;
            let job = self.job(engine, vi, test);
            let message = self.circuit_message();
            let tx = self.tx.clone();
            tasks.spawn(async move {
                TaskEnd {
                    version: vi,
                    ticket: None,
                    end: job.give_up(message, &tx).await,
                }
            });
        }
        while tasks.len() < self.limit && self.lanes.can_send(now) {
            let Some(call) = calls.take(&engine.calls) else {
                break;
            };
            let Some((vi, test, ticket)) = self.lanes.next(now) else {
                calls.permit = Some(call);
                break;
            };
            self.sent += 1;
            let job = self.job(engine, vi, test);
            let client = engine.client.clone();
            let registry = engine.registry.clone();
            let tx = self.tx.clone();
            tasks.spawn(async move {
                TaskEnd {
                    version: vi,
                    ticket: Some(ticket),
                    end: job.run(&client, &registry, &tx, call).await,
                }
            });
        }
    }

    fn job(&self, engine: &Engine, vi: usize, test: Waiting) -> Job {
        Job {
            batch_id: self.batch_id,
            version_id: self.versions[vi],
            endpoint: self.endpoints[vi].clone(),
            seen: self.seen[vi].clone(),
            case: self.cases[test.case].clone(),
            test,
            plan: self.case_plans[test.case].clone(),
            scoring: self.scoring.clone(),
            grading: self.grading.clone(),
            judging: engine.judging.clone(),
            throttles: self.throttles,
        }
    }

    /// A task ended: its gate learns how, a throttled test goes back to wait for its backoff.
    fn joined(&mut self, engine: &Engine, joined: Option<Result<TaskEnd, tokio::task::JoinError>>) {
        let now = Instant::now();
        match joined {
            Some(Ok(TaskEnd {
                version,
                ticket,
                end,
            })) => {
                let signal = match &end {
                    JobEnd::Stored(signal) => *signal,
                    JobEnd::Throttled { .. } => Signal::Throttled,
                    JobEnd::Unsaved => Signal::Failed,
                };
                if let Some(ticket) = ticket {
                    if self.lanes.ended(version, ticket, signal, now) {
                        self.report_gate(&engine.registry, version);
                    }
                }
                match end {
                    JobEnd::Throttled { test, retry_after } => {
                        metrics::throttled(self.versions[version]);
                        let cfg = engine.client.config();
                        let wait = crate::server::dify::retry::delay_before_retry(
                            test.throttles.saturating_sub(1),
                            retry_after,
                            cfg.backoff_base,
                            cfg.backoff_max,
                            &mut rand::thread_rng(),
                        );
                        self.lanes.requeue(version, test, now + wait);
                        self.sent = self.sent.saturating_sub(1);
                    }
                    JobEnd::Unsaved => self.writer_gone = true,
                    JobEnd::Stored(_) => {}
                }
            }
            Some(Err(e)) if e.is_panic() => {
                // A panic in one test must not take the batch down; it has no result and is run
                // again on resume.
                tracing::error!(batch = %self.batch_id, "a test task panicked: {e}");
                self.writer_gone = true;
            }
            // Aborted by a cancel or at the end of the shutdown grace: its answer, if one came,
            // was not kept, so the test is sent again on resume.
            Some(Err(_)) => self.cancelled_calls += 1,
            None => {}
        }
    }

    fn report_gate(&mut self, registry: &Registry, vi: usize) {
        let gate = self.lanes.gate(vi);
        let (limit, circuit) = (gate.limit(), gate.circuit());
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        registry.gate_changed(self.batch_id, self.versions[vi], limit, circuit);
        let open = circuit != CircuitState::Closed;
        if open != self.open[vi] {
            self.open[vi] = open;
            metrics::open_circuits(if open { 1.0 } else { -1.0 });
        }
    }

    /// The `error_message` of a test its version's circuit did not send.
    fn circuit_message(&self) -> String {
        format!(
            "not sent: this version's circuit breaker opened after {} tests in a row failed \
             the way an app that is down fails (server errors, timeouts, lost connections) and \
             its {} probe(s) failed too, so its remaining tests were not sent; once the app \
             answers again, re-run failed tests",
            self.gate.breaker_errors,
            self.gate.breaker_probes.max(1)
        )
    }

    /// What the wind-down needs; the writer's channel closes here, and this runner's open
    /// circuits leave the metrics.
    fn wound_down(self, stored: Arc<AtomicU64>, stop: Option<Stop>) -> WoundDown {
        let open = self.open.iter().filter(|&&o| o).count();
        if open > 0 {
            metrics::open_circuits(-(open as f64));
        }
        WoundDown {
            sent: self.sent,
            cancelled_calls: self.cancelled_calls,
            stored,
            writer_gone: self.writer_gone,
            stop,
        }
    }
}

/// A permit of the server-wide call semaphore: one received and not used yet, or one being
/// waited for.
#[derive(Default)]
struct Calls {
    acquiring: Option<Acquire>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Calls {
    /// A permit now, or none (and the wait for one begun).
    fn take(&mut self, calls: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
        if let Some(p) = self
            .permit
            .take()
            .or_else(|| calls.clone().try_acquire_owned().ok())
        {
            return Some(p);
        }
        if self.acquiring.is_none() {
            self.acquiring = Some(Box::pin(calls.clone().acquire_owned()));
        }
        None
    }

    async fn acquired(&mut self) -> Result<OwnedSemaphorePermit, AcquireError> {
        match self.acquiring.as_mut() {
            Some(wait) => wait.await,
            None => std::future::pending().await,
        }
    }
}

/// Sleeps until `at`; never wakes without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// How a test's task ended, for its version's gate (`ticket` is None for a test its circuit did
/// not send).
struct TaskEnd {
    version: usize,
    ticket: Option<u64>,
    end: JobEnd,
}

enum JobEnd {
    /// Its result went to the writer: an answer, or an error.
    Stored(Signal),
    /// Throttled: no result; the test waits and goes again.
    Throttled {
        test: Waiting,
        retry_after: Option<Duration>,
    },
    /// The writer is gone: the result could not be saved.
    Unsaved,
}

/// One test: call, score, hand the result to the writer (which reports it once it is stored).
struct Job {
    batch_id: BatchId,
    version_id: VersionId,
    endpoint: Arc<PreparedApp>,
    seen: Arc<SeenWorkflow>,
    case: Arc<TestCase>,
    /// Its case's index, its repetition, the throttles it met so far.
    test: Waiting,
    plan: Arc<CasePlan>,
    scoring: Arc<ScoringConfig>,
    /// The batch's judge and embedding scorer (often neither).
    grading: Arc<BatchJudging>,
    judging: Arc<Judging>,
    /// Throttles come back to the dispatcher (adaptive concurrency) or are retried in the call.
    throttles: Throttles,
}

impl Job {
    /// `call` is this test's place among the server's calls in flight, given back as soon as
    /// Dify has answered.
    async fn run(
        self,
        client: &DifyClient,
        registry: &Registry,
        tx: &mpsc::Sender<TestResult>,
        call: OwnedSemaphorePermit,
    ) -> JobEnd {
        registry.test_started(self.batch_id, self.version_id, &self.case.name);
        if self.case.turn_count() > 1 {
            return self.run_conversation(client, registry, tx, call).await;
        }
        let outcome = client
            .call_with(
                &self.endpoint,
                &self.case.query,
                &self.case.inputs,
                self.throttles,
            )
            .await;
        drop(call);
        if let Err(failure) = &outcome {
            if let Some(end) = self.handed_back(failure, registry) {
                return end;
            }
        }
        let signal = signal_of(outcome.as_ref().err());
        let scored = match outcome {
            Ok(answer) => {
                let semantic = self.semantic(&self.case, &answer).await;
                match self.score(1, answer, semantic).await {
                    Some(scored) => Ok(scored),
                    // Only when the runtime itself is going away; the test runs again on resume.
                    None => return JobEnd::Unsaved,
                }
            }
            Err(failure) => Err(failure),
        };
        let result = self.result(scored);
        match tx.send(result).await {
            Ok(()) => JobEnd::Stored(signal),
            Err(_) => JobEnd::Unsaved,
        }
    }

    /// A throttle handed back to the dispatcher (adaptive concurrency): the test waits and goes
    /// again, unless it met too many throttles already.
    fn handed_back(
        &self,
        failure: &crate::server::dify::Failure,
        registry: &Registry,
    ) -> Option<JobEnd> {
        let throttles = self.test.throttles + 1;
        if self.throttles == Throttles::HandBack
            && failure.is_throttle()
            && throttles < MAX_THROTTLES_PER_TEST
        {
            registry.test_requeued(self.batch_id, self.version_id);
            return Some(JobEnd::Throttled {
                test: Waiting {
                    throttles,
                    attempts: self.test.attempts + failure.attempts,
                    ..self.test
                },
                retry_after: failure.retry_after,
            });
        }
        None
    }

    /// What the batch's judge and embedding scorer say about an answer to `case` (nothing
    /// without either). Judged before the test counts as completed: the judge's calls have their
    /// own limit.
    async fn semantic(&self, case: &TestCase, answer: &crate::server::dify::Answer) -> Semantic {
        self.seen.note(answer.workflow_id.as_deref());
        if self.grading.is_empty() {
            return Semantic::default();
        }
        let threshold = case.pass_threshold.unwrap_or(self.scoring.pass_threshold);
        self.judging
            .assess(
                &self.grading,
                case,
                &answer.answer,
                &answer.retrieved,
                threshold,
            )
            .await
    }

    /// Scores the answer to turn `turn` (1 for a one-turn case); a very long answer off the
    /// async threads (see `offload`). None only when the runtime is going away.
    async fn score(
        &self,
        turn: usize,
        answer: crate::server::dify::Answer,
        semantic: Semantic,
    ) -> Option<(crate::server::dify::Answer, crate::server::scoring::Scored)> {
        let long = answer.answer.len() >= offload::LONG_ANSWER_BYTES;
        let (plan, scoring) = (self.plan.clone(), self.scoring.clone());
        offload::cpu_if(long, move || {
            let plan = plan.turn(turn).unwrap_or(&plan);
            let scored = plan.score_with(
                &answer.answer,
                answer.latency_ms,
                &answer.trace,
                &scoring,
                semantic,
            );
            (answer, scored)
        })
        .await
        .ok()
    }

    /// A test its version's circuit gave up on: an error result without a call.
    async fn give_up(self, message: String, tx: &mpsc::Sender<TestResult>) -> JobEnd {
        let result = TestResult {
            error_code: Some(CIRCUIT_OPEN.to_string()),
            error_message: Some(message),
            attempts: 0,
            ..self.result(Err(crate::server::dify::Failure {
                code: CIRCUIT_OPEN.to_string(),
                message: String::new(),
                http_status: None,
                attempts: 0,
                ids: Default::default(),
                retry_after: None,
                trace: None,
            }))
        };
        match tx.send(result).await {
            Ok(()) => JobEnd::Stored(Signal::Failed),
            Err(_) => JobEnd::Unsaved,
        }
    }

    fn result(
        &self,
        outcome: Result<
            (crate::server::dify::Answer, crate::server::scoring::Scored),
            crate::server::dify::Failure,
        >,
    ) -> TestResult {
        let base = TestResult {
            batch_id: self.batch_id,
            version_id: self.version_id,
            case_id: self.case.id,
            repetition: self.test.repetition,
            status: ResultStatus::Error,
            score: None,
            answer: None,
            latency_ms: None,
            ttft_ms: None,
            usage: Default::default(),
            dify: Default::default(),
            error_code: None,
            error_message: None,
            attempts: 0,
            detail: ScoreDetail::default(),
            finished_at: crate::server::store::now_ms(),
            trace: None,
            turns: Vec::new(),
        };
        match outcome {
            Ok((answer, scored)) => TestResult {
                status: if scored.passed {
                    ResultStatus::Passed
                } else {
                    ResultStatus::Failed
                },
                score: Some(scored.score),
                answer: Some(answer.answer),
                latency_ms: Some(answer.latency_ms),
                ttft_ms: answer.ttft_ms,
                usage: answer.usage,
                dify: answer.ids,
                attempts: i64::from(answer.attempts + self.test.attempts),
                detail: scored.detail,
                trace: (!answer.trace.is_empty()).then(|| answer.trace.compact()),
                ..base
            },
            Err(failure) => TestResult {
                dify: failure.ids,
                trace: failure.trace.map(|t| (*t).compact()),
                error_code: Some(failure.code),
                error_message: Some(if self.test.throttles > 0 {
                    format!(
                        "{} (throttled {} times before)",
                        failure.message, self.test.throttles
                    )
                } else {
                    failure.message
                }),
                attempts: i64::from(failure.attempts + self.test.attempts),
                ..base
            },
        }
    }
}

/// What a test's call tells its version's circuit breaker.
fn signal_of(failure: Option<&crate::server::dify::Failure>) -> Signal {
    match failure {
        None => Signal::Answered,
        Some(f) => match classify(f.http_status, &f.code) {
            Decision::Retry => Signal::Failed,
            Decision::GiveUp => Signal::Refused,
        },
    }
}

/// Drains the result channel into the store in small transactions, and reports each result to
/// the registry once it is stored (and counts it in `stored`): progress never shows a result a
/// crash could lose, so it never goes back after a restart. A failing write is retried a few
/// times before the batch gives up (it ends `error`; a re-run finishes it).
async fn write_results(
    store: Store,
    registry: Arc<Registry>,
    mut rx: mpsc::Receiver<TestResult>,
    stored: Arc<AtomicU64>,
    shared: Option<(Membership, Arc<Notify>)>,
    mut watch: Option<BatchWatch>,
    hooks: Option<Arc<Webhooks>>,
) -> Result<(), StoreError> {
    let pg = store.pg_pool().is_some();
    let mut buf = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut buf, WRITE_BATCH).await > 0 {
        let deadline = tokio::time::Instant::now() + WRITE_LINGER;
        while buf.len() < WRITE_BATCH {
            let more = WRITE_BATCH - buf.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut buf, more)).await {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        let mut attempt = 0;
        let group = loop {
            match store.insert_results(&buf).await {
                Ok(group) => break group,
                Err(e) if attempt < 3 => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "writing results failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        };
        stored.fetch_add(buf.len() as u64, Ordering::Relaxed);
        buf.iter().for_each(metrics::result_stored);
        if let Some(watch) = watch.as_mut() {
            raise_alerts(&store, &registry, watch, &buf, hooks.as_ref()).await;
        }
        if pg {
            // PostgreSQL: the store returned each version's new tallies, whole — the same
            // numbers every instance applies, so every registry shows the same.
            settle_shared(&store, &registry, &buf, &group, shared.as_ref()).await;
            buf.clear();
            continue;
        }
        for r in buf.drain(..) {
            let done = Finished {
                status: r.status,
                score: r.score,
                latency_ms: r.latency_ms,
                judge: r.detail.judge.as_ref().map(|j| match (j.score, &j.error) {
                    (Some(score), None) => JudgeFinish::Judged {
                        score,
                        cached: j.cached,
                    },
                    _ => JudgeFinish::Error,
                }),
            };
            registry.test_finished(r.batch_id, r.version_id, done);
        }
    }
    Ok(())
}

/// Runs the alert rules over a stored group; a new alert is stored with the batch (once, even
/// among several instances), then shown.
async fn raise_alerts(
    store: &Store,
    registry: &Registry,
    watch: &mut BatchWatch,
    results: &[TestResult],
    hooks: Option<&Arc<Webhooks>>,
) {
    let now = crate::server::store::now_ms();
    for r in results {
        for alert in watch.observe(r, now) {
            match store.insert_alert(r.batch_id, &alert).await {
                Ok(true) => {
                    tracing::warn!(
                        batch = %r.batch_id,
                        version = %alert.version_id,
                        kind = alert.kind.as_str(),
                        "alert: {}",
                        alert.message
                    );
                    if let Some(hooks) = hooks {
                        // Off the writer's path: queueing reads the webhooks and the names.
                        let (hooks, batch, alert) = (hooks.clone(), r.batch_id, alert.clone());
                        tokio::spawn(async move { hooks.alert_raised(batch, &alert).await });
                    }
                    registry.alert(r.batch_id, alert);
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(batch = %r.batch_id, error = %e, "cannot store an alert"),
            }
        }
    }
}

/// After a group of results was stored on PostgreSQL: their versions' tallies go to the
/// registry (and, among several instances, to the others), their tests leave the in-flight
/// count, and the runner may claim again.
async fn settle_shared(
    store: &Store,
    registry: &Registry,
    results: &[TestResult],
    group: &crate::server::store::StoredGroup,
    shared: Option<&(Membership, Arc<Notify>)>,
) {
    let mut settled: HashMap<(BatchId, VersionId), u32> = HashMap::new();
    for r in results {
        *settled.entry((r.batch_id, r.version_id)).or_default() += 1;
    }
    for (batch, tally) in &group.tallies {
        let here = settled
            .remove(&(*batch, VersionId(tally.version_id)))
            .unwrap_or(0);
        registry.apply_tally(*batch, tally, here);
    }
    // Versions whose results were all duplicates: their tests still end here (a tally of
    // revision 0 changes no count).
    for ((batch, version), here) in settled {
        let none = LiveTally {
            version_id: version.0,
            ..LiveTally::default()
        };
        registry.apply_tally(batch, &none, here);
    }
    if group.duplicates > 0 {
        tracing::warn!(
            duplicates = group.duplicates,
            "answers arrived for tests that already had a result (called twice after a lease \
             was lost); each test is stored once"
        );
    }
    let Some((member, claim_again)) = shared else {
        return;
    };
    let mut batches: Vec<BatchId> = group.tallies.iter().map(|(b, _)| *b).collect();
    batches.dedup();
    for batch in batches {
        let tallies: Vec<LiveTally> = group
            .tallies
            .iter()
            .filter(|(b, _)| *b == batch)
            .map(|(_, t)| *t)
            .collect();
        let current = registry.current(batch);
        let current = current.as_ref().map(|(v, name)| (*v, name.as_str()));
        if let Err(e) =
            cluster::publish_progress(store, member.instance, batch, &tallies, current).await
        {
            tracing::warn!(batch = %batch, error = %e, "cannot tell the others the progress");
        }
    }
    claim_again.notify_one();
}

/// The counts of [`LiveTally`] in the shape launches read ([`VersionTally`]).
fn version_tally(t: &LiveTally) -> VersionTally {
    VersionTally {
        version_id: t.version_id,
        completed: t.completed,
        passed: t.passed,
        errored: t.errored,
        score_sum: Some(t.score_sum),
        scored: t.scored,
        latency_sum: Some(t.latency_sum),
        timed: t.timed,
        judged: t.judged,
        judge_cached: t.judge_cached,
        judge_errors: t.judge_errors,
        judge_score_sum: Some(t.judge_score_sum),
        ..VersionTally::default()
    }
}

/// The endpoint of a stored version (for "test connection").
pub fn endpoint_of(record: &crate::server::store::VersionRecord) -> AppEndpoint {
    let v = &record.version;
    AppEndpoint {
        base_url: v.base_url.clone(),
        api_key: record.api_key.clone(),
        app_mode: v.app_mode,
        response_mode: v.response_mode,
        answer_field: v.answer_field.clone(),
        inputs: object_of(&v.inputs),
        workflow_id: v.workflow_id.clone(),
    }
}

fn object_of(value: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    }
}

/// The first version of a plan whose key was removed from its snapshot (see
/// `store::sealed_keys`) although it has tests left to run: those with no result, and with
/// `rerun_errors` those that ended in an error.
fn keyless_with_work<'a>(
    plan: &'a BatchPlan,
    tallies: &[VersionTally],
    rerun_errors: bool,
) -> Option<&'a PlannedVersion> {
    let tests = i64::try_from(plan.cases.len())
        .unwrap_or(i64::MAX)
        .saturating_mul(i64::from(plan.batch.repeats.max(1)));
    plan.versions.iter().find(|v| {
        let tally = tallies.iter().find(|t| t.version_id == v.version_id.0);
        let (completed, errored) = tally.map_or((0, 0), |t| (t.completed, t.errored));
        v.api_key.is_none() && (completed < tests || (rerun_errors && errored > 0))
    })
}

fn key_removed(batch: BatchId, v: &PlannedVersion) -> String {
    format!(
        "the key of version {} (`{}`) was removed from batch {batch} when the version was \
         deleted or its key replaced; start a new batch to test it again",
        v.version_id, v.name
    )
}

fn endpoint(v: &PlannedVersion) -> AppEndpoint {
    AppEndpoint {
        base_url: v.base_url.clone(),
        // A snapshot without its key never gets here (`keyless_with_work`); were it to, the
        // client refuses an empty key without calling Dify.
        api_key: v
            .api_key
            .clone()
            .unwrap_or_else(|| crate::server::secret::Secret::new("")),
        app_mode: v.app_mode,
        response_mode: v.response_mode,
        answer_field: v.answer_field.clone(),
        inputs: object_of(&v.inputs),
        workflow_id: v.workflow_id.clone(),
    }
}

/// The registry's starting point for a batch: its stored tallies (zero for a new batch).
pub(crate) fn batch_start(
    batch: &Batch,
    tallies: &[VersionTally],
    started_at_ms: i64,
) -> BatchStart {
    let per_version = match batch.versions.len() {
        0 => 0,
        n => batch.total_tests as u64 / n as u64,
    };
    BatchStart {
        batch_id: batch.id,
        name: batch.name.clone(),
        repeats: batch.repeats.max(1),
        started_at_ms,
        judged: batch.scoring.judge.is_some(),
        versions: batch
            .versions
            .iter()
            .map(|v| {
                let t = tallies
                    .iter()
                    .find(|t| t.version_id == v.version_id.0)
                    .cloned()
                    .unwrap_or_default();
                VersionStart {
                    version_id: v.version_id,
                    name: v.name.clone(),
                    total: per_version,
                    completed: t.completed as u64,
                    passed: t.passed as u64,
                    errored: t.errored as u64,
                    score_sum: t.score_sum.unwrap_or(0.0),
                    scored: t.scored as u64,
                    latency_sum: t.latency_sum.unwrap_or(0.0),
                    timed: t.timed as u64,
                    judge: JudgeSums {
                        judged: t.judged as u64,
                        cached: t.judge_cached as u64,
                        errors: t.judge_errors as u64,
                        score_sum: t.judge_score_sum.unwrap_or(0.0),
                    },
                    rev: 0,
                }
            })
            .collect(),
    }
}

/// "Batch test 2026-11-28 16:30" (UTC), as the original named its batches.
pub fn default_batch_name() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    format!(
        "Batch test {}",
        now.format(&format).unwrap_or_else(|_| "now".into())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Assertion, CaseDraft};

    fn case(n: i64, regex: Option<&str>) -> TestCase {
        let draft = CaseDraft {
            name: format!("case {n}"),
            query: format!("question {n}"),
            expected_answer: format!("the answer is number {n}"),
            keywords: vec![format!("number {n}")],
            assertions: regex
                .map(|pattern| {
                    vec![Assertion::Regex {
                        pattern: pattern.into(),
                    }]
                })
                .unwrap_or_default(),
            ..CaseDraft::default()
        };
        TestCase::from_draft(CaseId(n), draft, 0)
    }

    #[test]
    fn plans_compiled_on_several_threads_keep_the_cases_order() {
        let cases: Vec<TestCase> = (1..=13).map(|n| case(n, None)).collect();
        let cfg = ScoringConfig::default();
        let scores = |plans: Vec<CasePlan>| -> Vec<_> {
            plans
                .iter()
                .map(|p| p.score("the answer is number 7", 10, &cfg))
                .collect()
        };
        let one = scores(compile_plans(&cases, 1).unwrap());
        for threads in [2, 3, 8, 13, 20] {
            assert_eq!(
                scores(compile_plans(&cases, threads).unwrap()),
                one,
                "{threads} threads"
            );
        }
        // Only case 7's plan gives its own answer full marks: the order is the cases'.
        assert!(one[6].passed && one[6].score > one[5].score && one[6].score > one[7].score);
    }

    #[test]
    fn the_first_bad_case_in_order_is_named_whichever_thread_met_it() {
        let cases: Vec<TestCase> = (1..=12)
            .map(|n| case(n, [5, 9].contains(&n).then_some("(")))
            .collect();
        for threads in [1, 2, 3, 4] {
            let Err(EngineError::Invalid(message)) = compile_plans(&cases, threads) else {
                panic!("{threads} threads: the bad regex was not refused");
            };
            assert!(
                message.starts_with("case 5 (case 5): "),
                "{threads} threads: {message}"
            );
        }
    }
}
