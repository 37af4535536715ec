//! The tests a runner holds, one lane per version, each behind its [`Gate`]: which test goes
//! next, which wait (a throttled test for its backoff, every test of a version whose circuit is
//! open), and which end without a call (a circuit that gave up). Both dispatch loops use it: the
//! local one fills the lanes with the whole batch, the shared one with what it claimed.

use super::gate::{Gate, Room, Signal};
use std::collections::VecDeque;
use std::time::Instant;

/// A test waiting in a lane: its case (by index in the batch's snapshot), its repetition, how
/// often Dify throttled it so far, and the HTTP attempts those throttled calls made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Waiting {
    pub case: usize,
    pub repetition: u32,
    pub throttles: u32,
    pub attempts: u32,
}

impl Waiting {
    pub fn fresh(case: usize, repetition: u32) -> Waiting {
        Waiting {
            case,
            repetition,
            throttles: 0,
            attempts: 0,
        }
    }
}

struct Lane {
    gate: Gate,
    fresh: VecDeque<Waiting>,
    /// Throttled tests and when each may go again, earliest first.
    later: VecDeque<(Instant, Waiting)>,
}

impl Lane {
    fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.later.is_empty()
    }

    fn ready(&self, now: Instant) -> bool {
        !self.fresh.is_empty() || self.later.front().is_some_and(|(at, _)| *at <= now)
    }

    /// The next test to send: a throttled one whose wait is over first.
    fn pop_ready(&mut self, now: Instant) -> Option<Waiting> {
        if self.later.front().is_some_and(|(at, _)| *at <= now) {
            return self.later.pop_front().map(|(_, w)| w);
        }
        self.fresh.pop_front()
    }

    fn pop_any(&mut self) -> Option<Waiting> {
        self.later
            .pop_front()
            .map(|(_, w)| w)
            .or_else(|| self.fresh.pop_front())
    }
}

pub(super) struct Lanes {
    lanes: Vec<Lane>,
}

impl Lanes {
    /// One lane per gate, in the batch's version order.
    pub fn new(gates: Vec<Gate>) -> Lanes {
        Lanes {
            lanes: gates
                .into_iter()
                .map(|gate| Lane {
                    gate,
                    fresh: VecDeque::new(),
                    later: VecDeque::new(),
                })
                .collect(),
        }
    }

    pub fn push(&mut self, version: usize, test: Waiting) {
        self.lanes[version].fresh.push_back(test);
    }

    /// A throttled test waits until `at`.
    pub fn requeue(&mut self, version: usize, test: Waiting, at: Instant) {
        let later = &mut self.lanes[version].later;
        let i = later.partition_point(|(t, _)| *t <= at);
        later.insert(i, (at, test));
    }

    pub fn is_empty(&self) -> bool {
        self.lanes.iter().all(Lane::is_empty)
    }

    /// Tests held, waiting or not.
    pub fn held(&self) -> usize {
        self.lanes
            .iter()
            .map(|l| l.fresh.len() + l.later.len())
            .sum()
    }

    pub fn gate(&self, version: usize) -> &Gate {
        &self.lanes[version].gate
    }

    /// A test of a version whose circuit gave up: it ends `circuit_open` without a call.
    pub fn next_given_up(&mut self, now: Instant) -> Option<(usize, Waiting)> {
        self.lanes.iter_mut().enumerate().find_map(|(vi, lane)| {
            if lane.is_empty() || lane.gate.room(now) != Room::GiveUp {
                return None;
            }
            lane.pop_any().map(|w| (vi, w))
        })
    }

    /// Whether some version may send a test now.
    pub fn can_send(&mut self, now: Instant) -> bool {
        self.lanes
            .iter_mut()
            .any(|lane| lane.ready(now) && lane.gate.room(now) == Room::Send)
    }

    /// The next test to send, the earliest version first (so versions finish in order when
    /// nothing else holds them back), with the gate's ticket for [`Lanes::ended`].
    pub fn next(&mut self, now: Instant) -> Option<(usize, Waiting, u64)> {
        self.lanes.iter_mut().enumerate().find_map(|(vi, lane)| {
            if !lane.ready(now) || lane.gate.room(now) != Room::Send {
                return None;
            }
            let test = lane.pop_ready(now)?;
            Some((vi, test, lane.gate.sent()))
        })
    }

