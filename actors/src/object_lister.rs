//! **ObjectLister**: the only door to Kubernetes.
//!
//! Owns the backend client and the resource map (discovery), refreshed every `refresh` and on a miss.
//! Answers [`Resources`], [`ResolveResource`] and [`ListObjects`]; every backend call is bounded by the
//! timeout. Sends nothing. A restart keeps the last resource map.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Message, ResponseFuture, Supervised};
use adapter_config::{GroupResource, ResourceInfo, ResourceMap, Selector};
use futures_util::future::LocalBoxFuture;
use tokio::time::Instant;

use crate::Crash;
use crate::objects::{KubeError, ObjectMeta, SharedObjectBackend};

/// The resource map, refreshed if it is older than the refresh interval.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Arc<ResourceMap>, KubeError>")]
pub struct Resources;

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

struct MapState {
    map: Option<Arc<ResourceMap>>,
    loaded_at: Option<Instant>,
}

/// The object lister actor.
pub struct ObjectLister {
    backend: SharedObjectBackend,
    timeout: Duration,
    refresh: Duration,
    state: Rc<RefCell<MapState>>,
}

impl ObjectLister {
    /// A lister over `backend`; discovery is refreshed every `refresh`, each call bounded by `timeout`.
    pub fn new(backend: SharedObjectBackend, timeout: Duration, refresh: Duration) -> Self {
        Self {
            backend,
            timeout,
            refresh,
            state: Rc::new(RefCell::new(MapState {
                map: None,
                loaded_at: None,
            })),
        }
    }

    /// The current map, or a fresh one when stale (or when `force`); the last good map when discovery fails.
    fn resources(
        &self,
        force: bool,
    ) -> LocalBoxFuture<'static, Result<Arc<ResourceMap>, KubeError>> {
        let (backend, timeout, refresh, state) = (
            self.backend.clone(),
            self.timeout,
            self.refresh,
            self.state.clone(),
        );
        Box::pin(async move {
            let cached = {
                let s = state.borrow();
                let fresh = s.loaded_at.is_some_and(|t| t.elapsed() < refresh);
                s.map.clone().filter(|_| fresh && !force)
            };
            if let Some(map) = cached {
                return Ok(map);
            }
            let error = match tokio::time::timeout(timeout, backend.resources()).await {
                Ok(Ok(map)) => {
                    let map = Arc::new(map);
                    let mut s = state.borrow_mut();
                    s.map = Some(map.clone());
                    s.loaded_at = Some(Instant::now());
                    return Ok(map);
                }
                Ok(Err(error)) => error,
                Err(_) => KubeError::Timeout(timeout),
            };
            // A stale map beats none: resources rarely change.
            state.borrow().map.clone().ok_or(error)
        })
    }
}

impl Actor for ObjectLister {
    type Context = Context<Self>;
}

impl Supervised for ObjectLister {}

impl Handler<Resources> for ObjectLister {
    type Result = ResponseFuture<Result<Arc<ResourceMap>, KubeError>>;

    fn handle(&mut self, _: Resources, _: &mut Context<Self>) -> Self::Result {
        self.resources(false)
    }
}

impl Handler<ResolveResource> for ObjectLister {
    type Result = ResponseFuture<Result<ResourceInfo, ResolveError>>;

    fn handle(&mut self, msg: ResolveResource, _: &mut Context<Self>) -> Self::Result {
        let current = self.resources(false);
        let refreshed = self.resources(true);
        Box::pin(async move {
            let resolve = |map: &ResourceMap| {
                map.resolve(&msg.resource.group, &msg.resource.resource)
                    .ok()
                    .cloned()
            };
            if let Some(info) = resolve(&*current.await?) {
                return Ok(info);
            }
            resolve(&*refreshed.await?)
                .ok_or_else(|| ResolveError::Unknown(msg.resource.to_string()))
        })
    }
}

impl Handler<ListObjects> for ObjectLister {
    type Result = ResponseFuture<Result<Vec<ObjectMeta>, KubeError>>;

    fn handle(&mut self, msg: ListObjects, _: &mut Context<Self>) -> Self::Result {
        let timeout = self.timeout;
        let call = self.backend.list(
            &msg.resource,
            msg.namespace.as_deref(),
            &msg.selector,
            msg.running_only,
        );
        Box::pin(async move {
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
