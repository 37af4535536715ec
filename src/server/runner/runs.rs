//! Which batches run in this process: one entry per runner, with the token that cancels it. It is
//! the in-process half of "one runner per batch" (the store's conditional claim is the other) and
//! where the running-batches cap and shutdown's "no new runner" are decided — each under one lock,
//! so two requests can never both take the last place or both start the same batch.
//!
//! A place is taken before the batch is touched (a [`Ticket`]) and held by the runner until it
//! ends (a [`RunGuard`]); both give it back when dropped, whatever path drops them.

use crate::model::BatchId;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Why a place was not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The server is shutting down: no runner starts any more.
    Closed,
    /// Every place is taken; holds the number running.
    Full(usize),
    /// This batch has a runner (or one is starting) in this process.
    Busy,
}

#[derive(Default)]
struct Inner {
    by_batch: HashMap<BatchId, Slot>,
    /// Places taken by launches whose batch id is not known yet (the batch is being created).
    pending: usize,
    next_run: u64,
    closed: bool,
}

struct Slot {
    /// Tells this runner from a later one of the same batch, so an ending runner frees only its
    /// own place.
    run: u64,
    cancel: CancellationToken,
}

pub struct Runs {
    inner: Mutex<Inner>,
    /// How many runners hold a place; shutdown waits for 0.
    count: watch::Sender<usize>,
}

impl Runs {
    pub fn new() -> Arc<Runs> {
        Arc::new(Runs {
            inner: Mutex::new(Inner::default()),
            count: watch::Sender::new(0),
        })
    }

