//! The progress registry: live state of every batch in memory, and its fan-out to watchers.
//!
//! Data flows one way: the runner reports each test start and finish (one short lock, O(1) work),
//! a per-batch publisher task turns changes into events — coalesced to at most one per
//! [`COALESCE`], the terminal one at once — and serialises each event exactly once into a ready SSE
//! frame. Watchers (SSE streams, the CLI's progress bar) hold a `watch` receiver and share that frame.
//! A batch nobody watches is published without a frame (its sequence number and end only), so it
//! costs no serialisation and holds no frame; the first watcher to subscribe has the current
//! state serialised then, and every later one shares that.
//!
//! It does not own persistence: finished batches leave memory after a TTL and are then served from
//! the store by the SSE route.
//!
//! At shutdown, [`Registry::close_all`] ends every publisher and drops every channel, so each
//! open stream ends after the last event it was sent (no terminal event: the batches are not
//! over, they resume on the next start).

use crate::model::rounding::{mean, percent, rate, round1};
use crate::model::{
    Alert, BatchId, BatchStatus, CircuitState, JudgeTally, Progress, ResultStatus, VersionId,
    VersionProgress, VersionRunStatus,
};
use crate::server::store::LiveTally;
pub use crate::server::store::StoredEnd;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// The longest a change waits before watchers see it (the original polled every 500 ms).
pub const COALESCE: Duration = Duration::from_millis(100);
/// How many recent completions the remaining-time estimate looks at.
const RATE_WINDOW: u32 = 32;
/// A first guess at a frame's size (a 10-version frame is about 2.4 KB), so that serialising
/// rarely reallocates.
const FRAME_CAPACITY_HINT: usize = 1024;

/// One published state of a batch, ready to send.
#[derive(Debug)]
pub struct Event {
    /// Increases with every event of a batch, across restarts too (it is clock-based).
    pub seq: u64,
    /// The batch had ended: the stream closes after this event.
    terminal: bool,
    /// `event: progress\nid: …\ndata: {json}\n\n`, serialised once for every watcher. It is
    /// the only copy of the progress an event keeps: the registry's memory per batch is the live
    /// state plus this frame. Empty in an event published while nobody watched the batch; a
    /// watcher is never handed such an event ([`Registry::subscribe`]).
    pub frame: Bytes,
}

impl Event {
    fn new(seq: u64, progress: &Progress) -> Event {
        use std::io::Write;
        let mut frame = Vec::with_capacity(FRAME_CAPACITY_HINT);
        let _ = write!(frame, "event: progress\nid: {seq}\ndata: ");
        if serde_json::to_writer(&mut frame, progress).is_err() {
            frame.extend_from_slice(b"{}");
        }
        frame.extend_from_slice(b"\n\n");
        // The frame lives until the next event: keep its length, not the doubling's slack.
        frame.shrink_to_fit();
        Event {
            seq,
            terminal: progress.status.is_terminal(),
            frame: Bytes::from(frame),
        }
    }

    /// An event for nobody: the sequence number and end, no frame.
    fn bare(seq: u64, terminal: bool) -> Event {
        Event {
            seq,
            terminal,
            frame: Bytes::new(),
        }
    }

    /// The next event of a batch in state `s`, after `previous`: with its frame when `watched`.
    fn next(previous: u64, s: &BatchState, watched: bool) -> Event {
        let now = unix_ms();
        let seq = next_seq(previous, now);
        if watched {
            Event::new(seq, &s.to_progress(now))
        } else {
            Event::bare(seq, s.status.is_terminal())
        }
    }

    /// A one-off event for a batch the registry no longer tracks (finished earlier).
    pub fn snapshot(progress: Progress, seq: u64) -> Event {
        Event::new(seq, &progress)
    }

    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// The progress this event carries, decoded from its frame (for in-process readers such as
    /// the headless runner; watchers get the frame as it is).
    pub fn progress(&self) -> Progress {
        let data = self
            .frame
            .split(|&b| b == b'\n')
            .find_map(|line| line.strip_prefix(b"data: "))
            .expect("every frame has a data line");
        serde_json::from_slice(data).expect("a frame holds the JSON it was made from")
    }
}

/// What a batch looks like when tracking starts (counts are non-zero when resuming).
pub struct BatchStart {
    pub batch_id: BatchId,
    pub name: String,
    /// Runs of every (version, case); each version's `total` counts them all.
    pub repeats: u32,
    /// Wall-clock start in Unix ms (the first start, for a resumed batch).
    pub started_at_ms: i64,
    pub versions: Vec<VersionStart>,
    /// The batch has a judge: the progress carries its tallies.
    pub judged: bool,
}

pub struct VersionStart {
    pub version_id: VersionId,
    pub name: String,
    pub total: u64,
    pub completed: u64,
    pub passed: u64,
    pub errored: u64,
    pub score_sum: f64,
    pub scored: u64,
    pub latency_sum: f64,
    pub timed: u64,
    pub judge: JudgeSums,
    /// The revision of these counts (`store::LiveTally::rev`; 0 where there is none).
    pub rev: u64,
}

