//! The graceful stop of `serve` on SIGTERM or ctrl-c, in order, each step bounded so the whole
//! fits in the 10 s that `docker stop` and most service managers give before SIGKILL (at most
//! 5.5 + 2 + 1 s here, and 0.5 s for the runtime's blocking threads in `main`):
//!
//! 1. **No new work** — the listener stops accepting connections, and the engine starts no batch
//!    (`start_batch` and `rerun_failed` answer 503).
//! 2. **Runners stop** (≤ [`CALL_GRACE`] 3 s + [`WRITER_DRAIN`] 2 s + 0.5 s): each running
//!    batch stops dispatching; its calls in flight may finish within the grace (an answer
//!    received is not paid for twice), the rest are cancelled; the answers received are stored;
//!    the batch stays `running` in the store, so the next start resumes it with the tests that
//!    have no result.
//! 3. **Streams close** — every progress stream ends (the registry drops its channels), so the
//!    HTTP server's graceful stop is not held open by them.
//! 4. **HTTP drains** (≤ [`HTTP_DRAIN`]): requests already being answered finish.
//! 5. **The store closes** (≤ [`STORE_CLOSE`]).
//!
//! What a step leaves when its time is up is logged, and the stop goes on: a batch still running
//! simply resumes on the next start, like after a crash.
//!
//! It owns the order and the bounds; the runner owns how a batch stops ([`Engine::shutdown`]).

use crate::server::runner::{Engine, CALL_GRACE, WRITER_DRAIN};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long the runners may take to stop: their grace and drain, plus a margin for the
/// bookkeeping between them.
pub const RUNNERS_STOP: Duration = CALL_GRACE
    .saturating_add(WRITER_DRAIN)
    .saturating_add(Duration::from_millis(500));
/// How long requests being answered may take once the streams are closed. Server functions
/// answer in milliseconds; an export of a large batch is cut after this (the client can retry).
pub const HTTP_DRAIN: Duration = Duration::from_secs(2);
/// How long the store may take to close its connections.
pub const STORE_CLOSE: Duration = Duration::from_secs(1);

/// Runs the steps above. `stop_accepting` starts the HTTP server's graceful stop; `server` is
/// the server's future, which ends once its connections have.
pub async fn graceful<S>(engine: &Arc<Engine>, stop_accepting: impl FnOnce(), server: S)
where
    S: Future<Output = std::io::Result<()>>,
{
    let running = engine.running();
    tracing::info!(
        running_batches = running.len(),
        "shutting down: no new batches; running ones stop and resume on the next start"
    );
    stop_accepting();

    let report = engine.shutdown(RUNNERS_STOP).await;
    if !report.still_running.is_empty() {
        tracing::warn!(
            batches = ?report.still_running,
            waited_ms = RUNNERS_STOP.as_millis() as u64,
            "these batches had not stopped in time; they resume on the next start, and any \
             answer they had not stored is asked again"
        );
    }

    let streams = engine.registry().close_all();
    tracing::info!(batches = streams, "progress streams closed");

    match tokio::time::timeout(HTTP_DRAIN, server).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP server ended with an error"),
        Err(_) => tracing::warn!(
            waited_s = HTTP_DRAIN.as_secs(),
            "HTTP connections still open after the drain time were dropped"
        ),
    }

    if tokio::time::timeout(STORE_CLOSE, engine.store().close())
        .await
        .is_err()
    {
        tracing::warn!("the database connections did not close in time; exiting anyway");
    }
    tracing::info!(
        interrupted = ?report.interrupted,
        "stopped; interrupted batches resume on the next start"
    );
}
