//! What instances tell each other over `LISTEN/NOTIFY`, as bytes: compact JSON payloads, each
//! within PostgreSQL's limit (8,000 bytes by default; [`MAX_PAYLOAD`] leaves a margin). Pure
//! encoding and decoding; the channels and the listener are in the parent module.

use crate::model::{BatchId, VersionId};
use crate::server::store::{InstanceId, LiveTally};
use serde::{Deserialize, Serialize};

/// The largest payload sent. NOTIFY refuses 8,000 bytes and more.
pub const MAX_PAYLOAD: usize = 7_900;
/// The current test's name is cut to this many bytes in a progress payload.
const MAX_CASE_NAME: usize = 200;

/// A version's tallies on the wire: (version, rev, completed, passed, errored, score_sum,
/// scored, latency_sum, timed, judged, judge_cached, judge_errors, judge_score_sum).
/// A JSON array on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WireTally(
    i64,
    i64,
    i64,
    i64,
    i64,
    f64,
    i64,
    f64,
    i64,
    i64,
    i64,
    i64,
    f64,
);

/// New tallies of some of a batch's versions, and the test the sender is working on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressNote {
    /// The sender.
    pub i: i64,
    pub b: i64,
    pub t: Vec<WireTally>,
    /// (version, case name) of the sender's current test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<(i64, String)>,
}

impl ProgressNote {
    pub fn sender(&self) -> InstanceId {
        InstanceId(self.i)
    }

    pub fn batch(&self) -> BatchId {
        BatchId(self.b)
    }

    pub fn tallies(&self) -> impl Iterator<Item = LiveTally> + '_ {
        self.t.iter().map(|w| LiveTally {
            version_id: w.0,
            rev: w.1,
            completed: w.2,
            passed: w.3,
            errored: w.4,
            score_sum: w.5,
            scored: w.6,
            latency_sum: w.7,
            timed: w.8,
            judged: w.9,
            judge_cached: w.10,
            judge_errors: w.11,
            judge_score_sum: w.12,
        })
    }

    pub fn current(&self) -> Option<(VersionId, &str)> {
        self.c
            .as_ref()
            .map(|(v, name)| (VersionId(*v), name.as_str()))
    }
}

fn wire(t: &LiveTally) -> WireTally {
    WireTally(
        t.version_id,
        t.rev,
        t.completed,
        t.passed,
        t.errored,
        t.score_sum,
        t.scored,
        t.latency_sum,
        t.timed,
        t.judged,
        t.judge_cached,
        t.judge_errors,
        t.judge_score_sum,
    )
}

/// The payloads telling the others about `tallies` of `batch`: as few as fit, each within
/// [`MAX_PAYLOAD`]; the current test rides on the first.
pub fn encode_progress(
    sender: InstanceId,
    batch: BatchId,
    tallies: &[LiveTally],
    current: Option<(VersionId, &str)>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut note = ProgressNote {
        i: sender.0,
        b: batch.0,
        t: Vec::new(),
        c: current.map(|(v, name)| (v.0, cut(name, MAX_CASE_NAME).to_string())),
    };
    let mut size = payload(&note).len();
    for t in tallies {
        let w = wire(t);
        // A tally is at most ~250 bytes; measure it with its comma.
        let grows = serde_json::to_string(&w).map_or(0, |s| s.len() + 1);
        if !note.t.is_empty() && size + grows > MAX_PAYLOAD {
            out.push(payload(&note));
            note.t.clear();
            note.c = None;
            size = payload(&note).len();
        }
        note.t.push(w);
        size += grows;
    }
    if !note.t.is_empty() || note.c.is_some() {
        out.push(payload(&note));
    }
    out
}

pub fn decode_progress(payload: &str) -> Option<ProgressNote> {
    serde_json::from_str(payload).ok()
}

/// A batch opened (started, re-run, resumed: every instance joins it) or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchNote {
    pub i: i64,
    pub b: i64,
    pub e: BatchEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchEvent {
    Open,
    End,
}

pub fn encode_batch(sender: InstanceId, batch: BatchId, event: BatchEvent) -> String {
    payload(&BatchNote {
        i: sender.0,
        b: batch.0,
        e: event,
    })
}

pub fn decode_batch(payload: &str) -> Option<BatchNote> {
    serde_json::from_str(payload).ok()
}

fn payload<T: Serialize>(note: &T) -> String {
    serde_json::to_string(note).unwrap_or_default()
}

/// `text` cut to at most `max` bytes, between characters.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(v: i64) -> LiveTally {
        LiveTally {
            version_id: v,
            rev: 7,
            completed: 123_456,
            passed: 100_000,
            errored: 3,
            score_sum: 8_765_432.123_456_7,
            scored: 123_453,
            latency_sum: 98_765_432_101.0,
            timed: 123_453,
            judged: 99,
            judge_cached: 9,
            judge_errors: 1,
            judge_score_sum: 7_654.321,
        }
    }

    #[test]
    fn tallies_and_the_current_test_survive_the_trip() {
        let sent = encode_progress(
            InstanceId(3),
            BatchId(42),
            &[tally(1), tally(2)],
            Some((VersionId(2), "退款政策 — refund policy")),
        );
        assert_eq!(sent.len(), 1);
        let note = decode_progress(&sent[0]).unwrap();
        assert_eq!(note.sender(), InstanceId(3));
        assert_eq!(note.batch(), BatchId(42));
        assert_eq!(note.tallies().collect::<Vec<_>>(), vec![tally(1), tally(2)]);
        assert_eq!(
            note.current(),
            Some((VersionId(2), "退款政策 — refund policy"))
        );
    }

    #[test]
    fn many_versions_are_split_within_the_notify_limit_and_none_is_lost() {
        let tallies: Vec<LiveTally> = (1..=400).map(tally).collect();
        let long_name = "案".repeat(1000);
        let sent = encode_progress(
            InstanceId(1),
            BatchId(9),
            &tallies,
            Some((VersionId(1), &long_name)),
        );
        assert!(sent.len() > 1, "400 versions do not fit one payload");
        assert!(
            sent.iter().all(|p| p.len() <= MAX_PAYLOAD),
            "{:?}",
            sent.iter().map(String::len).collect::<Vec<_>>()
        );
        let back: Vec<LiveTally> = sent
            .iter()
            .flat_map(|p| decode_progress(p).unwrap().tallies().collect::<Vec<_>>())
            .collect();
        assert_eq!(back, tallies);
        // The name is cut between characters, and only the first payload carries it.
        let first = decode_progress(&sent[0]).unwrap();
        let name = first.current().unwrap().1;
        assert!(name.len() <= MAX_CASE_NAME && name.chars().all(|c| c == '案'));
        assert!(sent[1..]
            .iter()
            .all(|p| decode_progress(p).unwrap().c.is_none()));
    }

    #[test]
    fn batch_notes_round_trip_and_garbage_is_refused() {
        let p = encode_batch(InstanceId(2), BatchId(5), BatchEvent::End);
        assert_eq!(p, r#"{"i":2,"b":5,"e":"end"}"#);
        assert_eq!(
            decode_batch(&p),
            Some(BatchNote {
                i: 2,
                b: 5,
                e: BatchEvent::End
            })
        );
        assert_eq!(decode_batch("12"), None);
        assert_eq!(decode_progress("{\"b\":1}"), None);
    }
}
