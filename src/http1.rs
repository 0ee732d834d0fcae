//! HTTP/1.1 requests, read on their way to actix-http: the heads its parser would refuse with a bodiless
//! `400` or `431` (a target of 64 KiB or more, a head of 128 KiB, 97 header fields, bytes that are not a
//! request, a malformed chunked body), and requests that do not arrive whole within the request timeout
//! (its bodiless `408`, or none at all), are refused here instead, with a `metav1.Status` body like every
//! other error.
//!
//! actix-http has no hook for its parser's refusals, so [`Guarded`] sits between the TLS stream and actix:
//! it runs the same parser (`httparse`, actix's limits and header rules, actix's chunked decoder's states)
//! over each head and body as its bytes pass and, on a head actix would refuse, holds that head's remaining
//! bytes back and tells actix the client has stopped sending. actix answers what it has in hand, then shuts
//! the connection down; the refusal is written just before the shutdown — after every earlier answer, as a
//! pipelining client expects. Content-Length and chunked bodies are skipped to the next head; only a
//! WebSocket upgrade or a CONNECT, whose rest of the connection is body to actix, ends the following.
//!
//! The timeout covers every request, head and body, from its first byte: actix-http times only a
//! connection's first head, so one byte of the next head held a kept-alive connection for good, and it
//! drains a chunked body it answered without reading for as long as the client sends one.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_web::ResponseError;
use actix_web::body::MessageBody;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::api::status::ApiError;

/// The longest head passed on: actix-http refuses a partial head once it holds 128 KiB
/// (`MAX_BUFFER_SIZE`), so a longer head is refused here before actix holds that much of it.
pub const MAX_HEAD_BYTES: usize = 128 * 1024 - 1;
/// The longest request target: the `http` crate's `Uri` takes up to `u16::MAX - 1` bytes.
pub const MAX_TARGET_BYTES: usize = u16::MAX as usize - 1;
/// actix-http parses up to 96 header fields; more is its 431.
const MAX_HEADERS: usize = 96;

/// A head refused: the Status to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 408, 414 or 431.
    pub code: u16,
    /// What the client is told.
    pub message: String,
}

/// What to do with bytes just read.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Pass them all on.
    Pass,
    /// Pass on the first `keep` (the heads before the refused one) and refuse.
    Refuse {
        /// Bytes of the chunk that precede the refused head's bytes in it.
        keep: usize,
        /// The answer.
        refusal: Refusal,
    },
}

/// Where a connection's byte stream stands: inside a head (the part that came in earlier reads), inside a
/// body, past the point it can be followed, or refused.
#[derive(Debug, Default)]
pub struct Heads {
    /// The current head's bytes from earlier reads, when it spans reads.
    partial: Vec<u8>,
    /// Bytes of the current request's Content-Length body still to come.
    body_left: u64,
    /// Inside a chunked body: where its decoder stands.
    chunked: Option<Chunk>,
    /// A WebSocket upgrade or a CONNECT was passed: the rest is its body, for actix alone to read.
    unfollowed: bool,
    /// A head was refused: nothing more is read.
    refused: bool,
    /// Heads complete so far.
    completed: u64,
}

/// What follows a head, as actix-http's decoder reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// That many bytes (none for 0).
    Length(u64),
    Chunked,
    /// Everything to the end of the connection.
    Stream,
}

/// What one head's parse says.
enum Head {
    /// Complete: `len` bytes, then its body.
    Complete {
        len: usize,
        body: Body,
    },
    /// More bytes are needed.
    Partial,
    Refused(Refusal),
}

/// actix-http's chunked decoder's states (`h1::chunked::ChunkedState`), with the numbers they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    SizeFirst,
    /// Within the hex digits of a chunk's size, that far.
    Size(u64),
    /// Spaces after the size.
    SizeSpace(u64),
    Extension(u64),
    SizeLf(u64),
    /// Within a chunk's data: bytes left.
    Data(u64),
    DataCr,
    DataLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
}

