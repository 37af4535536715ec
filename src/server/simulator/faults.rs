//! Fault injection: which fault a request suffers (drawn from the profile, or forced by a key
//! token), the per-(key, question) attempt ledger that keeps draws repeatable, and Dify's per-app
//! concurrency ceiling. Rendering a fault on the wire is `handlers`' and `generate`'s business.
//!
//! Profile rates, per request, from one uniform draw in 0..1000 (disjoint bands):
//!
//! | fault                                   | flaky | hostile |
//! |-----------------------------------------|-------|---------|
//! | 429 `too_many_requests` + `Retry-After` |  5.0% |   8.0%  |
//! | 429 `too_many_requests`, no Retry-After |   –   |   8.0%  |
//! | 500 `internal_server_error`             |  3.0% |   8.0%  |
//! | HTML 504 after 2 × latency              |   –   |   4.0%  |
//! | mid-stream `error` event (blocking: 500)|  2.0% |   5.0%  |
//! | cut connection mid-body                 |   –   |   5.0%  |
//! | slow first byte (+2 s)                  |   –   |   3.0%  |
//! | malformed JSON body / data frame        |   –   |   4.0%  |
//! | total                                   | 10.0% |  45.0%  |
//!
//! Hostile also caps each key at [`APP_MAX_ACTIVE_REQUESTS`] requests in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;

use super::keys::KeyToken;
use super::FaultProfile;

/// Dify's `APP_MAX_ACTIVE_REQUESTS`-style ceiling under the Hostile profile.
pub(super) const APP_MAX_ACTIVE_REQUESTS: u32 = 8;

/// The ledger forgets everything past this many (key, question) pairs rather than grow forever
/// in a long-running `mock-dify`; a forgotten pair simply starts again at attempt 0.
const LEDGER_CAPACITY: usize = 1_000_000;

/// An `error` event's payload (and, in blocking mode, the JSON error it becomes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StreamError {
    pub status: u16,
    pub code: &'static str,
    pub message: &'static str,
}

pub(super) const STREAM_INTERNAL: StreamError = StreamError {
    status: 500,
    code: "internal_server_error",
    message: "Internal Server Error, please contact support.",
};

pub(super) const STREAM_COMPLETION_400: StreamError = StreamError {
    status: 400,
    code: "completion_request_error",
    message: "[simulated] Rate Limit Error: the model provider rejected the request.",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    TooManyRequests {
        retry_after: bool,
    },
    Quota,
    Internal,
    GatewayTimeoutHtml {
        after: Duration,
    },
    MidStream(StreamError),
    Cut,
    SlowFirstByte(Duration),
    BadJson,
    /// 401 `unauthorized` after the latency: the key was deleted (`revoked<N>`).
    Revoked,
}

/// A profile's fault for one request; `latency` is the configured base latency (the HTML 504
/// arrives after twice that, as a gateway gives up on a slow upstream).
pub(super) fn draw(profile: FaultProfile, latency: Duration, rng: &mut impl Rng) -> Option<Fault> {
    let r: u32 = rng.gen_range(0..1000);
    match profile {
        FaultProfile::None => None,
        FaultProfile::Flaky => match r {
            0..50 => Some(Fault::TooManyRequests { retry_after: true }),
            50..80 => Some(Fault::Internal),
            80..100 => Some(Fault::MidStream(STREAM_INTERNAL)),
            _ => None,
        },
        FaultProfile::Hostile => match r {
            0..80 => Some(Fault::TooManyRequests { retry_after: true }),
            80..160 => Some(Fault::TooManyRequests { retry_after: false }),
            160..240 => Some(Fault::Internal),
            240..280 => Some(Fault::GatewayTimeoutHtml {
                after: latency.saturating_mul(2),
            }),
            280..330 => Some(Fault::MidStream(STREAM_INTERNAL)),
            330..380 => Some(Fault::Cut),
            380..410 => Some(Fault::SlowFirstByte(Duration::from_secs(2))),
            410..450 => Some(Fault::BadJson),
            _ => None,
        },
    }
}

/// The fault a key token forces; `attempt` counts earlier requests for the same (key, question).
pub(super) fn forced(token: KeyToken, attempt: u32) -> Option<Fault> {
    match token {
        KeyToken::Ok
        | KeyToken::EndOrder
        | KeyToken::UnknownEvents
        | KeyToken::Sampled
        | KeyToken::Scripted
        | KeyToken::Judge
        | KeyToken::Nodes(_)
        | KeyToken::NoPin
        | KeyToken::NoInfo
        | KeyToken::StrictForm
        | KeyToken::Forget
        | KeyToken::Ceiling(_) => None,
        // Counted per key by the handler, which knows the key's request number.
        KeyToken::Outage { .. } | KeyToken::Revoked { .. } => None,
        KeyToken::TooManyRequests => Some(Fault::TooManyRequests { retry_after: true }),
        KeyToken::TooManyRequestsNoRetryAfter => {
            Some(Fault::TooManyRequests { retry_after: false })
        }
        KeyToken::Quota => Some(Fault::Quota),
        KeyToken::Internal => Some(Fault::Internal),
        KeyToken::GatewayTimeoutHtml => Some(Fault::GatewayTimeoutHtml {
            after: Duration::from_millis(200),
        }),
        KeyToken::MidstreamError => Some(Fault::MidStream(STREAM_INTERNAL)),
        KeyToken::StreamError400 => Some(Fault::MidStream(STREAM_COMPLETION_400)),
        KeyToken::Cut => Some(Fault::Cut),
        KeyToken::Slow => Some(Fault::SlowFirstByte(Duration::from_secs(5))),
        KeyToken::BadJson => Some(Fault::BadJson),
        KeyToken::Flaky1 => (attempt == 0).then_some(Fault::Internal),
    }
}

