//! Timed SSE bodies: a precomputed plan of frames and waits played out in real time, and the
//! registry of running streams that the stop endpoints signal. Which events a plan holds is
//! `generate`'s business.
//!
//! All frames are serialised before the first byte goes out, so a stream costs only timer
//! wake-ups while it plays; consecutive frames with no wait between them go out as one write.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;

use super::faults::Slot;
use super::wire::{push_data_frame, PING_FRAME};

#[derive(Debug)]
pub(super) enum Step {
    Emit(Bytes),
    Wait(Duration),
    /// Abort the connection: the client sees the body end without a terminal event.
    Cut,
}

#[derive(Default)]
pub(super) struct PlanBuilder {
    steps: Vec<Step>,
    pending: Vec<u8>,
}

impl PlanBuilder {
    pub(super) fn event(&mut self, event: &impl Serialize) {
        push_data_frame(&mut self.pending, event);
    }

    pub(super) fn ping(&mut self) {
        self.pending.extend_from_slice(PING_FRAME);
    }

    /// Bytes that are not a well-formed event (the malformed-frame fault).
    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// A zero wait is no wait: the frames around it go out in one write.
    pub(super) fn wait(&mut self, d: Duration) {
        if !d.is_zero() {
            self.flush();
            self.steps.push(Step::Wait(d));
        }
    }

    pub(super) fn cut(&mut self) {
        self.flush();
        self.steps.push(Step::Cut);
    }

    pub(super) fn finish(mut self) -> Vec<Step> {
        self.flush();
        self.steps
    }

    /// The frames so far as one chunk, for a stopped stream's closing events.
    pub(super) fn into_bytes(self) -> Bytes {
        Bytes::from(self.pending)
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let chunk = std::mem::take(&mut self.pending);
            self.steps.push(Step::Emit(Bytes::from(chunk)));
        }
    }
}

/// Running streams by `task_id`, so `POST …/{task_id}/stop` can reach them.
#[derive(Default, Clone)]
pub(super) struct TaskRegistry {
    tasks: Arc<Mutex<HashMap<String, RunningTask>>>,
}

struct RunningTask {
    app: u64,
    user: String,
    stop: Arc<StopSignal>,
}

#[derive(Default)]
pub(super) struct StopSignal {
    stopped: AtomicBool,
    wake: Notify,
}

impl TaskRegistry {
    pub(super) fn register(
        &self,
        task_id: &str,
        app: u64,
        user: &str,
    ) -> (Arc<StopSignal>, TaskGuard) {
        let stop = Arc::new(StopSignal::default());
        self.tasks.lock().insert(
            task_id.to_string(),
            RunningTask {
                app,
                user: user.to_string(),
                stop: Arc::clone(&stop),
            },
        );
        let guard = TaskGuard {
            tasks: Arc::clone(&self.tasks),
            task_id: task_id.to_string(),
        };
        (stop, guard)
    }

    /// Like Dify, a stop for someone else's task (other app, or other user when `user` is given)
    /// silently does nothing; the caller answers success either way.
    pub(super) fn stop(&self, task_id: &str, app: u64, user: Option<&str>) {
        let tasks = self.tasks.lock();
        if let Some(task) = tasks.get(task_id) {
            if task.app == app && user.is_none_or(|u| u == task.user) {
                task.stop.stopped.store(true, Ordering::Release);
                // notify_one stores a permit, so a stop that lands between waits is not lost.
                task.stop.wake.notify_one();
            }
        }
    }
}

pub(super) struct TaskGuard {
    tasks: Arc<Mutex<HashMap<String, RunningTask>>>,
    task_id: String,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.tasks.lock().remove(&self.task_id);
    }
}

/// Everything a playing stream owns; dropping it (body finished or client gone) frees the
/// concurrency slot and unregisters the task.
pub(super) struct Playback {
    pub steps: Vec<Step>,
    /// Sent instead of the rest of the plan once the task is stopped.
    pub stopped_tail: Bytes,
    pub stop: Arc<StopSignal>,
    pub task: TaskGuard,
    pub slot: Option<Slot>,
}

