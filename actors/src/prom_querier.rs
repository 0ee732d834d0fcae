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
use adapter_config::SeriesSet;
use futures_util::FutureExt;

use crate::Crash;
use crate::inflight::Inflight;
use crate::prom::{PromError, QueryResult, SharedPromBackend};
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
}

/// `/api/v1/query` at `time` (Unix seconds).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Arc<QueryResult>, PromError>")]
pub struct InstantQuery {
    /// The PromQL.
    pub promql: String,
    /// Evaluation time.
    pub time: f64,
}

/// The querier actor.
pub struct PromQuerier {
    backend: SharedPromBackend,
    timeout: Duration,
    series: Inflight<String, Result<Arc<SeriesSet>, PromError>>,
    queries: Inflight<String, Result<Arc<QueryResult>, PromError>>,
    values: Rc<RefCell<ValueCache>>,
}

impl PromQuerier {
    /// A querier over `backend` whose calls each get at most `timeout`.
    pub fn new(backend: SharedPromBackend, timeout: Duration) -> Self {
        Self {
            backend,
            timeout,
            series: Inflight::default(),
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
        let (backend, timeout) = (self.backend.clone(), self.timeout);
        let key = msg.matcher.clone();
        self.series.join_or_start(key, move || {
            bounded(timeout, backend.series(&msg.matcher, msg.start, msg.end))
        })
    }
}

impl Handler<InstantQuery> for PromQuerier {
    type Result = ResponseFuture<Result<Arc<QueryResult>, PromError>>;

    /// Identical PromQL in flight (many HPAs asking for the same metric) share one call; with the value
    /// cache on, a fresh answer needs no call and a failed call may be answered with a stale one.
    fn handle(&mut self, msg: InstantQuery, _: &mut Context<Self>) -> Self::Result {
        if let Some(hit) = self.values.borrow_mut().fresh(&msg.promql) {
            return Box::pin(async move { Ok(hit) });
        }
        let (backend, timeout, values) = (self.backend.clone(), self.timeout, self.values.clone());
        let promql = msg.promql.clone();
        let call = self.queries.join_or_start(msg.promql.clone(), move || {
            let call = bounded(timeout, backend.query(&msg.promql, msg.time, timeout));
            async move {
                let result = call.await;
                // Stored once per backend call, whoever shares it.
                if let Ok(answer) = &result {
                    values.borrow_mut().store(&msg.promql, answer.clone());
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
                Err(error @ (PromError::Unavailable(_) | PromError::Timeout(_))) => {
                    let stale = values.borrow_mut().stale(&promql);
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

impl Handler<Crash> for PromQuerier {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        actix::ActorContext::stop(ctx);
    }
}
