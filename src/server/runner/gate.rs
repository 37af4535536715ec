//! How fast one version of a running batch may call its Dify app: its circuit breaker and its
//! adaptive concurrency. A pure state machine over the outcomes of its calls and the time, so
//! both dispatch loops share it and its rules are tested as rules.
//!
//! **Circuit breaker.** After [`GateConfig::breaker_errors`] tests in a row end in an error of
//! the kind a down app gives (the ones the client retries: 5xx, gateways, timeouts, cut
//! connections — a bad key or invalid inputs fail every test at once and cost nothing to
//! finish, so they neither count nor break a streak), the version's circuit opens: its remaining
//! tests wait. After [`GateConfig::breaker_cooldown`] one test goes out as a probe (half-open).
//! A probe that is answered closes the circuit; one that fails opens it again for another
//! cool-down, and after [`GateConfig::breaker_probes`] failed probes the circuit gives up: the
//! version's remaining tests end as errors with code `circuit_open` (stored and counted like any
//! error, so "re-run failed" sends them again). Only the probe decides: calls sent before the
//! circuit opened that fail later do not count against it (one answered closes it).
//!
//! **Adaptive concurrency (AIMD).** A throttle (Dify's 429 `too_many_requests`, or a 503) halves
//! the version's in-flight limit — once per round: throttles of calls sent before the last
//! decrease only lower the limit to the calls the app is holding at the time (they were sent
//! into the same overload, and the calls still in flight are what it admitted). Answers add one
//! back: one per round (a limit's worth of answers) up to just below the level the app last
//! refused, then one per [`PROBE_WINDOW`] answers to try that level again, so a ceiling is found
//! again quickly and probed rarely. Never below 1, never above the configured cap. A throttle at
//! a limit of 1 is the app refusing everything, and counts towards the breaker as an error.

use crate::model::CircuitState;
use std::time::{Duration, Instant};

/// The breaker's and the adaptive limit's settings (the `serve` / `run` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateConfig {
    /// Tests in a row ending in error that open a version's circuit; 0 turns the breaker off.
    pub breaker_errors: u32,
    /// How long an open circuit waits before its probe.
    pub breaker_cooldown: Duration,
    /// Failed probes after which the version's remaining tests end `circuit_open`.
    pub breaker_probes: u32,
    /// Adapt the in-flight limit to throttles; off, a throttle is retried like any transient
    /// failure, inside the call.
    pub adaptive: bool,
}

pub const DEFAULT_BREAKER_ERRORS: u32 = 5;
pub const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_secs(10);
pub const DEFAULT_BREAKER_PROBES: u32 = 3;

impl Default for GateConfig {
    fn default() -> GateConfig {
        GateConfig {
            breaker_errors: DEFAULT_BREAKER_ERRORS,
            breaker_cooldown: DEFAULT_BREAKER_COOLDOWN,
            breaker_probes: DEFAULT_BREAKER_PROBES,
            adaptive: true,
        }
    }
}

/// The error code of a test its version's circuit did not send.
pub const CIRCUIT_OPEN: &str = "circuit_open";

/// Successes per step above the level of the last throttle.
pub const PROBE_WINDOW: u32 = 64;
/// Throttles one test may meet before it ends as an error (`too_many_requests`).
pub const MAX_THROTTLES_PER_TEST: u32 = 8;

/// How a call of the version ended, as the gate counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// An answer (whatever its score).
    Answered,
    /// Dify asked for fewer calls at once; the test goes back to wait (adaptive only).
    Throttled,
    /// The test ended in an error of the kind an app that is down gives: one the client
    /// retries (5xx, gateways, timeouts, cut connections), after its retries.
    Failed,
    /// The test ended in an error a retry cannot fix (a bad key, invalid inputs, a failed
    /// workflow, a quota): the app answered, so it says nothing about the app being down.
    Refused,
}

/// What the version may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Send one more test.
    Send,
    /// Nothing now; look again when a call ends, or at this instant if given.
    Wait(Option<Instant>),
    /// The circuit gave up: end the version's remaining tests as `circuit_open`.
    GiveUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Circuit {
    Closed,
    Open {
        until: Instant,
    },
    /// `probe`: the ticket of the probe out, if it went.
    HalfOpen {
        probe: Option<u64>,
    },
    GaveUp,
}

/// One version's gate. `sent` and `ended` bracket every call it let through.
#[derive(Debug, Clone)]
pub struct Gate {
    cfg: GateConfig,
    cap: usize,
    limit: usize,
    in_flight: usize,
    /// Every call's ticket: sent in order.
    tickets: u64,
    /// The first ticket of the current round (calls sent since the last halving).
    round_from: u64,
    /// The limit the last throttle came at (cap when none has).
    throttled_at: usize,
    successes: u32,
    errors_in_row: u32,
    failed_probes: u32,
    circuit: Circuit,
}

