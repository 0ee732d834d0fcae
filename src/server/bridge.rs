//! hyper's requests to the actix-web `App` and its answers back. hyper speaks `http` 1.x, actix-http 3 the
//! `http` 0.2 types: method, target, version and headers are carried across, the body streamed; what the
//! listener knows of the connection goes into every request's extensions.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::error::PayloadError;
use actix_http::header::{self, HeaderName, HeaderValue};
use actix_http::{BoxedPayloadStream, HttpMessage, Method, Payload, Request, Response, Version};
use actix_service::Service;
use actix_web::web::Bytes;
use futures_util::Stream;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::timer::ArrivalTimer;

/// One connection's service: each request hyper hands it goes through the app.
pub(super) struct Bridge<S, C> {
    app: Rc<S>,
    peer: Option<SocketAddr>,
    data: C,
    timer: Option<Rc<ArrivalTimer>>,
    requests: Rc<Requests>,
}

impl<S, C> Bridge<S, C> {
    pub(super) fn new(app: Rc<S>, peer: Option<SocketAddr>, data: C) -> Self {
        Self {
            app,
            peer,
            data,
            timer: None,
            requests: Rc::default(),
        }
    }

    /// Tells `timer` of every request whose head arrived.
    pub(super) fn timed(self, timer: Rc<ArrivalTimer>) -> Self {
        Self {
            timer: Some(timer),
            ..self
        }
    }

    /// The connection's request counts.
    pub(super) fn requests(&self) -> Rc<Requests> {
        self.requests.clone()
    }
}

impl<S, C> hyper::service::Service<hyper::Request<Incoming>> for Bridge<S, C>
where
    S: Service<Request, Response = Response<BoxBody>, Error = Response<BoxBody>> + 'static,
    C: Clone + 'static,
{
    type Response = hyper::Response<Answer>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>>>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        if let Some(timer) = &self.timer {
            timer.arrived();
        }
        let open = OpenRequest::new(&self.requests);
        let (request, body) = to_actix(request, self.peer, self.data.clone());
        let app = self.app.clone();
        Box::pin(async move {
            let response = app.call(request).await.unwrap_or_else(|err| err);
            if let Some(body) = &body {
                drain(body).await;
            }
            Ok(from_actix(response, open, body))
        })
    }
}

/// How many requests a connection has had, and how many are still being answered.
#[derive(Debug, Default)]
pub(super) struct Requests {
    opened: Cell<u64>,
    open: Cell<usize>,
}

impl Requests {
    pub(super) fn opened(&self) -> u64 {
        self.opened.get()
    }

    pub(super) fn open(&self) -> usize {
        self.open.get()
    }
}

/// A request being answered, until its answer is sent or dropped.
struct OpenRequest(Rc<Requests>);

impl OpenRequest {
    fn new(requests: &Rc<Requests>) -> Self {
        requests.opened.set(requests.opened.get() + 1);
        requests.open.set(requests.open.get() + 1);
        Self(requests.clone())
    }
}

impl Drop for OpenRequest {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get() - 1);
    }
}

/// The request for the app, and its body (when it has one) to keep until the answer is sent: h2 ends a
/// stream whose body was dropped unread with `RST_STREAM(CANCEL)`, which loses the answer, and after the
/// answer with `RST_STREAM(NO_ERROR)`, as RFC 9113 §8.1 asks.
fn to_actix<C: 'static>(
    request: hyper::Request<Incoming>,
    peer: Option<SocketAddr>,
    data: C,
) -> (Request, Option<SharedBody>) {
    let (parts, body) = request.into_parts();
    let (mut req, body) = if body.is_end_stream() {
        (Request::new(), None)
    } else {
        let body = Rc::new(RefCell::new(body));
        let payload: BoxedPayloadStream = Box::pin(RequestBody(body.clone()));
        (
            Request::with_payload(Payload::Stream { payload }),
            Some(body),
        )
    };
    let head = req.head_mut();
    // Valid in `http` 1.x, so valid in 0.2: the same grammar.
    head.method = Method::from_bytes(parts.method.as_str().as_bytes()).unwrap_or_default();
    head.uri =
        actix_http::Uri::from_maybe_shared(Bytes::from(parts.uri.to_string())).unwrap_or_default();
    head.version = match parts.version {
        http::Version::HTTP_2 => Version::HTTP_2,
        http::Version::HTTP_10 => Version::HTTP_10,
        http::Version::HTTP_09 => Version::HTTP_09,
        _ => Version::HTTP_11,
    };
    head.headers.reserve(parts.headers.len());
    for (name, value) in &parts.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            head.headers.append(name, value);
        }
    }
    head.peer_addr = peer;
    req.extensions_mut().insert(data);
    (req, body)
}

fn from_actix(
    response: Response<BoxBody>,
    open: OpenRequest,
    request_body: Option<SharedBody>,
) -> hyper::Response<Answer> {
    let (head, body) = response.into_parts();
    let mut answer = hyper::Response::new(Answer {
        body,
        _open: open,
        _request_body: request_body,
    });
    *answer.status_mut() = http::StatusCode::from_u16(head.status().as_u16())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = answer.headers_mut();
    headers.reserve(head.headers().len());
    for (name, value) in head.headers() {
        // The length is the body's, and connection-specific headers are hyper's to write.
        if matches!(
            *name,
            header::CONNECTION
                | header::TRANSFER_ENCODING
                | header::UPGRADE
                | header::CONTENT_LENGTH
        ) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    answer
}

/// A request's body, shared by the app's payload and the answer.
type SharedBody = Rc<RefCell<Incoming>>;

/// How much of a body the app left unread is read before its answer, and for how long: a small body
/// then never races its answer. (Clients such as curl 7.88 fail a request whose stream is reset with
/// `NO_ERROR` while they still send its body, though RFC 9113 §8.1 allows it.)
const DRAIN_BYTES: usize = 64 << 10;
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Reads what is left of a request's body, within `DRAIN_BYTES` and `DRAIN_TIME`.
async fn drain(body: &SharedBody) {
    let mut read = 0;
    let reading = std::future::poll_fn(|cx| {
        let mut body = body.borrow_mut();
        while read <= DRAIN_BYTES {
            match ready!(Pin::new(&mut *body).poll_frame(cx)) {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
                Some(Err(_)) | None => break,
            }
        }
        Poll::Ready(())
    });
    let _ = tokio::time::timeout(DRAIN_TIME, reading).await;
}

/// A request's body as actix reads it.
struct RequestBody(SharedBody);

impl Stream for RequestBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut body = self.0.borrow_mut();
        loop {
            return match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => Poll::Ready(Some(Ok(data))),
                    // Trailers: nothing the app reads.
                    Err(_) => continue,
                },
                Poll::Ready(Some(Err(err))) => {
                    Poll::Ready(Some(Err(PayloadError::Io(io::Error::other(err)))))
                }
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// An answer's body as hyper sends it; its request counts as open, and keeps its body, until it is sent
/// or dropped.
pub(super) struct Answer {
    body: BoxBody,
    _open: OpenRequest,
    _request_body: Option<SharedBody>,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.body).poll_next(cx).map(|chunk| {
            chunk.map(|chunk| {
                chunk
                    .map(Frame::data)
                    .map_err(|err| io::Error::other(err.to_string()))
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.body.size(), BodySize::None | BodySize::Sized(0))
    }

    fn size_hint(&self) -> SizeHint {
        match self.body.size() {
            BodySize::Sized(length) => SizeHint::with_exact(length),
            BodySize::None => SizeHint::with_exact(0),
            BodySize::Stream => SizeHint::default(),
        }
    }
}
