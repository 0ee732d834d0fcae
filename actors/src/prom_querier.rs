//! **PromQuerier**: the only door to Prometheus.
//!
//! Owns the backend client and the per-call timeout. Answers [`Series`] and [`InstantQuery`]; every call
//! is bounded by the timeout (also sent to Prometheus as `timeout=`), and identical calls in flight at the
//! same time share one backend call. Sends nothing. Survives a restart with its backend; calls that were in
//! flight resolve to [`PromError::Mailbox`] at their callers. With a [`ValueCache`] (off by default),
//! instant queries are answered from memory within its TTL and from the last good value when Prometheus
//! is down or slow, up to its stale bound.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Message, ResponseFuture, Supervised};
use adapter_config::label_discovery::LabelQuestion;
use adapter_config::{Route, SeriesSet};
use futures_util::FutureExt;

use crate::Crash;
use crate::inflight::Inflight;
use crate::prom::{Backends, PromError, QueryResult};
use crate::value_cache::{CacheOptions, CacheStats, ValueCache};

/// `/api/v1/series` for one selector over `[start, end]` (Unix seconds).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Arc<SeriesSet>, PromError>")]
pub struct Series {
    /// `match[]`.
    pub matcher: String,
    /// Start of the look-back window.
    pub start: f64,
    /// End (upstream sends none; we send now).
    pub end: f64,
    /// Which backend, with which tenant.
    pub route: Route,
}

/// A label question ([`LabelQuestion`]) for one selector over `[start, end]` (Unix seconds): the
/// label-mode relist's calls.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Arc<Vec<String>>, PromError>")]
pub struct Labels {
    /// Label names or metric names.
    pub question: LabelQuestion,
    /// `match[]`.
    pub matcher: String,
    /// Start of the look-back window.
    pub start: f64,
    /// End.
    pub end: f64,
    /// Which backend, with which tenant.
    pub route: Route,
}

/// `/api/v1/query` at `time` (Unix seconds).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Arc<QueryResult>, PromError>")]
pub struct InstantQuery {
    /// The PromQL.
    pub promql: String,
    /// Evaluation time.
    pub time: f64,
    /// Which backend, with which tenant.
    pub route: Route,
}

/// Build the backends a reloaded rules file declares and use them from now on; answers why they could
/// not be built (an unreadable CA or token: the running ones stay). Calls in flight finish on the
/// backends they started with.
#[derive(Clone, Message)]
#[rtype(result = "Result<(), String>")]
pub struct ReloadBackends(pub Arc<adapter_config::Config>);

/// The key of a call in the in-flight table and the value cache: the default route's key is the text
/// itself, so upstream-style configs pay nothing for routes.
fn call_key(route: &Route, text: &str) -> String {
    if *route == Route::default() {
        return text.to_string();
    }
    let backend = route.backend.as_deref().unwrap_or_default();
    let tenant = route.tenant.as_deref().unwrap_or_default();
    format!("{backend}\0{tenant}\0{text}")
}

/// The querier actor.
pub struct PromQuerier {
    backends: Backends,
    series: Inflight<String, Result<Arc<SeriesSet>, PromError>>,
    labels: Inflight<String, Result<Arc<Vec<String>>, PromError>>,
    queries: Inflight<String, Result<Arc<QueryResult>, PromError>>,
    values: Rc<RefCell<ValueCache>>,
}

impl PromQuerier {
    /// A querier over `backends`, each call bounded by its backend's timeout.
    pub fn new(backends: Backends) -> Self {
        Self {
            backends,
            series: Inflight::default(),
            labels: Inflight::default(),
            queries: Inflight::default(),
            values: Rc::new(RefCell::new(ValueCache::new(
                CacheOptions::default(),
                Arc::default(),
            ))),
        }
    }

    /// The same, with a value cache bounded by `options`, counting into `stats`.
    pub fn with_cache(mut self, options: CacheOptions, stats: Arc<CacheStats>) -> Self {
        self.values = Rc::new(RefCell::new(ValueCache::new(options, stats)));
        self
    }
}

impl Actor for PromQuerier {
    type Context = Context<Self>;
}

impl Supervised for PromQuerier {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.series.clear();
        self.labels.clear();
        self.queries.clear();
    }
}

fn bounded<T: 'static>(
    timeout: Duration,
    call: futures_util::future::LocalBoxFuture<'static, Result<T, PromError>>,
) -> futures_util::future::LocalBoxFuture<'static, Result<Arc<T>, PromError>> {
    async move {
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result.map(Arc::new),
            Err(_) => Err(PromError::Timeout(timeout)),
        }
    }
    .boxed_local()
}