impl Gate {
    /// A gate for a version allowed `cap` calls at once (≥ 1).
    pub fn new(cfg: GateConfig, cap: usize) -> Gate {
        let cap = cap.max(1);
        Gate {
            cfg,
            cap,
            limit: cap,
            in_flight: 0,
            tickets: 0,
            round_from: 0,
            throttled_at: cap,
            successes: 0,
            errors_in_row: 0,
            failed_probes: 0,
            circuit: Circuit::Closed,
        }
    }

    /// The in-flight limit now.
    pub fn limit(&self) -> usize {
        self.limit
    }

    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The circuit as the progress stream shows it (one that gave up stays open).
    pub fn circuit(&self) -> CircuitState {
        match self.circuit {
            Circuit::Closed => CircuitState::Closed,
            Circuit::Open { .. } | Circuit::GaveUp => CircuitState::Open,
            Circuit::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Whether the version may send a test now (an open circuit whose cool-down is over turns
    /// half-open here).
    pub fn room(&mut self, now: Instant) -> Room {
        if let Circuit::Open { until } = self.circuit {
            if now < until {
                return Room::Wait(Some(until));
            }
            self.circuit = Circuit::HalfOpen { probe: None };
        }
        match self.circuit {
            Circuit::GaveUp => Room::GiveUp,
            Circuit::HalfOpen { probe: None } => Room::Send,
            Circuit::Closed if self.in_flight < self.limit => Room::Send,
            _ => Room::Wait(None),
        }
    }

    /// A test was sent; returns its ticket, to hand back to [`Gate::ended`].
    pub fn sent(&mut self) -> u64 {
        let ticket = self.tickets;
        self.tickets += 1;
        self.in_flight += 1;
        if let Circuit::HalfOpen {
            probe: probe @ None,
        } = &mut self.circuit
        {
            *probe = Some(ticket);
        }
        ticket
    }

    /// The call with this ticket ended so. Returns true when the limit or the circuit changed
    /// (worth reporting). Only the probe's own end decides a half-open circuit; calls sent
    /// before the circuit opened and still ending then count for nothing but an answer (which
    /// proves the app works).
    pub fn ended(&mut self, ticket: u64, signal: Signal, now: Instant) -> bool {
        self.in_flight = self.in_flight.saturating_sub(1);
        let before = (self.limit, self.circuit());
        let probe = self.circuit
            == Circuit::HalfOpen {
                probe: Some(ticket),
            };
        match signal {
            Signal::Answered => self.answered(),
            Signal::Throttled if self.limit == 1 => self.failed(now, probe),
            Signal::Throttled => {
                self.throttled(ticket);
                if probe {
                    // The app is up but busy: probe again.
                    self.circuit = Circuit::HalfOpen { probe: None };
                }
            }
            Signal::Failed => self.failed(now, probe),
            Signal::Refused if probe => self.close(),
            Signal::Refused => {}
        }
        before != (self.limit, self.circuit())
    }

    fn close(&mut self) {
        self.circuit = Circuit::Closed;
        self.failed_probes = 0;
        self.errors_in_row = 0;
    }

    fn answered(&mut self) {
        self.errors_in_row = 0;
        match self.circuit {
            // An answer, a probe's or a late one, proves the app works again.
            Circuit::HalfOpen { .. } | Circuit::Open { .. } => self.close(),
            Circuit::GaveUp => return,
            Circuit::Closed => {}
        }
        if !self.cfg.adaptive || self.limit >= self.cap {
            return;
        }
        self.successes += 1;
        let window = if self.limit + 1 < self.throttled_at {
            self.limit as u32
        } else {
            PROBE_WINDOW
        };
        if self.successes >= window {
            self.successes = 0;
            self.limit += 1;
        }
    }

    fn throttled(&mut self, ticket: u64) {
        self.successes = 0;
        // The calls still held are what the app admitted; this one was not.
        let held = self.in_flight.max(1);
        if ticket >= self.round_from {
            self.throttled_at = self.limit.min(held + 1);
            self.limit = (self.limit / 2).clamp(1, held);
            self.round_from = self.tickets;
        } else {
            self.throttled_at = self.throttled_at.min(held + 1);
            self.limit = self.limit.min(held);
        }
    }

    fn failed(&mut self, now: Instant, probe: bool) {
        self.successes = 0;
        self.errors_in_row = self.errors_in_row.saturating_add(1);
        let breaker = self.cfg.breaker_errors;
        match self.circuit {
            Circuit::Closed if breaker > 0 && self.errors_in_row >= breaker => self.open(now),
            Circuit::HalfOpen { .. } if probe => {
                self.failed_probes += 1;
                if self.failed_probes >= self.cfg.breaker_probes.max(1) {
                    self.circuit = Circuit::GaveUp;
                } else {
                    self.open(now);
                }
            }
            _ => {}
        }
    }

    fn open(&mut self, now: Instant) {
        self.circuit = Circuit::Open {
            until: now + self.cfg.breaker_cooldown,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> GateConfig {
        GateConfig {
            breaker_errors: 5,
            breaker_cooldown: Duration::from_secs(10),
            breaker_probes: 3,
            adaptive: true,
        }
    }

    /// Sends while the gate lets it, returning the tickets of the calls sent.
    fn fill(g: &mut Gate, now: Instant) -> Vec<u64> {
        let mut tickets = Vec::new();
        while g.room(now) == Room::Send {
            tickets.push(g.sent());
        }
        tickets
    }

    #[test]
    fn the_breaker_opens_after_n_errors_probes_and_closes_on_an_answer() {
        let t0 = Instant::now();
        let mut g = Gate::new(cfg(), 2);
        for i in 0..5 {
            assert_eq!(g.room(t0), Room::Send, "error {i}");
            let r = g.sent();
            let changed = g.ended(r, Signal::Failed, t0);
            assert_eq!(changed, i == 4, "only the fifth error opens it");
        }
        assert_eq!(g.circuit(), CircuitState::Open);
        assert_eq!(g.room(t0), Room::Wait(Some(t0 + Duration::from_secs(10))));
        let later = t0 + Duration::from_secs(10);
        assert_eq!(g.room(later), Room::Send, "one probe after the cool-down");
        assert_eq!(g.circuit(), CircuitState::HalfOpen);
        let probe = g.sent();
        assert_eq!(g.room(later), Room::Wait(None), "only one probe at a time");
        assert!(g.ended(probe, Signal::Answered, later));
        assert_eq!(g.circuit(), CircuitState::Closed);
        assert_eq!(fill(&mut g, later).len(), 2, "closed: the full limit again");
    }

    #[test]
    fn only_the_probe_decides_a_half_open_circuit() {
        let t0 = Instant::now();
        let mut g = Gate::new(cfg(), 8);
        let tickets = fill(&mut g, t0);
        for &t in &tickets[..5] {
            g.ended(t, Signal::Failed, t0);
        }
        assert_eq!(g.circuit(), CircuitState::Open);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(g.room(later), Room::Send);
        let probe = g.sent();
        // The calls sent before it opened fail now: not the probe's verdict.
        for &t in &tickets[5..] {
            g.ended(t, Signal::Failed, later);
        }
        assert_eq!(g.circuit(), CircuitState::HalfOpen);
        g.ended(probe, Signal::Failed, later);
        assert_eq!(g.circuit(), CircuitState::Open, "one failed probe of three");
        assert_ne!(g.room(later + Duration::from_secs(10)), Room::GiveUp);
    }

    #[test]
    fn failing_probes_give_up_after_the_configured_number() {
        let t0 = Instant::now();
        let mut g = Gate::new(cfg(), 4);
        for _ in 0..5 {
            let r = g.sent();
            g.ended(r, Signal::Failed, t0);
        }
        let mut now = t0;
        for probe in 1..=3 {
            now += Duration::from_secs(10);
            assert_eq!(g.room(now), Room::Send, "probe {probe}");
            let r = g.sent();
            g.ended(r, Signal::Failed, now);
        }
        assert_eq!(g.room(now + Duration::from_secs(60)), Room::GiveUp);
        assert_eq!(g.circuit(), CircuitState::Open);
    }

    #[test]
    fn an_answer_resets_the_error_streak_and_zero_turns_the_breaker_off() {
        let t0 = Instant::now();
        let mut g = Gate::new(cfg(), 1);
        for _ in 0..4 {
            let r = g.sent();
            g.ended(r, Signal::Failed, t0);
        }
        let r = g.sent();
        g.ended(r, Signal::Answered, t0);
        for _ in 0..4 {
            let r = g.sent();
            g.ended(r, Signal::Failed, t0);
        }
        assert_eq!(g.circuit(), CircuitState::Closed, "4 + 4 is no streak of 5");
        // Refusals (a bad key, invalid inputs) neither count nor break the streak.
        let r = g.sent();
        g.ended(r, Signal::Refused, t0);
        let r = g.sent();
        g.ended(r, Signal::Failed, t0);
        assert_eq!(
            g.circuit(),
            CircuitState::Open,
            "the fifth transient error in a row"
        );

        let off = GateConfig {
            breaker_errors: 0,
            ..cfg()
        };
        let mut g = Gate::new(off, 1);
        for _ in 0..100 {
            let r = g.sent();
            g.ended(r, Signal::Failed, t0);
        }
        assert_eq!(g.room(t0), Room::Send);
    }

    #[test]
    fn a_burst_into_a_ceiling_settles_at_the_calls_the_app_held() {
        // 32 sent at once into an app that admits 4: 28 throttles come back first.
        let t0 = Instant::now();
        let mut g = Gate::new(cfg(), 32);
        let rounds = fill(&mut g, t0);
        assert_eq!(rounds.len(), 32);
        assert!(g.ended(rounds[0], Signal::Throttled, t0));
        assert_eq!(g.limit(), 16, "the first throttle halves");
        for &r in &rounds[1..28] {
            g.ended(r, Signal::Throttled, t0);
        }
        assert_eq!(
            g.limit(),
            4,
            "the later ones of that round: down to the calls held"
        );
        assert_eq!(g.in_flight(), 4);
        assert_eq!(g.room(t0), Room::Wait(None));
    }

    #[test]
    fn aimd_adds_one_per_round_up_to_below_the_refused_level_then_probes_slowly() {
        let t0 = Instant::now();
        let mut g = Gate::new(cfg(), 10);
        // All 10 sent; one throttled while the other 9 are held: the app refused the 10th.
        let rounds = fill(&mut g, t0);
        assert!(g.ended(rounds[0], Signal::Throttled, t0));
        assert_eq!(g.limit(), 5);
        for &r in &rounds[1..] {
            g.ended(r, Signal::Answered, t0);
        }
        let mut answers = 0;
        while g.limit() < 9 {
            let r = g.sent();
            g.ended(r, Signal::Answered, t0);
            answers += 1;
        }
        // 5 → 9 with a limit's worth of answers each; 9 answers went in while the round's
        // other calls ended.
        assert_eq!(answers + 9, 5 + 6 + 7 + 8);
        let mut answers = 0;
        while g.limit() < 10 {
            let r = g.sent();
            g.ended(r, Signal::Answered, t0);
            answers += 1;
        }
        assert_eq!(
            answers, PROBE_WINDOW,
            "the refused level is tried again slowly"
        );
        for _ in 0..500 {
            let r = g.sent();
            g.ended(r, Signal::Answered, t0);
        }
        assert_eq!(g.limit(), 10, "never above the cap");
    }

    #[test]
    fn steady_against_a_ceiling_of_four_one_throttle_per_cycle() {
        // The app admits 4. From the burst's 4, a cycle is: probe 5 (a probe window), refused,
        // halve to 2, climb 2 → 3 → 4 (a round each): one throttle per 64 + 2 + 3 answers.
        let t0 = Instant::now();
        let mut g = Gate::new(cfg(), 32);
        let rounds = fill(&mut g, t0);
        for &r in &rounds[..28] {
            g.ended(r, Signal::Throttled, t0);
        }
        assert_eq!(g.limit(), 4);
        let (mut answers, mut throttles) = (0u32, 0u32);
        let mut held: Vec<u64> = rounds[28..].to_vec();
        while answers < 10 * (PROBE_WINDOW + 5) {
            // The oldest held call ends answered; then fill up to the limit, refusing a 5th.
            let r = held.remove(0);
            g.ended(r, Signal::Answered, t0);
            answers += 1;
            while g.room(t0) == Room::Send {
                let r = g.sent();
                if held.len() >= 4 {
                    g.ended(r, Signal::Throttled, t0);
                    throttles += 1;
                } else {
                    held.push(r);
                }
            }
        }
        assert!(
            (9..=11).contains(&throttles),
            "{throttles} throttles in {answers}"
        );
    }

    #[test]
    fn throttles_at_a_limit_of_one_count_towards_the_breaker() {
        let t0 = Instant::now();
        let mut g = Gate::new(cfg(), 1);
        for _ in 0..5 {
            let r = g.sent();
            g.ended(r, Signal::Throttled, t0);
        }
        assert_eq!(g.limit(), 1);
        assert_eq!(g.circuit(), CircuitState::Open);
    }

    #[test]
    fn without_adaptive_the_limit_stays_at_the_cap() {
        let t0 = Instant::now();
        let mut g = Gate::new(
            GateConfig {
                adaptive: false,
                ..cfg()
            },
            6,
        );
        let r = g.sent();
        g.ended(r, Signal::Answered, t0);
        assert_eq!(g.limit(), 6);
    }
}
