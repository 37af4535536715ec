//! Simulator-only request counters, so a test can prove how many calls a run made (that a second
//! identical batch makes no judge call, say): `GET /v1/sim/stats`, without auth, answers
//! `{"chat_completions": n, "embeddings": n, "dify_calls": n}`.
//!
//! Each counts requests *received* since the simulator started, every attempt and every
//! rejected one included: `chat_completions` and `embeddings` their routes, `dify_calls` the
//! Dify generation routes (chat, completion and workflow runs; not stop, info or parameters).
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
}

impl Counters {
    fn snapshot(&self) -> Value {
        json!({
            "chat_completions": self.chat_completions.load(Ordering::Relaxed),
            "embeddings": self.embeddings.load(Ordering::Relaxed),
            "dify_calls": self.dify_calls.load(Ordering::Relaxed),
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
        c.dify_calls.fetch_add(2, Ordering::Relaxed);
        c.chat_completions.fetch_add(1, Ordering::Relaxed);
        assert_eq!(
            c.snapshot(),
            json!({"chat_completions": 1, "embeddings": 0, "dify_calls": 2})
        );
    }
}
