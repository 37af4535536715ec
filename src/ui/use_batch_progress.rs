//! `use_batch_progress`: a batch's progress stream as signals.
//!
//! Built directly on `web_sys::EventSource` rather than leptos-use's `use_event_source`: this hook
//! needs to tell a 404 ("batch not found") from a dropped connection, to replace the browser's
//! own reconnection with backoff + jitter once the browser gives up, and to close on the terminal
//! *payload* (not on an event name) — all of which meant working around that helper's fixed
//! reconnect policy, for one `EventSource` and three listeners.
//!
//! Reconnection, in layers: while the browser retries by itself (readyState `CONNECTING`, every
//! 3 s from the server's `retry:`; it sends `Last-Event-ID`), the state is `Reconnecting`. When
//! the browser gives up (readyState `CLOSED`: a non-200 answer, or a network error it will not
//! retry), the hook asks `get_batch`: a 404 means the batch does not exist (state
//! `Disconnected`, error `NotFound`, no retry); anything else schedules a fresh `EventSource`
//! after 1, 2, 4 … 30 s with full jitter, so many tabs do not reconnect in step. Every first event
//! is a full snapshot, so a fresh connection resumes exactly. Events older than the last one seen
//! are dropped, so the percentage never moves backwards. On the terminal event (completed, error,
//! cancelled) the stream is closed; on unmount, or when the batch id changes, everything is
//! released.

use crate::model::{BatchId, Progress};
use leptos::prelude::*;

/// Where the stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// No batch to watch.
    Idle,
    /// The first connection is being made.
    Connecting,
    Connected,
    /// The connection dropped; the browser or the hook is trying again.
    Reconnecting,
    /// Not connected and not about to be: the batch is unknown, or retries keep failing.
    Disconnected,
    /// The terminal event arrived and the stream was closed on purpose.
    Closed,
}

/// Why there is no (fresh) progress.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgressError {
    /// The server says the batch does not exist.
    NotFound(String),
    /// The server could not be reached; retrying.
    ConnectionLost,
    /// An event could not be read (a server/client version mismatch).
    BadData(String),
}

/// The signals `use_batch_progress` returns. `Copy`, so views can capture it freely.
#[derive(Debug, Clone, Copy)]
pub struct BatchProgress {
    /// 0–100, from the latest event.
    pub progress: Memo<f64>,
    /// The latest event, whole.
    pub data: ReadSignal<Option<Progress>>,
    pub connection: ReadSignal<ConnectionState>,
    pub error: ReadSignal<Option<ProgressError>>,
}

/// Watches `batch_id`'s progress stream while it is `Some`; switching ids switches streams.
pub fn use_batch_progress(batch_id: Signal<Option<BatchId>>) -> BatchProgress {
    let (data, set_data) = signal(None::<Progress>);
    let (connection, set_connection) = signal(ConnectionState::Idle);
    let (error, set_error) = signal(None::<ProgressError>);
    let progress = Memo::new(move |_| data.with(|d| d.as_ref().map_or(0.0, |p| p.progress)));

    #[cfg(feature = "hydrate")]
    client::watch(
        batch_id,
        client::Setters {
            data: set_data,
            connection: set_connection,
            error: set_error,
        },
    );
    #[cfg(not(feature = "hydrate"))]
    let _ = (batch_id, set_data, set_connection, set_error);

    BatchProgress {
        progress,
        data,
        connection,
        error,
    }
}

/// Reconnect delay before attempt `attempt` (1-based), before jitter: 1 s doubling to 30 s.
pub fn backoff_ms(attempt: u32) -> f64 {
    let exp = attempt.saturating_sub(1).min(5);
    (1000.0 * f64::from(1u32 << exp)).min(30_000.0)
}

/// After this many failed reconnects in a row the tag says "disconnected" (retries go on).
pub const FAILURES_BEFORE_DISCONNECTED: u32 = 4;

