//! **ObjectLister**: the only door to Kubernetes.
//!
//! Owns the backend client and the resource map (discovery), refreshed every `refresh` and on a miss.
//! Answers [`Resources`], [`CurrentResources`], [`ResolveResource`] and [`ListObjects`]; every backend
//! call is bounded by the timeout. Sends nothing. A restart keeps the last resource map.
//!
//! Requests never queue behind discovery: at most one refresh is in flight, a stale map keeps answering
//! while it runs, only a miss (or having no map at all) waits for it, and a failed refresh is backed off
//! instead of retried by every request.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Message, ResponseFuture, Supervised};
use adapter_config::{GroupResource, ResourceInfo, ResourceMap, Selector};
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;
use tokio::time::Instant;

use crate::Crash;
use crate::inflight::Inflight;
use crate::objects::{KubeError, ObjectMeta, SharedObjectBackend};

/// The resource map: the current one (refreshed in the background when older than the refresh interval),
/// or, before any discovery succeeded, the answer of the one refresh in flight.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Arc<ResourceMap>, KubeError>")]
pub struct Resources;

/// The resource map as it is now, never waiting for Kubernetes (a stale map starts a background refresh);
/// `None` before the first discovery succeeded. For flows that need no object lookup.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Option<Arc<ResourceMap>>")]
pub struct CurrentResources;

/// Resolve `resource` or `resource.group` (plural or singular) to a known resource; refreshes discovery
/// once on a miss, so a CRD installed after start-up is found.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<ResourceInfo, ResolveError>")]
pub struct ResolveResource {
    /// As written in the request path.
    pub resource: GroupResource,
}

/// Why a resource did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Discovery does not know it.
    #[error("the server could not find the requested resource {0}")]
    Unknown(String),
    /// Discovery failed.
    #[error(transparent)]
    Kube(#[from] KubeError),
}

/// List objects' metadata.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<ObjectMeta>, KubeError>")]
pub struct ListObjects {
    /// Canonical resource.
    pub resource: GroupResource,
    /// Namespace; `None` for all namespaces or cluster-scoped resources.
    pub namespace: Option<String>,
    /// Label selector.
    pub selector: Selector,
    /// Only pods in phase Running.
    pub running_only: bool,
}

/// How long a refresh on a miss waits after the last refresh started: a flood of requests for a resource
/// nobody serves costs at most one discovery call a second.
const MISS_REFRESH_GAP: Duration = Duration::from_secs(1);
/// First and longest pause after a failed refresh before the next one may start.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

type MapResult = Result<Arc<ResourceMap>, KubeError>;

#[derive(Default)]
struct MapState {
    map: Option<Arc<ResourceMap>>,
    /// When the current map was loaded.
    loaded_at: Option<Instant>,
    /// When the last refresh started.
    tried_at: Option<Instant>,
    /// Why the last refresh failed, while it is failing.
    failure: Option<KubeError>,
    /// No refresh starts before this, after failures.
    retry_at: Option<Instant>,
    backoff: Duration,
}

/// The object lister actor.
pub struct ObjectLister {
    backend: SharedObjectBackend,
    timeout: Duration,
    discovery: Discovery,
}

/// The resource map and its refreshing; cloning shares them (everything lives on the actor's thread).
#[derive(Clone)]
struct Discovery {
    backend: SharedObjectBackend,
    timeout: Duration,
    refresh: Duration,
    state: Rc<RefCell<MapState>>,
    /// The one discovery refresh in flight, shared by everyone who waits for it.
    refreshing: Inflight<(), MapResult>,
}

impl ObjectLister {
    /// A lister over `backend`; discovery is refreshed every `refresh`, each call bounded by `timeout`.
    pub fn new(backend: SharedObjectBackend, timeout: Duration, refresh: Duration) -> Self {
        Self {
            backend: backend.clone(),
            timeout,
            discovery: Discovery {
                backend,
                timeout,
                refresh,
                state: Rc::default(),
                refreshing: Inflight::default(),
            },
        }
    }
}