    /// The call of `version` with this ticket ended; true when its gate changed.
    pub fn ended(&mut self, version: usize, ticket: u64, signal: Signal, now: Instant) -> bool {
        self.lanes[version].gate.ended(ticket, signal, now)
    }

    /// The next instant after `now` at which a lane waiting on time (an open circuit, a
    /// throttled test's backoff) can go on; None when every wait ends with a call ending.
    pub fn wake_at(&mut self, now: Instant) -> Option<Instant> {
        self.lanes
            .iter_mut()
            .filter(|lane| !lane.is_empty())
            .filter_map(|lane| match lane.gate.room(now) {
                Room::Wait(Some(at)) => Some(at),
                Room::Send if lane.fresh.is_empty() => lane.later.front().map(|(at, _)| *at),
                _ => None,
            })
            .filter(|at| *at > now)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::super::gate::GateConfig;
    use super::*;
    use std::time::Duration;

    fn lanes(caps: &[usize]) -> Lanes {
        Lanes::new(
            caps.iter()
                .map(|&c| Gate::new(GateConfig::default(), c))
                .collect(),
        )
    }

    #[test]
    fn earliest_version_first_within_each_gate() {
        let now = Instant::now();
        let mut l = lanes(&[1, 2]);
        for ci in 0..3 {
            l.push(0, Waiting::fresh(ci, 0));
            l.push(1, Waiting::fresh(ci, 0));
        }
        let order: Vec<_> = std::iter::from_fn(|| l.next(now).map(|(v, w, _)| (v, w.case)))
            .take(10)
            .collect();
        // Version 0 may hold one call, version 1 two.
        assert_eq!(order, vec![(0, 0), (1, 0), (1, 1)]);
        assert!(!l.can_send(now));
        assert_eq!(l.held(), 3);
    }

    #[test]
    fn a_throttled_test_waits_for_its_time_then_goes_first() {
        let now = Instant::now();
        let mut l = lanes(&[4]);
        l.push(0, Waiting::fresh(0, 0));
        l.push(0, Waiting::fresh(1, 0));
        let (_, first, round) = l.next(now).unwrap();
        l.ended(0, round, Signal::Throttled, now);
        let at = now + Duration::from_millis(300);
        l.requeue(
            0,
            Waiting {
                throttles: 1,
                ..first
            },
            at,
        );
        // The throttle, with nothing else held, brought the limit down to 1.
        assert_eq!(l.gate(0).limit(), 1);
        let (_, second, ticket) = l.next(now).unwrap();
        assert_eq!(second.case, 1, "the fresh one goes while the other waits");
        assert_eq!(
            l.wake_at(now),
            None,
            "full: the end of a call wakes it, not the clock"
        );
        l.ended(0, ticket, Signal::Answered, now);
        assert_eq!(l.wake_at(now), Some(at));
        assert!(l.next(now).is_none(), "not before its time");
        let (_, again, _) = l.next(at).unwrap();
        assert_eq!((again.case, again.throttles), (0, 1));
        assert!(l.is_empty());
    }

    #[test]
    fn a_circuit_that_gave_up_hands_its_tests_back_without_calls() {
        let now = Instant::now();
        let cfg = GateConfig {
            breaker_errors: 1,
            breaker_probes: 1,
            breaker_cooldown: Duration::from_secs(1),
            adaptive: true,
        };
        let mut l = Lanes::new(vec![Gate::new(cfg, 2)]);
        for ci in 0..3 {
            l.push(0, Waiting::fresh(ci, 0));
        }
        let (_, _, r) = l.next(now).unwrap();
        l.ended(0, r, Signal::Failed, now);
        assert!(l.next(now).is_none(), "open");
        assert_eq!(l.wake_at(now), Some(now + Duration::from_secs(1)));
        let later = now + Duration::from_secs(1);
        let (_, _, probe) = l.next(later).unwrap();
        l.ended(0, probe, Signal::Failed, later);
        let rest: Vec<_> = std::iter::from_fn(|| l.next_given_up(later)).collect();
        assert_eq!(rest.len(), 1);
        assert!(l.is_empty());
    }
}