/// Running sums of the judge's work for one version.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JudgeSums {
    pub judged: u64,
    pub cached: u64,
    pub errors: u64,
    pub score_sum: f64,
}

impl JudgeSums {
    fn add(&mut self, o: &JudgeSums) {
        self.judged += o.judged;
        self.cached += o.cached;
        self.errors += o.errors;
        self.score_sum += o.score_sum;
    }

    fn tally(&self) -> JudgeTally {
        JudgeTally {
            judged: self.judged,
            cached: self.cached,
            errors: self.errors,
            average_score: mean(self.score_sum, self.judged),
            tokens: None,
            cost: None,
        }
    }
}

impl VersionStart {
    /// A version none of whose tests has run yet.
    pub fn fresh(version_id: VersionId, name: String, total: u64) -> VersionStart {
        VersionStart {
            version_id,
            name,
            total,
            completed: 0,
            passed: 0,
            errored: 0,
            score_sum: 0.0,
            scored: 0,
            latency_sum: 0.0,
            timed: 0,
            judge: JudgeSums::default(),
            rev: 0,
        }
    }
}

/// How one test ended, as the registry needs it.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    pub status: ResultStatus,
    pub score: Option<f64>,
    pub latency_ms: Option<i64>,
    /// What the judge did with it: None when it was not judged (no judge, or no answer).
    pub judge: Option<JudgeFinish>,
}

/// The judge's part of a finished test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JudgeFinish {
    Judged { score: f64, cached: bool },
    Error,
}

#[derive(Debug)]
struct VersionState {
    id: VersionId,
    name: String,
    total: u64,
    completed: u64,
    passed: u64,
    errored: u64,
    score_sum: f64,
    scored: u64,
    latency_sum: f64,
    timed: u64,
    judge: JudgeSums,
    /// The revision of the counts, when they come whole from the store (several instances).
    rev: u64,
    in_flight: u32,
    cancelled: bool,
    /// This instance's runner's gate for the version: in-flight limit and circuit.
    gate: Option<(u32, CircuitState)>,
}

impl From<VersionStart> for VersionState {
    fn from(v: VersionStart) -> VersionState {
        VersionState {
            id: v.version_id,
            name: v.name,
            total: v.total,
            completed: v.completed,
            passed: v.passed,
            errored: v.errored,
            score_sum: v.score_sum,
            scored: v.scored,
            latency_sum: v.latency_sum,
            timed: v.timed,
            judge: v.judge,
            rev: v.rev,
            in_flight: 0,
            cancelled: false,
            gate: None,
        }
    }
}

impl VersionState {
    fn status(&self) -> VersionRunStatus {
        VersionRunStatus::of(
            self.total,
            self.completed,
            self.errored,
            u64::from(self.in_flight),
            self.cancelled,
        )
    }

    fn to_progress(&self, judged: bool, live: bool) -> VersionProgress {
        let gate = self.gate.filter(|_| live);
        VersionProgress {
            version_id: self.id,
            version_name: self.name.clone(),
            progress: percent(self.completed, self.total),
            status: self.status(),
            completed_tests: self.completed,
            total_tests: self.total,
            failed_tests: self.errored,
            average_score: mean(self.score_sum, self.scored),
            pass_rate: rate(self.passed, self.completed),
            avg_latency_ms: mean(self.latency_sum, self.timed),
            judge: judged.then(|| self.judge.tally()),
            in_flight_limit: gate.map(|g| g.0),
            circuit: gate.map(|g| g.1),
        }
    }
}

#[derive(Debug)]
struct BatchState {
    batch_id: BatchId,
    name: String,
    repeats: u32,
    judged: bool,
    status: BatchStatus,
    started_at_ms: i64,
    finished_at_ms: Option<i64>,
    error_message: Option<String>,
    /// The test shown as the current one: its version's position in `versions`, and its case's
    /// name in a buffer reused from test to test (starting a test allocates nothing).
    current: Option<usize>,
    current_case: String,
    versions: Vec<VersionState>,
    /// (version id, position in `versions`), sorted by id: a few bytes a version, where a map
    /// took a few hundred a batch.
    index: Box<[(VersionId, u32)]>,
    /// The completion rate behind the remaining-time estimate.
    rate: Rate,
    finished_at: Option<Instant>,
    alerts: Vec<Alert>,
}

/// The sorted index of a batch's versions ([`BatchState::position`]).
fn index_of(versions: &[VersionState]) -> Box<[(VersionId, u32)]> {
    let mut index: Vec<(VersionId, u32)> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id, i as u32))
        .collect();
    index.sort_unstable();
    index.into_boxed_slice()
}

impl BatchState {
    /// Where version `id` is in `versions`.
    fn position(&self, id: VersionId) -> Option<usize> {
        let k = self.index.binary_search_by_key(&id, |e| e.0).ok()?;
        Some(self.index[k].1 as usize)
    }

