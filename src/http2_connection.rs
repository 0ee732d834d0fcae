//! What actix-http's HTTP/2 connections lack, added between TLS and actix-http: the stream limit is
//! advertised, and a shutdown closes them.
//!
//! **`SETTINGS_MAX_CONCURRENT_STREAMS`.** actix-http builds its h2
//! connections with window sizes only, so clients were never told a limit: Go's transport (the aggregator,
//! the HPA, kubectl) then opens as many streams as it has requests, and past `stream_limit`'s bound those
//! got 429s. The server's first frame on a connection is its SETTINGS (RFC 9113 §3.4); this wrapper sits
//! between TLS and actix-http, holds the bytes written until that frame is complete, adds the one setting
//! and lets everything after it pass untouched. Conforming clients then queue or open another connection
//! instead of exceeding it; a client that ignores it still meets `stream_limit`'s 429 (the h2 library
//! underneath does not know the limit, so it cannot answer `REFUSED_STREAM`).
//!
//! **Shutdown.** actix-http closes idle HTTP/1.1 connections on SIGTERM but not h2 ones, so one idle
//! aggregator connection held the exit for actix-server's 30 s shutdown timeout — Kubernetes' whole grace
//! period. Once the shutdown starts, a connection with no answer undelivered reads end-of-stream: h2 ends
//! the connection, and the client's next request opens a new one (to a pod that is not stopping). One
//! with answers in progress is read as usual until they are delivered.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::stream_limit::Undelivered;

/// Frame header: 24-bit length, type, flags, 31-bit stream id.
const FRAME_HEADER: usize = 9;
const SETTINGS: u8 = 0x4;
const ACK: u8 = 0x1;
const MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// The frame size every peer must accept (RFC 9113 §4.2); a first frame longer than this is not h2's.
const MAX_FIRST_FRAME: usize = 16_384;

/// What the connection still has to do with its first frame.
#[derive(Debug)]
enum State {
    /// Collecting the first frame's bytes (accepted from the writer, not yet passed on).
    Collecting {
        limit: u32,
        held: Vec<u8>,
    },
    /// Passing on the collected bytes, the setting added, before anything else.
    Draining {
        bytes: Vec<u8>,
        written: usize,
    },
    Passthrough,
}

/// Resolves when the server's graceful shutdown starts.
pub type ShutdownSignal = Pin<Box<dyn Future<Output = ()>>>;

/// An I/O stream whose first HTTP/2 SETTINGS frame carries `SETTINGS_MAX_CONCURRENT_STREAMS` and which
/// ends when the server shuts down and it has nothing undelivered.
pub struct Http2Connection<T> {
    inner: T,
    state: State,
    /// The answers of this connection's requests not yet handed over (`stream_limit` counts them).
    undelivered: Undelivered,
    /// h2 only: resolves when the shutdown starts; `None` once it has.
    shutdown: Option<ShutdownSignal>,
    shutting_down: bool,
}

/// What an h2 connection is told: its stream limit and the shutdown.
pub struct Http2 {
    pub max_streams: u32,
    pub shutdown: ShutdownSignal,
}

impl<T> Http2Connection<T> {
    /// `Some` for an h2 connection; `None` passes every byte through (HTTP/1.1, which actix-http shuts
    /// down itself).
    pub fn new(inner: T, http2: Option<Http2>) -> Self {
        let (state, shutdown) = match http2 {
            Some(http2) => (
                State::Collecting {
                    limit: http2.max_streams,
                    held: Vec::with_capacity(64),
                },
                Some(http2.shutdown),
            ),
            None => (State::Passthrough, None),
        };
        Self {
            inner,
            state,
            undelivered: Undelivered::default(),
            shutdown,
            shutting_down: false,
        }
    }

    /// The connection's count of undelivered answers, for its requests.
    pub fn undelivered(&self) -> &Undelivered {
        &self.undelivered
    }

