//! hyper's requests to the actix-web `App` and its answers back. hyper speaks `http` 1.x, actix-http 3 the
//! `http` 0.2 types: method, target, version and headers are carried across; what the listener knows of the
//! connection goes into every request's extensions. Request bodies are not passed on: no route takes one.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::header::{self, HeaderName, HeaderValue};
use actix_http::{HttpMessage, Method, Request, Response, Version};
use actix_service::Service;
use actix_web::web::Bytes;
use hyper::body::Incoming;
use hyper::body::{Body, Frame, SizeHint};

use super::activity::{Activity, OpenRequest};

/// How much of a request's body is read before its answer, and for how long: a small body then never races
/// its answer. (h2 ends a stream whose body is still coming after the answer with `RST_STREAM(NO_ERROR)`,
/// as RFC 9113 §8.1 asks, which clients such as curl 7.88 take for a failure.)
const DRAIN_BYTES: usize = 64 << 10;
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Headers of an answer hyper writes itself: the length is the body's, and connection-specific headers are
/// the protocol's.
const HYPER_WRITES: [HeaderName; 4] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::CONTENT_LENGTH,
];

/// One connection's service: each request hyper hands it goes through the app.
pub(super) struct Bridge<S, C> {
    pub(super) app: Rc<S>,
    pub(super) peer: Option<SocketAddr>,
    /// What the listener knows of the connection.
    pub(super) data: C,
    pub(super) activity: Rc<Activity>,
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
        let open = self.activity.arrived();
        let (parts, mut body) = request.into_parts();
        let mut req = Request::new();
        let head = req.head_mut();
        // Valid in `http` 1.x, so valid in 0.2: the same grammar.
        head.method = Method::from_bytes(parts.method.as_str().as_bytes()).unwrap_or_default();
        head.uri = actix_http::Uri::from_maybe_shared(Bytes::from(parts.uri.to_string()))
            .unwrap_or_default();
        head.version = match parts.version {
            http::Version::HTTP_2 => Version::HTTP_2,
            http::Version::HTTP_10 => Version::HTTP_10,
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
        head.peer_addr = self.peer;
        req.extensions_mut().insert(self.data.clone());
        let app = self.app.clone();
        Box::pin(async move {
            let response = app.call(req).await.unwrap_or_else(|err| err);
            if !body.is_end_stream() {
                let _ = tokio::time::timeout(DRAIN_TIME, drain(&mut body)).await;
            }
            Ok(answer(response, open, body))
        })
    }
}

/// Reads up to `DRAIN_BYTES` of `body`.
async fn drain(body: &mut Incoming) {
    let mut read = 0;
    std::future::poll_fn(|cx| {
        while read <= DRAIN_BYTES {
            match ready!(Pin::new(&mut *body).poll_frame(cx)) {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
                Some(Err(_)) | None => break,
            }
        }
        Poll::Ready(())
    })
    .await
}

fn answer(
    response: Response<BoxBody>,
    open: OpenRequest,
    request: Incoming,
) -> hyper::Response<Answer> {
    let (head, body) = response.into_parts();
    let mut answer = hyper::Response::new(Answer {
        body,
        _open: open,
        _request: request,
    });
    *answer.status_mut() = http::StatusCode::from_u16(head.status().as_u16())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = answer.headers_mut();
    headers.reserve(head.headers().len());
    for (name, value) in head.headers() {
        if HYPER_WRITES.contains(name) {
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

/// An answer's body as hyper sends it. Its request counts as open, and keeps what is left of its body (h2
/// resets a stream whose request body is dropped before the answer with `CANCEL`, losing the answer), until
/// it is sent or dropped.
pub(super) struct Answer {
    body: BoxBody,
    _open: OpenRequest,
    _request: Incoming,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let chunk = ready!(Pin::new(&mut self.body).poll_next(cx));
        Poll::Ready(chunk.map(|chunk| {
            chunk
                .map(Frame::data)
                .map_err(|err| io::Error::other(err.to_string()))
        }))
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