    /// Shows a test of the version at `i` as the current one.
    fn show_current(&mut self, i: usize, case_name: &str) {
        self.current = Some(i);
        self.current_case.clear();
        self.current_case.push_str(case_name);
    }

    fn totals(&self) -> (u64, u64, u64, u64) {
        self.versions.iter().fold((0, 0, 0, 0), |acc, v| {
            (
                acc.0 + v.total,
                acc.1 + v.completed,
                acc.2 + v.passed,
                acc.3 + v.errored,
            )
        })
    }

    fn estimate_remaining(&self, remaining: u64) -> Option<f64> {
        if remaining == 0 {
            return Some(0.0);
        }
        let (last, gap) = (self.rate.last?, self.rate.mean_gap?);
        if gap <= 0.0 {
            return None;
        }
        // Time since the last completion counts too, so a stalled batch's estimate does not freeze.
        let since_last = last.elapsed().as_secs_f64();
        Some(round1((remaining as f64 * gap - since_last).max(0.0)))
    }

    fn to_progress(&self, now_ms: i64) -> Progress {
        let current = self.current.filter(|_| !self.status.is_terminal());
        let (total, completed, passed, errored) = self.totals();
        let end = self.finished_at_ms.unwrap_or(now_ms);
        let terminal = self.status.is_terminal();
        Progress {
            batch_id: self.batch_id,
            batch_name: self.name.clone(),
            status: self.status,
            progress: percent(completed, total),
            completed_tests: completed,
            total_tests: total,
            failed_tests: errored,
            passed_tests: passed,
            current_version: current.map(|i| self.versions[i].name.clone()),
            current_test_case: current.map(|_| self.current_case.clone()),
            estimated_remaining_time: if terminal {
                Some(0.0)
            } else {
                self.estimate_remaining(total.saturating_sub(completed))
            },
            elapsed_time: round1(((end - self.started_at_ms).max(0)) as f64 / 1000.0),
            error_message: self.error_message.clone(),
            versions: self
                .versions
                .iter()
                .map(|v| v.to_progress(self.judged, !terminal))
                .collect(),
            repeats: self.repeats,
            judge: self.judged.then(|| {
                let mut sums = JudgeSums::default();
                for v in &self.versions {
                    sums.add(&v.judge);
                }
                sums.tally()
            }),
            alerts: self.alerts.clone(),
        }
    }
}

/// The completion rate: the mean gap between completions, weighted towards the last
/// [`RATE_WINDOW`] (a plain mean until there are that many), so the estimate follows a batch
/// that speeds up or slows down, in a few bytes instead of a window of instants.
#[derive(Debug, Default)]
struct Rate {
    last: Option<Instant>,
    mean_gap: Option<f64>,
    gaps: u32,
}

impl Rate {
    fn record(&mut self, at: Instant) {
        if let Some(prev) = self.last {
            let gap = at.saturating_duration_since(prev).as_secs_f64();
            self.gaps = (self.gaps + 1).min(RATE_WINDOW);
            let mean = self.mean_gap.unwrap_or(gap);
            self.mean_gap = Some(mean + (gap - mean) / f64::from(self.gaps));
        }
        self.last = Some(at);
    }
}

/// One tracked batch: its state, and the channel its publisher feeds.
struct Tracked {
    state: Mutex<BatchState>,
    changed: Notify,
    ended: Notify,
    tx: watch::Sender<Arc<Event>>,
}

/// The registry: batch id → tracked batch. Cheap to share (`Arc`).
pub struct Registry {
    batches: Mutex<HashMap<BatchId, Arc<Tracked>>>,
    /// How long a finished batch stays in memory before the store serves it.
    ttl: Duration,
    /// Cancelled by [`Registry::close_all`]: every publisher returns.
    closed: CancellationToken,
}

impl Registry {
    pub fn new(ttl: Duration) -> Arc<Registry> {
        Arc::new(Registry {
            batches: Mutex::new(HashMap::new()),
            ttl,
            closed: CancellationToken::new(),
        })
    }

    /// Starts tracking a batch (replacing an earlier entry for the same id) and its publisher.
    /// Must be called inside a Tokio runtime.
    pub fn init_batch(self: &Arc<Self>, start: BatchStart) {
        let versions: Vec<VersionState> =
            start.versions.into_iter().map(VersionState::from).collect();
        let state = BatchState {
            batch_id: start.batch_id,
            name: start.name,
            repeats: start.repeats,
            judged: start.judged,
            status: BatchStatus::Running,
            started_at_ms: start.started_at_ms,
            finished_at_ms: None,
            error_message: None,
            current: None,
            current_case: String::new(),
            index: index_of(&versions),
            versions,
            rate: Rate::default(),
            finished_at: None,
            alerts: Vec::new(),
        };
        // Nobody can watch it yet: its first frame is made for its first watcher.
        let (tx, _) = watch::channel(Arc::new(Event::next(0, &state, false)));
        let tracked = Arc::new(Tracked {
            state: Mutex::new(state),
            changed: Notify::new(),
            ended: Notify::new(),
            tx,
        });
        self.batches.lock().insert(start.batch_id, tracked.clone());
        tokio::spawn(publish(tracked, self.closed.clone()));
    }

