//! The transport, configured rather than written: actix-server accepts and hands connections to worker
//! threads, actix-tls does the TLS handshake, and hyper serves HTTP/1.1 or HTTP/2 (by ALPN) to the actix-web
//! `App`, through the small translation in `bridge`. Every protocol limit is one of hyper's settings:
//!
//! | guarantee | how |
//! |---|---|
//! | a request's head arrives within 5 s of its first byte (slowloris) | `activity`: the one timer of our own, no parsing |
//! | an idle HTTP/1.1 connection closes after the keep-alive | hyper's `header_read_timeout`, which runs while a connection waits for a head |
//! | h2 streams per connection | hyper/h2's `max_concurrent_streams`: advertised, and a stream beyond it refused with `RST_STREAM(REFUSED_STREAM)` |
//! | request heads ≤ 1 MiB over h2, ≤ 128 KiB over HTTP/1.1 | `max_header_list_size`, `max_header_size` (beyond: 431) |
//! | dead h2 peers found | `keep_alive_interval`/`keep_alive_timeout` (PING) |
//! | an h2 connection without streams closes after one to two keep-alives | the idle check in `drive` |
//! | SIGTERM: GOAWAY to h2, idle HTTP/1.1 closed at once, answers in progress finished | hyper's `graceful_shutdown` on actix-server's signal |
//! | `--disable-http2` | ALPN (`tls`) decides; a client that did not negotiate `h2` is served HTTP/1.1 |

pub mod access_log;
mod activity;
mod bridge;
mod client_certs;
pub mod tls;

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::time::Duration;

use actix_http::body::{BoxBody, MessageBody};
use actix_http::{Request, Response};
use actix_service::{IntoServiceFactory, ServiceFactory, ServiceFactoryExt, fn_service};
use actix_tls::accept::TlsError;
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::dev::AppConfig;
use actix_web::rt::net::TcpStream;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioIo, TokioTimer};

use activity::{Activity, Timed};
use bridge::Bridge;

/// What `--http2-max-streams-per-connection=0` means here: 100, advertised and enforced — Go's servers'
/// default (upstream's 0 is Go's default, 250; 100 is the bound the abuse suite holds memory to).
pub const DEFAULT_MAX_STREAMS: u32 = 100;

/// How connections are kept and bounded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// h2 streams a client may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`, enforced).
    pub max_streams: u32,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: Duration,
}

/// A request's head within 5 s of its first byte; an h2 client's first request within 5 s of the handshake.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Flow-control windows (1 MiB per stream, 2 MiB per connection): an answer of any size we send fits one
/// window, so a client that reads is never held back by a WINDOW_UPDATE round.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 2 << 20;
/// The largest request head (decoded) an h2 client may send: Go's `http.DefaultMaxHeaderBytes`.
const MAX_HEADER_LIST: u32 = 1 << 20;
/// The largest HTTP/1.1 head (a target beyond 65,534 bytes is refused before: 414).
const MAX_HTTP1_HEAD: usize = 128 << 10;
/// How long a closing connection without answers in progress waits for the client to close it.
const CLOSING_GRACE: Duration = Duration::from_secs(1);
/// How long an h2 PING may go unanswered before the connection is closed.
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Binds `address` and serves the app `factory` makes (once per worker) over TLS. `on_connect` says what each
/// connection's requests should know of its TLS session; every request gets it in its extensions.
pub fn serve<F, I, S, B, C>(
    address: (String, u16),
    tls: rustls::ServerConfig,
    limits: Limits,
    on_connect: fn(&rustls::ServerConnection) -> C,
    factory: F,
) -> io::Result<actix_web::dev::Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
    C: Clone + 'static,
{
    // HttpServer's backlog; actix-server's default is 2048.
    let builder = actix_server::Server::build().backlog(1024);
    let shutdown = builder.graceful_shutdown_signal();
    let builder = builder.bind("https", address, move || {
        let (factory, shutdown) = (factory.clone(), shutdown.clone());
        let connections = actix_service::fn_factory(move || {
            // The app's config names scheme and host only for URL building, which nothing here does.
            let app = factory()
                .into_factory()
                .map(|res| res.into().map_into_boxed_body())
                .map_err(|err| Response::from(err.into().error_response()))
                .new_service(AppConfig::default());
            let shutdown = shutdown.clone();
            async move {
                let app = Rc::new(app.await.map_err(|err| {
                    tracing::error!(?err, "the app could not start");
                })?);
                let builders = Rc::new(Builders::new(limits));
                Ok::<_, ()>(fn_service(move |io: TlsStream<TcpStream>| {
                    let data = on_connect(io.get_ref().1);
                    let shutdown = shutdown.clone();
                    let shutdown = async move { shutdown.notified().await };
                    let served = serve_connection(io, app.clone(), data, &builders, shutdown);
                    async move {
                        served.await;
                        Ok::<_, TlsError<io::Error, ()>>(())
                    }
                }))
            }
        });
        Acceptor::new(tls.clone())
            .map_err(TlsError::into_service_error)
            .and_then(connections)
    })?;
    Ok(builder.run())
}

