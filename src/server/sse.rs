//! `GET /api/batches/{id}/progress`: the progress stream (text/event-stream).
//!
//! On connect: the current snapshot at once, with `retry: 3000`. Then every event the registry
//! publishes (coalesced there to ≤ 1 per 100 ms), the terminal one at once, after which the stream
//! ends. A `: keep-alive` comment every 15 s. A batch the registry no longer tracks answers one
//! snapshot built from the store and ends; an unknown id answers 404 with a JSON body.
//!
//! A client that reconnects with `Last-Event-ID: N` (as `EventSource` does) is sent no event
//! whose id is not above N: a first snapshot it already has is skipped and the stream waits for
//! the next change. When the event it already has is the batch's end, the answer is 204 No
//! Content, the status that tells `EventSource` to stop reconnecting; a 200 that ends at once
//! would have it reconnect every 3 s for ever. A `Last-Event-ID` that is not a number is ignored.
//!
//! Each stream holds a slot of [`Watchers`] while it is open: past the limit per batch or per
//! server, the route answers 503 with `Retry-After` instead of opening one.

use crate::model::BatchId;
use crate::server::progress::{render_stored, Event};
use crate::server::runner::{batch_start, Engine};
use crate::server::watchers::{holding, Watchers};
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
const RETRY_PREFIX: &[u8] = b"retry: 3000\n";

pub async fn progress(
    State(engine): State<Arc<Engine>>,
    Extension(watchers): Extension<Arc<Watchers>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Ok(raw) = id.parse::<i64>() else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            &format!("`{id}` is not a batch id"),
        );
    };
    let id = BatchId(raw);
    // Taken before anything is read, so a crowd over the limit costs no database work.
    let slot = match watchers.try_watch(id) {
        Ok(slot) => slot,
        Err(refused) => return refused.response(),
    };
    let seen = last_event_id(&headers);
    if let Some(rx) = engine.registry().subscribe(id) {
        return live_response(rx, seen, slot);
    }
    // Several instances: a batch another instance opened a moment ago, before this one heard of
    // it (a load balancer may send the watcher here first) — join it now and stream it live.
    if engine.membership().is_some() {
        if let Ok(Some(end)) = engine.store().stored_end(id).await {
            if !end.status.is_terminal() {
                engine.join(id).await;
                if let Some(rx) = engine.registry().subscribe(id) {
                    return live_response(rx, seen, slot);
                }
            }
        }
    }
    let stored = async {
        let Some(batch) = engine.store().get_batch(id).await? else {
            return Ok(None);
        };
        let tallies = engine.store().version_tallies(id).await?;
        let start = batch_start(
            &batch,
            &tallies,
            batch.started_at.unwrap_or(batch.created_at),
        );
        let alerts = engine.store().batch_alerts(id).await?;
        let progress = render_stored(
            start,
            batch.status,
            batch.error_message,
            batch.finished_at,
            alerts,
        );
        let seq = batch.finished_at.unwrap_or(batch.created_at).max(0) as u64;
        Ok::<_, crate::server::store::StoreError>(Some(Event::snapshot(progress, seq)))
    };
    match stored.await {
        Ok(Some(event)) => match opening(event.seq, event.is_terminal(), seen) {
            Opening::Send => sse_response(holding(
                stream::iter([Bytes::from_static(RETRY_PREFIX), event.frame]),
                slot,
            )),
            // Not over (queued, or waiting to be resumed): the client keeps asking every 3 s.
            Opening::Skip => sse_response(holding(
                stream::iter([Bytes::from_static(RETRY_PREFIX)]),
                slot,
            )),
            Opening::Over => StatusCode::NO_CONTENT.into_response(),
        },
        Ok(None) => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("batch {id} does not exist"),
        ),
        Err(e) => {
            tracing::error!(batch = %id, error = %e, "reading a stored batch for SSE");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the batch could not be read; see the server log",
            )
        }
    }
}

/// The stream of a batch the registry tracks, or 204 when the client has its last event.
fn live_response(
    rx: watch::Receiver<Arc<Event>>,
    seen: Option<u64>,
    slot: crate::server::watchers::WatcherSlot,
) -> Response {
    let (seq, terminal) = {
        let first = rx.borrow();
        (first.seq, first.is_terminal())
    };
    if opening(seq, terminal, seen) == Opening::Over {
        return StatusCode::NO_CONTENT.into_response();
    }
    sse_response(holding(live(rx, seen), slot))
}