    fn tracked(&self, id: BatchId) -> Option<Arc<Tracked>> {
        self.batches.lock().get(&id).cloned()
    }

    /// A test of `version` started; it becomes the "current" one shown.
    pub fn test_started(&self, id: BatchId, version: VersionId, case_name: &str) {
        let Some(t) = self.tracked(id) else { return };
        {
            let mut s = t.state.lock();
            let Some(i) = s.position(version) else {
                return;
            };
            s.versions[i].in_flight += 1;
            s.show_current(i, case_name);
        }
        t.changed.notify_one();
    }

    /// The batch raised an alert (once per version and kind; a repeat is ignored).
    pub fn alert(&self, id: BatchId, alert: Alert) {
        let Some(t) = self.tracked(id) else { return };
        {
            let mut s = t.state.lock();
            if s.alerts
                .iter()
                .any(|a| a.kind == alert.kind && a.version_id == alert.version_id)
            {
                return;
            }
            s.alerts.push(alert);
        }
        t.changed.notify_one();
    }

    /// The runner's gate for `version` changed: its in-flight limit or its circuit.
    pub fn gate_changed(&self, id: BatchId, version: VersionId, limit: u32, circuit: CircuitState) {
        self.update_version(id, version, |v| v.gate = Some((limit, circuit)));
    }

    /// A test of `version` went back to wait without a result (throttled): no longer in flight.
    pub fn test_requeued(&self, id: BatchId, version: VersionId) {
        self.update_version(id, version, |v| v.in_flight = v.in_flight.saturating_sub(1));
    }

    /// Changes one version's state of a tracked batch, and has the change published.
    fn update_version(&self, id: BatchId, version: VersionId, f: impl FnOnce(&mut VersionState)) {
        let Some(t) = self.tracked(id) else { return };
        {
            let mut s = t.state.lock();
            let Some(i) = s.position(version) else {
                return;
            };
            f(&mut s.versions[i]);
        }
        t.changed.notify_one();
    }

    /// A test of `version` ended (with a stored result).
    pub fn test_finished(&self, id: BatchId, version: VersionId, done: Finished) {
        let Some(t) = self.tracked(id) else { return };
        {
            let mut s = t.state.lock();
            let Some(i) = s.position(version) else {
                return;
            };
            let v = &mut s.versions[i];
            v.in_flight = v.in_flight.saturating_sub(1);
            v.completed += 1;
            match done.status {
                ResultStatus::Passed => v.passed += 1,
                ResultStatus::Failed => {}
                ResultStatus::Error => v.errored += 1,
            }
            if let Some(score) = done.score {
                v.score_sum += score;
                v.scored += 1;
            }
            if let Some(ms) = done.latency_ms {
                v.latency_sum += ms as f64;
                v.timed += 1;
            }
            match done.judge {
                Some(JudgeFinish::Judged { score, cached }) => {
                    v.judge.judged += 1;
                    v.judge.cached += u64::from(cached);
                    v.judge.score_sum += score;
                }
                Some(JudgeFinish::Error) => v.judge.errors += 1,
                None => {}
            }
            s.rate.record(Instant::now());
        }
        t.changed.notify_one();
    }

    /// A version's counts as the store holds them after some results were stored — by this
    /// instance or, on PostgreSQL, by another (`server::cluster`): applied only when newer than
    /// what the registry has, so they may arrive late, twice or out of order. `settled_here` of
    /// this instance's tests ended with them (they leave the in-flight count).
    pub fn apply_tally(&self, id: BatchId, tally: &LiveTally, settled_here: u32) {
        let Some(t) = self.tracked(id) else { return };
        {
            let mut s = t.state.lock();
            let Some(i) = s.position(VersionId(tally.version_id)) else {
                return;
            };
            let v = &mut s.versions[i];
            v.in_flight = v.in_flight.saturating_sub(settled_here);
            let rev = tally.rev.max(0) as u64;
            if rev <= v.rev {
                return;
            }
            let newly = (tally.completed.max(0) as u64).saturating_sub(v.completed);
            v.rev = rev;
            v.completed = tally.completed.max(0) as u64;
            v.passed = tally.passed.max(0) as u64;
            v.errored = tally.errored.max(0) as u64;
            v.score_sum = tally.score_sum;
            v.scored = tally.scored.max(0) as u64;
            v.latency_sum = tally.latency_sum;
            v.timed = tally.timed.max(0) as u64;
            v.judge = JudgeSums {
                judged: tally.judged.max(0) as u64,
                cached: tally.judge_cached.max(0) as u64,
                errors: tally.judge_errors.max(0) as u64,
                score_sum: tally.judge_score_sum,
            };
            let now = Instant::now();
            for _ in 0..newly.min(u64::from(RATE_WINDOW)) {
                s.rate.record(now);
            }
        }
        t.changed.notify_one();
    }