impl Discovery {
    /// Joins the refresh in flight or starts one. It runs to its end whoever waits (spawned), at most
    /// `timeout` long; a failure keeps the last map and backs the next attempt off (1 s doubling to 30 s).
    fn refresh_now(&self) -> LocalBoxFuture<'static, MapResult> {
        let (backend, timeout, state) = (self.backend.clone(), self.timeout, self.state.clone());
        let joining = self.refreshing.is_running(&());
        let call = self.refreshing.join_or_start((), move || {
            state.borrow_mut().tried_at = Some(Instant::now());
            async move {
                let result = match tokio::time::timeout(timeout, backend.resources()).await {
                    Ok(Ok(map)) => Ok(Arc::new(map)),
                    Ok(Err(error)) => Err(error),
                    Err(_) => Err(KubeError::Timeout(timeout)),
                };
                let mut s = state.borrow_mut();
                match &result {
                    Ok(map) => {
                        if s.failure.take().is_some() {
                            tracing::info!("resource discovery recovered");
                        }
                        s.map = Some(map.clone());
                        s.loaded_at = Some(Instant::now());
                        s.retry_at = None;
                        s.backoff = Duration::ZERO;
                    }
                    Err(error) => {
                        s.backoff = (s.backoff * 2).clamp(BACKOFF_FIRST, BACKOFF_MAX);
                        s.retry_at = Some(Instant::now() + s.backoff);
                        s.failure = Some(error.clone());
                        tracing::warn!(%error, retry_in = ?s.backoff, "resource discovery failed; serving the last resource map");
                    }
                }
                result
            }
            .boxed_local()
        });
        if joining {
            return call;
        }
        // The one that starts it spawns it, so a refresh nobody waits for (or whose waiters gave up) still
        // records its answer; joiners only await it.
        let shared = call.shared();
        actix::spawn(shared.clone().map(drop));
        shared.boxed_local()
    }

    /// Whether a refresh may start now: one is in flight to join, or none is backed off and the last
    /// started at least `gap` ago.
    fn may_refresh(&self, gap: Duration) -> bool {
        if self.refreshing.is_running(&()) {
            return true;
        }
        let s = self.state.borrow();
        let now = Instant::now();
        s.retry_at.is_none_or(|t| now >= t) && s.tried_at.is_none_or(|t| now >= t + gap)
    }

    /// The current map, never waiting: when it is older than the refresh interval a refresh starts in
    /// the background (unless one is in flight or failures back it off) and the current map answers.
    fn current(&self) -> Option<Arc<ResourceMap>> {
        let stale = self
            .state
            .borrow()
            .loaded_at
            .is_none_or(|t| t.elapsed() >= self.refresh);
        if stale && !self.refreshing.is_running(&()) && self.may_refresh(Duration::ZERO) {
            drop(self.refresh_now());
        }
        self.state.borrow().map.clone()
    }

    /// The current map, or — before any discovery succeeded — the one refresh's answer, or the last
    /// failure while backing off.
    async fn resources(self) -> MapResult {
        if let Some(map) = self.current() {
            return Ok(map);
        }
        if self.may_refresh(Duration::ZERO) {
            return self.refresh_now().await;
        }
        let failure = self.state.borrow().failure.clone();
        Err(failure.unwrap_or(KubeError::Timeout(self.timeout)))
    }

    /// Resolves from the current map; a miss refreshes once (a CRD installed after start-up), joining a
    /// refresh in flight, at most once a [`MISS_REFRESH_GAP`].
    async fn resolve(self, resource: GroupResource) -> Result<ResourceInfo, ResolveError> {
        let resolve = |map: &ResourceMap| {
            map.resolve(&resource.group, &resource.resource)
                .ok()
                .cloned()
        };
        let current = self.clone().resources().await?;
        if let Some(info) = resolve(&current) {
            return Ok(info);
        }
        if self.may_refresh(MISS_REFRESH_GAP)
            && let Ok(map) = self.refresh_now().await
            && let Some(info) = resolve(&map)
        {
            return Ok(info);
        }
        Err(ResolveError::Unknown(resource.to_string()))
    }
}

impl Actor for ObjectLister {
    type Context = Context<Self>;
}

impl Supervised for ObjectLister {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // The spawned refresh lives on and still records its answer; only the sharing is forgotten.
        self.discovery.refreshing.clear();
    }
}

impl Handler<Resources> for ObjectLister {
    type Result = ResponseFuture<MapResult>;

    fn handle(&mut self, _: Resources, _: &mut Context<Self>) -> Self::Result {
        Box::pin(self.discovery.clone().resources())
    }
}

impl Handler<CurrentResources> for ObjectLister {
    type Result = Option<Arc<ResourceMap>>;

    fn handle(&mut self, _: CurrentResources, _: &mut Context<Self>) -> Self::Result {
        self.discovery.current()
    }
}

impl Handler<ResolveResource> for ObjectLister {
    type Result = ResponseFuture<Result<ResourceInfo, ResolveError>>;

    fn handle(&mut self, msg: ResolveResource, _: &mut Context<Self>) -> Self::Result {
        Box::pin(self.discovery.clone().resolve(msg.resource))
    }
}

impl Handler<ListObjects> for ObjectLister {
    type Result = ResponseFuture<Result<Vec<ObjectMeta>, KubeError>>;

    fn handle(&mut self, msg: ListObjects, _: &mut Context<Self>) -> Self::Result {
        let (backend, timeout, map) = (
            self.backend.clone(),
            self.timeout,
            self.discovery.clone().resources(),
        );
        Box::pin(async move {
            let map = map.await?;
            let info = map.get(&msg.resource).ok_or_else(|| {
                KubeError::Unavailable(format!(
                    "resource {} is not served by the cluster",
                    msg.resource
                ))
            })?;
            let call = backend.list(
                info,
                msg.namespace.as_deref(),
                &msg.selector,
                msg.running_only,
            );
            tokio::time::timeout(timeout, call)
                .await
                .unwrap_or(Err(KubeError::Timeout(timeout)))
        })
    }
}

impl Handler<Crash> for ObjectLister {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        actix::ActorContext::stop(ctx);
    }
}