/// The `Last-Event-ID` a reconnecting client sent, if it is an event id at all.
fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("last-event-id")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// What a client that has seen up to `seen` is owed of the event it would be sent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// Newer than anything it has: send it.
    Send,
    /// It has this one and the batch goes on: open the stream, wait for a newer one.
    Skip,
    /// It has the batch's last event: nothing will ever be newer (204).
    Over,
}

fn opening(seq: u64, terminal: bool, seen: Option<u64>) -> Opening {
    match seen {
        Some(seen) if seq <= seen && terminal => Opening::Over,
        Some(seen) if seq <= seen => Opening::Skip,
        _ => Opening::Send,
    }
}

/// The live stream of a tracked batch, without the events up to `seen`. Every frame goes out
/// as the registry's shared buffer: the `retry:` line is a static chunk of its own, so nothing
/// is copied per watcher.
fn live(
    mut rx: watch::Receiver<Arc<Event>>,
    seen: Option<u64>,
) -> impl Stream<Item = Bytes> + Send {
    let first = rx.borrow_and_update().clone();
    let is_new = move |event: &Event| seen.is_none_or(|seen| event.seq > seen);
    let state = Live {
        rx,
        ended: first.is_terminal(),
        keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
        last_sent: Instant::now(),
    };
    let rest = stream::unfold(state, move |mut st| async move {
        if st.ended {
            return None;
        }
        loop {
            tokio::select! {
                changed = st.rx.changed() => {
                    changed.ok()?;
                    let event = st.rx.borrow_and_update().clone();
                    if !is_new(&event) {
                        // The client has it; if it is the end, so is the stream (its next
                        // reconnect is answered 204).
                        if event.is_terminal() {
                            return None;
                        }
                        continue;
                    }
                    st.ended = event.is_terminal();
                    st.last_sent = Instant::now();
                    return Some((event.frame.clone(), st));
                }
                () = &mut st.keep_alive => {
                    // The timer is re-armed here, once per 15 s, not on every event: the
                    // comment is due 15 s after whatever was sent last.
                    let due = st.last_sent + KEEP_ALIVE;
                    let now = Instant::now();
                    if due > now {
                        st.keep_alive.as_mut().reset(due);
                        continue;
                    }
                    st.keep_alive.as_mut().reset(now + KEEP_ALIVE);
                    st.last_sent = now;
                    return Some((Bytes::from_static(b": keep-alive\n\n"), st));
                }
            }
        }
    });
    let opening = std::iter::once(Bytes::from_static(RETRY_PREFIX))
        .chain(is_new(&first).then(|| first.frame.clone()));
    stream::iter(opening).chain(rest)
}

struct Live {
    rx: watch::Receiver<Arc<Event>>,
    ended: bool,
    keep_alive: Pin<Box<Sleep>>,
    last_sent: Instant,
}

fn sse_response(body: impl Stream<Item = Bytes> + Send + 'static) -> Response {
    let mut res = Response::new(Body::from_stream(body.map(Ok::<_, Infallible>)));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies such as nginx buffer responses unless told not to; a buffered stream is not live.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// `{"error": code, "message": text}` with a status: the shape every non-server-function error
/// of the HTTP API has.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": code, "message": message });
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_last_event_id_and_ignores_garbage() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("last-event-id", HeaderValue::from_str(value).unwrap());
            last_event_id(&headers)
        };
        assert_eq!(with("1718000000123"), Some(1_718_000_000_123));
        assert_eq!(with(" 42 "), Some(42));
        for garbage in ["", "abc", "-5", "1.5", "99999999999999999999999"] {
            assert_eq!(with(garbage), None, "{garbage:?}");
        }
        assert_eq!(last_event_id(&HeaderMap::new()), None);
    }

    #[test]
    fn an_event_not_newer_than_last_event_id_is_not_sent_again() {
        // (seq, terminal, Last-Event-ID) → what the client gets first.
        let cases = [
            (10, false, None, Opening::Send),
            (10, true, None, Opening::Send),
            (10, false, Some(9), Opening::Send),
            (10, true, Some(9), Opening::Send),
            (10, false, Some(10), Opening::Skip),
            (10, false, Some(11), Opening::Skip),
            (10, true, Some(10), Opening::Over),
            (10, true, Some(11), Opening::Over),
        ];
        for (seq, terminal, seen, expected) in cases {
            assert_eq!(
                opening(seq, terminal, seen),
                expected,
                "{seq} {terminal} {seen:?}"
            );
        }
    }
}
