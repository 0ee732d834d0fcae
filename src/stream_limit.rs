//! A bound on the answers one connection may have undelivered at once. The limit is advertised to h2
//! clients (`http2_connection`), but the h2 library underneath actix-http does not know it, so a client
//! that ignores it could still open thousands of streams and never read the answers, each held in memory
//! until it does (the abuse suite measured 118 → 693 MB before this bound). Here every connection counts its
//! answers from the request's arrival until the last byte of the body is handed over (or the stream is
//! reset); beyond the limit a request is answered at once with `429 Too Many Requests` and `Retry-After: 1`,
//! headers only, and does no work. HTTP/1.1 connections carry one request at a time, so the bound never
//! bites there; conforming h2 clients (Go's transport, hyper) keep to the advertised limit and never meet it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use actix_web::web::Bytes;

/// What `--http2-max-streams-per-connection=0` means here: 100, advertised and enforced — the bound the
/// abuse suite holds memory to (upstream's 0 is Go's default, 250).
pub const DEFAULT_MAX_STREAMS: usize = 100;

/// The limit, as app data.
#[derive(Debug, Clone, Copy)]
pub struct MaxStreams(pub usize);

/// The undelivered answers of one connection.
#[derive(Debug, Clone, Default)]
pub struct Undelivered(Arc<AtomicUsize>);

impl Undelivered {
    /// Counts one more answer, unless `limit` are undelivered already.
    pub fn admit(&self, limit: usize) -> Option<Delivery> {
        if self.0.fetch_add(1, Ordering::Relaxed) >= limit {
            self.0.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Delivery(Some(self.clone())))
    }

    pub fn is_empty(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }
}

/// Every connection's requests get its counter (and the peer's certificates).
pub fn on_connect(connection: &crate::listener::Connection, data: &mut Extensions) {
    crate::auth::peer::remember(connection.get_ref(), data);
    data.insert(connection.undelivered().clone());
}

/// Decrements the connection's count when the answer is delivered or dropped.
pub struct Delivery(Option<Undelivered>);

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(count) = &self.0 {
            count.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A body that holds its connection's count until it is done (or dropped: a reset stream).
pub struct Counted {
    body: BoxBody,
    _delivery: Delivery,
}

impl MessageBody for Counted {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// The middleware: counts the request against its connection, or refuses it with a bodiless 429.
pub async fn middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<Counted>, actix_web::Error> {
    let limit = req
        .app_data::<web::Data<MaxStreams>>()
        .map_or(DEFAULT_MAX_STREAMS, |m| m.0);
    // A request without a connection counter (tests without a socket) is not counted.
    let delivery = match req.conn_data::<Undelivered>() {
        Some(count) => count.admit(limit),
        None => Some(Delivery(None)),
    };
    let Some(delivery) = delivery else {
        tracing::debug!(
            limit,
            "request refused: its connection has too many undelivered answers"
        );
        // Headers only: the stream ends with its HEADERS frame, which flow control does not hold back, so
        // the refusal is delivered and its state freed even while the client reads nothing. A Status body
        // would wait behind the unread answers and keep every refused stream in memory.
        let refusal = actix_web::HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", "1"))
            .finish();
        let response = req.into_response(refusal);
        return Ok(response.map_body(|_, body| Counted {
            body: body.boxed(),
            _delivery: Delivery(None),
        }));
    };
    let response = next.call(req).await?;
    Ok(response.map_body(|_, body| Counted {
        body: body.boxed(),
        _delivery: delivery,
    }))
}