impl Heads {
    /// Judges `chunk`, the bytes read after everything judged before.
    pub fn judge(&mut self, chunk: &[u8]) -> Verdict {
        let mut offset = 0;
        while !self.unfollowed && !self.refused && offset < chunk.len() {
            if self.body_left > 0 {
                let skipped = self.body_left.min((chunk.len() - offset) as u64);
                self.body_left -= skipped;
                offset += skipped as usize;
                continue;
            }
            if let Some(state) = self.chunked {
                match read_chunked(state, &chunk[offset..]) {
                    Ok((used, next)) => {
                        offset += used;
                        self.chunked = next;
                    }
                    Err((at, why)) => {
                        self.chunked = None;
                        return self.refuse(
                            offset + at,
                            Refusal::bad_request(format!("malformed chunked body: {why}")),
                        );
                    }
                }
                continue;
            }
            let earlier = self.partial.len();
            let head = if earlier == 0 {
                parse(&chunk[offset..])
            } else {
                self.partial.extend_from_slice(&chunk[offset..]);
                parse(&self.partial)
            };
            match head {
                Head::Complete { len, body } => {
                    offset += len - earlier;
                    self.completed += 1;
                    self.forget_partial();
                    match body {
                        Body::Length(length) => self.body_left = length,
                        Body::Chunked => self.chunked = Some(Chunk::SizeFirst),
                        Body::Stream => self.unfollowed = true,
                    }
                }
                Head::Partial => {
                    if earlier == 0 {
                        self.partial.extend_from_slice(&chunk[offset..]);
                    }
                    return Verdict::Pass;
                }
                Head::Refused(refusal) => {
                    self.forget_partial();
                    return self.refuse(offset, refusal);
                }
            }
        }
        Verdict::Pass
    }

    /// `input` judged from the start of a connection, read in pieces of `piece` bytes: the refusal, if
    /// any, and how many bytes were passed on. For tests and fuzzing, which compare arrivals.
    pub fn judged(input: &[u8], piece: usize) -> (Option<Refusal>, usize) {
        let mut heads = Heads::default();
        let mut passed = 0;
        for chunk in input.chunks(piece) {
            match heads.judge(chunk) {
                Verdict::Pass => passed += chunk.len(),
                Verdict::Refuse { keep, refusal } => return (Some(refusal), passed + keep),
            }
        }
        (None, passed)
    }

    /// Whether a head was refused (the connection reads no more).
    pub fn refused(&self) -> bool {
        self.refused
    }

    /// When part of a request has come and the rest has not (what the request timeout times): which
    /// request of the connection it is, from 0. A body is its head's request: one clock for both.
    pub fn request_within(&self) -> Option<u64> {
        if !self.partial.is_empty() {
            Some(self.completed)
        } else if self.body_left > 0 || self.chunked.is_some() {
            self.completed.checked_sub(1)
        } else {
            None
        }
    }

    /// Refuses the head at `keep` of the chunk being judged, and everything after it.
    fn refuse(&mut self, keep: usize, refusal: Refusal) -> Verdict {
        self.refused = true;
        Verdict::Refuse { keep, refusal }
    }

    /// A request that did not come whole in time: refused with 408, the connection reads no more.
    pub fn time_out(&mut self, timeout: Duration) -> Refusal {
        self.forget_partial();
        self.refused = true;
        Refusal {
            code: 408,
            message: format!(
                "the request did not arrive whole within {} s of its first byte",
                timeout.as_secs_f64()
            ),
        }
    }

    /// Drops the carried head, and its allocation when a long head grew it.
    fn forget_partial(&mut self) {
        if self.partial.capacity() > 4096 {
            self.partial = Vec::new();
        } else {
            self.partial.clear();
        }
    }
}

