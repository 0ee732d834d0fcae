//! The one timer of our own: a request's head must reach the app within a few seconds of its first byte.
//! hyper's `header_read_timeout` runs from the moment a connection waits for a head, so it cannot tell a
//! slowloris (a head trickled a byte at a time) from an idle keep-alive connection; this timer can, without
//! parsing anything: it starts at the first byte read after the app last received a head and stops when the
//! app receives the next one. A connection past its deadline while waiting for bytes is closed.
//! Over h2 it runs once, from the handshake to the first request (preface, SETTINGS and HEADERS); h2's own
//! PINGs watch the connection after that.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// When the head being read must have arrived.
#[derive(Debug)]
pub(super) struct ArrivalTimer {
    limit: Duration,
    /// Over h2: only the first request is timed.
    first_only: bool,
    deadline: Cell<Option<Instant>>,
}

impl ArrivalTimer {
    pub(super) fn new(limit: Duration, first_only: bool) -> Self {
        Self {
            limit,
            first_only,
            deadline: Cell::new(first_only.then(|| Instant::now() + limit)),
        }
    }

    /// A request's head reached the app.
    pub(super) fn arrived(&self) {
        self.deadline.set(None);
    }

    fn bytes_read(&self) {
        if !self.first_only && self.deadline.get().is_none() {
            self.deadline.set(Some(Instant::now() + self.limit));
        }
    }
}

/// A connection's IO, closed (`TimedOut`) when a read waits past its timer's deadline.
pub(super) struct Timed<T> {
    io: T,
    timer: Rc<ArrivalTimer>,
    /// Made the first time a read waits with a deadline set; reset after that.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<T> Timed<T> {
    pub(super) fn new(io: T, timer: Rc<ArrivalTimer>) -> Self {
        Self {
            io,
            timer,
            sleep: None,
        }
    }

    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(deadline) = self.timer.deadline.get() else {
            return Poll::Pending;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request's head did not arrive in time",
            ))),
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
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.timer.bytes_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => this.poll_deadline(cx),
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

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
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
        Rc<ArrivalTimer>,
        tokio::io::DuplexStream,
    ) {
        let (client, server) = tokio::io::duplex(1024);
        let timer = Rc::new(ArrivalTimer::new(LIMIT, first_only));
        (Timed::new(server, timer.clone()), timer, client)
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
        let (mut io, _timer, mut client) = connection(false);
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
        let (mut io, timer, mut client) = connection(false);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert_eq!(read_within(&mut io, LIMIT).await, Some(Ok(18)));
        timer.arrived();
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
        let (mut io, _timer, _client) = connection(true);
        assert_eq!(
            read_within(&mut io, 2 * LIMIT).await,
            Some(Err(io::ErrorKind::TimedOut))
        );
        let (mut io, timer, mut client) = connection(true);
        client.write_all(b"PRI").await.unwrap();
        assert_eq!(read_within(&mut io, LIMIT).await, Some(Ok(3)));
        timer.arrived();
        client.write_all(b"PING").await.unwrap();
        assert_eq!(read_within(&mut io, LIMIT).await, Some(Ok(4)));
        assert_eq!(read_within(&mut io, 60 * LIMIT).await, None);
    }
}
