//! HTTP/2 connections, served with the `h2` crate directly instead of by actix-http's dispatcher. actix-http
//! builds its h2 server without a stream limit and has no way to pass one, so a client that ignored the
//! limit we advertised could still open thousands of streams. Here h2 itself advertises and enforces
//! `SETTINGS_MAX_CONCURRENT_STREAMS`: a stream beyond it is refused with `RST_STREAM(REFUSED_STREAM)` before
//! any work is done (Go's servers do the same), which a client may retry. A shutdown sends `GOAWAY` and lets
//! the streams in progress finish; a connection without streams closes (`GOAWAY`, no error) after the
//! keep-alive. Each stream becomes an actix-http `Request` for the same app service as HTTP/1.1 and is
//! answered on its own task; a stream the client resets stops its work.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::error::PayloadError;
use actix_http::header::{self, HeaderValue};
use actix_http::{BoxedPayloadStream, HttpMessage, Method, Payload, Request, Response};
use actix_service::Service;
use actix_web::web::Bytes;
use futures_util::Stream;
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite};

/// What `--http2-max-streams-per-connection=0` means here: 100, advertised and enforced — Go's servers'
/// default (upstream's 0 is Go's default, 250; 100 is the bound the abuse suite holds memory to).
pub const DEFAULT_MAX_STREAMS: u32 = 100;

/// Flow-control windows, as actix-http set them (1 MiB per stream, 2 MiB per connection): an answer of
/// any size we send fits one window, so a client that reads is never held back by a WINDOW_UPDATE round.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 2 << 20;
/// The largest request head (decoded) a client may send; beyond it h2 answers 431. Go's default
/// (`http.DefaultMaxHeaderBytes`); h2's own default is 16 MiB per stream.
const MAX_HEADER_LIST: u32 = 1 << 20;

/// How long a closing connection without streams waits for the client's answer to h2's PING.
const CLOSING_GRACE: Duration = Duration::from_secs(1);

/// How one connection is served.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Streams a client may have open at once.
    pub max_streams: u32,
    /// How long a connection without open streams stays open; how long an answer may wait for the client to
    /// read it.
    pub keep_alive: Duration,
    /// How long the client has for its preface and first SETTINGS.
    pub handshake_timeout: Duration,
}

/// Serves one h2 connection until the client or the server ends it. `data` is put into every request's
/// extensions (what the connection's TLS session says of the client); `shutdown` resolves when the server
/// begins to shut down.
pub async fn serve<T, S, B, C>(
    io: T,
    peer: Option<SocketAddr>,
    data: C,
    service: Rc<S>,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) where
    T: AsyncRead + AsyncWrite + Unpin,
    S: Service<Request> + 'static,
    S::Response: Into<Response<B>>,
    S::Error: Into<Response<BoxBody>>,
    B: MessageBody + 'static,
    C: Clone + 'static,
{
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(settings.max_streams)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_header_list_size(MAX_HEADER_LIST)
        .handshake::<_, Bytes>(io);
    let mut connection = match tokio::time::timeout(settings.handshake_timeout, handshake).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(err)) => return tracing::debug!(%err, "h2 handshake failed"),
        Err(_) => return tracing::debug!("h2 handshake timed out"),
    };
    let open = Rc::new(Cell::new(0usize));
    let mut shutdown = pin!(shutdown);
    let mut closing = false;
    // Checked every keep-alive: a connection that opened no stream since the last check and has none open is
    // closed, so one stays idle between one and two keep-alives. One timer per connection, not per stream.
    let mut idle_check = tokio::time::interval_at(
        tokio::time::Instant::now() + settings.keep_alive,
        settings.keep_alive,
    );
    let mut opened_since_check = false;
    loop {
        tokio::select! {
            accepted = connection.accept() => match accepted {
                Some(Ok((request, respond))) => {
                    opened_since_check = true;
                    let stream = OpenStream::new(&open);
                    let call = Call { service: service.clone(), peer, data: data.clone() };
                    actix_web::rt::spawn(stream.answer(call, request, respond, settings.keep_alive));
                }
                Some(Err(err)) => {
                    tracing::debug!(%err, "h2 connection ended");
                    break;
                }
                None => break,
            },
            () = &mut shutdown, if !closing => {
                closing = true;
                connection.graceful_shutdown();
            }
            _ = idle_check.tick(), if !closing => {
                if !opened_since_check && open.get() == 0 {
                    closing = true;
                    connection.graceful_shutdown();
                }
                opened_since_check = false;
            }
            // h2 closes gracefully in two steps, the second after the client answers a PING; a client that
            // is not reading is not waited for once its streams are done.
            () = tokio::time::sleep(CLOSING_GRACE), if closing => {
                if open.get() == 0 {
                    break;
                }
            }
        }
    }
}

