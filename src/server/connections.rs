//! The limit on open HTTP connections per server: a listener that counts the connections it hands
//! to axum and, past `--max-connections`, answers a new one itself with 503, `Retry-After` and a
//! JSON body naming the limit, then closes it. Nothing past the limit reaches the router, so a
//! flood of connections costs a few bytes each and never exhausts file descriptors.
//!
//! Also: the three connection settings of `serve` ([`ConnectionLimits`]), and fitting them to the
//! process's open-file limit at start ([`fit_to_open_files`]) — the soft limit is raised to the
//! hard one where the system allows, as Go's runtime does, and a setting the limit cannot back is
//! lowered with a warning. It does not own the progress streams' own limits (`watchers.rs`).

use crate::model::limits::{self, thousands};
use axum::serve::Listener;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Refused connections being answered at once; beyond, a refused connection is closed unanswered.
const MAX_REFUSING: usize = 256;
/// How long a refused connection may take to send its request head and read the 503.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);
/// The most of a refused connection's request that is read (its head, to find its end).
const MAX_REFUSED_HEAD: usize = 16 << 10;

/// How many connections and progress streams `serve` keeps open (the `--max-…` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_progress_streams: usize,
    pub max_watchers_per_batch: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: limits::MAX_CONNECTIONS,
            max_progress_streams: limits::MAX_PROGRESS_STREAMS,
            max_watchers_per_batch: limits::MAX_WATCHERS_PER_BATCH,
        }
    }
}

/// `limits` made consistent, and able to be met within `open_files` descriptors (the soft limit,
/// if known), with a note for each setting lowered:
/// - connections ≤ ¾ of the open files (the rest is for Dify calls, the database and files);
/// - progress streams ≤ ⅚ of the connections, so pages and API calls still get through when
///   every stream slot is taken;
/// - watchers of one batch ≤ progress streams.
///
/// Every limit is at least 1.
pub fn fit(limits: ConnectionLimits, open_files: Option<u64>) -> (ConnectionLimits, Vec<String>) {
    let mut out = ConnectionLimits {
        max_connections: limits.max_connections.max(1),
        max_progress_streams: limits.max_progress_streams.max(1),
        max_watchers_per_batch: limits.max_watchers_per_batch.max(1),
    };
    let mut notes = Vec::new();
    if let Some(files) = open_files {
        let usable = usize::try_from(files / 4 * 3).unwrap_or(usize::MAX).max(1);
        if out.max_connections > usable {
            notes.push(format!(
                "--max-connections lowered from {} to {}: the process may open {} files (ulimit -n); \
                 raise that limit to allow more",
                thousands(out.max_connections),
                thousands(usable),
                thousands(usize::try_from(files).unwrap_or(usize::MAX)),
            ));
            out.max_connections = usable;
        }
    }
    let streams = (out.max_connections.saturating_mul(5) / 6).max(1);
    if out.max_progress_streams > streams {
        notes.push(format!(
            "--max-progress-streams lowered from {} to {}, so that pages and API calls still get \
             one of the {} connections",
            thousands(out.max_progress_streams),
            thousands(streams),
            thousands(out.max_connections),
        ));
        out.max_progress_streams = streams;
    }
    if out.max_watchers_per_batch > out.max_progress_streams {
        out.max_watchers_per_batch = out.max_progress_streams;
    }
    (out, notes)
}

/// [`fit`] against this process's open-file limit, raised first as far as allowed; each setting
/// lowered is logged as a warning.
pub fn fit_to_open_files(limits: ConnectionLimits) -> ConnectionLimits {
    let (fitted, notes) = fit(limits, raise_open_file_limit());
    for note in notes {
        tracing::warn!("{note}");
    }
    fitted
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force.
#[cfg(unix)]
fn raise_open_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    // `rlim_t` is u64 on Linux, but not on every unix.
    #[allow(clippy::unnecessary_cast)]
    let soft = lim.rlim_cur as u64;
    (lim.rlim_cur != libc::RLIM_INFINITY).then_some(soft)
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> Option<u64> {
    None
}

/// A TCP listener that lets at most `max` connections be open at once.
pub struct CappedListener {
    inner: TcpListener,
    max: usize,
    open: Arc<AtomicUsize>,
    refusing: Arc<AtomicUsize>,
    /// The whole 503 answer, built once.
    refusal: Arc<[u8]>,
}

impl CappedListener {
    pub fn new(inner: TcpListener, max: usize) -> CappedListener {
        let max = max.max(1);
        CappedListener {
            inner,
            max,
            open: Arc::new(AtomicUsize::new(0)),
            refusing: Arc::new(AtomicUsize::new(0)),
            refusal: refusal(max).into(),
        }
    }

    /// Answers a connection past the limit with the 503, in the background and bounded in time;
    /// with too many such answers under way, closes it at once instead.
    fn refuse(&self, tcp: TcpStream) {
        let Some(slot) = Slot::take(&self.refusing, MAX_REFUSING) else {
            return;
        };
        let refusal = Arc::clone(&self.refusal);
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tokio::time::timeout(REFUSAL_TIMEOUT, answer(tcp, &refusal)).await;
        });
    }
}

