//! The HTTPS listener: what actix-web's `HttpServer::bind_rustls_0_23` assembles (actix-server accepting,
//! rustls handshaking, actix-http serving the app), with one layer between TLS and HTTP that it has no
//! room for: `Http2Connection`, so h2 clients are told how many streams they may open and idle h2
//! connections close on shutdown. Built here rather than by `HttpServer` for that layer alone; every
//! setting `HttpServer` applied is applied.

use std::fmt;
use std::io;
use std::time::Duration;

use actix_http::{HttpService, Protocol, Request, Response, body::MessageBody};
use actix_service::{IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, map_config};
use actix_tls::accept::TlsError;
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::dev::AppConfig;
use actix_web::rt::net::TcpStream;

use crate::http2_connection::{Http2, Http2Connection};

/// A connection once its TLS handshake is done.
pub type Tls = TlsStream<TcpStream>;
/// A connection as actix-http sees it.
pub type Connection = Http2Connection<Tls>;

/// How connections are kept and bounded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Advertised as `SETTINGS_MAX_CONCURRENT_STREAMS` on every h2 connection.
    pub max_streams: u32,
    /// How long an idle keep-alive connection stays open (h2: the ping interval too).
    pub keep_alive: Duration,
}

/// Binds `address` and serves the app `factory` makes (once per worker) over TLS.
pub fn serve<F, I, S, B>(
    address: (String, u16),
    tls: rustls::ServerConfig,
    limits: Limits,
    on_connect: fn(&Connection, &mut actix_web::dev::Extensions),
    factory: F,
) -> io::Result<actix_web::dev::Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    // HttpServer's backlog; actix-server's default is 2048.
    let builder = actix_server::Server::build().backlog(1024);
    let shutdown = builder.graceful_shutdown_signal();
    let builder = builder.bind("https", address, move || {
        let (shutdown, h2_shutdown) = (shutdown.clone(), shutdown.clone());
        let http = HttpService::build()
            // On SIGTERM, idle HTTP/1.1 keep-alive connections are closed at once instead of holding the
            // shutdown for its 30 s timeout (h2 ones: Http2Connection). Hidden in actix-http's docs;
            // HttpServer passes it so.
            .graceful_shutdown_signal(move || {
                let shutdown = shutdown.clone();
                async move { shutdown.notified().await }
            })
            .keep_alive(limits.keep_alive)
            // HttpServer's: a request's head within 5 s (slowloris → 408), 1 s to close after the answer.
            .client_request_timeout(Duration::from_secs(5))
            .client_disconnect_timeout(Duration::from_secs(1))
            .secure()
            .on_connect_ext(move |io: &Connection, data: &mut _| on_connect(io, data))
            .finish(map_config(
                factory()
                    .into_factory()
                    .map_err(|err| err.into().error_response()),
                // The app's config names scheme and host only for URL building, which nothing here does.
                |_| AppConfig::default(),
            ));
        let max_streams = limits.max_streams;
        Acceptor::new(tls.clone())
            .map_err(TlsError::into_service_error)
            .and_then(move |io: Tls| {
                let shutdown = h2_shutdown.clone();
                async move {
                    let (tcp, session) = io.get_ref();
                    let h2 = session.alpn_protocol() == Some(b"h2");
                    // actix-http's h2 dispatcher sends a small answer as headers+data and then an empty
                    // END_STREAM frame; with Nagle on, that second write waits for the client's delayed ACK
                    // (40 ms per request for every Go client). Go's servers set TCP_NODELAY too.
                    let _ = tcp.set_nodelay(true);
                    let peer = tcp.peer_addr().ok();
                    let (protocol, http2) = match h2 {
                        true => (
                            Protocol::Http2,
                            Some(Http2 {
                                max_streams,
                                shutdown: Box::pin(async move { shutdown.notified().await }),
                            }),
                        ),
                        false => (Protocol::Http1, None),
                    };
                    Ok((Http2Connection::new(io, http2), protocol, peer))
                }
            })
            .and_then(http.map_err(TlsError::Service))
    })?;
    Ok(builder.run())
}
