//! The connections the HTTP server accepts, kept within bounds so that no
//! client can hold the server: at most [`ConnectionLimits::max_connections`]
//! at once (more wait, unaccepted, in the kernel's queue, instead of taking
//! the file descriptors the database and the providers need); a request's
//! line and headers must arrive within
//! [`ConnectionLimits::header_read_timeout`] (a client sending half a
//! request, a byte now and then, is cut off); and a connection on which
//! nothing moves for [`ConnectionLimits::idle_timeout`] — between requests,
//! or a response the client does not read — is closed. A request body that
//! stalls is cut off by the router's body timeout (`serve`), and a request
//! being handled is never cut off, however long it takes.
//!
//! axum's `serve` offers no such settings, so they live here, in the
//! [`Listener`] it accepts from and the stream each connection reads and
//! writes. The stream tells a request head by its end (an empty line), and
//! the response by the server writing: the server answers each request in
//! one go (no streamed responses), which is what makes that enough. An
//! HTTP/2 connection (its preface) has only the idle timeout.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// How many connections are served at once, and how long a client may be slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; the next ones wait to be accepted.
    pub max_connections: usize,
    /// Time to send a request's line and headers, counted from the
    /// connection's opening or from the first byte of a later request.
    pub header_read_timeout: Duration,
    /// Time a connection may wait with nothing read or written.
    pub idle_timeout: Duration,
}

/// Accepts TCP connections within [`ConnectionLimits`].
pub struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    limits: ConnectionLimits,
    /// When "all connections taken" was last logged (seconds since the epoch).
    warned: AtomicU64,
}

impl LimitedListener {
    /// Accepts from `inner` within `limits`.
    pub fn new(inner: TcpListener, limits: ConnectionLimits) -> Self {
        let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        Self { inner, permits, limits, warned: AtomicU64::new(0) }
    }