    /// The test another instance is working on, shown as the current one.
    pub fn remote_test(&self, id: BatchId, version: VersionId, case_name: &str) {
        let Some(t) = self.tracked(id) else { return };
        {
            let mut s = t.state.lock();
            let Some(i) = s.position(version) else {
                return;
            };
            s.show_current(i, case_name);
        }
        t.changed.notify_one();
    }

    /// Ends a batch as the store recorded its end — status, times and final counts — so that
    /// every instance sends the same terminal event (PostgreSQL, several instances).
    pub fn conclude(&self, id: BatchId, end: StoredEnd, tallies: &[LiveTally]) {
        let Some(t) = self.tracked(id) else { return };
        {
            let mut s = t.state.lock();
            if s.status.is_terminal() {
                return;
            }
            for tally in tallies {
                if let Some(i) = s.position(VersionId(tally.version_id)) {
                    let v = &mut s.versions[i];
                    v.rev = 0;
                    v.in_flight = 0;
                }
            }
        }
        for tally in tallies {
            self.apply_tally(id, tally, 0);
        }
        {
            let mut s = t.state.lock();
            if let Some(at) = end.started_at_ms {
                s.started_at_ms = at;
            }
            if let Some(at) = end.finished_at_ms {
                s.finished_at_ms = Some(at);
            }
        }
        self.finish(&t, end.status, end.error_message, end.finished_at_ms);
    }

    /// Ends a batch: the terminal event goes out at once and the stream closes after it.
    pub fn mark_finished(&self, id: BatchId, status: BatchStatus, error_message: Option<String>) {
        let Some(t) = self.tracked(id) else { return };
        self.finish(&t, status, error_message, None);
    }

    fn finish(
        &self,
        t: &Tracked,
        status: BatchStatus,
        error_message: Option<String>,
        finished_at_ms: Option<i64>,
    ) {
        {
            let mut s = t.state.lock();
            s.status = status;
            s.error_message = error_message;
            s.finished_at_ms = Some(finished_at_ms.unwrap_or_else(unix_ms));
            s.finished_at = Some(Instant::now());
            // Aborted tests never report an end: nothing is in flight once a batch is over.
            if status == BatchStatus::Cancelled {
                for v in &mut s.versions {
                    v.cancelled = true;
                    v.in_flight = 0;
                }
            }
        }
        t.ended.notify_one();
        t.changed.notify_one();
    }

    /// The test shown as the current one: (version, case name).
    pub fn current(&self, id: BatchId) -> Option<(VersionId, String)> {
        let t = self.tracked(id)?;
        let s = t.state.lock();
        let i = s.current?;
        Some((s.versions[i].id, s.current_case.clone()))
    }

    /// The current state, computed now (not the last published event).
    pub fn get(&self, id: BatchId) -> Option<Progress> {
        let t = self.tracked(id)?;
        let s = t.state.lock();
        Some(s.to_progress(unix_ms()))
    }

    /// Watch a batch's events; None if it is not tracked (finished long ago, or unknown). The
    /// receiver's current event always has its frame: when the batch was published while
    /// nobody watched, its state is serialised now, as a new event, for this watcher and the
    /// ones after it. Under the state lock, like the publisher's check of who watches, so no
    /// watcher is ever sent a bare event.
    pub fn subscribe(&self, id: BatchId) -> Option<watch::Receiver<Arc<Event>>> {
        let t = self.tracked(id)?;
        let s = t.state.lock();
        let previous = {
            let current = t.tx.borrow();
            (current.frame.is_empty()).then_some(current.seq)
        };
        if let Some(previous) = previous {
            t.tx.send_replace(Arc::new(Event::next(previous, &s, true)));
        }
        Some(t.tx.subscribe())
    }

    /// Ids of batches being tracked that have not finished.
    pub fn running(&self) -> Vec<BatchId> {
        let batches = self.batches.lock();
        let mut ids: Vec<BatchId> = batches
            .iter()
            .filter(|(_, t)| !t.state.lock().status.is_terminal())
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }

    /// Drops a batch from memory at once (the seed's `cleanup_batch`).
    pub fn cleanup_batch(&self, id: BatchId) {
        self.batches.lock().remove(&id);
    }

    /// Shutdown: stops every publisher and forgets every batch, which drops the channels, so
    /// every watcher's stream ends (an SSE stream closes; the browser reconnects once the server
    /// is back). Returns how many batches were tracked.
    pub fn close_all(&self) -> usize {
        self.closed.cancel();
        let mut batches = self.batches.lock();
        let n = batches.len();
        batches.clear();
        n
    }