/// What a stream's request is handed to.
struct Call<S, C> {
    service: Rc<S>,
    peer: Option<SocketAddr>,
    data: C,
}

/// One stream in progress: counted among its connection's open streams until its answer ends.
struct OpenStream(Rc<Cell<usize>>);

impl OpenStream {
    fn new(open: &Rc<Cell<usize>>) -> Self {
        open.set(open.get() + 1);
        Self(open.clone())
    }

    /// Runs the request through the service and sends its answer; ends early when the client resets the
    /// stream, and gives up (`CANCEL`) on an answer the client has not read within `deadline`.
    async fn answer<S, B, C>(
        self,
        call: Call<S, C>,
        request: http02::Request<RecvStream>,
        mut respond: SendResponse<Bytes>,
        deadline: Duration,
    ) where
        S: Service<Request> + 'static,
        S::Response: Into<Response<B>>,
        S::Error: Into<Response<BoxBody>>,
        B: MessageBody + 'static,
        C: Clone + 'static,
    {
        let (parts, body) = request.into_parts();
        let head_only = parts.method == Method::HEAD;
        let payload: BoxedPayloadStream = Box::pin(RequestBody(body));
        let mut req = Request::with_payload(Payload::Stream { payload });
        let head = req.head_mut();
        head.uri = parts.uri;
        head.method = parts.method;
        head.version = parts.version;
        head.headers = parts.headers.into();
        head.peer_addr = call.peer;
        req.extensions_mut().insert(call.data);
        let served = call.service.call(req);
        let response: Response<BoxBody> = tokio::select! {
            served = served => match served {
                Ok(response) => response.into().map_into_boxed_body(),
                Err(err) => err.into(),
            },
            _ = poll_fn(|cx| respond.poll_reset(cx)) => return,
        };
        // Most answers fit the client's window and are handed to h2 in one poll; only one that waits for
        // the client to read gets a timer.
        let mut sending = pin!(send(response, respond, head_only));
        let sent = match futures_util::poll!(sending.as_mut()) {
            std::task::Poll::Ready(sent) => Ok(sent),
            std::task::Poll::Pending => tokio::time::timeout(deadline, sending).await,
        };
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::debug!(%err, "h2 answer not delivered"),
            // Dropping the stream unfinished resets it (CANCEL) and frees its slot.
            Err(_) => tracing::debug!("h2 answer unread for the keep-alive: stream cancelled"),
        }
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A request's body as actix-http reads it; each chunk read is given back to the client's window.
struct RequestBody(RecvStream);

impl Stream for RequestBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let body = &mut self.get_mut().0;
        body.poll_data(cx).map(|chunk| {
            chunk.map(|chunk| {
                let chunk = chunk?;
                body.flow_control().release_capacity(chunk.len())?;
                Ok(chunk)
            })
        })
    }
}

/// Sends `response` on its stream: headers, then the body as the client's window allows. A body known in
/// full goes out with `END_STREAM` on its last DATA frame (no empty frame after it).
async fn send(
    response: Response<BoxBody>,
    mut respond: SendResponse<Bytes>,
    head_only: bool,
) -> Result<(), h2::Error> {
    let (response, body) = response.into_parts();
    let size = body.size();
    let mut answer = http02::Response::new(());
    *answer.status_mut() = response.status();
    let headers = answer.headers_mut();
    for (name, value) in response.headers() {
        // Connection-specific headers have no place in h2 (RFC 9113 §8.2.2); the length is the body's.
        if !matches!(
            *name,
            header::CONNECTION
                | header::TRANSFER_ENCODING
                | header::UPGRADE
                | header::CONTENT_LENGTH
        ) {
            headers.append(name.clone(), value.clone());
        }
    }
    if let BodySize::Sized(length) = size {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    if !headers.contains_key(header::DATE)
        && let Some(date) = date()
    {
        headers.insert(header::DATE, date);
    }
    let empty = matches!(size, BodySize::None | BodySize::Sized(0));
    let mut stream = respond.send_response(answer, empty || head_only)?;
    if empty || head_only {
        return Ok(());
    }
    match body.try_into_bytes() {
        Ok(whole) => send_data(&mut stream, whole, true).await,
        Err(body) => {
            let mut body = pin!(body);
            while let Some(chunk) = poll_fn(|cx| body.as_mut().poll_next(cx)).await {
                match chunk {
                    Ok(chunk) => send_data(&mut stream, chunk, false).await?,
                    Err(err) => {
                        tracing::warn!(%err, "answer body failed: stream reset");
                        stream.send_reset(h2::Reason::INTERNAL_ERROR);
                        return Ok(());
                    }
                }
            }
            stream.send_data(Bytes::new(), true)
        }
    }
}

/// Sends `data` as the client's window allows, `END_STREAM` with its last piece when `end`.
async fn send_data(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
) -> Result<(), h2::Error> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(granted) => granted?,
            // The stream ended (reset by the client): nothing more to send.
            None => return Ok(()),
        };
        let piece = data.split_to(granted.min(data.len()));
        stream.send_data(piece, end && data.is_empty())?;
    }
    Ok(())
}