#[cfg(feature = "hydrate")]
mod client {
    use super::*;
    use crate::api::get_batch;
    use crate::api::ErrorKind;
    use leptos::leptos_dom::helpers::{set_timeout_with_handle, TimeoutHandle};
    use std::time::Duration;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{Event, EventSource, MessageEvent};

    #[derive(Clone, Copy)]
    pub struct Setters {
        pub data: WriteSignal<Option<Progress>>,
        pub connection: WriteSignal<ConnectionState>,
        pub error: WriteSignal<Option<ProgressError>>,
    }

    /// One open `EventSource` with its listeners; closed when dropped.
    struct Stream {
        source: EventSource,
        _listeners: Vec<Closure<dyn FnMut(Event)>>,
    }

    impl Drop for Stream {
        fn drop(&mut self) {
            self.source.close();
        }
    }

    #[derive(Default)]
    struct State {
        stream: Option<Stream>,
        retry: Option<TimeoutHandle>,
        /// Bumped whenever the watched batch changes: callbacks of an older generation do nothing.
        generation: u64,
        /// Consecutive failed (re)connections.
        failures: u32,
        last_seq: Option<u64>,
        last_completed: u64,
    }

    impl State {
        /// Closes the stream now but frees its listeners on a later tick: this may run inside
        /// one of them, and a closure must not be freed while it executes.
        fn drop_stream(&mut self) {
            if let Some(stream) = self.stream.take() {
                stream.source.close();
                leptos::task::spawn_local(async move { drop(stream) });
            }
        }

        fn stop(&mut self) {
            self.drop_stream();
            if let Some(t) = self.retry.take() {
                t.clear();
            }
        }
    }

    type Shared = StoredValue<State, LocalStorage>;

    pub fn watch(batch_id: Signal<Option<BatchId>>, set: Setters) {
        let state: Shared = StoredValue::new_local(State::default());
        Effect::new(move |_| {
            let id = batch_id.get();
            let generation = state
                .try_update_value(|s| {
                    s.stop();
                    s.generation += 1;
                    s.failures = 0;
                    s.last_seq = None;
                    s.last_completed = 0;
                    s.generation
                })
                .unwrap_or(0);
            set.data.set(None);
            set.error.set(None);
            match id {
                None => set.connection.set(ConnectionState::Idle),
                Some(id) => {
                    set.connection.set(ConnectionState::Connecting);
                    leptos::task::spawn_local(open_on_demand(state, set, id, generation));
                }
            }
        });
        on_cleanup(move || {
            state.try_update_value(|s| {
                s.stop();
                s.generation += 1;
            });
        });
    }

    fn current(state: Shared, generation: u64) -> bool {
        state
            .try_with_value(|s| s.generation == generation)
            .unwrap_or(false)
    }

    /// [`open`], and with it the stream's decoding (the `Progress` deserialiser) and its
    /// reconnecting, is a WASM chunk (ui/lazy.rs) fetched when the first batch is watched: the
    /// first page needs none of it. The batch may have changed while the chunk loaded.
    #[lazy]
    fn open_on_demand(state: Shared, set: Setters, id: BatchId, generation: u64) {
        if current(state, generation) {
            open(state, set, id, generation);
        }
    }

