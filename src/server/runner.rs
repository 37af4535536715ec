//! The batch runner: validates a launch, snapshots it, and runs versions × cases against Dify in
//! the background — bounded concurrency per batch and per version, under one server-wide cap on
//! calls in flight; each result scored and written as it completes, progress reported to the
//! registry, cancel at any time, resume after a restart, and a graceful stop at shutdown (calls
//! in flight cancelled, answers already received stored, the batch left to resume).
//!
//! It owns no HTTP and no Leptos: the server functions and the CLI call [`Engine`]. Which batches
//! run here, and the running-batches cap, are [`runs`]; the caps' values are [`limits`].

mod limits;
mod runs;

pub use limits::{
    EngineLimits, DEFAULT_MAX_CALLS_IN_FLIGHT, DEFAULT_MAX_RUNNING_BATCHES,
    DEFAULT_MAX_TESTS_PER_BATCH,
};

use crate::model::{
    Batch, BatchId, BatchStatus, CaseId, ResultStatus, ScoreDetail, ScoringConfig, TestCase,
    TestResult, VersionId, DEFAULT_CONCURRENCY, MAX_CONCURRENCY, MAX_REPEATS,
};
use crate::server::cluster::{self, relay::BatchEvent, Membership};
use crate::server::dify::{AppEndpoint, DifyClient};
use crate::server::judge::{BatchJudging, Judging};
use crate::server::offload;
use crate::server::progress::{
    BatchStart, Finished, JudgeFinish, JudgeSums, Registry, VersionStart,
};
use crate::server::scoring::{CasePlan, Semantic};
use crate::server::store::{
    BatchPlan, ClaimOutcome, LiveTally, NewBatch, PlannedVersion, RerunClaim, Store, StoreError,
    StoreResult, TestKey, VersionTally,
};
use runs::{Refusal, RunGuard, Runs, Ticket};
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
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
    pub fn join_cluster(&self, member: Membership) {
        let _ = self.member.set(member);
    }

    pub fn membership(&self) -> Option<Membership> {
        self.member.get().copied()
    }

    /// Validates and stores a batch, starts it in the background, and returns its id at once.
    pub async fn start_batch(self: &Arc<Self>, req: StartBatch) -> Result<BatchId, EngineError> {
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
        let cases = self.selected_cases(req.case_ids.as_deref()).await?;
        tracing::debug!(target: "dify_bench::startup", "start_batch: versions and cases read");
        self.limits
            .check_batch_size(versions.len(), cases.len(), repeats)
            .map_err(EngineError::Invalid)?;
        let cases = Arc::new(cases);
        // Compiled once: checked here (a bad regex refuses the launch) and then run with.
        let compiled = case_plans(cases.clone()).await?;
        tracing::debug!(target: "dify_bench::startup", "start_batch: case plans compiled");
        let cases = Arc::try_unwrap(cases).unwrap_or_else(|shared| (*shared).clone());

        let plan = self
            .store
            .create_batch_planned(&NewBatch {
                name: &name,
                concurrency: concurrency as i64,
                per_version_cap: req.per_version_cap.map(i64::from),
                scoring: &scoring,
                repeats,
                versions: &versions,
                cases: &cases,
                created_by: req.created_by.as_deref(),
            })
            .await?;
        let id = plan.batch.id;
        tracing::debug!(target: "dify_bench::startup", "start_batch: batch and snapshots stored");
        tracing::info!(
            batch = %id,
            versions = versions.len(),
            cases = cases.len(),
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

    async fn selected_cases(&self, ids: Option<&[CaseId]>) -> Result<Vec<TestCase>, EngineError> {
        let all = self.store.list_cases().await?;
        let cases: Vec<TestCase> = match ids {
            None => all.into_iter().filter(|c| c.enabled).collect(),
            Some([]) => return Err(EngineError::Invalid("select at least one test case".into())),
            Some(ids) => {
                let by_id: HashMap<CaseId, &TestCase> = all.iter().map(|c| (c.id, c)).collect();
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                for id in ids {
                    if !seen.insert(*id) {
                        continue;
                    }
                    let case = by_id.get(id).ok_or_else(|| {
                        EngineError::Invalid(format!("test case {id} does not exist"))
                    })?;
                    if !case.enabled {
                        return Err(EngineError::Invalid(format!(
                            "test case {id} (`{}`) is disabled",
                            case.name
                        )));
                    }
                    out.push((*case).clone());
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

    /// The dispatch loop. Picks the earliest version with work and spare capacity, so versions
    /// finish in order when there is no per-version cap and share fairly when there is. Each
    /// call also holds a permit of the server-wide semaphore, so every batch's and version's
    /// limit sits under [`EngineLimits::max_calls_in_flight`]; a batch waiting for one queues
    /// (first come, first served) behind the other batches.
    async fn execute(
        &self,
        plan: &BatchPlan,
        case_plans: &[Arc<CasePlan>],
        done: &HashSet<TestKey>,
        cancel: &CancellationToken,
    ) -> Result<Ended, EngineError> {
        let batch = &plan.batch;
        let limit = batch.concurrency.max(1) as usize;
        let cap = batch
            .per_version_cap
            .map(|c| c.max(1) as usize)
            .unwrap_or(usize::MAX);
        let scoring = Arc::new(batch.scoring.clone());
        let grading = Arc::new(self.judging.for_batch(&batch.scoring).await?);
        let endpoints: Vec<Arc<AppEndpoint>> = plan
            .versions
            .iter()
            .map(|v| Arc::new(endpoint(v)))
            .collect();
        let cases: Vec<Arc<TestCase>> = plan.cases.iter().cloned().map(Arc::new).collect();
        // Each version's tests, round by round: every case once, then every case again. A slow
        // spell of the app (or of Dify) then touches one repeat of many cases rather than every
        // repeat of a few, which keeps the repeats of a case closer to independent draws.
        let repeats = batch.repeats.max(1);
        let mut queues: Vec<VecDeque<(usize, u32)>> = plan
            .versions
            .iter()
            .map(|v| {
                (0..repeats)
                    .flat_map(|rep| (0..cases.len()).map(move |ci| (ci, rep)))
                    .filter(|&(ci, rep)| !done.contains(&(v.version_id, cases[ci].id, rep)))
                    .collect()
            })
            .collect();
        let mut in_flight = vec![0usize; queues.len()];

        let (tx, rx) = mpsc::channel::<TestResult>(WRITE_BATCH * 4);
        let stored = Arc::new(AtomicU64::new(0));
        let writer = tokio::spawn(write_results(
            self.store.clone(),
            self.registry.clone(),
            rx,
            stored.clone(),
            None,
        ));
        let mut tasks: JoinSet<(usize, bool)> = JoinSet::new();
        let mut sent = 0u64;
        let mut stop: Option<Stop> = None;
        let mut cancelled_calls = 0usize;
        let mut writer_gone = false;
        // A permit being waited for, and one received but not used yet.
        let mut acquiring: Option<Acquire> = None;
        let mut permit: Option<OwnedSemaphorePermit> = None;
        // At shutdown: when the calls in flight stop being waited for.
        let mut grace: Option<Pin<Box<tokio::time::Sleep>>> = None;

        loop {
            if stop.is_none() && self.shutdown.is_cancelled() {
                stop = Some(Stop::Shutdown);
                grace = Some(Box::pin(tokio::time::sleep(CALL_GRACE)));
            }
            if stop.is_some() || writer_gone {
                acquiring = None;
                permit = None;
            }
            while stop.is_none() && !writer_gone && tasks.len() < limit {
                let Some(vi) =
                    (0..queues.len()).find(|&vi| !queues[vi].is_empty() && in_flight[vi] < cap)
                else {
                    break;
                };
                let Some(call) = permit
                    .take()
                    .or_else(|| self.calls.clone().try_acquire_owned().ok())
                else {
                    if acquiring.is_none() {
                        acquiring = Some(Box::pin(self.calls.clone().acquire_owned()));
                    }
                    break;
                };
                let Some((ci, repetition)) = queues[vi].pop_front() else {
                    break;
                };
                in_flight[vi] += 1;
                sent += 1;
                let job = Job {
                    batch_id: batch.id,
                    version_id: plan.versions[vi].version_id,
                    endpoint: endpoints[vi].clone(),
                    case: cases[ci].clone(),
                    repetition,
                    plan: case_plans[ci].clone(),
                    scoring: scoring.clone(),
                    grading: grading.clone(),
                    judging: self.judging.clone(),
                };
                let client = self.client.clone();
                let registry = self.registry.clone();
                let tx = tx.clone();
                tasks.spawn(async move { (vi, job.run(&client, &registry, &tx, call).await) });
            }
            if tasks.is_empty() && acquiring.is_none() {
                break;
            }
            tokio::select! {
                joined = tasks.join_next(), if !tasks.is_empty() => {
                    match joined {
                        Some(Ok((vi, written))) => {
                            in_flight[vi] -= 1;
                            writer_gone |= !written;
                        }
                        Some(Err(e)) if e.is_panic() => {
                            // A panic in one test must not take the batch down; it has no result
                            // and is run again on resume.
                            tracing::error!(batch = %batch.id, "a test task panicked: {e}");
                            writer_gone = true;
                        }
                        // Aborted by a cancel or at the end of the shutdown grace: its answer,
                        // if one came, was not kept, so the test is sent again on resume.
                        Some(Err(_)) => cancelled_calls += 1,
                        None => {}
                    }
                }
                acquired = async {
                    match acquiring.as_mut() {
                        Some(wait) => wait.await,
                        None => std::future::pending().await,
                    }
                }, if acquiring.is_some() => {
                    acquiring = None;
                    // The semaphore is never closed; were it, this batch would stop dispatching
                    // and end with the tests it has not run left for a re-run.
                    match acquired {
                        Ok(p) => permit = Some(p),
                        Err(_) => writer_gone = true,
                    }
                }
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
        drop(tx);
        let ended = self
            .wind_down(
                batch.id,
                writer,
                WoundDown {
                    sent,
                    cancelled_calls,
                    stored,
                    writer_gone,
                    stop,
                },
            )
            .await;
        Ok(ended.unwrap_or(Ended::Finished(BatchStatus::Completed)))
    }

    /// The dispatch loop of shared work (several instances on PostgreSQL): tests are claimed from
    /// the store (`store::work`) instead of a queue in memory — as many as this runner can send
    /// at once, within the batch's limits counted over every instance — and each result, stored,
    /// frees its claim. It claims again when its writer stored a group, and every
    /// [`CLAIM_POLL`] (the tests of a vanished instance become claimable once its lease expires).
    /// It ends when no test of the batch is left, or the batch ended elsewhere.
    async fn execute_shared(
        &self,
        plan: &BatchPlan,
        case_plans: &[Arc<CasePlan>],
        member: Membership,
        cancel: &CancellationToken,
    ) -> Result<Ended, EngineError> {
        let batch = &plan.batch;
        let limit = batch.concurrency.max(1) as usize;
        let scoring = Arc::new(batch.scoring.clone());
        let grading = Arc::new(self.judging.for_batch(&batch.scoring).await?);
        let endpoints: Vec<Arc<AppEndpoint>> = plan
            .versions
            .iter()
            .map(|v| Arc::new(endpoint(v)))
            .collect();
        let cases: Vec<Arc<TestCase>> = plan.cases.iter().cloned().map(Arc::new).collect();
        let version_index: HashMap<VersionId, usize> = plan
            .versions
            .iter()
            .enumerate()
            .map(|(i, v)| (v.version_id, i))
            .collect();
        let case_index: HashMap<CaseId, usize> =
            cases.iter().enumerate().map(|(i, c)| (c.id, i)).collect();

        let (tx, rx) = mpsc::channel::<TestResult>(WRITE_BATCH * 4);
        let stored = Arc::new(AtomicU64::new(0));
        let claim_again = Arc::new(Notify::new());
        let writer = tokio::spawn(write_results(
            self.store.clone(),
            self.registry.clone(),
            rx,
            stored.clone(),
            Some((member, claim_again.clone())),
        ));
        let mut tasks: JoinSet<(usize, bool)> = JoinSet::new();
        let mut claiming: Option<Claiming> = None;
        let mut permits: Vec<OwnedSemaphorePermit> = Vec::new();
        let mut poll = tokio::time::interval(CLAIM_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut due = true;
        let mut asked = 0u64;
        // No test of the batch is left; the batch is no longer open.
        let mut drained = false;
        let mut gone = false;
        let mut sent = 0u64;
        let mut stop: Option<Stop> = None;
        let mut cancelled_calls = 0usize;
        let mut writer_gone = false;
        let mut grace: Option<Pin<Box<tokio::time::Sleep>>> = None;

        loop {
            if stop.is_none() && self.shutdown.is_cancelled() {
                stop = Some(Stop::Shutdown);
                grace = Some(Box::pin(tokio::time::sleep(CALL_GRACE)));
            }
            let ended = stop.is_some() || writer_gone || gone || drained;
            if ended {
                claiming = None;
                permits.clear();
            } else if due && claiming.is_none() {
                // Permits first, so that a claimed test is sent at once: a lease held by a test
                // waiting here would count against the batch on every instance.
                let room = limit.saturating_sub(tasks.len()).min(CLAIM_MAX);
                while permits.len() < room {
                    match self.calls.clone().try_acquire_owned() {
                        Ok(p) => permits.push(p),
                        Err(_) => break,
                    }
                }
                if !permits.is_empty() {
                    due = false;
                    let store = self.store.clone();
                    let want = permits.len() as u64;
                    asked = want;
                    let id = batch.id;
                    claiming = Some(Box::pin(async move {
                        store
                            .claim_tests(id, member.instance, want, member.lease_ms())
                            .await
                    }));
                }
            }
            if tasks.is_empty() && (ended || (claiming.is_none() && drained)) {
                break;
            }
            tokio::select! {
                joined = tasks.join_next(), if !tasks.is_empty() => {
                    match joined {
                        Some(Ok((_, written))) => writer_gone |= !written,
                        Some(Err(e)) if e.is_panic() => {
                            tracing::error!(batch = %batch.id, "a test task panicked: {e}");
                            writer_gone = true;
                        }
                        Some(Err(_)) => cancelled_calls += 1,
                        None => {}
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
                            if sent == 0 && got > 0 {
                                tracing::info!(
                                    batch = %batch.id,
                                    instance = %member.instance,
                                    others_leased = outcome.others_leased,
                                    "claimed tests of the batch (shared with the other instances)"
                                );
                            }
                            for test in outcome.tests {
                                let (Some(&vi), Some(&ci), Some(call)) = (
                                    version_index.get(&test.version_id),
                                    case_index.get(&test.case_id),
                                    permits.pop(),
                                ) else {
                                    // Not in this batch's snapshot (cannot happen) or no permit
                                    // (claims never exceed them): its lease expires for others.
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
                                sent += 1;
                                let job = Job {
                                    batch_id: batch.id,
                                    version_id: test.version_id,
                                    endpoint: endpoints[vi].clone(),
                                    case: cases[ci].clone(),
                                    repetition: test.repetition,
                                    plan: case_plans[ci].clone(),
                                    scoring: scoring.clone(),
                                    grading: grading.clone(),
                                    judging: self.judging.clone(),
                                };
                                let client = self.client.clone();
                                let registry = self.registry.clone();
                                let tx = tx.clone();
                                tasks.spawn(async move {
                                    (vi, job.run(&client, &registry, &tx, call).await)
                                });
                            }
                            permits.clear();
                            drained = got == 0 && !outcome.remaining;
                            // All it asked for: there may be more, and room for it.
                            due = got > 0 && got as u64 == asked;
                        }
                        Err(e) => {
                            permits.clear();
                            tracing::warn!(batch = %batch.id, error = %e, "claiming tests failed; retrying");
                        }
                    }
                }
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
        drop(tx);
        let ended = self
            .wind_down(
                batch.id,
                writer,
                WoundDown {
                    sent,
                    cancelled_calls,
                    stored,
                    writer_gone,
                    stop,
                },
            )
            .await;
        Ok(match ended {
            Some(ended) => ended,
            None if gone => Ended::Gone,
            // No test left: whichever runner stores the last result completes the batch.
            None => Ended::Finished(BatchStatus::Completed),
        })
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

/// Compiles each case's plan (its regexes above all), off the async threads when a regex is
/// among them. The message names the case.
async fn case_plans(cases: Arc<Vec<TestCase>>) -> Result<Vec<CasePlan>, EngineError> {
    let heavy = offload::any_regex(&cases);
    offload::cpu_if(heavy, move || {
        cases
            .iter()
            .map(|case| {
                CasePlan::new(case).map_err(|e| {
                    EngineError::Invalid(format!("case {} ({}): {e}", case.id, case.name))
                })
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| EngineError::Unavailable(e.to_string()))?
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

/// One test: call, score, hand the result to the writer (which reports it once it is stored).
struct Job {
    batch_id: BatchId,
    version_id: VersionId,
    endpoint: Arc<AppEndpoint>,
    case: Arc<TestCase>,
    repetition: u32,
    plan: Arc<CasePlan>,
    scoring: Arc<ScoringConfig>,
    /// The batch's judge and embedding scorer (often neither).
    grading: Arc<BatchJudging>,
    judging: Arc<Judging>,
}

impl Job {
    /// Returns false when the writer is gone (the result could not be saved). `call` is this
    /// test's place among the server's calls in flight, given back as soon as Dify has answered.
    async fn run(
        self,
        client: &DifyClient,
        registry: &Registry,
        tx: &mpsc::Sender<TestResult>,
        call: OwnedSemaphorePermit,
    ) -> bool {
        registry.test_started(self.batch_id, self.version_id, &self.case.name);
        let outcome = client
            .call(&self.endpoint, &self.case.query, &self.case.inputs)
            .await;
        drop(call);
        let scored = match outcome {
            Ok(answer) => {
                // Judged before it counts as completed: the judge's calls have their own limit.
                let semantic = if self.grading.is_empty() {
                    Semantic::default()
                } else {
                    let threshold = self
                        .case
                        .pass_threshold
                        .unwrap_or(self.scoring.pass_threshold);
                    self.judging
                        .assess(
                            &self.grading,
                            &self.case,
                            &answer.answer,
                            &answer.retrieved,
                            threshold,
                        )
                        .await
                };
                // A very long answer is scored off the async threads (see `offload`).
                let long = answer.answer.len() >= offload::LONG_ANSWER_BYTES;
                let (plan, scoring) = (self.plan.clone(), self.scoring.clone());
                let scored = offload::cpu_if(long, move || {
                    let scored =
                        plan.score_with(&answer.answer, answer.latency_ms, &scoring, semantic);
                    (answer, scored)
                })
                .await;
                match scored {
                    Ok((answer, scored)) => Ok((answer, scored)),
                    // Only when the runtime itself is going away; the test runs again on resume.
                    Err(_) => return false,
                }
            }
            Err(failure) => Err(failure),
        };
        let result = self.result(scored);
        tx.send(result).await.is_ok()
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
            repetition: self.repetition,
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
                attempts: answer.attempts as i64,
                detail: scored.detail,
                ..base
            },
            Err(failure) => TestResult {
                dify: failure.ids,
                error_code: Some(failure.code),
                error_message: Some(failure.message),
                attempts: failure.attempts as i64,
                ..base
            },
        }
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