impl Handler<Series> for PromQuerier {
    type Result = ResponseFuture<Result<Arc<SeriesSet>, PromError>>;

    /// Identical selectors in flight share one call, whatever their windows: a relist asks each once.
    fn handle(&mut self, msg: Series, _: &mut Context<Self>) -> Self::Result {
        let Some(backend) = self.backends.get(msg.route.backend.as_deref()).cloned() else {
            return unknown_backend(&msg.route);
        };
        let key = call_key(&msg.route, &msg.matcher);
        self.series.join_or_start(key, move || {
            let tenant = msg.route.tenant.as_deref();
            let call = backend
                .client
                .series(&msg.matcher, msg.start, msg.end, tenant);
            bounded(backend.timeout, call)
        })
    }
}

impl Handler<Labels> for PromQuerier {
    type Result = ResponseFuture<Result<Arc<Vec<String>>, PromError>>;

    /// Identical questions in flight share one call, as series calls do.
    fn handle(&mut self, msg: Labels, _: &mut Context<Self>) -> Self::Result {
        let Some(backend) = self.backends.get(msg.route.backend.as_deref()).cloned() else {
            return unknown_backend(&msg.route);
        };
        let key = call_key(
            &msg.route,
            &format!("{}\0{}", msg.question.endpoint(), msg.matcher),
        );
        self.labels.join_or_start(key, move || {
            let tenant = msg.route.tenant.as_deref();
            let call =
                backend
                    .client
                    .labels(msg.question, &msg.matcher, msg.start, msg.end, tenant);
            bounded(backend.timeout, call)
        })
    }
}

impl Handler<InstantQuery> for PromQuerier {
    type Result = ResponseFuture<Result<Arc<QueryResult>, PromError>>;

    /// Identical PromQL in flight (many HPAs asking for the same metric) share one call; with the value
    /// cache on, a fresh answer needs no call and a failed call may be answered with a stale one.
    fn handle(&mut self, msg: InstantQuery, _: &mut Context<Self>) -> Self::Result {
        let key = call_key(&msg.route, &msg.promql);
        if let Some(hit) = self.values.borrow_mut().fresh(&key) {
            return Box::pin(async move { Ok(hit) });
        }
        let Some(backend) = self.backends.get(msg.route.backend.as_deref()).cloned() else {
            return unknown_backend(&msg.route);
        };
        let values = self.values.clone();
        let (promql, stored) = (msg.promql.clone(), key.clone());
        let call = self.queries.join_or_start(key.clone(), move || {
            let (tenant, timeout) = (msg.route.tenant.as_deref(), backend.timeout);
            let call = bounded(
                timeout,
                backend.client.query(&msg.promql, msg.time, timeout, tenant),
            );
            async move {
                let result = call.await;
                // Stored once per backend call, whoever shares it.
                if let Ok(answer) = &result {
                    values.borrow_mut().store(&stored, answer.clone());
                }
                result
            }
            .boxed_local()
        });
        if !self.values.borrow().enabled() {
            return call;
        }
        let values = self.values.clone();
        Box::pin(async move {
            match call.await {
                Err(
                    error @ (PromError::Unavailable(_)
                    | PromError::Status(_)
                    | PromError::Auth { .. }
                    | PromError::Timeout(_)),
                ) => {
                    let stale = values.borrow_mut().stale(&key);
                    match stale {
                        Some(stale) => {
                            tracing::warn!(%promql, %error, age = ?stale.age, "Prometheus failed; answering with the last good value");
                            Ok(stale.answer)
                        }
                        None => Err(error),
                    }
                }
                other => other,
            }
        })
    }
}

/// A route to a backend this querier does not have (a reload removed it while a request was on its way).
fn unknown_backend<T: 'static>(route: &Route) -> ResponseFuture<Result<T, PromError>> {
    let error = PromError::Unavailable(format!("no backend {route}"));
    Box::pin(async move { Err(error) })
}

impl Handler<ReloadBackends> for PromQuerier {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: ReloadBackends, _: &mut Context<Self>) -> Self::Result {
        self.backends = self.backends.rebuild(&msg.0)?;
        Ok(())
    }
}

impl Handler<Crash> for PromQuerier {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        actix::ActorContext::stop(ctx);
    }
}
