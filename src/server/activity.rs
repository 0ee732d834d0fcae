//! What a connection's IO and its requests tell each other: when a request's head began to arrive, and how
//! many requests are being answered.
//!
//! The one timer of our own: a request's head must reach the app within a few seconds of its first byte.
//! hyper's `header_read_timeout` runs from the moment a connection waits for a head, so it cannot tell a
//! slowloris (a head trickled a byte at a time) from an idle keep-alive connection; this timer can, without
//! parsing anything: it starts at the first byte read after the app last received a head and stops when the
//! app receives the next one. A connection past its deadline while waiting for bytes is closed. Over h2 it
//! runs once, from the handshake to the first request; h2's own PINGs watch the connection after that.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// One connection's activity.
#[derive(Debug)]
pub(super) struct Activity {
    limit: Duration,
    /// Over h2: only the first request is timed.
    first_only: bool,
    /// When the head being read must have arrived.
    deadline: Cell<Option<Instant>>,
    /// Requests received, and those still being answered.
    opened: Cell<u64>,
    open: Cell<usize>,
}

impl Activity {
    pub(super) fn new(limit: Duration, first_only: bool) -> Rc<Self> {
        Rc::new(Self {
            limit,
            first_only,
            deadline: Cell::new(first_only.then(|| Instant::now() + limit)),
            opened: Cell::new(0),
            open: Cell::new(0),
        })
    }

    /// A request's head reached the app: its timer stops, and it counts as open while the guard lives.
    pub(super) fn arrived(self: &Rc<Self>) -> OpenRequest {
        self.deadline.set(None);
        self.opened.set(self.opened.get() + 1);
        self.open.set(self.open.get() + 1);
        OpenRequest(self.clone())
    }

    pub(super) fn opened(&self) -> u64 {
        self.opened.get()
    }

    pub(super) fn open(&self) -> usize {
        self.open.get()
    }

    fn bytes_read(&self) {
        if !self.first_only && self.deadline.get().is_none() {
            self.deadline.set(Some(Instant::now() + self.limit));
        }
    }
}

/// A request being answered, until its answer is sent or dropped.
pub(super) struct OpenRequest(Rc<Activity>);

impl Drop for OpenRequest {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get() - 1);
    }
}

/// A connection's IO, closed (`TimedOut`) when a read waits past its activity's deadline.
pub(super) struct Timed<T> {
    io: T,
    activity: Rc<Activity>,
    /// Made the first time a read waits with a deadline set; reset after that.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<T> Timed<T> {
    pub(super) fn new(io: T, activity: Rc<Activity>) -> Self {
        Self {
            io,
            activity,
            sleep: None,
        }
    }

    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(deadline) = self.activity.deadline.get() else {
            return Poll::Pending;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Timed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending => this.poll_deadline(cx),
            read => {
                if buf.filled().len() > before {
                    this.activity.bytes_read();
                }
                read
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Timed<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMIT: Duration = Duration::from_secs(5);

    /// A timed server side and the client's end of an in-memory connection.
    fn connection(
        first_only: bool,
    ) -> (
        Timed<tokio::io::DuplexStream>,
        Rc<Activity>,
        tokio::io::DuplexStream,
    ) {
        let (client, server) = tokio::io::duplex(1024);
        let activity = Activity::new(LIMIT, first_only);
        (Timed::new(server, activity.clone()), activity, client)
    }

    /// What the next read does within `wait`: `Some(Ok(n))`, `Some(Err(kind))` or `None` (still waiting).
    async fn read_within(
        io: &mut Timed<tokio::io::DuplexStream>,
        wait: Duration,
    ) -> Option<Result<usize, io::ErrorKind>> {
        let mut buf = [0; 64];
        tokio::time::timeout(wait, io.read(&mut buf))
            .await
            .ok()
            .map(|read| read.map_err(|err| err.kind()))
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_not_timed_and_a_head_begun_is() {
        let (mut io, _activity, mut client) = connection(false);
        assert_eq!(read_within(&mut io, 60 * LIMIT).await, None);
        client.write_all(b"GET / HT").await.unwrap();
        assert_eq!(read_within(&mut io, LIMIT).await, Some(Ok(8)));
        // More bytes do not restart it: 4 s later, then nothing more; cut 5 s after the first byte.
        tokio::time::sleep(Duration::from_secs(4)).await;
        client.write_all(b"TP/1.1").await.unwrap();
        assert_eq!(read_within(&mut io, LIMIT).await, Some(Ok(6)));
        let started = Instant::now();
        assert_eq!(
            read_within(&mut io, 2 * LIMIT).await,
            Some(Err(io::ErrorKind::TimedOut))
        );
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_arrives_stops_the_timer_until_the_next_begins() {
        let (mut io, activity, mut client) = connection(false);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert_eq!(read_within(&mut io, LIMIT).await, Some(Ok(18)));
        drop(activity.arrived());
        assert_eq!(read_within(&mut io, 60 * LIMIT).await, None);
        client.write_all(b"G").await.unwrap();
        assert_eq!(read_within(&mut io, LIMIT).await, Some(Ok(1)));
        assert_eq!(
            read_within(&mut io, 2 * LIMIT).await,
            Some(Err(io::ErrorKind::TimedOut))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn over_h2_only_the_first_request_is_timed_and_from_the_start() {
        let (mut io, _activity, _client) = connection(true);
        assert_eq!(
            read_within(&mut io, 2 * LIMIT).await,
            Some(Err(io::ErrorKind::TimedOut))
        );
        let (mut io, activity, mut client) = connection(true);
        client.write_all(b"PRI").await.unwrap();
        assert_eq!(read_within(&mut io, LIMIT).await, Some(Ok(3)));
        drop(activity.arrived());
        client.write_all(b"PING").await.unwrap();
        assert_eq!(read_within(&mut io, LIMIT).await, Some(Ok(4)));
        assert_eq!(read_within(&mut io, 60 * LIMIT).await, None);
    }
}
