//! Simulator-only request counters, so a test can prove how many calls a run made (that a second
//! identical batch makes no judge call, say): `GET /v1/sim/stats`, without auth, answers
//! `{"chat_completions": n, "embeddings": n, "dify_calls": n, "dify_in_flight": n,
//! "dify_peak_in_flight": n, "dify_throttled": n, "first_dify_call_unix_us": n | null}`.
//!
//! Each counts requests *received* since the simulator started, every attempt and every
//! rejected one included: `chat_completions` and `embeddings` their routes, `dify_calls` the
//! Dify generation routes (chat, completion and workflow runs; not stop, info or parameters).
//! `dify_in_flight` is how many of those are being answered now and `dify_peak_in_flight` the
//! most at once (a blocking answer is in flight until it is sent; a streamed one until its
//! headers are), so a test can prove a concurrency limit held across several callers.
//! `dify_throttled` counts the Dify calls answered 429 `too_many_requests` (the app-level
//! ceiling, or a fault that imitates it).
//! `first_dify_call_unix_us` is when the first of those calls arrived (µs since the Unix epoch,
//! null before any), so a script can time a client's start-up from outside: exec to first call.
//! Real Dify and OpenAI have no such route.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::SimState;

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub chat_completions: AtomicU64,
    pub embeddings: AtomicU64,
    pub dify_calls: AtomicU64,
    pub dify_in_flight: AtomicU64,
    pub dify_peak_in_flight: AtomicU64,
    pub dify_throttled: AtomicU64,
    /// µs since the Unix epoch of the first Dify call; 0 before any.
    pub first_dify_call_unix_us: AtomicU64,
}

/// One Dify call being answered; counted in `dify_in_flight` until dropped.
pub(super) struct InFlight<'a>(&'a Counters);

impl Counters {
    pub(super) fn call_started(&self) -> InFlight<'_> {
        if self.dify_calls.fetch_add(1, Ordering::Relaxed) == 0 {
            // Only the first call reads the clock; `max(1)` keeps 0 meaning "none yet".
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_micros() as u64)
                .max(1);
            let _ = self.first_dify_call_unix_us.compare_exchange(
                0,
                now,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
        let now = self.dify_in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.dify_peak_in_flight.fetch_max(now, Ordering::AcqRel);
        InFlight(self)
    }

    /// A Dify call answered 429 `too_many_requests`.
    pub(super) fn throttled(&self) {
        self.dify_throttled.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dify_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Counters {
    fn snapshot(&self) -> Value {
        json!({
            "chat_completions": self.chat_completions.load(Ordering::Relaxed),
            "embeddings": self.embeddings.load(Ordering::Relaxed),
            "dify_calls": self.dify_calls.load(Ordering::Relaxed),
            "dify_in_flight": self.dify_in_flight.load(Ordering::Relaxed),
            "dify_peak_in_flight": self.dify_peak_in_flight.load(Ordering::Relaxed),
            "dify_throttled": self.dify_throttled.load(Ordering::Relaxed),
            "first_dify_call_unix_us": match self.first_dify_call_unix_us.load(Ordering::Relaxed) {
                0 => Value::Null,
                us => Value::from(us),
            },
        })
    }
}

pub(super) async fn stats(State(sim): State<SimState>) -> Json<Value> {
    Json(sim.counters.snapshot())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_names_every_counter() {
        let c = Counters::default();
        assert_eq!(c.snapshot()["first_dify_call_unix_us"], Value::Null);
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        let first = c.call_started();
        let at = c.first_dify_call_unix_us.load(Ordering::Relaxed);
        assert!(at >= before && at < before + 60_000_000, "{at} vs {before}");
        {
            let _second = c.call_started();
        }
        c.chat_completions.fetch_add(1, Ordering::Relaxed);
        // Stays the first call's time.
        assert_eq!(c.first_dify_call_unix_us.load(Ordering::Relaxed), at);
        assert_eq!(
            c.snapshot(),
            json!({"chat_completions": 1, "embeddings": 0, "dify_calls": 2,
                   "dify_in_flight": 1, "dify_peak_in_flight": 2, "dify_throttled": 0,
                   "first_dify_call_unix_us": at})
        );
        drop(first);
        assert_eq!(c.snapshot()["dify_in_flight"], 0);
    }
}