/// Reads chunked body bytes from `bytes` onwards from `state`, byte for byte as actix-http's decoder does:
/// how many were the body's and where it stands after them (`None`: it ended), or where the body broke
/// and why.
fn read_chunked(
    mut state: Chunk,
    bytes: &[u8],
) -> Result<(usize, Option<Chunk>), (usize, &'static str)> {
    use Chunk::*;
    let hex = |byte: u8| char::from(byte).to_digit(16).map(u64::from);
    let mut at = 0;
    while at < bytes.len() {
        // Data and trailers are skipped whole (the fast paths); every other state takes one byte.
        if let Data(left) = state {
            let skipped = left.min((bytes.len() - at) as u64);
            at += skipped as usize;
            state = if skipped == left {
                DataCr
            } else {
                Data(left - skipped)
            };
            continue;
        }
        if state == Trailer {
            match bytes[at..].iter().position(|&b| b == b'\r') {
                Some(cr) => {
                    at += cr + 1;
                    state = TrailerLf;
                    continue;
                }
                None => return Ok((bytes.len(), Some(Trailer))),
            }
        }
        let byte = bytes[at];
        let broken = |why| Err((at, why));
        state = match (state, byte) {
            (SizeFirst, _) => match hex(byte) {
                Some(digit) => Size(digit),
                None => return broken("a chunk size must start with a hex digit"),
            },
            (Size(size) | SizeSpace(size), b'\t' | b' ') => SizeSpace(size),
            (Size(size) | SizeSpace(size), b';') => Extension(size),
            (Size(size) | SizeSpace(size) | Extension(size), b'\r') => SizeLf(size),
            (Size(size), _) => match (hex(byte), size.checked_mul(16)) {
                (Some(digit), Some(shifted)) => Size(shifted + digit),
                (Some(_), None) => return broken("a chunk size beyond 2^64"),
                (None, _) => return broken("a chunk size that is not hex"),
            },
            (SizeSpace(_), _) => return broken("a chunk size with more after its spaces"),
            (Extension(_), 0x00..=0x08 | 0x0a..=0x1f | 0x7f) => {
                return broken("a control character in a chunk extension");
            }
            (Extension(size), _) => Extension(size),
            (SizeLf(0), b'\n') => EndCr,
            (SizeLf(size), b'\n') => Data(size),
            (SizeLf(_), _) => return broken("a chunk size line not ended by CRLF"),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => SizeFirst,
            (DataCr | DataLf, _) => return broken("chunk data not followed by CRLF"),
            (EndCr, b'\r') => EndLf,
            (EndCr, _) => Trailer,
            (TrailerLf, b'\n') => EndCr,
            (TrailerLf, _) => return broken("a trailer line not ended by CRLF"),
            (EndLf, b'\n') => return Ok((at + 1, None)),
            (EndLf, _) => return broken("the last chunk not ended by CRLF"),
            // One byte at a time, as the fast paths above take them whole.
            (Data(1), _) => DataCr,
            (Data(left), _) => Data(left.saturating_sub(1)),
            (Trailer, b'\r') => TrailerLf,
            (Trailer, _) => Trailer,
        };
        at += 1;
    }
    Ok((at, Some(state)))
}

/// Parses the head at the start of `bytes` as actix-http's decoder would, refusing where it would.
fn parse(bytes: &[u8]) -> Head {
    // Only the first MAX_HEAD_BYTES count: the verdict on a head is the same however its bytes arrive.
    let within = &bytes[..bytes.len().min(MAX_HEAD_BYTES)];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(within) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if bytes.len() > MAX_HEAD_BYTES => {
            return Head::Refused(Refusal {
                code: 431,
                message: format!(
                    "the request head is longer than the {MAX_HEAD_BYTES} bytes this server reads over \
                     HTTP/1.1 (over HTTP/2 it reads heads up to 1 MiB)"
                ),
            });
        }
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Head::Refused(Refusal {
                code: 431,
                message: format!("the request has more than {MAX_HEADERS} header fields"),
            });
        }
        Err(error) => return bad_request(format!("malformed HTTP/1.1 request head: {error}")),
    };
    let target = request.path.unwrap_or_default();
    if target.len() > MAX_TARGET_BYTES {
        return Head::Refused(Refusal {
            code: 414,
            message: format!(
                "the request target is {} bytes; this server reads up to {MAX_TARGET_BYTES} over HTTP/1.1 \
                 (over HTTP/2 heads up to 1 MiB)",
                target.len()
            ),
        });
    }
    // actix-http's next checks, with the functions it uses.
    let method = request.method.unwrap_or_default();
    if http02::Method::from_bytes(method.as_bytes()).is_err() {
        return bad_request(format!("invalid method {method:?}"));
    }
    if let Err(error) = http02::Uri::try_from(target) {
        return bad_request(format!("invalid request target: {error}"));
    }
    // actix-http's header rules (`MessageType::set_headers`, `decode`), which refuse with a bodiless 400.
    let (mut hosts, mut lengths, mut encodings) = (0, 0, 0);
    let (mut chunked, mut websocket) = (true, false);
    let mut length = Some(0);
    for header in request.headers.iter() {
        let (name, value) = (header.name, header.value.trim_ascii());
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            length = (!value.starts_with(b"+"))
                .then(|| std::str::from_utf8(value).ok()?.parse::<u64>().ok())
                .flatten();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            encodings += 1;
            chunked &= value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case("upgrade") {
            websocket |= value.eq_ignore_ascii_case(b"websocket");
        }
    }
    let http10 = request.version == Some(0);
    let refused = if hosts > 1 {
        Some("more than one Host header")
    } else if lengths > 1 {
        Some("more than one Content-Length header")
    } else if length.is_none() {
        Some("the Content-Length is not a length")
    } else if encodings > 1 {
        Some("more than one Transfer-Encoding header")
    } else if !http10 && hosts == 0 {
        Some("an HTTP/1.1 request needs a Host header")
    } else if encodings == 1 && http10 {
        Some("Transfer-Encoding is not allowed in an HTTP/1.0 request")
    } else if encodings == 1 && !chunked {
        Some("the only Transfer-Encoding this server reads is chunked")
    } else if encodings == 1 && lengths == 1 {
        Some("both Content-Length and Transfer-Encoding are set")
    } else if http10 && method == "POST" && lengths == 0 && !websocket {
        // (A WebSocket upgrade is a length to actix: the rest of the connection.)
        Some("an HTTP/1.0 POST needs a Content-Length")
    } else {
        None
    };
    if let Some(message) = refused {
        return bad_request(message.to_string());
    }
    // The body as actix-http frames it: chunked first, then a WebSocket upgrade (the rest of the
    // connection), then a length; a CONNECT without one is a tunnel to the end too.
    let length = length.unwrap_or_default();
    let body = if encodings == 1 {
        Body::Chunked
    } else if websocket || (length == 0 && method == "CONNECT") {
        Body::Stream
    } else {
        Body::Length(length)
    };
    Head::Complete { len, body }
}

