//! The real Kubernetes backend on kube-rs.
//!
//! Discovery builds the resource map (core first, then groups alphabetically, each resource at its
//! group's preferred version). Object lists come from watch-fed, metadata-only caches: the first request
//! for a resource starts a metadata watcher over all namespaces (pods for resource metrics get their own,
//! with `status.phase=Running`, as upstream's informer) and is answered by one metadata LIST; once the
//! cache has synced, requests are answered from memory with the label selector evaluated locally, so an
//! HPA's request costs no API call. The caches keep names and labels only, by namespace
//! ([`super::object_index`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use adapter_actors::objects::{KubeError, ObjectBackend, ObjectMeta};
use adapter_config::{GroupResource, ResourceInfo, ResourceMap, Selector};
use anyhow::Context;
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use kube::api::{Api, DynamicObject, ListParams, PartialObjectMeta};
use kube::discovery::{ApiResource, Discovery, Scope};
use kube::runtime::{WatchStreamExt, watcher};

use super::object_index::{WatchEvent, Watched, WatchedIndex};
use crate::telemetry::Telemetry;

/// One watch-fed cache, read and written on the actors' thread only.
type Cache = Rc<RefCell<WatchedIndex>>;

/// `--client-qps` / `--client-burst`: a token bucket in front of every LIST and discovery call, as
/// client-go's limiter (watches, which stay open, are not limited).
#[derive(Debug)]
pub struct RateLimit {
    qps: f64,
    burst: f64,
    state: RefCell<(f64, tokio::time::Instant)>,
}

impl RateLimit {
    /// A bucket of `burst` tokens refilled at `qps`; `qps <= 0` disables limiting, as upstream (and so
    /// does a `qps` that is no number).
    pub fn new(qps: f32, burst: u32) -> Rc<Self> {
        let burst = f64::from(burst.max(1));
        Rc::new(Self {
            qps: if qps.is_finite() { f64::from(qps) } else { 0.0 },
            burst,
            state: RefCell::new((burst, tokio::time::Instant::now())),
        })
    }

    /// Waits for a token; answers how long it waited.
    pub async fn acquire(&self) -> Duration {
        if self.qps <= 0.0 {
            return Duration::ZERO;
        }
        let wait = {
            let mut state = self.state.borrow_mut();
            let now = tokio::time::Instant::now();
            let tokens =
                (state.0 + now.duration_since(state.1).as_secs_f64() * self.qps).min(self.burst);
            *state = (tokens - 1.0, now);
            if tokens >= 1.0 {
                None
            } else {
                // A qps so small the wait is beyond any Duration: for good.
                Some(
                    std::time::Duration::try_from_secs_f64((1.0 - tokens) / self.qps)
                        .unwrap_or(Duration::MAX),
                )
            }
        };
        if let Some(wait) = wait {
            tokio::time::sleep(wait).await;
        }
        wait.unwrap_or_default()
    }
}

/// Objects from a Kubernetes API server.
pub struct KubeObjects {
    client: kube::Client,
    /// Watch-fed caches by (resource, running pods only).
    caches: Rc<RefCell<HashMap<(GroupResource, bool), Cache>>>,
    calls: Calls,
}

/// Every API call goes through here: the rate limit first, then the call, both in `/metrics`.
#[derive(Clone)]
struct Calls {
    limit: Rc<RateLimit>,
    telemetry: Arc<Telemetry>,
}

impl Calls {
    async fn call<T>(
        &self,
        call: &'static str,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, KubeError> {
        self.telemetry
            .observe_kube_rate_limit(self.limit.acquire().await);
        let mut observed = Observed {
            telemetry: &self.telemetry,
            call,
            #[allow(clippy::disallowed_methods, reason = "latency self-metric")]
            started: std::time::Instant::now(),
            result: "timeout",
        };
        let result = request.await;
        observed.result = if result.is_ok() { "success" } else { "error" };
        result.map_err(unavailable)
    }
}

