//! Replaying a finished batch: its [`Timeline`] (what `batch_timeline` returns, compactly) and
//! [`Replay::progress_at`], which redraws the batch's [`Progress`] at any moment of its run —
//! the same model the progress stream carries, so the replay shows the live modal's bars, cards
//! and current-test hint.
//!
//! A test's finish is its stored `finished_at`; its start is that finish minus its latency where
//! the latency is stored (an error has none: it appears at its finish). Counts, scores, pass
//! rates and latencies use the registry's arithmetic (`server::progress`), so the last frame of
//! a replay is the batch's stored snapshot. What the timeline does not carry is not replayed:
//! the judge's tallies, and the adaptive limit and circuit (they exist only while a batch runs).
//!
//! Pure: no clock, no I/O; shared by the server (which builds timelines) and the WASM client.

use super::rounding::{mean, percent, rate, round1};
use super::{
    Alert, BatchId, BatchStatus, Progress, ResultStatus, VersionId, VersionProgress,
    VersionRunStatus,
};
use serde::{Deserialize, Serialize};

/// How many recent completions the remaining-time estimate looks at (as the registry's).
const RATE_WINDOW: usize = 32;

/// A finished batch's run, as `batch_timeline` returns it. The tests are columns of equal
/// length (one entry per stored result, every repetition), sorted by finish, so a batch of
/// 100,000 results costs about 20 bytes a result rather than a JSON object each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub batch_id: BatchId,
    pub batch_name: String,
    /// How the batch ended (completed, error or cancelled).
    pub status: BatchStatus,
    pub error_message: Option<String>,
    pub repeats: u32,
    /// When the batch started, Unix ms: the replay's zero.
    pub started_at: i64,
    /// From the start to the batch's end, ms (never before its last result).
    pub duration_ms: u64,
    /// The batch's versions in launch order; `tests.version` indexes this.
    pub versions: Vec<TimelineVersion>,
    /// The batch's case names in launch order; `tests.case` indexes this.
    pub cases: Vec<String>,
    pub tests: TimelineTests,
    /// The alerts the batch raised (each shown from its `since`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineVersion {
    pub version_id: VersionId,
    pub name: String,
    /// Its tests in the batch: cases × repeats.
    pub total_tests: u64,
}

/// One entry per stored result, in finish order; every column has the same length.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineTests {
    /// Index into [`Timeline::versions`].
    pub version: Vec<u32>,
    /// Index into [`Timeline::cases`].
    pub case: Vec<u32>,
    /// 0 passed, 1 failed, 2 error ([`status_code`]).
    pub status: Vec<u8>,
    /// The score, rounded to 0.01 (null: not scored).
    pub score: Vec<Option<f64>>,
    /// Finish, as ms after the previous entry's finish (the first: after the batch's start).
    /// Gaps, not offsets: sorted finishes make small numbers.
    pub finish_gap_ms: Vec<u64>,
    /// The test's latency, ms (null: not stored — it then has no visible start).
    pub duration_ms: Vec<Option<u64>>,
}

/// The code a test's status travels as in [`TimelineTests::status`].
pub fn status_code(status: ResultStatus) -> u8 {
    match status {
        ResultStatus::Passed => 0,
        ResultStatus::Failed => 1,
        ResultStatus::Error => 2,
    }
}

fn status_of(code: u8) -> Option<ResultStatus> {
    match code {
        0 => Some(ResultStatus::Passed),
        1 => Some(ResultStatus::Failed),
        2 => Some(ResultStatus::Error),
        _ => None,
    }
}

/// One stored result, before it is packed: what the server reads from the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelineEntry {
    pub version: u32,
    pub case: u32,
    pub status: ResultStatus,
    pub score: Option<f64>,
    /// ms after the batch's start (clamped at 0).
    pub finish_ms: u64,
    pub duration_ms: Option<u64>,
}

impl TimelineTests {
    /// Packs entries in any order into sorted columns.
    pub fn pack(mut entries: Vec<TimelineEntry>) -> TimelineTests {
        entries.sort_by_key(|e| (e.finish_ms, e.version, e.case));
        let mut out = TimelineTests::default();
        let mut previous = 0;
        for e in entries {
            out.version.push(e.version);
            out.case.push(e.case);
            out.status.push(status_code(e.status));
            out.score.push(e.score.map(|s| (s * 100.0).round() / 100.0));
            out.finish_gap_ms.push(e.finish_ms - previous);
            out.duration_ms.push(e.duration_ms);
            previous = e.finish_ms;
        }
        out
    }

