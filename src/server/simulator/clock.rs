//! The simulator's delays, kept to about 0.1 ms.
//!
//! tokio's timer has a 1 ms tick and rounds every deadline up to the next tick, and its driver
//! parks in whole milliseconds, so `tokio::time::sleep(20 ms)` takes 20–22 ms. A simulated
//! latency is the yardstick the batch benchmarks are measured against (ideal wall time is
//! `ceil(N / c) × L`), so the simulator keeps its own timer: one thread holds the pending
//! deadlines in a heap and waits for the earliest with the OS's nanosecond-resolution futex
//! timeout, then wakes the waiting task through a oneshot channel.

use parking_lot::{Condvar, Mutex};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Resolves at `deadline` (at once if it has passed).
pub(super) async fn sleep_until(deadline: Instant) {
    if deadline <= Instant::now() {
        return;
    }
    let (tx, rx) = oneshot::channel();
    timer().insert(deadline, tx);
    // The timer thread never drops a sender unsent, and it lives as long as the process.
    let _ = rx.await;
}

/// Resolves after `d`.
pub(super) async fn sleep(d: Duration) {
    if !d.is_zero() {
        sleep_until(Instant::now() + d).await;
    }
}

struct Pending {
    deadline: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Pending>>,
    seq: u64,
}

struct Timer {
    queue: Mutex<Queue>,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("mock-dify-timer".into())
            .spawn(move || timer.run())
            .expect("spawning the simulator's timer thread");
        timer
    })
}

impl Timer {
    fn insert(&self, deadline: Instant, wake: oneshot::Sender<()>) {
        let mut q = self.queue.lock();
        q.seq += 1;
        let seq = q.seq;
        let earliest = q.heap.peek().is_none_or(|Reverse(p)| deadline < p.deadline);
        q.heap.push(Reverse(Pending {
            deadline,
            seq,
            wake,
        }));
        drop(q);
        if earliest {
            self.changed.notify_one();
        }
    }

    fn run(&self) {
        let mut due = Vec::new();
        let mut q = self.queue.lock();
        loop {
            let now = Instant::now();
            while q.heap.peek().is_some_and(|Reverse(p)| p.deadline <= now) {
                due.push(q.heap.pop().expect("peeked").0.wake);
            }
            if !due.is_empty() {
                // Wake outside the lock, so inserts from the woken tasks never wait for it.
                parking_lot::MutexGuard::unlocked(&mut q, || {
                    for wake in due.drain(..) {
                        let _ = wake.send(());
                    }
                });
                continue;
            }
            match q.heap.peek().map(|Reverse(p)| p.deadline) {
                Some(next) => {
                    self.changed.wait_until(&mut q, next);
                }
                None => self.changed.wait(&mut q),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeps_end_in_deadline_order_and_never_early() {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for ms in [30u64, 5, 20, 0, 10, 20] {
            tasks.push(tokio::spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                (ms, Instant::now())
            }));
        }
        let mut ends = Vec::new();
        for t in tasks {
            ends.push(t.await.unwrap());
        }
        for (ms, at) in &ends {
            assert!(
                *at >= start + Duration::from_millis(*ms),
                "a {ms} ms sleep ended early"
            );
        }
        ends.sort_by_key(|(_, at)| *at);
        let order: Vec<u64> = ends.iter().map(|(ms, _)| *ms).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "sleeps ended out of deadline order");
    }

    #[tokio::test]
    async fn a_passed_deadline_resolves_at_once() {
        sleep_until(Instant::now() - Duration::from_millis(5)).await;
        sleep(Duration::ZERO).await;
    }
}