    /// Drops finished batches older than the TTL; returns how many were dropped.
    pub fn sweep(&self) -> usize {
        let mut batches = self.batches.lock();
        let before = batches.len();
        batches.retain(|_, t| match t.state.lock().finished_at {
            Some(at) => at.elapsed() < self.ttl,
            None => true,
        });
        before - batches.len()
    }

    /// Runs [`Registry::sweep`] every few seconds until the process ends.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(registry) => {
                        registry.sweep();
                    }
                    None => return,
                }
            }
        });
    }

    pub fn len(&self) -> usize {
        self.batches.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Renders a batch the registry does not track (finished before this process, or long ago) with
/// the same arithmetic as a live one.
pub fn render_stored(
    start: BatchStart,
    status: BatchStatus,
    error_message: Option<String>,
    finished_at_ms: Option<i64>,
    alerts: Vec<Alert>,
) -> Progress {
    let cancelled = status == BatchStatus::Cancelled;
    let versions: Vec<VersionState> = start
        .versions
        .into_iter()
        .map(|v| VersionState {
            cancelled,
            ..VersionState::from(v)
        })
        .collect();
    let state = BatchState {
        batch_id: start.batch_id,
        name: start.name,
        repeats: start.repeats,
        judged: start.judged,
        status,
        started_at_ms: start.started_at_ms,
        finished_at_ms,
        error_message,
        current: None,
        current_case: String::new(),
        index: index_of(&versions),
        versions,
        rate: Rate::default(),
        finished_at: None,
        alerts,
    };
    state.to_progress(unix_ms())
}

/// The per-batch publisher: wakes on change, publishes, then holds off for the coalescing window
/// unless the batch ends. Exits after the terminal event, or when the registry is closed.
async fn publish(t: Arc<Tracked>, closed: CancellationToken) {
    loop {
        tokio::select! {
            () = t.changed.notified() => {}
            () = closed.cancelled() => return,
        }
        let terminal = {
            // Who watches is read under the state lock that `subscribe` takes too.
            let s = t.state.lock();
            let previous = t.tx.borrow().seq;
            let event = Event::next(previous, &s, t.tx.receiver_count() > 0);
            let terminal = event.is_terminal();
            t.tx.send_replace(Arc::new(event));
            terminal
        };
        if terminal {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(COALESCE) => {}
            _ = t.ended.notified() => {}
            () = closed.cancelled() => return,
        }
    }
}

/// Event ids: strictly increasing, and above any id a previous process gave (clock-based).
fn next_seq(previous: u64, now_ms: i64) -> u64 {
    (previous + 1).max(now_ms.max(0) as u64)
}

pub fn unix_ms() -> i64 {
    crate::server::store::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(id: i64, versions: &[(i64, u64)]) -> BatchStart {
        BatchStart {
            batch_id: BatchId(id),
            name: format!("batch {id}"),
            repeats: 1,
            judged: false,
            started_at_ms: unix_ms(),
            versions: versions
                .iter()
                .map(|&(v, total)| VersionStart::fresh(VersionId(v), format!("v{v}"), total))
                .collect(),
        }
    }

    fn done(status: ResultStatus, score: Option<f64>) -> Finished {
        Finished {
            status,
            score,
            latency_ms: Some(100),
            judge: None,
        }
    }

    /// The watcher's next event, within a second.
    async fn next_event(rx: &mut watch::Receiver<Arc<Event>>) -> Arc<Event> {
        tokio::time::timeout(Duration::from_secs(1), rx.changed())
            .await
            .unwrap()
            .unwrap();
        rx.borrow_and_update().clone()
    }

    #[tokio::test]
    async fn counts_scores_and_statuses_follow_the_updates() {
        let reg = Registry::new(Duration::from_secs(60));
        reg.init_batch(start(1, &[(1, 2), (2, 2)]));
        let id = BatchId(1);
        reg.test_started(id, VersionId(1), "case a");
        let p = reg.get(id).unwrap();
        assert_eq!(p.versions[0].status, VersionRunStatus::Running);
        assert_eq!(p.versions[1].status, VersionRunStatus::Waiting);
        assert_eq!(p.current_test_case.as_deref(), Some("case a"));
        reg.test_finished(id, VersionId(1), done(ResultStatus::Passed, Some(80.0)));
        reg.test_started(id, VersionId(1), "case b");
        reg.test_finished(id, VersionId(1), done(ResultStatus::Failed, Some(40.0)));
        reg.test_started(id, VersionId(2), "case a");
        reg.test_finished(id, VersionId(2), done(ResultStatus::Error, None));
        let p = reg.get(id).unwrap();
        assert_eq!(
            (
                p.completed_tests,
                p.total_tests,
                p.passed_tests,
                p.failed_tests
            ),
            (3, 4, 1, 1)
        );
        assert_eq!(p.progress, 75.0);
        let v1 = &p.versions[0];
        assert_eq!(v1.status, VersionRunStatus::Completed);
        assert_eq!(v1.average_score, Some(60.0));
        assert_eq!(v1.pass_rate, Some(50.0));
        assert_eq!(v1.avg_latency_ms, Some(100.0));
        let v2 = &p.versions[1];
        assert_eq!(v2.average_score, None, "errors are not scored");
        assert_eq!(v2.pass_rate, Some(0.0));
        reg.test_started(id, VersionId(2), "case b");
        reg.test_finished(id, VersionId(2), done(ResultStatus::Error, None));
        assert_eq!(
            reg.get(id).unwrap().versions[1].status,
            VersionRunStatus::Failed
        );
    }

    #[tokio::test]
    async fn closing_ends_every_watcher_without_a_terminal_event() {
        let reg = Registry::new(Duration::from_secs(60));
        reg.init_batch(start(1, &[(1, 10)]));
        reg.init_batch(start(2, &[(1, 10)]));
        let mut watchers: Vec<_> = [1, 2]
            .into_iter()
            .map(|id| reg.subscribe(BatchId(id)).unwrap())
            .collect();
        assert_eq!(reg.close_all(), 2);
        for rx in &mut watchers {
            // Every change already published is drained; then the channel is gone.
            while rx.changed().await.is_ok() {
                assert!(!rx.borrow_and_update().is_terminal());
            }
        }
        assert!(reg.is_empty());
        assert!(reg.subscribe(BatchId(1)).is_none());
    }

    #[tokio::test]
    async fn watchers_get_the_first_snapshot_then_coalesced_events_then_the_terminal_one() {
        let reg = Registry::new(Duration::from_secs(60));
        reg.init_batch(start(7, &[(1, 1000)]));
        let id = BatchId(7);
        let mut rx = reg.subscribe(id).unwrap();
        let first = rx.borrow_and_update().clone();
        assert_eq!(first.progress().completed_tests, 0);
        assert!(std::str::from_utf8(&first.frame)
            .unwrap()
            .starts_with(&format!("event: progress\nid: {}\ndata: {{", first.seq)));
        // 500 updates in a burst reach the watcher as a handful of events, not 500.
        for _ in 0..500 {
            reg.test_started(id, VersionId(1), "c");
            reg.test_finished(id, VersionId(1), done(ResultStatus::Passed, Some(90.0)));
        }
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while seen
            .last()
            .map(|e: &Arc<Event>| e.progress().completed_tests)
            != Some(500)
        {
            tokio::time::timeout_at(deadline, rx.changed())
                .await
                .unwrap()
                .unwrap();
            seen.push(rx.borrow_and_update().clone());
        }
        assert!(seen.len() <= 3, "burst published {} events", seen.len());
        let seqs: Vec<u64> = std::iter::once(first.seq)
            .chain(seen.iter().map(|e| e.seq))
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "ids increase: {seqs:?}"
        );
        reg.mark_finished(id, BatchStatus::Cancelled, None);
        let last = next_event(&mut rx).await;
        assert!(last.is_terminal());
        assert_eq!(
            last.progress().versions[0].status,
            VersionRunStatus::Cancelled
        );
        assert_eq!(last.progress().current_test_case, None);
        // The publisher has exited: the channel closes once the registry forgets the batch.
        reg.cleanup_batch(id);
        assert!(rx.changed().await.is_err());
    }

    #[tokio::test]
    async fn a_batch_nobody_watches_keeps_no_frame_and_its_first_watcher_gets_the_current_one() {
        let reg = Registry::new(Duration::from_secs(60));
        let id = BatchId(3);
        reg.init_batch(start(3, &[(1, 10)]));
        let tracked = reg.tracked(id).unwrap();
        let bare = |t: &Tracked| t.tx.borrow().frame.is_empty();
        assert!(bare(&tracked), "nobody watches yet: no frame is made");
        for _ in 0..4 {
            reg.test_started(id, VersionId(1), "c");
            reg.test_finished(id, VersionId(1), done(ResultStatus::Passed, Some(80.0)));
        }
        // The publisher runs (the change is at most COALESCE old) and still makes no frame.
        tokio::time::sleep(COALESCE * 3).await;
        assert!(bare(&tracked));
        let published = tracked.tx.borrow().seq;
        // The first watcher is handed the state as it is now, under a newer id.
        let mut rx = reg.subscribe(id).unwrap();
        let first = rx.borrow_and_update().clone();
        assert!(first.seq > published, "{} after {published}", first.seq);
        assert_eq!(first.progress().completed_tests, 4);
        // A second watcher shares that frame: nothing is serialised again.
        let second = reg.subscribe(id).unwrap().borrow().clone();
        assert!(Arc::ptr_eq(&first, &second));
        // While watched, every event has its frame, the terminal one too.
        reg.test_started(id, VersionId(1), "c");
        reg.test_finished(id, VersionId(1), done(ResultStatus::Failed, Some(10.0)));
        assert_eq!(next_event(&mut rx).await.progress().completed_tests, 5);
        reg.mark_finished(id, BatchStatus::Completed, None);
        let last = next_event(&mut rx).await;
        assert!(last.is_terminal());
        assert_eq!(last.progress().status, BatchStatus::Completed);
        // Once the watchers leave, a finished batch keeps its last frame until the TTL: its
        // publisher has ended, and a late watcher is sent that same terminal event.
        drop(rx);
        let late = reg.subscribe(id).unwrap().borrow().clone();
        assert!(Arc::ptr_eq(&late, &last));
    }

    #[tokio::test]
    async fn an_unwatched_batch_ends_with_a_bare_terminal_event_and_a_late_watcher_sees_the_end() {
        let reg = Registry::new(Duration::from_secs(60));
        let id = BatchId(4);
        reg.init_batch(start(4, &[(1, 2)]));
        reg.test_started(id, VersionId(1), "c");
        reg.test_finished(id, VersionId(1), done(ResultStatus::Passed, Some(90.0)));
        reg.mark_finished(id, BatchStatus::Cancelled, Some("stopped".into()));
        let tracked = reg.tracked(id).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while !tracked.tx.borrow().is_terminal() {
            assert!(tokio::time::Instant::now() < deadline, "no terminal event");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(tracked.tx.borrow().frame.is_empty());
        let event = reg.subscribe(id).unwrap().borrow().clone();
        assert!(event.is_terminal());
        let progress = event.progress();
        assert_eq!(progress.status, BatchStatus::Cancelled);
        assert_eq!(progress.completed_tests, 1);
    }

    #[tokio::test]
    async fn concurrent_writers_lose_no_update_and_batches_do_not_interfere() {
        let reg = Registry::new(Duration::from_secs(60));
        for b in 1..=4 {
            reg.init_batch(start(b, &[(1, 2000), (2, 2000)]));
        }
        let mut handles = Vec::new();
        for w in 0..8i64 {
            let reg = reg.clone();
            handles.push(std::thread::spawn(move || {
                let batch = BatchId(w % 4 + 1);
                let version = VersionId(w / 4 + 1);
                for i in 0..1000 {
                    reg.test_started(batch, version, "x");
                    let status = if i % 2 == 0 {
                        ResultStatus::Passed
                    } else {
                        ResultStatus::Failed
                    };
                    reg.test_finished(batch, version, done(status, Some(50.0)));
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        for b in 1..=4 {
            let p = reg.get(BatchId(b)).unwrap();
            assert_eq!(p.completed_tests, 2000, "batch {b}");
            assert_eq!(p.passed_tests, 1000, "batch {b}");
            for v in &p.versions {
                assert_eq!(v.completed_tests, 1000);
                assert_eq!(v.average_score, Some(50.0));
            }
        }
    }

    #[tokio::test]
    async fn finished_batches_leave_after_the_ttl() {
        let reg = Registry::new(Duration::from_millis(0));
        reg.init_batch(start(1, &[(1, 1)]));
        reg.init_batch(start(2, &[(1, 1)]));
        reg.mark_finished(BatchId(1), BatchStatus::Completed, None);
        assert_eq!(reg.sweep(), 1);
        assert!(reg.get(BatchId(1)).is_none());
        assert!(reg.get(BatchId(2)).is_some(), "a running batch stays");
        assert_eq!(reg.running(), vec![BatchId(2)]);
    }

    #[test]
    fn the_rate_follows_a_change_of_pace() {
        let mut r = Rate::default();
        let t0 = Instant::now();
        // 40 gaps of 1 s, then 100 of 0.1 s: the mean moves to the new pace.
        for i in 0..=40u64 {
            r.record(t0 + Duration::from_secs(i));
        }
        assert!((r.mean_gap.unwrap() - 1.0).abs() < 1e-9);
        let t1 = t0 + Duration::from_secs(40);
        for i in 1..=100u64 {
            r.record(t1 + Duration::from_millis(100 * i));
        }
        let gap = r.mean_gap.unwrap();
        assert!((0.1..0.15).contains(&gap), "mean gap {gap}");
    }

    #[test]
    fn the_estimate_uses_the_recent_rate() {
        let mut s = BatchState {
            batch_id: BatchId(1),
            name: String::new(),
            repeats: 1,
            judged: false,
            status: BatchStatus::Running,
            started_at_ms: 0,
            finished_at_ms: None,
            error_message: None,
            current: None,
            current_case: String::new(),
            versions: Vec::new(),
            index: Box::default(),
            rate: Rate::default(),
            finished_at: None,
            alerts: Vec::new(),
        };
        assert_eq!(
            s.estimate_remaining(10),
            None,
            "unknown before two completions"
        );
        let now = Instant::now();
        // 5 completions over 2 s → 2 per second → 10 remaining take about 5 s.
        for i in 0..5u64 {
            s.rate.record(now - Duration::from_millis(2000 - i * 500));
        }
        let eta = s.estimate_remaining(10).unwrap();
        assert!((4.9..=5.0).contains(&eta), "eta {eta}");
        assert_eq!(s.estimate_remaining(0), Some(0.0));
    }
}