    pub fn len(&self) -> usize {
        self.version.len()
    }

    pub fn is_empty(&self) -> bool {
        self.version.is_empty()
    }
}

/// A test as the replay plays it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Event {
    version: usize,
    case: usize,
    status: ResultStatus,
    score: Option<f64>,
    start_ms: u64,
    finish_ms: u64,
    latency_ms: Option<u64>,
}

/// A timeline checked and unpacked, ready to be asked for any moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    timeline: Timeline,
    /// In finish order.
    events: Vec<Event>,
}

impl Replay {
    /// Checks the timeline (columns of one length, indexes in range, known statuses, no more
    /// results than tests) and unpacks it; the error names what is wrong.
    pub fn new(mut timeline: Timeline) -> Result<Replay, String> {
        let t = &timeline.tests;
        let n = t.version.len();
        for (name, len) in [
            ("case", t.case.len()),
            ("status", t.status.len()),
            ("score", t.score.len()),
            ("finish_gap_ms", t.finish_gap_ms.len()),
            ("duration_ms", t.duration_ms.len()),
        ] {
            if len != n {
                return Err(format!(
                    "timeline column `{name}` has {len} entries, `version` has {n}"
                ));
            }
        }
        let mut events = Vec::with_capacity(n);
        let mut finish: u64 = 0;
        let mut per_version = vec![0u64; timeline.versions.len()];
        for i in 0..n {
            let version = t.version[i] as usize;
            let case = t.case[i] as usize;
            if version >= timeline.versions.len() {
                return Err(format!(
                    "timeline entry {i}: version index {version}, but the batch has {} versions",
                    timeline.versions.len()
                ));
            }
            if case >= timeline.cases.len() {
                return Err(format!(
                    "timeline entry {i}: case index {case}, but the batch has {} cases",
                    timeline.cases.len()
                ));
            }
            let status = status_of(t.status[i])
                .ok_or_else(|| format!("timeline entry {i}: unknown status {}", t.status[i]))?;
            finish = finish.saturating_add(t.finish_gap_ms[i]);
            let latency = t.duration_ms[i];
            per_version[version] += 1;
            events.push(Event {
                version,
                case,
                status,
                score: t.score[i],
                start_ms: finish.saturating_sub(latency.unwrap_or(0)),
                finish_ms: finish,
                latency_ms: latency,
            });
        }
        for (v, count) in timeline.versions.iter().zip(&per_version) {
            if *count > v.total_tests {
                return Err(format!(
                    "timeline: version {} has {count} results but {} tests",
                    v.version_id, v.total_tests
                ));
            }
        }
        // A batch ends no earlier than its last result.
        timeline.duration_ms = timeline.duration_ms.max(finish);
        Ok(Replay { timeline, events })
    }

    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The batch's length, ms: a replay runs from 0 to this.
    pub fn duration_ms(&self) -> u64 {
        self.timeline.duration_ms
    }

