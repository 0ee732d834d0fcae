//! The real Kubernetes backend on kube-rs.
//!
//! Discovery builds the resource map (core first, then groups alphabetically, each resource at its
//! group's preferred version). Object lists come from watch-fed, metadata-only caches: the first request
//! for a resource starts a metadata watcher over all namespaces (pods for resource metrics get their own,
//! with `status.phase=Running`, as upstream's informer) and is answered by one metadata LIST; once the
//! cache has synced, requests are answered from memory with the label selector evaluated locally, so an
//! HPA's request costs no API call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use adapter_actors::objects::{KubeError, ObjectBackend, ObjectMeta};
use adapter_config::{GroupResource, ResourceInfo, ResourceMap, Selector};
use anyhow::Context;
use futures_util::future::LocalBoxFuture;
use futures_util::{FutureExt, StreamExt};
use kube::api::{Api, DynamicObject, ListParams, PartialObjectMeta};
use kube::discovery::{ApiResource, Discovery, Scope};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

use crate::telemetry::Telemetry;

type Cache = Store<PartialObjectMeta<DynamicObject>>;

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

fn object(meta: &kube::api::ObjectMeta, running_only: bool) -> ObjectMeta {
    ObjectMeta {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        labels: meta.labels.clone().unwrap_or_default(),
        // The field selector already kept Running pods only; metadata carries no phase.
        phase: if running_only {
            "Running".to_string()
        } else {
            String::new()
        },
    }
}

/// Starts a metadata watcher feeding a cache, on the current (actors') thread.
fn start_cache(
    client: kube::Client,
    ar: &ApiResource,
    running_only: bool,
    telemetry: Arc<Telemetry>,
) -> Cache {
    let writer = reflector::store::Writer::new(ar.clone());
    let cache = writer.as_reader();
    let mut config = watcher::Config::default();
    if running_only {
        config = config.fields("status.phase=Running");
    }
    // `Api<PartialObjectMeta<_>>` makes metadata-only list and watch requests.
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, ar);
    let resource = ar.plural.clone();
    let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
    actix_web::rt::spawn(stream.for_each(move |event| {
        if let Err(error) = event {
            telemetry.observe_kube_call("watch", "error", Duration::ZERO);
            tracing::warn!(%resource, %error, "object watch failed; retrying");
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
        let (key, selector) = ((info.group_resource(), running_only), selector.clone());
        Box::pin(async move {
            let cache = caches.borrow().get(&key).cloned();
            let mut objects: Vec<ObjectMeta> = match cache {
                Some(cache)
                    if cache
                        .wait_until_ready()
                        .now_or_never()
                        .is_some_and(|r| r.is_ok()) =>
                {
                    cache
                        .state()
                        .iter()
                        .map(|o| object(&o.metadata, running_only))
                        .filter(|o| {
                            namespace.as_ref().is_none_or(|ns| *ns == o.namespace)
                                && selector.matches(&o.labels)
                        })
                        .collect()
                }
                cached => {
                    if cached.is_none() {
                        let cache =
                            start_cache(client.clone(), &ar, running_only, calls.telemetry.clone());
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
                    list.items
                        .iter()
                        .map(|o| object(&o.metadata, running_only))
                        .collect()
                }
            };
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