    fn open(state: Shared, set: Setters, id: BatchId, generation: u64) {
        let url = format!("/api/batches/{id}/progress");
        let Ok(source) = EventSource::new(&url) else {
            schedule_retry(state, set, id, generation);
            return;
        };

        let on_open = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            if !current(state, generation) {
                return;
            }
            state.update_value(|s| s.failures = 0);
            set.connection.set(ConnectionState::Connected);
            set.error.set(None);
        });

        let on_progress = Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
            if !current(state, generation) {
                return;
            }
            let Some(ev) = ev.dyn_ref::<MessageEvent>() else {
                return;
            };
            let Some(text) = ev.data().as_string() else {
                return;
            };
            let progress: Progress = match serde_json::from_str(&text) {
                Ok(p) => p,
                Err(e) => {
                    set.error.set(Some(ProgressError::BadData(format!(
                        "unreadable event: {e}"
                    ))));
                    return;
                }
            };
            let seq = ev.last_event_id().parse::<u64>().ok();
            let stale = state
                .try_with_value(|s| {
                    matches!((seq, s.last_seq), (Some(new), Some(old)) if new < old)
                        && progress.completed_tests < s.last_completed
                })
                .unwrap_or(true);
            if stale {
                return;
            }
            let terminal = progress.status.is_terminal();
            state.update_value(|s| {
                s.failures = 0;
                if seq.is_some() {
                    s.last_seq = seq;
                }
                s.last_completed = progress.completed_tests;
                if terminal {
                    // Without this the browser would reconnect ~3 s after the stream ends.
                    s.stop();
                }
            });
            set.data.set(Some(progress));
            set.error.set(None);
            set.connection.set(if terminal {
                ConnectionState::Closed
            } else {
                ConnectionState::Connected
            });
        });

        let source_for_error = source.clone();
        let on_error = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            if !current(state, generation) {
                return;
            }
            if source_for_error.ready_state() == EventSource::CONNECTING {
                // The browser retries by itself, after the server's `retry` delay.
                set.connection.set(ConnectionState::Reconnecting);
                return;
            }
            // The browser gave up: find out why before trying again.
            state.update_value(|s| s.drop_stream());
            set.connection.set(ConnectionState::Reconnecting);
            leptos::task::spawn_local(async move {
                let answer = get_batch(id).await;
                if !current(state, generation) {
                    return;
                }
                match answer {
                    Err(e) if e.error == ErrorKind::NotFound => {
                        set.error.set(Some(ProgressError::NotFound(e.message)));
                        set.connection.set(ConnectionState::Disconnected);
                    }
                    Ok(_) => schedule_retry(state, set, id, generation),
                    Err(_) => {
                        set.error.set(Some(ProgressError::ConnectionLost));
                        schedule_retry(state, set, id, generation);
                    }
                }
            });
        });

        let _ = source.add_event_listener_with_callback("open", on_open.as_ref().unchecked_ref());
        // Named events reach only listeners registered for their name (not `onmessage`).
        let _ = source
            .add_event_listener_with_callback("progress", on_progress.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("error", on_error.as_ref().unchecked_ref());
        state.update_value(|s| {
            s.stream = Some(Stream {
                source,
                _listeners: vec![on_open, on_progress, on_error],
            })
        });
    }

    fn schedule_retry(state: Shared, set: Setters, id: BatchId, generation: u64) {
        let Some(failures) = state.try_update_value(|s| {
            s.failures += 1;
            s.failures
        }) else {
            return;
        };
        set.connection
            .set(if failures > FAILURES_BEFORE_DISCONNECTED {
                ConnectionState::Disconnected
            } else {
                ConnectionState::Reconnecting
            });
        // Full jitter over the upper half: never a storm, never a zero wait.
        let ceiling = backoff_ms(failures);
        let delay = ceiling / 2.0 + crate::ui::browser::random() * ceiling / 2.0;
        let handle = set_timeout_with_handle(
            move || {
                if current(state, generation) {
                    state.update_value(|s| s.retry = None);
                    open(state, set, id, generation);
                }
            },
            Duration::from_millis(delay as u64),
        );
        if let Ok(handle) = handle {
            state.update_value(|s| s.retry = Some(handle));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_then_caps() {
        assert_eq!(backoff_ms(1), 1000.0);
        assert_eq!(backoff_ms(2), 2000.0);
        assert_eq!(backoff_ms(5), 16_000.0);
        assert_eq!(backoff_ms(6), 30_000.0);
        assert_eq!(backoff_ms(60), 30_000.0);
    }
}