/// Counts requests per (key, question) hash, so the n-th attempt at a question draws the same
/// fault in every run however requests interleave.
#[derive(Default)]
pub(super) struct AttemptLedger {
    seen: Mutex<HashMap<u64, u32>>,
}

impl AttemptLedger {
    /// This request's attempt number (0 for the first), counting it.
    pub(super) fn next(&self, pair: u64) -> u32 {
        let mut seen = self.seen.lock();
        if seen.len() >= LEDGER_CAPACITY && !seen.contains_key(&pair) {
            seen.clear();
        }
        let n = seen.entry(pair).or_insert(0);
        let attempt = *n;
        *n = n.saturating_add(1);
        attempt
    }
}

/// Requests in flight per key. A slot is held by a [`Slot`] guard, which a streaming response
/// keeps inside its body, so the slot frees when the body ends or the client goes away.
#[derive(Default, Clone)]
pub(super) struct ConcurrencyCeiling {
    active: Arc<Mutex<HashMap<u64, u32>>>,
}

impl ConcurrencyCeiling {
    pub(super) fn try_acquire(&self, app: u64, limit: u32) -> Option<Slot> {
        let mut active = self.active.lock();
        let n = active.entry(app).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Slot {
            active: Arc::clone(&self.active),
            app,
        })
    }

    #[cfg(test)]
    fn in_flight(&self, app: u64) -> u32 {
        self.active.lock().get(&app).copied().unwrap_or(0)
    }
}

pub(super) struct Slot {
    active: Arc<Mutex<HashMap<u64, u32>>>,
    app: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut active = self.active.lock();
        if let Some(n) = active.get_mut(&self.app) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                active.remove(&self.app);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rng::StableHash;
    use super::*;

    fn draws(profile: FaultProfile, seed: u64) -> Vec<Option<Fault>> {
        (0..2000u64)
            .map(|i| {
                let mut rng = StableHash::new("fault").u64(seed).u64(i).rng();
                draw(profile, Duration::from_millis(100), &mut rng)
            })
            .collect()
    }

    #[test]
    fn draws_repeat_for_the_same_seed() {
        assert_eq!(
            draws(FaultProfile::Hostile, 7),
            draws(FaultProfile::Hostile, 7)
        );
        assert_ne!(
            draws(FaultProfile::Hostile, 7),
            draws(FaultProfile::Hostile, 8)
        );
    }

    #[test]
    fn rates_are_roughly_as_documented() {
        let rate =
            |profile| draws(profile, 1).iter().filter(|f| f.is_some()).count() as f64 / 2000.0;
        assert_eq!(rate(FaultProfile::None), 0.0);
        let flaky = rate(FaultProfile::Flaky);
        let hostile = rate(FaultProfile::Hostile);
        assert!((0.06..0.14).contains(&flaky), "{flaky}");
        assert!((0.39..0.51).contains(&hostile), "{hostile}");
        let cuts = draws(FaultProfile::Hostile, 1)
            .into_iter()
            .filter(|f| *f == Some(Fault::Cut))
            .count();
        assert!((50..150).contains(&cuts), "{cuts}");
    }

    #[test]
    fn flaky1_fails_only_the_first_attempt() {
        assert_eq!(forced(KeyToken::Flaky1, 0), Some(Fault::Internal));
        assert_eq!(forced(KeyToken::Flaky1, 1), None);
        assert_eq!(forced(KeyToken::Ok, 0), None);
    }

    #[test]
    fn ledger_counts_per_pair() {
        let ledger = AttemptLedger::default();
        assert_eq!(ledger.next(1), 0);
        assert_eq!(ledger.next(1), 1);
        assert_eq!(ledger.next(2), 0);
        assert_eq!(ledger.next(1), 2);
    }

    #[test]
    fn ceiling_admits_up_to_the_limit_and_frees_on_drop() {
        let ceiling = ConcurrencyCeiling::default();
        let held: Vec<Slot> = (0..3).filter_map(|_| ceiling.try_acquire(5, 3)).collect();
        assert_eq!(held.len(), 3);
        assert!(ceiling.try_acquire(5, 3).is_none());
        assert!(
            ceiling.try_acquire(6, 3).is_some(),
            "other apps have their own slots"
        );
        drop(held);
        assert_eq!(ceiling.in_flight(5), 0);
        assert!(ceiling.try_acquire(5, 3).is_some());
    }
}