struct Playing {
    steps: std::vec::IntoIter<Step>,
    stopped_tail: Option<Bytes>,
    stop: Arc<StopSignal>,
    _task: TaskGuard,
    _slot: Option<Slot>,
}

pub(super) fn play(p: Playback) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let state = Playing {
        steps: p.steps.into_iter(),
        stopped_tail: Some(p.stopped_tail),
        stop: p.stop,
        _task: p.task,
        _slot: p.slot,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            match st.steps.next()? {
                Step::Emit(bytes) => return Some((Ok(bytes), st)),
                Step::Cut => {
                    st.steps = Vec::new().into_iter();
                    let cut =
                        io::Error::new(io::ErrorKind::ConnectionAborted, "simulated cut stream");
                    return Some((Err(cut), st));
                }
                Step::Wait(d) => {
                    tokio::select! {
                        () = super::clock::sleep(d) => {}
                        () = st.stop.wake.notified() => {}
                    }
                    if st.stop.stopped.load(Ordering::Acquire) {
                        st.steps = Vec::new().into_iter();
                        let tail = st.stopped_tail.take()?;
                        return Some((Ok(tail), st));
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn text(chunks: &[io::Result<Bytes>]) -> String {
        chunks
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    fn playback(registry: &TaskRegistry, steps: Vec<Step>) -> Playback {
        let (stop, task) = registry.register("t1", 1, "u");
        Playback {
            steps,
            stopped_tail: Bytes::from_static(b"data: {\"event\":\"message_end\"}\n\n"),
            stop,
            task,
            slot: None,
        }
    }

    #[test]
    fn builder_coalesces_frames_between_waits() {
        let mut b = PlanBuilder::default();
        b.ping();
        b.event(&serde_json::json!({"event": "a"}));
        b.wait(Duration::from_millis(5));
        b.wait(Duration::ZERO);
        b.event(&serde_json::json!({"event": "b"}));
        let steps = b.finish();
        assert_eq!(steps.len(), 3);
        assert!(
            matches!(&steps[0], Step::Emit(x) if x.as_ref() == b"event: ping\n\ndata: {\"event\":\"a\"}\n\n")
        );
        assert!(matches!(steps[1], Step::Wait(_)));
        assert!(matches!(&steps[2], Step::Emit(x) if x.as_ref() == b"data: {\"event\":\"b\"}\n\n"));
    }

    #[tokio::test]
    async fn plays_in_order_and_unregisters_when_done() {
        let registry = TaskRegistry::default();
        let steps = vec![
            Step::Emit(Bytes::from_static(b"a")),
            Step::Wait(Duration::from_millis(1)),
            Step::Emit(Bytes::from_static(b"b")),
        ];
        let out: Vec<_> = play(playback(&registry, steps)).collect().await;
        assert_eq!(text(&out), "ab");
        assert!(registry.tasks.lock().is_empty());
    }

    #[tokio::test]
    async fn stop_cuts_the_wait_short_and_sends_the_tail() {
        let registry = TaskRegistry::default();
        let steps = vec![
            Step::Emit(Bytes::from_static(b"a")),
            Step::Wait(Duration::from_secs(30)),
            Step::Emit(Bytes::from_static(b"never")),
        ];
        let stream = play(playback(&registry, steps));
        registry.stop("t1", 2, None); // another app's stop does nothing
        registry.stop("t1", 1, Some("other user"));
        registry.stop("t1", 1, Some("u"));
        let out = tokio::time::timeout(Duration::from_secs(2), stream.collect::<Vec<_>>()).await;
        let out = out.ok().unwrap_or_default();
        assert_eq!(text(&out), "adata: {\"event\":\"message_end\"}\n\n");
    }

    #[tokio::test]
    async fn cut_yields_an_error_and_ends() {
        let registry = TaskRegistry::default();
        let steps = vec![
            Step::Emit(Bytes::from_static(b"a")),
            Step::Cut,
            Step::Emit(Bytes::from_static(b"b")),
        ];
        let out: Vec<_> = play(playback(&registry, steps)).collect().await;
        assert_eq!(out.len(), 2);
        assert!(out[1].is_err());
    }
}
