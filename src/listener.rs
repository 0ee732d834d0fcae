//! The HTTPS listener: actix-server accepting, rustls handshaking, then by ALPN either actix-http serving
//! HTTP/1.1 (its request heads judged by `http1` on the way in) or `http2` serving h2 (actix-http's h2
//! dispatcher cannot limit streams), both to the same app.
//! Assembled here rather than by actix-web's `HttpServer` for that split (and `HttpServer` put `h2` into
//! ALPN even under `--disable-http2`); every setting `HttpServer` applied is applied.

use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use actix_http::{HttpMessage, HttpService, Request, Response, body::MessageBody, h1};
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, fn_factory, fn_service,
    map_config,
};
use actix_tls::accept::TlsError;
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::dev::{AppConfig, ServiceRequest};
use actix_web::rt::net::TcpStream;

use crate::http1::Guarded;

/// A connection once its TLS handshake is done.
pub type Tls = TlsStream<TcpStream>;

/// How connections are kept and bounded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// h2 streams a client may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`, enforced).
    pub max_streams: u32,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: Duration,
}

/// HttpServer's: a request's head within 5 s (slowloris → 408); an h2 client's preface and SETTINGS too.
/// Over HTTP/1.1 `http1::Guarded` times every request, head and body, and answers the 408 with a Status.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `address` and serves the app `factory` makes (twice per worker: one for HTTP/1.1, one for h2)
/// over TLS. `on_connect` says what each connection's requests should know of it (`connection_data`).
pub fn serve<F, I, S, B, C>(
    address: (String, u16),
    tls: rustls::ServerConfig,
    limits: Limits,
    on_connect: fn(&Tls) -> C,
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
    C: Clone + 'static,
{
    // HttpServer's backlog; actix-server's default is 2048.
    let builder = actix_server::Server::build().backlog(1024);
    let shutdown = builder.graceful_shutdown_signal();
    let builder = builder.bind("https", address, move || {
        let (h1_shutdown, h2_shutdown) = (shutdown.clone(), shutdown.clone());
        // The app's config names scheme and host only for URL building, which nothing here does.
        let app = || {
            map_config(
                factory()
                    .into_factory()
                    .map_err(|err| err.into().error_response()),
                |_| AppConfig::default(),
            )
        };
        let http1: h1::H1Service<Guarded<Tls>, _, _, _, _> = HttpService::build()
            // On SIGTERM, idle keep-alive connections are closed at once instead of holding the shutdown
            // for its 30 s timeout. Hidden in actix-http's docs; HttpServer passes it so.
            .graceful_shutdown_signal(move || {
                let shutdown = h1_shutdown.clone();
                async move { shutdown.notified().await }
            })
            .keep_alive(limits.keep_alive)
            // actix-http's own (a connection's first head only, a bodiless 408) stays as a backstop.
            .client_request_timeout(2 * REQUEST_HEAD_TIMEOUT)
            // HttpServer's: 1 s to close after the answer.
            .client_disconnect_timeout(Duration::from_secs(1))
            .secure()
            .on_connect_ext(move |io: &Guarded<Tls>, data: &mut _| {
                data.insert(on_connect(io.get_ref()));
            })
            .h1(app());
        let http2 = app();
        let settings = crate::http2::Settings {
            max_streams: limits.max_streams,
            keep_alive: limits.keep_alive,
            handshake_timeout: REQUEST_HEAD_TIMEOUT,
        };
        let connections = fn_factory(move || {
            let (http1, http2) = (http1.new_service(()), http2.new_service(()));
            let shutdown = h2_shutdown.clone();
            async move {
                let http1 = Rc::new(http1.await?);
                let http2 = Rc::new(http2.await.map_err(|err| {
                    tracing::error!(?err, "the app could not start");
                })?);
                Ok::<_, ()>(fn_service(move |io: Tls| {
                    let (http1, http2, shutdown) = (http1.clone(), http2.clone(), shutdown.clone());
                    async move {
                        let (tcp, session) = io.get_ref();
                        let h2 = session.alpn_protocol() == Some(b"h2");
                        // Answers are written in one go; with Nagle on, a second small write would wait
                        // for the client's delayed ACK (40 ms). Go's servers set TCP_NODELAY too.
                        let _ = tcp.set_nodelay(true);
                        let peer = tcp.peer_addr().ok();
                        if !h2 {
                            let io = Guarded::new(io, REQUEST_HEAD_TIMEOUT);
                            return http1.call((io, peer)).await.map_err(TlsError::Service);
                        }
                        let data = on_connect(&io);
                        let shutdown = async move { shutdown.notified().await };
                        // Boxed: the h2 state machine is ~6.7 kB, and inline it would be part of every
                        // connection's future, HTTP/1.1 ones included (BENCHMARKS.md, idle connections).
                        Box::pin(crate::http2::serve(
                            io, peer, data, http2, settings, shutdown,
                        ))
                        .await;
                        Ok(())
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

/// What the listener's `on_connect` said of the request's connection: HTTP/1.1 connections keep it in
/// actix-http's connection data, h2 streams in the request's extensions.
pub fn connection_data<C: Clone + 'static>(req: &ServiceRequest) -> Option<C> {
    req.conn_data::<C>()
        .cloned()
        .or_else(|| req.extensions().get::<C>().cloned())
}
