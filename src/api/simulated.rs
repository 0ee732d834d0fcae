//! The binary's `App` in process, over the real actors on simulated Prometheus and Kubernetes backends
//! (`adapter_actors::sim`): what the in-process API tests (wire shapes, Status mapping, content
//! negotiation, protobuf) and the request fuzz target drive, in milliseconds and without a socket.

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use actix_web::dev::Service;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use adapter_actors::prom::Backends;
use adapter_actors::relister::RelistNow;
use adapter_actors::sim::{SimKube, SimPrometheus};
use adapter_actors::{Adapter, Clock, Options};
use futures_util::future::LocalBoxFuture;

use super::State;

/// An answer: status, `Content-Type` and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

/// One request through the app.
type Call = Box<dyn Fn(actix_http::Request) -> LocalBoxFuture<'static, Answer>>;

/// A running app and the actors behind it (they live as long as it does).
pub struct Simulated {
    call: Call,
    /// The actors, for a test to steer.
    pub adapter: Adapter,
}

impl Simulated {
    /// Starts the actors with `rules` (a rules file's text) over `prom` and `kube`, relists once, and
    /// builds the app as the binary does, everything allowed. Runs on an actix system.
    pub async fn start(rules: &str, prom: SimPrometheus, kube: SimKube) -> Self {
        let config = adapter_config::rules::load("rules.yaml", rules).expect("the rules load");
        #[allow(clippy::disallowed_methods, reason = "the simulated app's own clock")]
        let clock = Clock::starting_at(SystemTime::now());
        let adapter = adapter_actors::start(
            config,
            Backends::single(Rc::new(prom), Duration::from_secs(2)),
            Rc::new(kube),
            clock,
            Options::default(),
        );
        adapter
            .relister
            .send(RelistNow)
            .await
            .expect("the relister runs")
            .expect("the relist succeeds");
        let telemetry = crate::telemetry::Telemetry::new();
        let state = web::Data::new(State::new(
            &adapter,
            clock,
            telemetry,
            Some(Default::default()),
            None,
        ));
        let auth = web::Data::from(crate::auth::Auth::allow_all());
        let app = Rc::new(actix_web::test::init_service(super::app(state, auth, false)).await);
        let call: Call = Box::new(move |req| {
            let app = app.clone();
            Box::pin(async move {
                let response = app.call(req).await.expect("the app answers");
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v: &HeaderValue| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let body = actix_web::body::to_bytes(response.into_body())
                    .await
                    .unwrap_or_default();
                Answer {
                    status,
                    content_type,
                    body,
                }
            })
        });
        Self { call, adapter }
    }

    /// Sends `req` through the app.
    pub async fn call(&self, req: actix_http::Request) -> Answer {
        (self.call)(req).await
    }

    /// A GET of `target` with `accept`, if any.
    pub async fn get(&self, target: &str, accept: Option<&str>) -> Answer {
        let mut req = actix_web::test::TestRequest::get().uri(target);
        if let Some(accept) = accept {
            req = req.insert_header((header::ACCEPT, accept));
        }
        self.call(req.to_request()).await
    }
}