/// hyper's connection builders, one per protocol, configured once per worker.
struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<LocalExecutor>,
    keep_alive: Duration,
}

impl Builders {
    fn new(limits: Limits) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            // Runs while a connection waits for its next head: an idle keep-alive connection's life.
            .header_read_timeout(limits.keep_alive)
            .max_header_size(MAX_HTTP1_HEAD);
        let mut http2 = http2::Builder::new(LocalExecutor);
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_streams)
            .max_header_list_size(MAX_HEADER_LIST)
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .keep_alive_interval(limits.keep_alive)
            .keep_alive_timeout(PING_TIMEOUT);
        Self {
            http1,
            http2,
            keep_alive: limits.keep_alive,
        }
    }
}

/// Serves one connection, HTTP/2 if the client chose it by ALPN, until the client or the server ends it.
/// Boxed, each protocol's own, and built before the first await: the task of every connection then holds
/// only what its protocol needs, not the larger of the two states (nor the TLS stream twice), rounded up to
/// the allocator's next size class (BENCHMARKS.md, idle connections).
fn serve_connection<S, C>(
    io: TlsStream<TcpStream>,
    app: Rc<S>,
    data: C,
    builders: &Builders,
    shutdown: impl Future<Output = ()> + 'static,
) -> Pin<Box<dyn Future<Output = ()>>>
where
    S: actix_service::Service<Request, Response = Response<BoxBody>, Error = Response<BoxBody>>
        + 'static,
    C: Clone + 'static,
{
    let (tcp, session) = io.get_ref();
    // Answers are written in one go; with Nagle on, a second small write would wait for the client's
    // delayed ACK (40 ms). Go's servers set TCP_NODELAY too.
    let _ = tcp.set_nodelay(true);
    let h2 = session.alpn_protocol() == Some(b"h2");
    let activity = Activity::new(REQUEST_HEAD_TIMEOUT, h2);
    let (peer, keep_alive) = (tcp.peer_addr().ok(), builders.keep_alive);
    let bridge = Bridge {
        app,
        peer,
        data,
        activity: activity.clone(),
    };
    let io = TokioIo::new(Timed::new(io, activity.clone()));
    let driving = Driving {
        activity,
        keep_alive,
        shutdown,
    };
    if h2 {
        let connection = builders.http2.serve_connection(io, bridge);
        Box::pin(driving.run(connection, |c| c.graceful_shutdown()))
    } else {
        let connection = builders.http1.serve_connection(io, bridge);
        Box::pin(driving.run(connection, |c| c.graceful_shutdown()))
    }
}

/// What a connection is served under.
struct Driving<F> {
    activity: Rc<Activity>,
    keep_alive: Duration,
    /// Resolves when the server begins to shut down.
    shutdown: F,
}

impl<F: Future<Output = ()>> Driving<F> {
    /// Runs `connection` to its end; on shutdown (hyper then sends h2 a GOAWAY, closes an idle HTTP/1.1
    /// connection, finishes answers), or when an h2 connection opened no stream for a whole keep-alive and
    /// has none open, closes it gracefully. A client that does not read is not waited for once its answers
    /// are done.
    async fn run<T: Future<Output = hyper::Result<()>>>(
        self,
        connection: T,
        close: fn(Pin<&mut T>),
    ) {
        let (mut connection, mut shutdown) = (pin!(connection), pin!(self.shutdown));
        let (activity, keep_alive) = (self.activity, self.keep_alive);
        let mut idle_check =
            tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
        let (mut seen, mut closing) = (activity.opened(), false);
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(err) = served {
                        tracing::debug!(%err, "connection ended");
                    }
                    return;
                }
                () = &mut shutdown, if !closing => {
                    closing = true;
                    close(connection.as_mut());
                }
                // (Over HTTP/1.1 hyper's head timer closes an idle connection first.)
                _ = idle_check.tick(), if !closing => {
                    if activity.opened() == seen && activity.open() == 0 {
                        closing = true;
                        close(connection.as_mut());
                    }
                    seen = activity.opened();
                }
                () = tokio::time::sleep(CLOSING_GRACE), if closing => {
                    if activity.open() == 0 {
                        return;
                    }
                }
            }
        }
    }
}

/// Runs hyper's per-stream tasks on the worker's own thread: the actix-web `App` is `!Send`.
#[derive(Clone, Copy)]
struct LocalExecutor;

impl<F: Future + 'static> hyper::rt::Executor<F> for LocalExecutor {
    fn execute(&self, future: F) {
        actix_web::rt::spawn(future);
    }
}