    /// The batch as the progress stream showed it `t_ms` after its start: the tests finished by
    /// then (a test finishing exactly at `t_ms` counts), the one started last as the current
    /// test, the alerts raised by then. From the batch's end on (and for an empty batch, at
    /// once) it is the batch's final state.
    pub fn progress_at(&self, t_ms: u64) -> Progress {
        let tl = &self.timeline;
        let ended = t_ms >= tl.duration_ms;
        let done = self.events.partition_point(|e| e.finish_ms <= t_ms);

        let mut versions: Vec<Tally> = vec![Tally::default(); tl.versions.len()];
        for e in &self.events[..done] {
            versions[e.version].add(e);
        }
        // Tests under way at t: started (a stored latency puts the start before the finish)
        // and not yet finished. The current test is the one started last, finished or not —
        // as the registry keeps the last started test as current.
        let mut current: Option<&Event> = None;
        for e in &self.events {
            if e.start_ms > t_ms {
                continue;
            }
            if e.finish_ms > t_ms {
                versions[e.version].in_flight += 1;
            }
            if current.is_none_or(|c| e.start_ms > c.start_ms) {
                current = Some(e);
            }
        }

        let cancelled = ended && tl.status == BatchStatus::Cancelled;
        let (mut total, mut completed, mut passed, mut errored) = (0, 0, 0, 0);
        let versions: Vec<VersionProgress> = tl
            .versions
            .iter()
            .zip(&versions)
            .map(|(v, s)| {
                total += v.total_tests;
                completed += s.completed;
                passed += s.passed;
                errored += s.errored;
                s.to_progress(v, cancelled)
            })
            .collect();
        let since_start = tl
            .started_at
            .saturating_add(t_ms.min(i64::MAX as u64) as i64);
        Progress {
            batch_id: tl.batch_id,
            batch_name: tl.batch_name.clone(),
            status: if ended {
                tl.status
            } else {
                BatchStatus::Running
            },
            progress: percent(completed, total),
            completed_tests: completed,
            total_tests: total,
            failed_tests: errored,
            passed_tests: passed,
            current_version: (!ended)
                .then(|| current.map(|c| tl.versions[c.version].name.clone()))
                .flatten(),
            current_test_case: (!ended)
                .then(|| current.map(|c| tl.cases[c.case].clone()))
                .flatten(),
            estimated_remaining_time: if ended {
                Some(0.0)
            } else {
                self.estimate_remaining(done, total.saturating_sub(completed), t_ms)
            },
            elapsed_time: round1(t_ms.min(tl.duration_ms) as f64 / 1000.0),
            error_message: ended.then(|| tl.error_message.clone()).flatten(),
            versions,
            repeats: tl.repeats,
            judge: None,
            alerts: tl
                .alerts
                .iter()
                .filter(|a| a.since <= since_start)
                .cloned()
                .collect(),
        }
    }

    /// The registry's estimate, from the replay's clock: the mean gap over the last
    /// [`RATE_WINDOW`] completions before `t_ms`, times what remains, less the time since the
    /// last completion.
    fn estimate_remaining(&self, done: usize, remaining: u64, t_ms: u64) -> Option<f64> {
        if remaining == 0 {
            return Some(0.0);
        }
        if done == 0 {
            return None;
        }
        let last = self.events[done - 1].finish_ms;
        let window = done.min(RATE_WINDOW);
        let before = if done > window {
            self.events[done - window - 1].finish_ms
        } else {
            0
        };
        let gap = (last - before) as f64 / window as f64 / 1000.0;
        if gap <= 0.0 {
            return None;
        }
        let since_last = (t_ms - last) as f64 / 1000.0;
        Some(round1((remaining as f64 * gap - since_last).max(0.0)))
    }
}

/// A version's counts at a moment of the replay.
#[derive(Debug, Clone, Default)]
struct Tally {
    completed: u64,
    passed: u64,
    errored: u64,
    score_sum: f64,
    scored: u64,
    latency_sum: f64,
    timed: u64,
    in_flight: u64,
}

impl Tally {
    fn add(&mut self, e: &Event) {
        self.completed += 1;
        match e.status {
            ResultStatus::Passed => self.passed += 1,
            ResultStatus::Failed => {}
            ResultStatus::Error => self.errored += 1,
        }
        if let Some(s) = e.score {
            self.score_sum += s;
            self.scored += 1;
        }
        if let Some(ms) = e.latency_ms {
            self.latency_sum += ms as f64;
            self.timed += 1;
        }
    }