    /// Logs, at most once a minute, that new connections wait.
    fn warn_full(&self) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let last = self.warned.load(Ordering::Relaxed);
        if now >= last + 60 && self.warned.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            tracing::warn!(
                max_connections = self.limits.max_connections,
                "every connection slot is taken; new connections wait to be accepted ([http] max_connections)"
            );
        }
    }
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                self.warn_full();
                self.permits.clone().acquire_owned().await.expect("the semaphore is never closed")
            }
        };
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => return (LimitedStream::new(stream, permit, self.limits), addr),
                // The client gave up before it was accepted: next one.
                Err(e) if is_connection_error(&e) => {}
                // Out of file descriptors or memory: wait, and try again.
                Err(e) => {
                    tracing::error!(error = %e, "cannot accept a connection; retrying in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Where a connection is in its exchange with the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for, or reading, a request head, which must be complete by then.
    Head { deadline: Instant },
    /// The head has arrived: the body is read and the request handled.
    Handling,
    /// A response was written: waiting for the next request (keep-alive).
    Answered,
    /// HTTP/2 (the client opened with its preface): requests are frames,
    /// many at once; only the idle timeout applies.
    Multiplexed,
}

/// How an HTTP/2 client opens a connection without TLS.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// One accepted connection: a TCP stream that fails with `TimedOut` when
/// the client is too slow, and frees its slot when dropped.
pub struct LimitedStream {
    inner: TcpStream,
    _slot: OwnedSemaphorePermit,
    limits: ConnectionLimits,
    phase: Phase,
    /// Characters on the head's current line so far (`\r` not counted),
    /// and whether a line came before it: an empty line after one ends the head.
    line: usize,
    lines: bool,
    /// When reading, then writing, began to wait (`None`: not waiting).
    read_waits: Option<Instant>,
    write_waits: Option<Instant>,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
}

impl LimitedStream {
    fn new(inner: TcpStream, slot: OwnedSemaphorePermit, limits: ConnectionLimits) -> Self {
        let now = Instant::now();
        Self {
            inner,
            _slot: slot,
            limits,
            phase: Phase::Head { deadline: now + limits.header_read_timeout },
            line: 0,
            lines: false,
            read_waits: None,
            write_waits: None,
            read_timer: Box::pin(tokio::time::sleep_until(now)),
            write_timer: Box::pin(tokio::time::sleep_until(now)),
        }
    }

    /// Follows the bytes the client sent.
    fn received(&mut self, bytes: &[u8]) {
        if matches!(self.phase, Phase::Head { .. }) && !self.lines && self.line == 0 && bytes.starts_with(H2_PREFACE) {
            self.phase = Phase::Multiplexed;
        }
        for &b in bytes {
            match self.phase {
                Phase::Handling | Phase::Multiplexed => return,
                Phase::Answered => {
                    self.phase = Phase::Head { deadline: Instant::now() + self.limits.header_read_timeout };
                    self.line = 0;
                    self.lines = false;
                }
                Phase::Head { .. } => {}
            }
            match b {
                b'\n' if self.line == 0 && self.lines => self.phase = Phase::Handling,
                b'\n' => {
                    self.lines |= self.line > 0;
                    self.line = 0;
                }
                b'\r' => {}
                _ => self.line += 1,
            }
        }
    }

    /// Follows what the server wrote: a response (not an interim
    /// `100 Continue`) ends the request.
    fn sent(&mut self, bytes: &[u8]) {
        if self.phase == Phase::Handling && !bytes.starts_with(b"HTTP/1.1 1") {
            self.phase = Phase::Answered;
        }
    }

    /// When the pending read must give up: never while a request is
    /// handled, however long that takes (the server then only looks out
    /// for the client closing; a request body that stalls is cut off by the
    /// router's body timeout).
    fn read_deadline(&mut self) -> Option<Instant> {
        match self.phase {
            Phase::Head { deadline } => Some(deadline),
            Phase::Handling => None,
            Phase::Answered | Phase::Multiplexed => {
                Some(*self.read_waits.get_or_insert_with(Instant::now) + self.limits.idle_timeout)
            }
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

/// Polls `timer` set to `deadline`: whether it has passed.
fn expired(timer: &mut Pin<Box<Sleep>>, deadline: Instant, cx: &mut Context<'_>) -> bool {
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    timer.as_mut().poll(cx).is_ready()
}

impl AsyncRead for LimitedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.read_waits = None;
                this.received(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = this.read_deadline() else { return Poll::Pending };
                if expired(&mut this.read_timer, deadline, cx) {
                    let what = match this.phase {
                        Phase::Head { .. } => "the client did not send its request head in time",
                        Phase::Handling | Phase::Answered | Phase::Multiplexed => {
                            "the client sent nothing for too long"
                        }
                    };
                    return Poll::Ready(Err(timed_out(what)));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.write_waits = None;
                this.sent(&buf[..n]);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.write_pending(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                this.write_waits = None;
                if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
                    this.sent(&first[..n.min(first.len())]);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.write_pending(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl LimitedStream {
    /// A write that cannot go on: it fails once the client has read
    /// nothing for the idle timeout.
    fn write_pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let deadline = *self.write_waits.get_or_insert_with(Instant::now) + self.limits.idle_timeout;
        if expired(&mut self.write_timer, deadline, cx) {
            return Poll::Ready(Err(timed_out("the client read nothing of the response for too long")));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    //! Real sockets and the real clock, with timeouts short enough to wait
    //! for; what is checked is what happens, never how long it took.

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits(header_ms: u64, idle_ms: u64) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 2,
            header_read_timeout: Duration::from_millis(header_ms),
            idle_timeout: Duration::from_millis(idle_ms),
        }
    }

    async fn listener(limits: ConnectionLimits) -> LimitedListener {
        LimitedListener::new(TcpListener::bind("127.0.0.1:0").await.unwrap(), limits)
    }

    /// A client connected to `listener`, and its accepted stream.
    async fn pair(listener: &mut LimitedListener) -> (TcpStream, LimitedStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await;
        (client, server)
    }

    #[tokio::test]
    async fn a_head_sent_too_slowly_times_out_even_when_bytes_keep_coming() {
        let mut listener = listener(limits(300, 60_000)).await;
        let (mut client, mut server) = pair(&mut listener).await;
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            loop {
                match server.read(&mut buf).await {
                    Ok(0) => return None,
                    Ok(_) => {}
                    Err(e) => return Some(e.kind()),
                }
            }
        });
        // A byte every 50 ms, well within the idle timeout, for up to 10 s.
        for _ in 0..200 {
            if reader.is_finished() || client.write_all(b"X").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(reader.await.unwrap(), Some(io::ErrorKind::TimedOut));
    }

    #[tokio::test]
    async fn a_complete_head_is_not_cut_off_and_the_next_one_has_its_own_time() {
        let mut listener = listener(limits(200, 100)).await;
        let (mut client, mut server) = pair(&mut listener).await;
        client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 256];
        let mut got = 0;
        while server.phase != Phase::Handling {
            got += server.read(&mut buf[got..]).await.unwrap();
        }
        // Handling takes longer than a head may, and longer than the idle
        // timeout, with the server waiting on a read: not cut off.
        let waiting = tokio::time::timeout(Duration::from_millis(400), server.read(&mut buf[got..])).await;
        assert!(waiting.is_err(), "the read still waits: {waiting:?}");
        server.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.unwrap();
        assert_eq!(server.phase, Phase::Answered);
        client.write_all(b"GET /next HTTP/1.1\r\n").await.unwrap();
        let _ = server.read(&mut buf).await.unwrap();
        assert!(matches!(server.phase, Phase::Head { .. }), "{:?}", server.phase);
        let e = server.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn interim_responses_do_not_end_the_request() {
        let mut listener = listener(limits(10_000, 60_000)).await;
        let (mut client, mut server) = pair(&mut listener).await;
        client.write_all(b"POST / HTTP/1.1\nExpect: 100-continue\n\n").await.unwrap();
        let mut buf = [0u8; 256];
        while server.phase != Phase::Handling {
            let _ = server.read(&mut buf).await.unwrap();
        }
        server.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.unwrap();
        assert_eq!(server.phase, Phase::Handling);
        server.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await.unwrap();
        assert_eq!(server.phase, Phase::Answered);
    }

    #[tokio::test]
    async fn http2_connections_answer_to_the_idle_timeout_only() {
        let mut listener = listener(limits(200, 60_000)).await;
        let (mut client, mut server) = pair(&mut listener).await;
        client.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        let _ = server.read(&mut buf).await.unwrap();
        assert_eq!(server.phase, Phase::Multiplexed);
        server.write_all(b"\0\0\0\x04\0\0\0\0\0").await.unwrap();
        client.write_all(b"frame").await.unwrap();
        let _ = server.read(&mut buf).await.unwrap();
        assert_eq!(server.phase, Phase::Multiplexed);
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_and_its_slot_freed() {
        let mut listener = listener(limits(10_000, 300)).await;
        let (_a, mut first) = pair(&mut listener).await;
        let (_b, _second) = pair(&mut listener).await;
        // Both slots taken: a third client waits to be accepted.
        let _c = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
        assert!(third.is_err(), "a third connection was accepted");
        // The first, answered, waits for a next request that does not come.
        first.phase = Phase::Answered;
        let mut buf = [0u8; 16];
        let e = first.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(30), listener.accept()).await;
        assert!(third.is_ok(), "the freed slot was not given to the waiting connection");
    }
}
