//! Several instances on one PostgreSQL: what one instance tells the others, over PostgreSQL's
//! `LISTEN/NOTIFY` (no other service). Today that is a **cancel**: a cancel sent to any instance
//! reaches the one running the batch within moments. Work shared by leases, and progress relayed
//! between instances, are the next steps of issue #13 and are not here yet.
//!
//! SQLite is one instance (`store::InstanceLock`), so none of this runs there.

use crate::model::BatchId;
use crate::server::runner::Engine;
use crate::server::store::{Store, StoreResult};
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The channel cancels travel on; the payload is the batch id.
pub const CANCEL_CHANNEL: &str = "dify_bench_cancel";

/// Tells every instance listening on the database to cancel `id` if it runs it. False on SQLite
/// (there is no other instance to tell).
pub async fn announce_cancel(store: &Store, id: BatchId) -> StoreResult<bool> {
    let Some(pool) = store.pg_pool() else {
        return Ok(false);
    };
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CANCEL_CHANNEL)
        .bind(id.0.to_string())
        .execute(pool)
        .await?;
    Ok(true)
}

/// On PostgreSQL, listens for cancels until `stop`, cancelling the batches this instance runs.
/// A lost connection is re-established. A cancel sent while this listener was down reaches the
/// sender's fallback instead (`Engine::cancel_batch` marks the batch cancelled in the store when
/// no instance ended it), but the calls running here then go on until the batch's end: closing
/// that gap needs the leases of issue #13 (an instance re-reads what it may run).
pub fn spawn_listener(engine: Arc<Engine>, stop: CancellationToken) {
    let Some(pool) = engine.store().pg_pool().cloned() else {
        return;
    };
    tokio::spawn(async move {
        loop {
            let listened = async {
                let mut listener = PgListener::connect_with(&pool).await?;
                listener.listen(CANCEL_CHANNEL).await?;
                tracing::info!(
                    channel = CANCEL_CHANNEL,
                    "listening for cancels from other instances"
                );
                loop {
                    let n = listener.recv().await?;
                    match n.payload().parse::<i64>() {
                        Ok(id) if engine.cancel_here(BatchId(id)) => {
                            tracing::info!(batch = id, "batch cancelled from another instance");
                        }
                        Ok(_) => {}
                        Err(_) => {
                            tracing::warn!(payload = n.payload(), "a cancel that names no batch")
                        }
                    }
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            tokio::select! {
                () = stop.cancelled() => return,
                result = listened => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "the cancel listener lost the database; retrying");
                    }
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    });
}