/// The `Date` header's value, as every HTTP/1.1 answer (actix-http) and Go's servers send it; formatted
/// once a second per thread.
pub(crate) fn date() -> Option<HeaderValue> {
    /// The second last formatted, and its value.
    type Formatted = std::cell::RefCell<(u64, Option<HeaderValue>)>;
    thread_local! {
        static DATE: Formatted = const { std::cell::RefCell::new((0, None)) };
    }
    #[allow(
        clippy::disallowed_methods,
        reason = "the Date header is wall-clock time"
    )]
    let now = std::time::SystemTime::now();
    let second = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    DATE.with_borrow_mut(|(at, value)| {
        if *at != second || value.is_none() {
            *value = HeaderValue::from_str(&httpdate::fmt_http_date(now)).ok();
            *at = second;
        }
        value.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_http::StatusCode;
    use actix_service::fn_service;
    use std::convert::Infallible;
    use tokio::sync::Notify;

    const SETTINGS: Settings = Settings {
        max_streams: 2,
        keep_alive: Duration::from_secs(120),
        handshake_timeout: Duration::from_secs(5),
    };

    /// Serves one in-memory connection with `service`; the returned client is ready for requests, the
    /// handle ends when the server side does, `shutdown` starts the server's shutdown.
    async fn connect<S>(
        service: S,
        settings: Settings,
        shutdown: Rc<Notify>,
    ) -> (h2::client::SendRequest<Bytes>, tokio::task::JoinHandle<()>)
    where
        S: Service<Request, Response = Response<BoxBody>, Error = Infallible> + 'static,
    {
        let (client, server) = tokio::io::duplex(1 << 16);
        let served = actix_web::rt::spawn(async move {
            let stop = async move { shutdown.notified().await };
            serve(server, None, (), Rc::new(service), settings, stop).await;
        });
        let (send, connection) = h2::client::handshake(client).await.unwrap();
        actix_web::rt::spawn(async move {
            let _ = connection.await;
        });
        (send.ready().await.unwrap(), served)
    }

    fn get(path: &str) -> http02::Request<()> {
        http02::Request::get(format!("https://adapter{path}"))
            .body(())
            .unwrap()
    }

    /// Answers `/slow` only once `release` is notified, anything else at once with "ok".
    fn slow_or_ok(
        release: Rc<Notify>,
    ) -> impl Service<Request, Response = Response<BoxBody>, Error = Infallible> {
        fn_service(move |req: Request| {
            let release = release.clone();
            async move {
                if req.path() == "/slow" {
                    release.notified().await;
                }
                Ok(Response::with_body(StatusCode::OK, "ok").map_into_boxed_body())
            }
        })
    }

    #[actix_rt::test]
    async fn a_client_keeping_to_the_limit_waits_for_a_free_stream_and_all_are_answered() {
        // (A client ignoring the limit gets REFUSED_STREAM: tests/abuse.rs, with a hand-written client;
        // h2's own client keeps to the limit and queues.)
        let release = Rc::new(Notify::new());
        let (mut client, _) =
            connect(slow_or_ok(release.clone()), SETTINGS, Default::default()).await;
        let answers: Vec<_> = (0..3)
            .map(|_| client.send_request(get("/slow"), true).unwrap().0)
            .collect();
        let answers = futures_util::future::join_all(answers);
        let mut answers = pin!(answers);
        for _ in 0..10 {
            release.notify_waiters();
            tokio::select! {
                done = &mut answers => {
                    for answer in done {
                        let answer = answer.unwrap();
                        assert_eq!(answer.status(), StatusCode::OK);
                        let mut body = answer.into_body();
                        assert_eq!(&body.data().await.unwrap().unwrap()[..], b"ok");
                        assert!(body.is_end_stream(), "END_STREAM rides on the only DATA frame");
                    }
                    return;
                }
                () = tokio::task::yield_now() => {}
            }
        }
        panic!("three requests against a limit of two were not all answered");
    }

    #[actix_rt::test]
    async fn an_answer_carries_its_length_and_date_and_head_gets_headers_only() {
        let (mut client, _) =
            connect(slow_or_ok(Default::default()), SETTINGS, Default::default()).await;
        let (answer, _) = client.send_request(get("/"), true).unwrap();
        let answer = answer.await.unwrap();
        assert_eq!(answer.headers()["content-length"], "2");
        assert!(answer.headers().contains_key("date"));
        let head = http02::Request::head("https://adapter/").body(()).unwrap();
        let (answer, _) = client.send_request(head, true).unwrap();
        let answer = answer.await.unwrap();
        assert_eq!(answer.headers()["content-length"], "2");
        assert!(answer.body().is_end_stream());
    }

    #[actix_rt::test]
    async fn a_stream_the_client_resets_stops_its_work() {
        let started = Rc::new(Notify::new());
        let dropped = Rc::new(Cell::new(false));
        /// Sets its flag when the work it belongs to is dropped.
        struct OnDrop(Rc<Cell<bool>>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let service = {
            let (started, dropped) = (started.clone(), dropped.clone());
            fn_service(move |_: Request| {
                let (started, guard) = (started.clone(), OnDrop(dropped.clone()));
                async move {
                    let _guard = guard;
                    started.notify_one();
                    std::future::pending::<()>().await;
                    Ok::<_, Infallible>(Response::ok().map_into_boxed_body())
                }
            })
        };
        let (mut client, _) = connect(service, SETTINGS, Default::default()).await;
        let (_answer, mut stream) = client.send_request(get("/"), true).unwrap();
        started.notified().await;
        assert!(!dropped.get());
        stream.send_reset(h2::Reason::CANCEL);
        for _ in 0..100 {
            if dropped.get() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the reset stream's work is still running");
    }

    #[actix_rt::test]
    async fn shutdown_sends_goaway_and_lets_the_stream_in_progress_finish() {
        let release = Rc::new(Notify::new());
        let shutdown = Rc::new(Notify::new());
        let (mut client, served) =
            connect(slow_or_ok(release.clone()), SETTINGS, shutdown.clone()).await;
        let (answer, _) = client.send_request(get("/slow"), true).unwrap();
        tokio::task::yield_now().await;
        shutdown.notify_one();
        // The client learns of the GOAWAY: a new request fails, the one in progress is answered.
        let mut refused = false;
        for _ in 0..100 {
            tokio::task::yield_now().await;
            if client.clone().ready().await.is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "no GOAWAY reached the client");
        release.notify_waiters();
        assert_eq!(answer.await.unwrap().status(), 200);
        served.await.unwrap();
    }

    #[actix_rt::test]
    async fn a_connection_without_streams_closes_after_the_keep_alive() {
        tokio::time::pause();
        let (mut client, served) =
            connect(slow_or_ok(Default::default()), SETTINGS, Default::default()).await;
        let (answer, _) = client.send_request(get("/"), true).unwrap();
        assert_eq!(answer.await.unwrap().status(), 200);
        tokio::time::sleep(SETTINGS.keep_alive * 2 + Duration::from_secs(2)).await;
        assert!(served.is_finished(), "the idle connection is still served");
    }

    #[actix_rt::test]
    async fn a_connection_with_a_stream_every_keep_alive_stays_open() {
        tokio::time::pause();
        let (mut client, served) =
            connect(slow_or_ok(Default::default()), SETTINGS, Default::default()).await;
        // Streams 100 s apart, each over at once: never idle for a whole check interval.
        for _ in 0..4 {
            let (answer, _) = client.send_request(get("/"), true).unwrap();
            assert_eq!(answer.await.unwrap().status(), 200);
            tokio::time::sleep(Duration::from_secs(100)).await;
            assert!(
                !served.is_finished(),
                "a busy connection was closed as idle"
            );
        }
    }
}
