//! HTTP/1.1 request heads, read on their way to actix-http: the ones its parser would refuse with a bodiless
//! `400` or `431` (a target of 64 KiB or more, a head of 128 KiB, 97 header fields, bytes that are not a
//! request) are refused here instead, with a `metav1.Status` body like every other error.
//!
//! actix-http has no hook for its parser's refusals, so [`Guarded`] sits between the TLS stream and actix:
//! it runs the same parser (`httparse`, actix's limits) over each head as its bytes pass and, on a head actix
//! would refuse, holds that head's remaining bytes back and tells actix the client has stopped sending. actix
//! answers what it has in hand, then shuts the connection down; the refusal is written just before the
//! shutdown — after every earlier answer, as a pipelining client expects. Heads are followed only while
//! requests have no body (every API call is a GET): a body or an upgrade leaves the rest of the connection
//! to actix's own checks.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use actix_web::ResponseError;
use actix_web::body::MessageBody;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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
    /// 400, 414 or 431.
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

/// Where a connection's byte stream stands: inside a head (the part that came in earlier reads), past
/// the point it can be followed, or refused.
#[derive(Debug, Default)]
pub struct Heads {
    /// The current head's bytes from earlier reads, when it spans reads.
    partial: Vec<u8>,
    /// Bytes of the current request's body still to come (a Content-Length body is skipped).
    body_left: u64,
    /// A chunked body or an upgrade was passed: from here on actix alone reads the stream.
    unfollowed: bool,
    /// A head was refused: nothing more is read.
    refused: bool,
}

/// What one head's parse says.
enum Head {
    /// Complete: `len` bytes, then `body` bytes of body, or (`None`) a stream that cannot be followed.
    Complete {
        len: usize,
        body: Option<u64>,
    },
    /// More bytes are needed.
    Partial,
    Refused(Refusal),
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
                    self.forget_partial();
                    match body {
                        Some(length) => self.body_left = length,
                        None => self.unfollowed = true,
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
                    self.refused = true;
                    return Verdict::Refuse {
                        keep: offset,
                        refusal,
                    };
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

    /// Drops the carried head, and its allocation when a long head grew it.
    fn forget_partial(&mut self) {
        if self.partial.capacity() > 4096 {
            self.partial = Vec::new();
        } else {
            self.partial.clear();
        }
    }
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
    let (mut hosts, mut lengths, mut encodings, mut upgrade) = (0, 0, 0, false);
    let mut length = Some(0);
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            let value = header.value.trim_ascii();
            length = (!value.starts_with(b"+"))
                .then(|| std::str::from_utf8(value).ok()?.parse::<u64>().ok())
                .flatten();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            encodings += 1;
        } else if name.eq_ignore_ascii_case("upgrade")
            || (name.eq_ignore_ascii_case("connection")
                && header
                    .value
                    .windows(7)
                    .any(|w| w.eq_ignore_ascii_case(b"upgrade")))
        {
            upgrade = true;
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
    } else if encodings == 1 && lengths == 1 {
        Some("both Content-Length and Transfer-Encoding are set")
    } else if http10 && method == "POST" && lengths == 0 {
        Some("an HTTP/1.0 POST needs a Content-Length")
    } else {
        None
    };
    if let Some(message) = refused {
        return bad_request(message.to_string());
    }
    // A Content-Length body is skipped to the next head; a chunked one, an upgrade or CONNECT's tunnel is
    // actix's alone to read.
    let followed = encodings == 0 && !upgrade && method != "CONNECT";
    Head::Complete {
        len,
        body: length.filter(|_| followed),
    }
}

fn bad_request(message: String) -> Head {
    Head::Refused(Refusal { code: 400, message })
}

impl Refusal {
    /// The whole answer on the wire: a Status as every other error gets, then the connection closes.
    pub fn response(&self) -> Vec<u8> {
        let error = match self.code {
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

/// A connection's stream with its request heads judged on the way in (module doc).
pub struct Guarded<T> {
    io: T,
    heads: Heads,
    /// The refusal's bytes not yet written.
    answer: Vec<u8>,
    written: usize,
}

impl<T> Guarded<T> {
    pub fn new(io: T) -> Self {
        Guarded {
            io,
            heads: Heads::default(),
            answer: Vec::new(),
            written: 0,
        }
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &T {
        &self.io
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
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if let Verdict::Refuse { keep, refusal } = this.heads.judge(&buf.filled()[before..]) {
            tracing::debug!(code = refusal.code, message = %refusal.message, "request head refused");
            buf.set_filled(before + keep);
            this.answer = refusal.response();
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
        let then_garbage = [post, GET, b"not a request\r\n\r\n"].concat();
        assert_eq!(code_of(&then_garbage, post.len() + GET.len()), Some(400));
    }

    #[test]
    fn after_a_chunked_body_or_an_upgrade_the_rest_of_the_connection_is_left_to_actix() {
        for head in [
            &b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n\r\n",
            b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let then_garbage = [head, b"hello\r\n\r\nnot a request\r\n\r\n"].concat();
            assert_eq!(
                code_of(&then_garbage, 0),
                None,
                "{:?}",
                String::from_utf8_lossy(head)
            );
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
