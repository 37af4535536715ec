//! How many progress streams are open, per batch and for the whole server, and the refusal once
//! either limit is reached: 503 with `Retry-After` and a JSON body naming the limit, so a crowd of
//! watchers can neither exhaust file descriptors nor take the server down.
//!
//! A stream holds a [`WatcherSlot`] for as long as its body lives; dropping the body (the stream
//! ended, or the client went away) gives the slot back. Counting is one short lock per open and
//! close, never per event. It does not own the streams themselves (`sse.rs`) nor the limit on HTTP
//! connections (`connections.rs`), under which these streams also count.

use crate::model::{limits, BatchId};
use crate::server::sse::json_error;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use futures::stream::{Stream, StreamExt};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// The open progress streams and their limits; one per server.
#[derive(Debug)]
pub struct Watchers {
    max_streams: usize,
    max_per_batch: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_batch: HashMap<BatchId, usize>,
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server has `max_streams` progress streams open.
    Server { max_streams: usize },
    /// This batch has `max_per_batch` watchers.
    Batch {
        batch: BatchId,
        max_per_batch: usize,
    },
}

/// One open stream's place in the counts, given back on drop.
#[derive(Debug)]
pub struct WatcherSlot {
    watchers: Arc<Watchers>,
    batch: BatchId,
}

impl Default for Watchers {
    fn default() -> Self {
        Watchers::new(limits::MAX_PROGRESS_STREAMS, limits::MAX_WATCHERS_PER_BATCH)
    }
}

impl Watchers {
    /// Limits of 0 are taken as 1: a server that can never stream progress is not a setting.
    pub fn new(max_streams: usize, max_per_batch: usize) -> Watchers {
        Watchers {
            max_streams: max_streams.max(1),
            max_per_batch: max_per_batch.max(1),
            open: Mutex::new(Open::default()),
        }
    }

    /// A slot for one more stream of `batch`, or which limit stands in the way.
    pub fn try_watch(self: &Arc<Self>, batch: BatchId) -> Result<WatcherSlot, Refused> {
        let mut open = self.open.lock();
        if open.total >= self.max_streams {
            return Err(Refused::Server {
                max_streams: self.max_streams,
            });
        }
        let watching = open.per_batch.entry(batch).or_insert(0);
        if *watching >= self.max_per_batch {
            return Err(Refused::Batch {
                batch,
                max_per_batch: self.max_per_batch,
            });
        }
        *watching += 1;
        open.total += 1;
        Ok(WatcherSlot {
            watchers: Arc::clone(self),
            batch,
        })
    }

    /// Open streams, all batches.
    pub fn total(&self) -> usize {
        self.open.lock().total
    }

    /// Open streams: all of them, and of `batch`.
    pub fn open(&self, batch: BatchId) -> (usize, usize) {
        let open = self.open.lock();
        (open.total, open.per_batch.get(&batch).copied().unwrap_or(0))
    }
}

impl Drop for WatcherSlot {
    fn drop(&mut self) {
        let mut open = self.watchers.open.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_batch.get_mut(&self.batch) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.per_batch.remove(&self.batch);
            }
        }
    }
}

/// `body`, holding `slot` until the body is dropped.
pub fn holding<S: Stream + Send + 'static>(
    body: S,
    slot: WatcherSlot,
) -> impl Stream<Item = S::Item> + Send + 'static {
    body.map(move |item| {
        let _held = &slot;
        item
    })
}

impl Refused {
    /// The `error` code of the JSON body.
    pub fn code(self) -> &'static str {
        match self {
            Refused::Server { .. } => "too_many_progress_streams",
            Refused::Batch { .. } => "too_many_watchers",
        }
    }

    /// What the user reads: the limit, its value and the setting that raises it.
    pub fn message(self) -> String {
        match self {
            Refused::Server { max_streams } => format!(
                "this server has {} progress streams open, its limit \
                 (--max-progress-streams, DIFY_BENCH_MAX_PROGRESS_STREAMS); try again later",
                limits::thousands(max_streams)
            ),
            Refused::Batch {
                batch,
                max_per_batch,
            } => format!(
                "batch {batch} has {} watchers, the limit per batch (--max-watchers-per-batch, \
                 DIFY_BENCH_MAX_WATCHERS_PER_BATCH); try again later",
                limits::thousands(max_per_batch)
            ),
        }
    }

    /// 503 with `Retry-After` and `{"error", "message"}`.
    pub fn response(self) -> Response {
        let mut res = json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            self.code(),
            &self.message(),
        );
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(limits::RETRY_AFTER_SECS),
        );
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    #[test]
    fn each_limit_refuses_by_name_and_slots_come_back_on_drop() {
        let w = Arc::new(Watchers::new(3, 2));
        let (a, b) = (BatchId(1), BatchId(2));
        let a1 = w.try_watch(a).unwrap();
        let a2 = w.try_watch(a).unwrap();
        assert_eq!(
            w.try_watch(a).unwrap_err(),
            Refused::Batch {
                batch: a,
                max_per_batch: 2
            }
        );
        let b1 = w.try_watch(b).unwrap();
        assert_eq!(w.open(a), (3, 2));
        assert_eq!(
            w.try_watch(b).unwrap_err(),
            Refused::Server { max_streams: 3 }
        );
        drop(a1);
        assert_eq!(w.open(a), (2, 1));
        let a3 = w.try_watch(a).unwrap();
        drop((a2, a3, b1));
        assert_eq!(w.open(a), (0, 0));
        assert!(w.open.lock().per_batch.is_empty(), "no empty entries kept");
    }

    #[tokio::test]
    async fn a_stream_holds_its_slot_until_dropped() {
        let w = Arc::new(Watchers::new(10, 1));
        let slot = w.try_watch(BatchId(7)).unwrap();
        let mut body = Box::pin(holding(stream::iter([1, 2]), slot));
        assert_eq!(body.next().await, Some(1));
        assert!(w.try_watch(BatchId(7)).is_err());
        assert_eq!(body.next().await, Some(2));
        assert_eq!(body.next().await, None);
        // Ended but not dropped: still held, as the connection is.
        assert_eq!(w.open(BatchId(7)), (1, 1));
        drop(body);
        assert_eq!(w.open(BatchId(7)), (0, 0));
        assert!(w.try_watch(BatchId(7)).is_ok());
    }

    #[test]
    fn the_refusal_is_a_503_naming_the_limit() {
        let refused = Refused::Batch {
            batch: BatchId(4),
            max_per_batch: 2000,
        };
        assert!(refused.message().starts_with(
            "batch 4 has 2,000 watchers, the limit per batch (--max-watchers-per-batch"
        ));
        let res = refused.response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "5");
        assert!(Refused::Server {
            max_streams: 10_000
        }
        .message()
        .contains("10,000 progress streams open"));
        assert_eq!(Watchers::new(0, 0).max_streams, 1);
    }
}
