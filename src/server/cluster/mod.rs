//! Several instances on one PostgreSQL (issue #13): what one instance tells the others, over
//! PostgreSQL's `LISTEN/NOTIFY` (no other service), and the heartbeat that keeps its leases.
//!
//! - **Work** is shared by leases in the store (`store::work`): every instance runs a runner for
//!   every open batch, and each runner claims tests. This module makes every instance *join*
//!   every open batch: told on [`BATCH_CHANNEL`] when one opens, and by the heartbeat's sweep in
//!   case a note was missed.
//! - **Cancel anywhere**: a cancel ends the batch in the store, then is told on
//!   [`CANCEL_CHANNEL`]; every instance stops its runner of it at once.
//! - **Identical progress**: a runner that stored results tells the others the new tallies of
//!   their versions on [`PROGRESS_CHANNEL`] (`relay`); each instance applies the newest it hears,
//!   so every registry shows what the store holds. The end of a batch is told on
//!   [`BATCH_CHANNEL`], and every instance then sends the terminal event from the store's record.
//!   A lost connection is re-established and the registries re-read from the store.
//!
//! SQLite is one instance (`store::InstanceLock`), so none of this runs there.

pub mod relay;

use crate::model::{BatchId, VersionId};
use crate::server::runner::Engine;
use crate::server::store::{InstanceId, LiveTally, Store, StoreResult};
use relay::BatchEvent;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Cancels travel here; the payload is the batch id.
pub const CANCEL_CHANNEL: &str = "dify_bench_cancel";
/// New tallies of a batch's versions (`relay::ProgressNote`).
pub const PROGRESS_CHANNEL: &str = "dify_bench_progress";
/// A batch opened or ended (`relay::BatchNote`).
pub const BATCH_CHANNEL: &str = "dify_bench_batch";

/// How long an instance's leases outlive its last heartbeat, unless set
/// (`--lease-ms` / `DIFY_BENCH_LEASE_MS`): the longest a vanished instance's tests wait.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// The shortest lease accepted: heartbeats come four times per lease.
pub const MIN_LEASE: Duration = Duration::from_millis(400);

/// This instance's part in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub instance: InstanceId,
    pub lease: Duration,
}

impl Membership {
    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// How often the heartbeat renews the leases: four times per lease.
    pub fn heartbeat(&self) -> Duration {
        self.lease / 4
    }
}

/// Registers this process as an instance (PostgreSQL only): None on SQLite.
pub async fn register(store: &Store, lease: Duration) -> StoreResult<Option<Membership>> {
    if store.pg_pool().is_none() {
        return Ok(None);
    }
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    let instance = store.register_instance(&host, std::process::id()).await?;
    tracing::info!(
        instance = %instance,
        lease_ms = lease.as_millis() as u64,
        "joined the instances serving this database: tests are claimed by leases"
    );
    Ok(Some(Membership { instance, lease }))
}

async fn notify(store: &Store, channel: &str, payload: &str) -> StoreResult<()> {
    if let Some(pool) = store.pg_pool() {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Tells every instance listening on the database to cancel `id` if it runs it. False on SQLite
/// (there is no other instance to tell).
pub async fn announce_cancel(store: &Store, id: BatchId) -> StoreResult<bool> {
    if store.pg_pool().is_none() {
        return Ok(false);
    }
    notify(store, CANCEL_CHANNEL, &id.0.to_string()).await?;
    Ok(true)
}

/// Tells the others that `batch` opened (they join it) or ended (they send its terminal event).
pub async fn announce_batch(
    store: &Store,
    me: InstanceId,
    batch: BatchId,
    event: BatchEvent,
) -> StoreResult<()> {
    notify(store, BATCH_CHANNEL, &relay::encode_batch(me, batch, event)).await
}

/// Tells the others the new tallies of `batch`'s versions.
pub async fn publish_progress(
    store: &Store,
    me: InstanceId,
    batch: BatchId,
    tallies: &[LiveTally],
    current: Option<(VersionId, &str)>,
) -> StoreResult<()> {
    for payload in relay::encode_progress(me, batch, tallies, current) {
        notify(store, PROGRESS_CHANNEL, &payload).await?;
    }
    Ok(())
}

/// Listens on the three channels until `stop` and keeps the heartbeat. Each lost connection is
/// re-established, and what may have been missed meanwhile is read from the store.
pub fn spawn(engine: Arc<Engine>, member: Membership, stop: CancellationToken) {
    let Some(pool) = engine.store().pg_pool().cloned() else {
        return;
    };
    tokio::spawn(heartbeat(engine.clone(), member, stop.clone()));
    tokio::spawn(async move {
        loop {
            let listened = async {
                let mut listener = PgListener::connect_with(&pool).await?;
                listener
                    .listen_all([CANCEL_CHANNEL, PROGRESS_CHANNEL, BATCH_CHANNEL])
                    .await?;
                tracing::info!("listening to the other instances");
                // Whatever was said while this listener was down.
                engine.reconcile().await;
                loop {
                    let n = listener.recv().await?;
                    heard(&engine, member, n.channel(), n.payload()).await;
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            tokio::select! {
                () = stop.cancelled() => return,
                result = listened => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "the cluster listener lost the database; retrying");
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

async fn heard(engine: &Arc<Engine>, member: Membership, channel: &str, payload: &str) {
    match channel {
        CANCEL_CHANNEL => match payload.parse::<i64>() {
            Ok(id) if engine.cancel_here(BatchId(id)) => {
                tracing::info!(batch = id, "batch cancelled from another instance");
            }
            Ok(_) => {}
            Err(_) => tracing::warn!(payload, "a cancel that names no batch"),
        },
        PROGRESS_CHANNEL => match relay::decode_progress(payload) {
            Some(note) if note.sender() != member.instance => {
                let registry = engine.registry();
                for tally in note.tallies() {
                    registry.apply_tally(note.batch(), &tally, 0);
                }
                if let Some((version, case)) = note.current() {
                    registry.remote_test(note.batch(), version, case);
                }
            }
            Some(_) => {}
            None => tracing::warn!(payload, "unreadable progress from another instance"),
        },
        BATCH_CHANNEL => match relay::decode_batch(payload) {
            Some(note) if note.i == member.instance.0 => {}
            Some(note) => match note.e {
                BatchEvent::Open => engine.join(BatchId(note.b)).await,
                BatchEvent::End => engine.ended_elsewhere(BatchId(note.b)).await,
            },
            None => tracing::warn!(payload, "unreadable batch note from another instance"),
        },
        _ => {}
    }
}

/// Renews this instance's leases four times per lease, and sweeps: joins open batches it has
/// not heard of, ends the ones that ended unheard. An instance another forgot (it was silent
/// far longer than a lease) registers again under its old id's work being lost to it.
async fn heartbeat(engine: Arc<Engine>, member: Membership, stop: CancellationToken) {
    let mut tick = tokio::time::interval(member.heartbeat());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweeps = 0u32;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Forgotten after 100 leases of silence: far beyond any pause that keeps it useful.
        match engine
            .store()
            .heartbeat(member.instance, member.lease_ms().saturating_mul(100))
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::error!(
                instance = %member.instance,
                "this instance was forgotten by the others (silent for too long); restart it"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed; leases expire unless it recovers")
            }
        }
        // The sweep, once per lease: the notes are the fast path, this is the safety net.
        sweeps += 1;
        if sweeps.is_multiple_of(4) {
            engine.reconcile().await;
        }
    }
}