/// Records a call when it ends — also when the caller's timeout drops it unfinished (`timeout`).
struct Observed<'a> {
    telemetry: &'a Telemetry,
    call: &'static str,
    started: std::time::Instant,
    result: &'static str,
}

impl Drop for Observed<'_> {
    fn drop(&mut self) {
        self.telemetry
            .observe_kube_call(self.call, self.result, self.started.elapsed());
    }
}

impl KubeObjects {
    /// A client from `--lister-kubeconfig`, or in-cluster / `KUBECONFIG` when empty. Build it on the
    /// actors' thread: the client lives with the runtime that made it.
    pub async fn connect(
        kubeconfig: &str,
        limit: Rc<RateLimit>,
        telemetry: Arc<Telemetry>,
    ) -> anyhow::Result<Self> {
        let client = client(kubeconfig, "--lister-kubeconfig").await?;
        Ok(Self {
            client,
            caches: Rc::default(),
            calls: Calls { limit, telemetry },
        })
    }
}

/// A client for the cluster `kubeconfig` names (named `flag` in errors); empty means in-cluster, or
/// `KUBECONFIG` / `~/.kube/config` outside a cluster.
pub async fn client(kubeconfig: &str, flag: &str) -> anyhow::Result<kube::Client> {
    let config = if kubeconfig.is_empty() {
        kube::Config::infer()
            .await
            .with_context(|| format!("no in-cluster config and no kubeconfig (set {flag})"))?
    } else {
        let file = kube::config::Kubeconfig::read_from(kubeconfig)
            .with_context(|| format!("{flag} {kubeconfig}"))?;
        kube::Config::from_custom_kubeconfig(file, &Default::default())
            .await
            .with_context(|| format!("{flag} {kubeconfig}"))?
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}

fn unavailable(error: kube::Error) -> KubeError {
    KubeError::Unavailable(error.to_string())
}

async fn discover(client: kube::Client, calls: &Calls) -> Result<ResourceMap, KubeError> {
    let discovery = calls
        .call("discovery", Discovery::new(client).run())
        .await?;
    let mut resources = Vec::new();
    for group in discovery.groups_alphabetical() {
        for (ar, caps) in group.recommended_resources() {
            if ar.plural.contains('/') {
                continue;
            }
            resources.push(ResourceInfo {
                singular: ar.kind.to_lowercase(),
                group: ar.group,
                version: ar.version,
                resource: ar.plural,
                kind: ar.kind,
                namespaced: caps.scope == Scope::Namespaced,
            });
        }
    }
    Ok(ResourceMap::new(resources))
}

fn api_resource(info: &ResourceInfo) -> ApiResource {
    ApiResource {
        group: info.group.clone(),
        version: info.version.clone(),
        api_version: info.api_version(),
        kind: info.kind.clone(),
        plural: info.resource.clone(),
    }
}

/// The phase the objects of a cache or list are known to have: the `status.phase=Running` field selector
/// kept Running pods only; metadata carries no phase.
fn phase(running_only: bool) -> &'static str {
    if running_only { "Running" } else { "" }
}

/// What serving keeps of an object: managed fields, annotations and owner references are dropped here,
/// before anything is stored.
fn watched(object: PartialObjectMeta<DynamicObject>) -> Watched {
    let meta = object.metadata;
    Watched {
        namespace: meta.namespace.unwrap_or_default(),
        name: meta.name.unwrap_or_default(),
        labels: meta.labels.unwrap_or_default(),
    }
}

fn event(event: watcher::Event<PartialObjectMeta<DynamicObject>>) -> WatchEvent {
    match event {
        watcher::Event::Init => WatchEvent::Init,
        watcher::Event::InitApply(o) => WatchEvent::InitApply(watched(o)),
        watcher::Event::InitDone => WatchEvent::InitDone,
        watcher::Event::Apply(o) => WatchEvent::Apply(watched(o)),
        watcher::Event::Delete(o) => WatchEvent::Delete(watched(o)),
    }
}