fn bad_request(message: String) -> Head {
    Head::Refused(Refusal::bad_request(message))
}

impl Refusal {
    fn bad_request(message: String) -> Self {
        Refusal { code: 400, message }
    }

    /// The whole answer on the wire: a Status as every other error gets, then the connection closes.
    pub fn response(&self) -> Vec<u8> {
        let error = match self.code {
            408 => ApiError::RequestTimeout(self.message.clone()),
            414 => ApiError::UriTooLong(self.message.clone()),
            431 => ApiError::HeadTooLarge(self.message.clone()),
            _ => ApiError::BadRequest(self.message.clone()),
        };
        let response = error.error_response();
        let status = response.status();
        let body = response
            .into_body()
            .try_into_bytes()
            .unwrap_or_else(|_| actix_web::web::Bytes::from_static(b"{}"));
        let date = crate::http2::date()
            .and_then(|date| date.to_str().ok().map(str::to_owned))
            .unwrap_or_default();
        let mut wire = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\ndate: {date}\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default(),
            body.len(),
        )
        .into_bytes();
        wire.extend_from_slice(&body);
        wire
    }
}

/// A connection's stream with its requests judged and timed on the way in (module doc).
pub struct Guarded<T> {
    io: T,
    heads: Heads,
    /// How long a request (head and body) may take from its first byte (the first: from the connection's
    /// start).
    request_timeout: Duration,
    /// When the request being timed must be complete; one timer a connection, reset for each request
    /// that spans reads.
    deadline: Pin<Box<Sleep>>,
    /// Which request of the connection is being timed (`Heads::request_within`), if one is.
    timed: Option<u64>,
    /// The refusal's bytes not yet written.
    answer: Vec<u8>,
    written: usize,
}

