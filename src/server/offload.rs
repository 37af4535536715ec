//! CPU-bound work that must not run on the async worker threads: compiling users' regexes,
//! scoring very long answers, parsing an import. A worker thread busy for milliseconds stalls
//! every request, progress stream and Dify call scheduled on it, so such work goes to Tokio's
//! blocking pool. Small work stays inline: a hop to the pool costs about as much as scoring a
//! typical answer, and the runner's per-test CPU is benchmarked.
//!
//! It owns the thresholds and the hop, not the work: scoring and parsing stay plain functions.

use crate::model::{Assertion, TestCase};

/// Answers at least this long are scored on the blocking pool. Scoring costs 12–16 ns a byte
/// (release build, English and Chinese answers with three keywords, a similarity and two
/// assertions; 2 KiB: 25–35 µs, 64 KiB: 0.8–1 ms, 1 MiB: 13–16 ms), so from 8 KiB on it passes
/// the ~100 µs a task should run between awaits. Typical answers (the simulator's, most RAG
/// apps') are 0.5–4 KiB and stay inline. (Compiling a regex costs far more — a
/// `(\w+\s+){1,8}…` pattern takes 2.5 ms — hence [`compiles_regex`].)
pub const LONG_ANSWER_BYTES: usize = 8 * 1024;

/// Work off the async threads failed to give an answer.
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Runs `work` on the blocking pool. A panic in `work` is resumed here, as if it had run inline.
pub async fn cpu<T, F>(work: F) -> Result<T, OffloadError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(OffloadError::ShuttingDown),
    }
}

/// Runs `work` on the blocking pool when `heavy`, else here and now.
pub async fn cpu_if<T, F>(heavy: bool, work: F) -> Result<T, OffloadError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if heavy {
        cpu(work).await
    } else {
        Ok(work())
    }
}

/// Whether building these assertions compiles a regex (the costly part of a case plan).
pub fn compiles_regex(assertions: &[Assertion]) -> bool {
    assertions.iter().any(|a| {
        matches!(
            a,
            Assertion::Regex { .. } | Assertion::NodeOutputMatches { .. }
        )
    })
}

/// Whether any of these cases has a regex to compile.
pub fn any_regex(cases: &[TestCase]) -> bool {
    cases.iter().any(|c| {
        compiles_regex(&c.assertions) || c.turns.iter().any(|t| compiles_regex(&t.assertions))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_inline_or_on_the_pool_with_the_same_result() {
        let here = std::thread::current().id();
        let (value, thread) = cpu_if(false, move || (2 + 2, std::thread::current().id()))
            .await
            .unwrap();
        assert_eq!((value, thread), (4, here));
        let (value, thread) = cpu_if(true, move || (2 + 2, std::thread::current().id()))
            .await
            .unwrap();
        assert_eq!(value, 4);
        assert_ne!(thread, here, "heavy work leaves the async thread");
    }

    #[tokio::test]
    #[should_panic(expected = "boom")]
    async fn a_panic_on_the_pool_is_resumed() {
        let _ = cpu(|| panic!("boom")).await;
    }

    #[test]
    fn only_regex_assertions_count_as_compiling() {
        assert!(!compiles_regex(&[Assertion::MaxLatencyMs { ms: 5 }]));
        assert!(compiles_regex(&[
            Assertion::Contains { value: "x".into() },
            Assertion::Regex {
                pattern: "a+".into()
            },
        ]));
    }
}