/// Starts a metadata watcher feeding a cache, on the current (actors') thread.
fn start_cache(
    client: kube::Client,
    ar: &ApiResource,
    resource: String,
    running_only: bool,
    telemetry: Arc<Telemetry>,
) -> Cache {
    let cache = Cache::default();
    let mut config = watcher::Config::default();
    if running_only {
        config = config.fields("status.phase=Running");
    }
    // `Api<PartialObjectMeta<_>>` makes metadata-only list and watch requests.
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, ar);
    let fed = cache.clone();
    let gauges = telemetry.object_cache_gauges(&resource, phase(running_only));
    let stream = watcher(api, config).default_backoff();
    actix_web::rt::spawn(stream.for_each(move |result| {
        match result {
            Ok(change) => {
                let mut index = fed.borrow_mut();
                index.apply(event(change));
                gauges.set(index.served().len(), index.bytes());
            }
            Err(error) => {
                telemetry.observe_kube_call("watch", "error", Duration::ZERO);
                tracing::warn!(%resource, %error, "object watch failed; retrying");
            }
        }
        futures_util::future::ready(())
    }));
    cache
}

impl ObjectBackend for KubeObjects {
    fn resources(&self) -> LocalBoxFuture<'static, Result<ResourceMap, KubeError>> {
        let (client, calls) = (self.client.clone(), self.calls.clone());
        Box::pin(async move { discover(client, &calls).await })
    }

    fn list(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        selector: &Selector,
        running_only: bool,
    ) -> LocalBoxFuture<'static, Result<Vec<ObjectMeta>, KubeError>> {
        let (client, caches, calls) =
            (self.client.clone(), self.caches.clone(), self.calls.clone());
        let ar = api_resource(info);
        let namespace = namespace.filter(|_| info.namespaced).map(str::to_string);
        let key = (info.group_resource(), running_only);
        let cache = caches.borrow().get(&key).cloned();
        if let Some(cache) = &cache {
            let cache = cache.borrow();
            if cache.synced() {
                // Answered now, from memory: the future only hands the list over.
                let objects =
                    cache
                        .served()
                        .select(namespace.as_deref(), selector, phase(running_only));
                return Box::pin(std::future::ready(Ok(objects)));
            }
        }
        let selector = selector.clone();
        Box::pin(async move {
            if cache.is_none() {
                let resource = key.0.to_string();
                let telemetry = calls.telemetry.clone();
                let cache = start_cache(client.clone(), &ar, resource, running_only, telemetry);
                caches.borrow_mut().insert(key, cache);
            }
            // Not synced yet: ask the API server directly this once.
            let api: Api<DynamicObject> = match &namespace {
                Some(ns) => Api::namespaced_with(client, ns, &ar),
                None => Api::all_with(client, &ar),
            };
            let mut params = ListParams::default().labels(&selector.to_string());
            if running_only {
                params = params.fields("status.phase=Running");
            }
            let list = calls.call("list", api.list_metadata(&params)).await?;
            let mut objects: Vec<ObjectMeta> = list
                .items
                .into_iter()
                .map(|o| watched(o).into_meta(phase(running_only)))
                .collect();
            objects.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
            Ok(objects)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn the_rate_limit_allows_a_burst_then_qps() {
        tokio::time::pause();
        let limit = RateLimit::new(5.0, 10);
        let start = tokio::time::Instant::now();
        for _ in 0..10 {
            limit.acquire().await;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_millis(1),
            "the burst is immediate"
        );
        for _ in 0..5 {
            limit.acquire().await;
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= std::time::Duration::from_millis(990)
                && elapsed < std::time::Duration::from_millis(1100),
            "{elapsed:?}"
        );
        let unlimited = RateLimit::new(0.0, 1);
        for _ in 0..100 {
            unlimited.acquire().await;
        }
    }
}