    /// The registry's figures for these counts (the same status rule and rounding).
    fn to_progress(&self, v: &TimelineVersion, cancelled: bool) -> VersionProgress {
        let status = VersionRunStatus::of(
            v.total_tests,
            self.completed,
            self.errored,
            self.in_flight,
            cancelled,
        );
        VersionProgress {
            version_id: v.version_id,
            version_name: v.name.clone(),
            progress: percent(self.completed, v.total_tests),
            status,
            completed_tests: self.completed,
            total_tests: v.total_tests,
            failed_tests: self.errored,
            average_score: mean(self.score_sum, self.scored),
            pass_rate: rate(self.passed, self.completed),
            avg_latency_ms: mean(self.latency_sum, self.timed),
            judge: None,
            in_flight_limit: None,
            circuit: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlertKind;

    const START: i64 = 1_700_000_000_000;

    fn entry(
        version: u32,
        case: u32,
        status: ResultStatus,
        score: Option<f64>,
        finish_ms: u64,
        duration_ms: Option<u64>,
    ) -> TimelineEntry {
        TimelineEntry {
            version,
            case,
            status,
            score,
            finish_ms,
            duration_ms,
        }
    }

    /// Two versions × two cases × `repeats`; the entries given, ending at `duration_ms`.
    fn timeline(
        status: BatchStatus,
        repeats: u32,
        duration_ms: u64,
        entries: Vec<TimelineEntry>,
    ) -> Replay {
        Replay::new(Timeline {
            batch_id: BatchId(7),
            batch_name: "nightly".into(),
            status,
            error_message: (status == BatchStatus::Error).then(|| "Dify is down".into()),
            repeats,
            started_at: START,
            duration_ms,
            versions: vec![
                TimelineVersion {
                    version_id: VersionId(11),
                    name: "v1".into(),
                    total_tests: 2 * u64::from(repeats),
                },
                TimelineVersion {
                    version_id: VersionId(12),
                    name: "v2".into(),
                    total_tests: 2 * u64::from(repeats),
                },
            ],
            cases: vec!["case a".into(), "case b".into()],
            tests: TimelineTests::pack(entries),
            alerts: vec![Alert {
                kind: AlertKind::ErrorSpike,
                version_id: VersionId(12),
                message: "3 of the last 3 tests errored".into(),
                since: START + 2_500,
            }],
        })
        .unwrap()
    }

    /// v1 passes both cases (scores 80, 90; latencies 1 s, 1.5 s), v2 fails case a (score 40,
    /// 2 s) and errors on case b (no score, no latency) — given out of order on purpose.
    fn four() -> Vec<TimelineEntry> {
        use ResultStatus::*;
        vec![
            entry(1, 1, Error, None, 3_000, None),
            entry(0, 0, Passed, Some(80.0), 1_000, Some(1_000)),
            entry(1, 0, Failed, Some(40.0), 2_000, Some(2_000)),
            entry(0, 1, Passed, Some(90.0), 2_500, Some(1_500)),
        ]
    }

    #[test]
    fn before_the_first_finish_nothing_is_done_and_the_running_tests_show() {
        let r = timeline(BatchStatus::Completed, 1, 4_000, four());
        let p = r.progress_at(0);
        assert_eq!(p.status, BatchStatus::Running);
        assert_eq!((p.completed_tests, p.total_tests), (0, 4));
        assert_eq!(p.progress, 0.0);
        // At 0 both v1/case a (1 s) and v2/case a (2 s) have started; v2's was listed later
        // in finish order but both start at 0: the first found stays current.
        assert_eq!(p.current_version.as_deref(), Some("v1"));
        assert_eq!(p.current_test_case.as_deref(), Some("case a"));
        assert_eq!(p.versions[0].status, VersionRunStatus::Running);
        assert_eq!(p.versions[0].average_score, None);
        assert_eq!(p.versions[0].pass_rate, None);
        assert_eq!(p.estimated_remaining_time, None);
        assert!(p.alerts.is_empty());
    }

    #[test]
    fn a_test_counts_from_its_finish_on_not_before() {
        let r = timeline(BatchStatus::Completed, 1, 4_000, four());
        assert_eq!(r.progress_at(999).completed_tests, 0);
        let at = r.progress_at(1_000);
        assert_eq!(at.completed_tests, 1);
        assert_eq!(at.progress, 25.0);
        assert_eq!(at.versions[0].completed_tests, 1);
        assert_eq!(at.versions[0].average_score, Some(80.0));
        assert_eq!(at.versions[0].pass_rate, Some(100.0));
        assert_eq!(at.versions[0].avg_latency_ms, Some(1_000.0));
        // v1/case b started at 2.5 − 1.5 = 1.0 s: the current test from then on.
        assert_eq!(at.current_test_case.as_deref(), Some("case b"));
        assert_eq!(at.elapsed_time, 1.0);
        // One completion in 1 s, three to go: 3 s.
        assert_eq!(at.estimated_remaining_time, Some(3.0));
    }

    #[test]
    fn midway_counts_scores_and_rates_are_the_registrys() {
        let r = timeline(BatchStatus::Completed, 1, 4_000, four());
        let p = r.progress_at(2_600);
        assert_eq!(
            (p.completed_tests, p.passed_tests, p.failed_tests),
            (3, 2, 0)
        );
        assert_eq!(p.progress, 75.0);
        let v1 = &p.versions[0];
        assert_eq!(v1.status, VersionRunStatus::Completed);
        assert_eq!(v1.average_score, Some(85.0));
        assert_eq!(v1.avg_latency_ms, Some(1_250.0));
        let v2 = &p.versions[1];
        assert_eq!(v2.status, VersionRunStatus::Running);
        assert_eq!(v2.pass_rate, Some(0.0));
        assert_eq!(v2.progress, 50.0);
        // The alert raised at 2.5 s shows from then on.
        assert_eq!(p.alerts.len(), 1);
        assert!(r.progress_at(2_499).alerts.is_empty());
    }

    #[test]
    fn from_the_end_on_it_is_the_final_state() {
        let r = timeline(BatchStatus::Completed, 1, 4_000, four());
        for t in [4_000, 10_000, u64::MAX] {
            let p = r.progress_at(t);
            assert_eq!(p.status, BatchStatus::Completed);
            assert_eq!(p.progress, 100.0);
            assert_eq!(p.current_version, None);
            assert_eq!(p.estimated_remaining_time, Some(0.0));
            assert_eq!(p.elapsed_time, 4.0);
            let v2 = &p.versions[1];
            assert_eq!((v2.completed_tests, v2.failed_tests), (2, 1));
            assert_eq!(v2.average_score, Some(40.0), "an error has no score");
            assert_eq!(v2.avg_latency_ms, Some(2_000.0), "nor a latency");
            assert_eq!(v2.pass_rate, Some(0.0));
        }
        // Just before the end the batch is still running, though every test is done.
        let p = r.progress_at(3_999);
        assert_eq!(p.status, BatchStatus::Running);
        assert_eq!(p.progress, 100.0);
        assert_eq!(p.estimated_remaining_time, Some(0.0));
    }

    #[test]
    fn repetitions_each_count() {
        use ResultStatus::*;
        let entries = vec![
            entry(0, 0, Passed, Some(100.0), 100, Some(100)),
            entry(0, 0, Failed, Some(50.0), 200, Some(100)),
            entry(0, 0, Passed, Some(90.0), 300, Some(100)),
        ];
        let r = timeline(BatchStatus::Completed, 3, 1_000, entries);
        let p = r.progress_at(300);
        assert_eq!(p.repeats, 3);
        assert_eq!(p.total_tests, 12);
        assert_eq!(p.completed_tests, 3);
        assert_eq!(p.progress, 25.0);
        assert_eq!(p.versions[0].total_tests, 6);
        assert_eq!(p.versions[0].progress, 50.0);
        assert_eq!(p.versions[0].average_score, Some(80.0));
        assert_eq!(p.versions[0].pass_rate, Some(66.67));
    }

    #[test]
    fn a_cancelled_batch_ends_part_done_with_its_unfinished_versions_cancelled() {
        use ResultStatus::*;
        let entries = vec![
            entry(0, 0, Passed, Some(80.0), 1_000, Some(900)),
            entry(0, 1, Passed, Some(80.0), 1_500, Some(400)),
            entry(1, 0, Failed, Some(10.0), 1_800, Some(1_700)),
        ];
        let r = timeline(BatchStatus::Cancelled, 1, 2_000, entries);
        let before = r.progress_at(1_900);
        assert_eq!(before.status, BatchStatus::Running);
        assert_eq!(before.versions[1].status, VersionRunStatus::Running);
        let end = r.progress_at(2_000);
        assert_eq!(end.status, BatchStatus::Cancelled);
        assert_eq!((end.completed_tests, end.total_tests), (3, 4));
        assert_eq!(end.progress, 75.0);
        assert_eq!(end.versions[0].status, VersionRunStatus::Completed);
        assert_eq!(end.versions[1].status, VersionRunStatus::Cancelled);
    }

    #[test]
    fn an_error_batch_ends_with_its_message() {
        let r = timeline(BatchStatus::Error, 1, 4_000, four());
        assert_eq!(r.progress_at(3_000).error_message, None);
        let p = r.progress_at(4_000);
        assert_eq!(p.status, BatchStatus::Error);
        assert_eq!(p.error_message.as_deref(), Some("Dify is down"));
    }

    #[test]
    fn an_empty_batch_is_over_at_once() {
        let r = timeline(BatchStatus::Cancelled, 1, 0, Vec::new());
        assert_eq!(r.duration_ms(), 0);
        let p = r.progress_at(0);
        assert_eq!(p.status, BatchStatus::Cancelled);
        assert_eq!((p.completed_tests, p.total_tests, p.progress), (0, 4, 0.0));
        assert!(p
            .versions
            .iter()
            .all(|v| v.status == VersionRunStatus::Cancelled));
        assert_eq!(p.current_test_case, None);
    }

    #[test]
    fn the_duration_is_never_before_the_last_result() {
        let r = timeline(BatchStatus::Completed, 1, 1_000, four());
        assert_eq!(r.duration_ms(), 3_000);
        assert_eq!(r.progress_at(3_000).status, BatchStatus::Completed);
    }

    #[test]
    fn packing_sorts_by_finish_and_stores_gaps() {
        let t = TimelineTests::pack(four());
        assert_eq!(t.finish_gap_ms, vec![1_000, 1_000, 500, 500]);
        assert_eq!(t.version, vec![0, 1, 0, 1]);
        assert_eq!(t.status, vec![0, 1, 0, 2]);
        assert_eq!(
            t.duration_ms,
            vec![Some(1_000), Some(2_000), Some(1_500), None]
        );
    }

    #[test]
    fn a_broken_timeline_is_refused_with_what_is_wrong() {
        let good = timeline(BatchStatus::Completed, 1, 4_000, four())
            .timeline()
            .clone();
        let mut t = good.clone();
        t.tests.case.pop();
        assert_eq!(
            Replay::new(t).unwrap_err(),
            "timeline column `case` has 3 entries, `version` has 4"
        );
        let mut t = good.clone();
        t.tests.version[0] = 5;
        assert!(Replay::new(t).unwrap_err().contains("version index 5"));
        let mut t = good.clone();
        t.tests.case[1] = 9;
        assert!(Replay::new(t).unwrap_err().contains("case index 9"));
        let mut t = good.clone();
        t.tests.status[2] = 7;
        assert!(Replay::new(t).unwrap_err().contains("unknown status 7"));
        let mut t = good;
        t.versions[0].total_tests = 1;
        assert!(Replay::new(t)
            .unwrap_err()
            .contains("has 2 results but 1 tests"));
    }

    /// The wire size the server's bound is about: 100,000 results of 10 versions × 1,000 cases ×
    /// 10 repeats, finishing every ~10 ms with 1–3 s latencies.
    #[test]
    fn a_hundred_thousand_results_stay_compact() {
        let mut entries = Vec::new();
        let mut seed: u64 = 42;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            seed >> 33
        };
        for i in 0..100_000u64 {
            entries.push(TimelineEntry {
                version: (i % 10) as u32,
                case: ((i / 10) % 1_000) as u32,
                status: [
                    ResultStatus::Passed,
                    ResultStatus::Failed,
                    ResultStatus::Error,
                ][(next() % 3) as usize],
                score: Some((next() % 10_000) as f64 / 100.0),
                finish_ms: i * 10 + next() % 10,
                duration_ms: Some(1_000 + next() % 2_000),
            });
        }
        let tl = Timeline {
            batch_id: BatchId(1),
            batch_name: "big".into(),
            status: BatchStatus::Completed,
            error_message: None,
            repeats: 10,
            started_at: START,
            duration_ms: 1_000_010,
            versions: (0..10)
                .map(|v| TimelineVersion {
                    version_id: VersionId(v),
                    name: format!("version {v}"),
                    total_tests: 10_000,
                })
                .collect(),
            cases: (0..1_000).map(|c| format!("case number {c}")).collect(),
            tests: TimelineTests::pack(entries),
            alerts: Vec::new(),
        };
        let bytes = serde_json::to_vec(&tl).unwrap().len();
        println!("100,000 results: {bytes} bytes of JSON");
        assert!(bytes < 2_600_000, "{bytes} bytes");
        let r = Replay::new(tl).unwrap();
        assert_eq!(r.progress_at(u64::MAX).progress, 100.0);
        assert_eq!(r.progress_at(499_999).completed_tests, 50_000);
    }
}