    /// The stream underneath (the TLS session: peer certificates, ALPN).
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

/// The first frame with the setting added, when `bytes` starts with a complete one; `None` while more
/// bytes are needed. A first frame that is not a SETTINGS frame, or already names the setting, is left
/// as it is.
fn with_limit(bytes: &[u8], limit: u32) -> Option<Vec<u8>> {
    if bytes.len() < FRAME_HEADER {
        return None;
    }
    let length = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
    let untouched = || Some(bytes.to_vec());
    if length > MAX_FIRST_FRAME {
        return untouched();
    }
    if bytes.len() < FRAME_HEADER + length {
        return None;
    }
    let (kind, flags, stream) = (bytes[3], bytes[4], &bytes[5..9]);
    let payload = &bytes[FRAME_HEADER..FRAME_HEADER + length];
    let names_it = payload.chunks(6).any(|entry| {
        entry.len() == 6 && u16::from_be_bytes([entry[0], entry[1]]) == MAX_CONCURRENT_STREAMS
    });
    if kind != SETTINGS || flags & ACK != 0 || stream != [0; 4] || length % 6 != 0 || names_it {
        return untouched();
    }
    let grown = length + 6;
    let mut out = Vec::with_capacity(bytes.len() + 6);
    out.extend_from_slice(&[(grown >> 16) as u8, (grown >> 8) as u8, grown as u8]);
    out.extend_from_slice(&bytes[3..FRAME_HEADER + length]);
    out.extend_from_slice(&MAX_CONCURRENT_STREAMS.to_be_bytes());
    out.extend_from_slice(&limit.to_be_bytes());
    out.extend_from_slice(&bytes[FRAME_HEADER + length..]);
    Some(out)
}

impl<T: AsyncWrite + Unpin> Http2Connection<T> {
    /// Writes what `Draining` holds; `Ready(Ok)` once it is all out and the stream passes through.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let State::Draining { bytes, written } = &mut self.state {
            if *written == bytes.len() {
                self.state = State::Passthrough;
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Http2Connection<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let State::Collecting { limit, held } = &mut this.state {
            held.extend_from_slice(buf);
            // Held until the frame is complete: with_limit decides by the time a frame header and the
            // longest first frame's payload are in.
            if let Some(bytes) = with_limit(held, *limit) {
                this.state = State::Draining { bytes, written: 0 };
                // The bytes are taken; whether they are out yet is the flush's (or next write's) business.
                if let Poll::Ready(Err(error)) = this.poll_drain(cx) {
                    return Poll::Ready(Err(error));
                }
            }
            return Poll::Ready(Ok(buf.len()));
        }
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_write(cx, buf),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if matches!(this.state, State::Passthrough) {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        Pin::new(this).poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        matches!(self.state, State::Passthrough) && self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Http2Connection<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Polled on every read, so the shutdown wakes a connection parked on its socket.
        if let Some(shutdown) = &mut this.shutdown
            && shutdown.as_mut().poll(cx).is_ready()
        {
            this.shutdown = None;
            this.shutting_down = true;
        }
        if this.shutting_down && this.undelivered.is_empty() {
            // End of stream: nothing is filled in.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// h2's server preface as the crate writes it: SETTINGS with two entries, then a WINDOW_UPDATE.
    fn preface() -> Vec<u8> {
        let mut bytes = vec![0, 0, 12, SETTINGS, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&[0, 4, 0, 0x10, 0, 0]); // INITIAL_WINDOW_SIZE 1 MiB
        bytes.extend_from_slice(&[0, 6, 0, 0x01, 0, 0]); // MAX_HEADER_LIST_SIZE 64 KiB
        bytes.extend_from_slice(&[0, 0, 4, 0x8, 0, 0, 0, 0, 0, 0, 0x0f, 0, 1]); // WINDOW_UPDATE
        bytes
    }

    fn settings_of(bytes: &[u8]) -> Vec<(u16, u32)> {
        let length = usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        bytes[9..9 + length]
            .chunks(6)
            .map(|e| {
                (
                    u16::from_be_bytes([e[0], e[1]]),
                    u32::from_be_bytes([e[2], e[3], e[4], e[5]]),
                )
            })
            .collect()
    }

    #[test]
    fn the_first_settings_frame_gains_the_limit_and_what_follows_is_untouched() {
        let out = with_limit(&preface(), 100).unwrap();
        assert_eq!(
            settings_of(&out),
            vec![(4, 0x10_0000), (6, 0x1_0000), (3, 100)]
        );
        assert_eq!(&out[27..], &preface()[21..], "the WINDOW_UPDATE after it");
        assert_eq!(with_limit(&preface()[..20], 100), None, "incomplete");
        assert_eq!(with_limit(&preface()[..5], 100), None, "no header yet");
    }

    #[test]
    fn frames_that_are_not_a_first_settings_frame_pass_unchanged() {
        let mut ack = preface();
        ack[4] = ACK;
        assert_eq!(with_limit(&ack, 7), Some(ack.clone()));
        let mut ping = vec![0, 0, 8, 0x6, 0, 0, 0, 0, 0];
        ping.extend_from_slice(&[1; 8]);
        assert_eq!(with_limit(&ping, 7), Some(ping.clone()));
        let named = [0, 0, 6, SETTINGS, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 9];
        assert_eq!(with_limit(&named, 7), Some(named.to_vec()));
        let huge = [0x7f, 0xff, 0xff, SETTINGS, 0, 0, 0, 0, 0];
        assert_eq!(with_limit(&huge, 7), Some(huge.to_vec()));
    }

    fn http2(max_streams: u32) -> Http2 {
        Http2 {
            max_streams,
            shutdown: Box::pin(std::future::pending()),
        }
    }

    /// The writer underneath takes one byte per call: the rewrite must not depend on write sizes.
    #[tokio::test]
    async fn written_a_byte_at_a_time_and_read_back_whole() {
        let (server, mut client) = tokio::io::duplex(1);
        let mut advertised = Http2Connection::new(server, Some(http2(250)));
        let preface = preface();
        let writer = async {
            for chunk in preface.chunks(5) {
                advertised.write_all(chunk).await.unwrap();
            }
            advertised.write_all(b"after").await.unwrap();
            advertised.flush().await.unwrap();
            advertised.shutdown().await.unwrap();
        };
        let reader = async {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        };
        let ((), got) = tokio::join!(writer, reader);
        assert_eq!(
            settings_of(&got),
            vec![(4, 0x10_0000), (6, 0x1_0000), (3, 250)]
        );
        assert_eq!(&got[27..got.len() - 5], &preface[21..]);
        assert!(got.ends_with(b"after"));
    }

    #[tokio::test]
    async fn after_the_shutdown_an_idle_connection_reads_its_end_and_a_busy_one_reads_on() {
        let (server, mut client) = tokio::io::duplex(64);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut connection = Http2Connection::new(
            server,
            Some(Http2 {
                max_streams: 100,
                shutdown: Box::pin(async move {
                    let _ = rx.await;
                }),
            }),
        );
        let undelivered = connection.undelivered().clone();
        let mut got = [0u8; 4];
        client.write_all(b"one").await.unwrap();
        assert_eq!(connection.read(&mut got).await.unwrap(), 3);
        let answer = undelivered.admit(1).unwrap();
        tx.send(()).unwrap();
        client.write_all(b"two").await.unwrap();
        assert_eq!(connection.read(&mut got).await.unwrap(), 3, "busy: read on");
        drop(answer);
        client.write_all(b"three").await.unwrap();
        assert_eq!(connection.read(&mut got).await.unwrap(), 0, "idle: end");
    }

    #[tokio::test]
    async fn http1_passes_through() {
        let (server, mut client) = tokio::io::duplex(64);
        let mut plain = Http2Connection::new(server, None);
        plain.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        plain.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"HTTP/1.1 200 OK\r\n");
    }
}
