//! The HTTP/2 server side as the adapter runs it (`http2::serve`: the h2 crate with our stream limit, each
//! stream made an actix-http request, answers sent as the client's window allows, resets) fed any bytes
//! after a client's preface, with the server's answers read as they come. Whatever the bytes: no panic, and
//! the connection ends once they do (no stream or task left waiting).
//!
//! The app behind it reads each request's body and answers `/…` with a body of a size set by the path's
//! length (up to 300 kB: beyond the default window, so flow control is exercised), streamed in chunks when
//! the path has `stream` in it.
#![no_main]
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use actix_http::body::{BodyStream, BoxBody, MessageBody};
use actix_http::{Request, Response, StatusCode};
use actix_service::{Service, fn_service};
use actix_web::web::Bytes;
use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use prometheus_adapter::http2::{Settings, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: Settings = Settings {
    max_streams: 8,
    keep_alive: Duration::from_secs(120),
    handshake_timeout: Duration::from_secs(5),
};

fn app() -> impl Service<Request, Response = Response<BoxBody>, Error = Infallible> {
    fn_service(|mut req: Request| async move {
        let mut payload = req.take_payload();
        while let Some(Ok(_)) = payload.next().await {}
        let size = (req.path().len() * 1000).min(300_000);
        let body = if req.path().contains("stream") {
            let chunks =
                (0..size / 10_000).map(|_| Ok::<_, Infallible>(Bytes::from(vec![b'x'; 10_000])));
            BodyStream::new(futures_util::stream::iter(chunks)).boxed()
        } else {
            Bytes::from(vec![b'x'; size]).boxed()
        };
        Ok(Response::with_body(StatusCode::OK, body))
    })
}

thread_local! {
    static SYSTEM: actix_rt::SystemRunner = actix_rt::System::new();
}

fuzz_target!(|frames: &[u8]| {
    let frames = frames.to_vec();
    SYSTEM.with(|system| {
        system.block_on(async move {
            let (client, server) = tokio::io::duplex(1 << 16);
            let (mut answers, mut requests) = tokio::io::split(client);
            let served = actix_rt::spawn(serve(
                server,
                None,
                (),
                Rc::new(app()),
                SETTINGS,
                std::future::pending(),
            ));
            let write = actix_rt::spawn(async move {
                let _ = requests.write_all(PREFACE).await;
                let _ = requests.write_all(&frames).await;
                let _ = requests.shutdown().await;
            });
            let read = async move {
                let mut sink = vec![0; 1 << 16];
                while matches!(answers.read(&mut sink).await, Ok(n) if n > 0) {}
            };
            tokio::time::timeout(Duration::from_secs(10), async {
                read.await;
                served.await.unwrap();
                write.await.unwrap();
            })
            .await
            .expect("the connection ends once the client's bytes do");
        })
    });
});