    /// A place for a batch about to be created, if fewer than `max` are taken.
    pub fn reserve_new(self: &Arc<Self>, max: usize) -> Result<Ticket, Refusal> {
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(Refusal::Closed);
        }
        let taken = inner.by_batch.len() + inner.pending;
        if taken >= max {
            return Err(Refusal::Full(taken));
        }
        inner.pending += 1;
        Ok(Ticket {
            runs: self.clone(),
            held: Held::Pending,
        })
    }

    /// The place of an existing batch. With `max`, only if fewer than `max` are taken (a re-run);
    /// without, whatever the count (a resume: it was admitted when it started).
    pub fn reserve_batch(
        self: &Arc<Self>,
        id: BatchId,
        max: Option<usize>,
    ) -> Result<Ticket, Refusal> {
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(Refusal::Closed);
        }
        if inner.by_batch.contains_key(&id) {
            return Err(Refusal::Busy);
        }
        let taken = inner.by_batch.len() + inner.pending;
        if max.is_some_and(|max| taken >= max) {
            return Err(Refusal::Full(taken));
        }
        let run = inner.insert(id);
        self.publish(&inner);
        Ok(Ticket {
            runs: self.clone(),
            held: Held::Batch(id, run),
        })
    }

    /// Cancels the runner of `id`; false when there is none in this process.
    pub fn cancel(&self, id: BatchId) -> bool {
        match self.inner.lock().by_batch.get(&id) {
            Some(slot) => {
                slot.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Starts no runner from now on; returns the batches that have one.
    pub fn close(&self) -> Vec<BatchId> {
        let mut inner = self.inner.lock();
        inner.closed = true;
        sorted(inner.by_batch.keys().copied())
    }

    /// The batches with a runner (or one starting) in this process.
    pub fn ids(&self) -> Vec<BatchId> {
        sorted(self.inner.lock().by_batch.keys().copied())
    }

    /// Resolves once no runner holds a place.
    pub async fn idle(&self) {
        let mut rx = self.count.subscribe();
        // The sender lives as long as `self`, so this cannot fail while awaited.
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    fn publish(&self, inner: &Inner) {
        self.count.send_replace(inner.by_batch.len());
    }

    fn release(&self, held: &Held) {
        let mut inner = self.inner.lock();
        match *held {
            Held::Pending => inner.pending = inner.pending.saturating_sub(1),
            Held::Batch(id, run) => {
                if inner.by_batch.get(&id).is_some_and(|s| s.run == run) {
                    inner.by_batch.remove(&id);
                }
            }
            Held::Nothing => {}
        }
        self.publish(&inner);
    }
}

impl Inner {
    fn insert(&mut self, id: BatchId) -> u64 {
        self.next_run += 1;
        let run = self.next_run;
        self.by_batch.insert(
            id,
            Slot {
                run,
                cancel: CancellationToken::new(),
            },
        );
        run
    }
}

fn sorted(ids: impl Iterator<Item = BatchId>) -> Vec<BatchId> {
    let mut ids: Vec<BatchId> = ids.collect();
    ids.sort();
    ids
}

enum Held {
    Pending,
    Batch(BatchId, u64),
    Nothing,
}

/// A place taken for a batch that has no runner yet; given back when dropped unused.
pub struct Ticket {
    runs: Arc<Runs>,
    held: Held,
}

impl Ticket {
    /// Turns the place into the runner of `id`: its guard and cancel token. Refused once the
    /// server is shutting down (the batch stays queued in the store and starts next time).
    pub fn start(mut self, id: BatchId) -> Result<(RunGuard, CancellationToken), Refusal> {
        let mut inner = self.runs.inner.lock();
        if inner.closed {
            return Err(Refusal::Closed);
        }
        let run = match self.held {
            Held::Pending if !inner.by_batch.contains_key(&id) => {
                inner.pending = inner.pending.saturating_sub(1);
                self.held = Held::Nothing;
                inner.insert(id)
            }
            Held::Batch(held, run) if held == id => run,
            // A new batch's id is never running, and a ticket is only ever started for the batch
            // it was taken for; if either were not so, the place is given back on drop.
            _ => return Err(Refusal::Busy),
        };
        let Some(slot) = inner.by_batch.get(&id).filter(|s| s.run == run) else {
            return Err(Refusal::Busy);
        };
        self.held = Held::Nothing;
        let cancel = slot.cancel.clone();
        self.runs.publish(&inner);
        drop(inner);
        let guard = RunGuard {
            runs: self.runs.clone(),
            held: Held::Batch(id, run),
        };
        Ok((guard, cancel))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.runs.release(&self.held);
    }
}

/// A runner's place, held until the runner ends (dropped last, after its end is recorded).
pub struct RunGuard {
    runs: Arc<Runs>,
    held: Held,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.runs.release(&self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_counts_pending_launches_and_running_batches() {
        let runs = Runs::new();
        let a = runs.reserve_new(2).unwrap();
        let (_guard, _) = runs
            .reserve_batch(BatchId(1), None)
            .unwrap()
            .start(BatchId(1))
            .unwrap();
        assert_eq!(runs.reserve_new(2).err(), Some(Refusal::Full(2)));
        assert_eq!(
            runs.reserve_batch(BatchId(2), Some(2)).err(),
            Some(Refusal::Full(2))
        );
        // A resume is never refused for the count.
        assert!(runs.reserve_batch(BatchId(3), None).is_ok());
        drop(a);
        assert!(runs.reserve_new(2).is_ok());
    }

    #[test]
    fn one_batch_has_one_place_and_a_later_runner_keeps_its_own() {
        let runs = Runs::new();
        let first = runs.reserve_batch(BatchId(7), Some(8)).unwrap();
        assert_eq!(
            runs.reserve_batch(BatchId(7), Some(8)).err(),
            Some(Refusal::Busy)
        );
        let (guard, token) = first.start(BatchId(7)).unwrap();
        assert!(runs.cancel(BatchId(7)));
        assert!(token.is_cancelled());
        drop(guard);
        assert!(runs.ids().is_empty());

        // A stale guard (an ending runner) must not free a newer runner's place.
        let (old, _) = runs
            .reserve_batch(BatchId(7), None)
            .unwrap()
            .start(BatchId(7))
            .unwrap();
        runs.release(&Held::Batch(BatchId(7), 0));
        assert_eq!(runs.ids(), vec![BatchId(7)]);
        drop(old);
        assert!(runs.ids().is_empty());
    }

    #[test]
    fn closing_refuses_new_places_and_unstarted_tickets() {
        let runs = Runs::new();
        let pending = runs.reserve_new(8).unwrap();
        let (_guard, _) = runs
            .reserve_batch(BatchId(1), None)
            .unwrap()
            .start(BatchId(1))
            .unwrap();
        assert_eq!(runs.close(), vec![BatchId(1)]);
        assert_eq!(runs.reserve_new(8).err(), Some(Refusal::Closed));
        assert_eq!(pending.start(BatchId(2)).err(), Some(Refusal::Closed));
        assert_eq!(runs.ids(), vec![BatchId(1)]);
    }

    #[tokio::test]
    async fn idle_resolves_once_the_last_runner_ends() {
        let runs = Runs::new();
        runs.idle().await;
        let (guard, _) = runs
            .reserve_batch(BatchId(1), None)
            .unwrap()
            .start(BatchId(1))
            .unwrap();
        let waiter = tokio::spawn({
            let runs = runs.clone();
            async move { runs.idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(guard);
        waiter.await.unwrap();
    }
}