impl<T> Guarded<T> {
    /// Starts timing the first request. Within a Tokio runtime (the timer's).
    pub fn new(io: T, request_timeout: Duration) -> Self {
        Guarded {
            io,
            heads: Heads::default(),
            request_timeout,
            deadline: Box::pin(tokio::time::sleep(request_timeout)),
            timed: Some(0),
            answer: Vec::new(),
            written: 0,
        }
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    fn refuse(&mut self, refusal: &Refusal) {
        tracing::debug!(code = refusal.code, message = %refusal.message, "request head refused");
        self.answer = refusal.response();
        self.timed = None;
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.heads.refused() {
            // The end of what the client sent, as far as actix is concerned.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            // Only a read that waits looks at the clock: bytes in hand are judged first.
            Poll::Pending => {
                if this.timed.is_some() && this.deadline.as_mut().poll(cx).is_ready() {
                    let refusal = this.heads.time_out(this.request_timeout);
                    this.refuse(&refusal);
                    return Poll::Ready(Ok(()));
                }
                return Poll::Pending;
            }
            Poll::Ready(read) => read?,
        }
        let read = &buf.filled()[before..];
        let read_any = !read.is_empty();
        if let Verdict::Refuse { keep, refusal } = this.heads.judge(read) {
            buf.set_filled(before + keep);
            this.refuse(&refusal);
            return Poll::Ready(Ok(()));
        }
        match this.heads.request_within() {
            // A request began in this read: its clock starts now.
            Some(request) if this.timed != Some(request) => {
                let deadline = tokio::time::Instant::now() + this.request_timeout;
                this.deadline.as_mut().reset(deadline);
                this.timed = Some(request);
            }
            // Requests complete: between them the keep-alive is actix's.
            None if read_any => this.timed = None,
            _ => {}
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
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

    /// Writes the refusal, if there is one, after everything actix wrote; then shuts down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.written < this.answer.len() {
            let n = ready!(Pin::new(&mut this.io).poll_write(cx, &this.answer[this.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.written += n;
        }
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &[u8] = b"GET /apis/custom.metrics.k8s.io/v1beta2 HTTP/1.1\r\nHost: a\r\n\r\n";

    /// The refusal's code, the same whether the bytes come at once or in pieces (one by one for short
    /// input: each read parses the head so far, as actix-http's decoder does); when at once, everything
    /// before the refused head is passed on and nothing of it.
    fn code_of(input: &[u8], refused_head_at: usize) -> Option<u16> {
        let (at_once, passed) = Heads::judged(input, input.len().max(1));
        let code = at_once.as_ref().map(|r| r.code);
        if code.is_some() {
            assert_eq!(passed, refused_head_at);
        }
        let pieces: &[usize] = if input.len() < 4096 {
            &[1000, 7, 1]
        } else {
            &[16_384, 1000]
        };
        for &piece in pieces {
            assert_eq!(
                Heads::judged(input, piece).0,
                at_once,
                "in pieces of {piece}"
            );
        }
        code
    }

    /// `parts`, then a head that is no request: where a judge still following refuses.
    fn then_garbage(parts: &[&[u8]]) -> Vec<u8> {
        [parts, &[b"not a request\r\n\r\n"]].concat().concat()
    }

    fn with_target_of(len: usize) -> Vec<u8> {
        let path = format!("/{}", "a".repeat(len - 1));
        format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes()
    }

    fn with_head_of(len: usize) -> Vec<u8> {
        let fixed = "GET / HTTP/1.1\r\nHost: a\r\nX-Fill: \r\n\r\n".len();
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Fill: {}\r\n\r\n",
            "f".repeat(len - fixed)
        )
        .into_bytes()
    }

    #[test]
    fn heads_actix_serves_pass_in_any_pieces_and_on_a_kept_alive_connection() {
        let three = [GET, GET, GET].concat();
        assert_eq!(code_of(&three, 0), None);
        assert_eq!(Heads::judged(&three, 5), (None, three.len()));
        assert_eq!(code_of(&with_target_of(MAX_TARGET_BYTES), 0), None);
        assert_eq!(code_of(&with_head_of(MAX_HEAD_BYTES), 0), None);
        let many: String = (0..MAX_HEADERS - 1)
            .map(|i| format!("x{i}: v\r\n"))
            .collect();
        let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        assert_eq!(code_of(many.as_bytes(), 0), None);
        assert_eq!(
            code_of(b"GET / HTTP/1.0\r\n\r\n", 0),
            None,
            "1.0 needs no Host"
        );
        assert_eq!(
            code_of(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 0),
            None
        );
    }

    #[test]
    fn heads_actix_would_refuse_bodiless_are_refused_with_their_code_after_the_heads_before_them() {
        let refused = |head: &[u8]| code_of(&[GET, head].concat(), GET.len());
        assert_eq!(refused(&with_target_of(MAX_TARGET_BYTES + 1)), Some(414));
        assert_eq!(refused(&with_head_of(MAX_HEAD_BYTES + 1)), Some(431));
        // A head that never ends is refused once it is too long, as is one that ends too late.
        assert_eq!(refused(&with_head_of(200_000)[..150_000]), Some(431));
        let many: String = (0..MAX_HEADERS).map(|i| format!("x{i}: v\r\n")).collect();
        assert_eq!(
            refused(format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n").as_bytes()),
            Some(431)
        );
        for bad in [
            &b"GET / HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET http://[::1 HTTP/1.1\r\nHost: a\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01",
        ] {
            assert_eq!(
                refused(bad),
                Some(400),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // Nothing more is judged, or passed, after a refusal.
        let mut heads = Heads::default();
        assert!(matches!(
            heads.judge(b"GET / HTTP/1.1\r\n\r\n"),
            Verdict::Refuse { keep: 0, .. }
        ));
        assert!(matches!(heads.judge(GET), Verdict::Pass) && heads.refused());
    }

    #[test]
    fn a_content_length_body_is_skipped_to_the_next_head() {
        let post = &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\nGET / HTTP/1.0"[..];
        assert_eq!(code_of(&[post, GET, GET].concat(), 0), None);
        let then_garbage = then_garbage(&[post, GET]);
        assert_eq!(code_of(&then_garbage, post.len() + GET.len()), Some(400));
    }

    const CHUNKED: &[u8] = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

    #[test]
    fn a_chunked_body_is_read_as_actix_reads_it_to_the_next_head() {
        for body in [
            &b"0\r\n\r\n"[..],
            b"5\r\nhello\r\n0\r\n\r\n",
            b"5;name=value\r\nhello\r\nA \t \r\n0123456789\r\n0\r\n\r\n",
            b"3\r\nGET\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n",
            b"ffffffffffffffff\r\n",
        ] {
            let what = String::from_utf8_lossy(body);
            let then_garbage = then_garbage(&[CHUNKED, body, GET]);
            let ended = !body.starts_with(b"f");
            let refused_at = CHUNKED.len() + body.len() + GET.len();
            assert_eq!(
                code_of(&then_garbage, refused_at),
                ended.then_some(400),
                "{what:?}"
            );
        }
        for (body, bad_at, why) in [
            (&b"x\r\n"[..], 0, "hex digit"),
            (b"5x\r\n", 1, "not hex"),
            (b"5 6\r\n", 2, "after its spaces"),
            (b"5;a\x01\r\n", 3, "control character"),
            (b"5\rx", 2, "CRLF"),
            (b"5\r\nhelloX", 8, "chunk data"),
            (b"11111111111111111\r\n", 16, "2^64"),
            (b"0\r\nTrailer\rX", 11, "trailer line"),
            (b"0\r\n\rX", 4, "last chunk"),
        ] {
            let input = [GET, CHUNKED, body].concat();
            let at = GET.len() + CHUNKED.len() + bad_at;
            assert_eq!(code_of(&input, at), Some(400));
            let refusal = Heads::judged(&input, input.len()).0.unwrap();
            assert!(refusal.message.contains(why), "{}", refusal.message);
        }
    }

    #[test]
    fn after_a_websocket_upgrade_or_a_connect_the_rest_of_the_connection_is_left_to_actix() {
        for head in [
            &b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: WebSocket \r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nContent-Length: 4\r\n\r\n",
            b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
            // Found by fuzzing: to actix the upgrade is the length an HTTP/1.0 POST must have.
            b"POST / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n",
        ] {
            let then_garbage = then_garbage(&[head, b"hello\r\n\r\n"]);
            assert_eq!(
                code_of(&then_garbage, 0),
                None,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
        // Other upgrades are heads like any other to actix, and so here.
        for head in [
            &b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"[..],
            b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
        ] {
            let then_garbage = then_garbage(&[head]);
            assert_eq!(code_of(&then_garbage, head.len()), Some(400));
        }
    }

    #[test]
    fn heads_actix_header_rules_refuse_are_refused_with_400() {
        for (head, why) in [
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "Host"),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
                "Content-Length",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
                "not a length",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
                "not a length",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                "Transfer-Encoding",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
                "both",
            ),
            (
                "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                "HTTP/1.0",
            ),
            ("POST / HTTP/1.0\r\n\r\n", "POST"),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                "only Transfer-Encoding",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
                "only Transfer-Encoding",
            ),
        ] {
            let (refusal, _) = Heads::judged(head.as_bytes(), head.len());
            let refusal = refusal.unwrap_or_else(|| panic!("{head:?} passed"));
            assert_eq!(refusal.code, 400, "{head:?}");
            assert!(
                refusal.message.contains(why),
                "{head:?}: {}",
                refusal.message
            );
        }
    }

    /// Reads from `guarded` until it ends (a timeout reads as the end) or 60 s pass: what was read and
    /// how long it took.
    async fn read_until_end<T: AsyncRead + Unpin>(guarded: &mut T) -> (Vec<u8>, Option<Duration>) {
        use tokio::io::AsyncReadExt;
        let started = tokio::time::Instant::now();
        let mut read = Vec::new();
        let ended =
            tokio::time::timeout(Duration::from_secs(60), guarded.read_to_end(&mut read)).await;
        (read, ended.is_ok().then(|| started.elapsed()))
    }

    #[tokio::test(start_paused = true)]
    async fn every_request_must_come_whole_within_the_timeout_from_its_first_byte_or_gets_408() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let timeout = Duration::from_secs(5);
        // Nothing sent: the first head is timed from the connection's start.
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut guarded = Guarded::new(server, timeout);
        assert_eq!(read_until_end(&mut guarded).await, (vec![], Some(timeout)));
        guarded.shutdown().await.unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8(answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{answer}"
        );
        let status: serde_json::Value =
            serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(
            (status["code"].as_u64(), status["reason"].as_str()),
            (Some(408), Some("RequestTimeout"))
        );
        // A kept-alive connection's second head, begun 4 s in: timed from its own first byte (actix-http
        // times only the first), the bytes before passed on.
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut guarded = Guarded::new(server, timeout);
        tokio::time::sleep(Duration::from_secs(4)).await;
        client
            .write_all(&[GET, b"GET / HT"].concat())
            .await
            .unwrap();
        let (read, took) = read_until_end(&mut guarded).await;
        assert_eq!((read.len(), took), (GET.len() + 8, Some(timeout)));
        // A body is its head's request: a chunked body still coming 5 s after its head's first byte
        // ends the connection too, however steadily its bytes come.
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut guarded = Guarded::new(server, timeout);
        let client_side = async {
            client.write_all(GET).await.unwrap();
            tokio::time::sleep(Duration::from_secs(4)).await;
            client.write_all(CHUNKED).await.unwrap();
            // Half a second off the clock's beat: a chunk at 5.5, 6.5, 7.5 and 8.5 s, the timeout at 9.
            tokio::time::sleep(Duration::from_millis(500)).await;
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = client.write_all(b"1\r\nx\r\n").await;
            }
        };
        let ((), (read, took)) = tokio::join!(client_side, read_until_end(&mut guarded));
        assert_eq!(took, Some(Duration::from_secs(4 + 5)));
        assert_eq!(read.len(), GET.len() + CHUNKED.len() + 4 * 6);
        // Requests that come within the timeout, on a connection used slowly (read as they come): no
        // timeout, the connection open until the client ends it.
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut guarded = Guarded::new(server, timeout);
        let client_side = async {
            for _ in 0..3 {
                client.write_all(GET).await.unwrap();
                tokio::time::sleep(Duration::from_secs(4)).await;
            }
            client.write_all(&GET[..10]).await.unwrap();
            tokio::time::sleep(Duration::from_secs(4)).await;
            client.write_all(&GET[10..]).await.unwrap();
        };
        let ((), (read, took)) = tokio::join!(client_side, read_until_end(&mut guarded));
        assert_eq!((read.len(), took), (4 * GET.len(), None));
    }

    #[test]
    fn a_refusal_is_a_whole_http_answer_with_a_status_body_and_closes() {
        let refusal = Refusal {
            code: 414,
            message: "too long".into(),
        };
        let wire = String::from_utf8(refusal.response()).unwrap();
        let (head, body) = wire.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}\r\n", body.len())),
            "{head}"
        );
        assert!(
            head.contains("connection: close") && head.contains("date: "),
            "{head}"
        );
        let status: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["code"], 414);
        assert_eq!(status["reason"], "RequestURITooLong");
        assert_eq!(status["message"], "too long");
    }
}