impl Listener for CappedListener {
    type Io = Counted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Counted, SocketAddr) {
        loop {
            // axum's own accept: it retries (and backs off on) accept errors such as EMFILE.
            let (tcp, addr) = Listener::accept(&mut self.inner).await;
            match Slot::take(&self.open, self.max) {
                Some(slot) => return (Counted { tcp, _slot: slot }, addr),
                None => self.refuse(tcp),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The 503 a connection past the limit gets, as raw HTTP/1.1.
fn refusal(max: usize) -> Vec<u8> {
    let body = serde_json::json!({
        "error": "too_many_connections",
        "message": format!(
            "this server has {} connections open, its limit (--max-connections, \
             DIFY_BENCH_MAX_CONNECTIONS); try again later",
            thousands(max)
        ),
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: {}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        limits::RETRY_AFTER_SECS,
        body.len()
    )
    .into_bytes()
}

/// Reads the request head, sends `refusal`, and waits for the client to close. The head is read
/// first because closing a socket with unread input sends a reset, which can destroy the answer
/// before the client has read it.
async fn answer(mut tcp: TcpStream, refusal: &[u8]) -> io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REFUSED_HEAD {
        match tcp.read(&mut buf).await? {
            0 => break,
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    tcp.write_all(refusal).await?;
    tcp.shutdown().await?;
    while tcp.read(&mut buf).await? > 0 {}
    Ok(())
}

/// One unit of a counter bounded by a maximum, given back on drop.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(counter: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(counter)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An accepted connection that holds its place in the count until hyper drops it.
pub struct Counted {
    tcp: TcpStream,
    _slot: Slot,
}

impl Counted {
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(c: usize, s: usize, w: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: c,
            max_progress_streams: s,
            max_watchers_per_batch: w,
        }
    }

    #[test]
    fn the_defaults_fit_a_generous_open_file_limit_unchanged() {
        let (fitted, notes) = fit(ConnectionLimits::default(), Some(1 << 20));
        assert_eq!(fitted, ConnectionLimits::default());
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(fit(ConnectionLimits::default(), None).0, fitted);
    }

    #[test]
    fn a_small_open_file_limit_lowers_every_limit_with_a_note() {
        let (fitted, notes) = fit(ConnectionLimits::default(), Some(1024));
        assert_eq!(fitted, limits(768, 640, 640));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].starts_with("--max-connections lowered from 12,000 to 768"),
            "{}",
            notes[0]
        );
        assert!(notes[1].starts_with("--max-progress-streams lowered from 10,000 to 640"));
    }

    #[test]
    fn settings_are_made_consistent_and_at_least_one() {
        assert_eq!(fit(limits(0, 0, 0), None).0, limits(1, 1, 1));
        assert_eq!(fit(limits(4, 100, 100), None).0, limits(4, 3, 3));
        assert_eq!(fit(limits(100, 10, 50), None).0, limits(100, 10, 10));
    }

    #[test]
    fn slots_are_bounded_and_given_back() {
        let counter = Arc::new(AtomicUsize::new(0));
        let a = Slot::take(&counter, 2).unwrap();
        let b = Slot::take(&counter, 2).unwrap();
        assert!(Slot::take(&counter, 2).is_none());
        drop(a);
        let c = Slot::take(&counter, 2).unwrap();
        drop((b, c));
        assert_eq!(counter.load(Ordering::Acquire), 0);
    }

    #[test]
    fn the_refusal_is_a_complete_503_naming_the_limit() {
        let text = String::from_utf8(refusal(12_000)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(head.contains("\r\nretry-after: 5\r\n"));
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "too_many_connections");
        assert!(json["message"]
            .as_str()
            .unwrap()
            .contains("12,000 connections open, its limit (--max-connections"));
    }
}
