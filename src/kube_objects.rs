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

use adapter_actors::objects::{KubeError, ObjectBackend, ObjectMeta};
use adapter_config::{GroupResource, ResourceInfo, ResourceMap, Selector};
use anyhow::Context;
use futures_util::future::LocalBoxFuture;
use futures_util::{FutureExt, StreamExt};
use kube::api::{Api, DynamicObject, ListParams, PartialObjectMeta};
use kube::discovery::{ApiResource, Discovery, Scope};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

type Cache = Store<PartialObjectMeta<DynamicObject>>;

/// Objects from a Kubernetes API server.
pub struct KubeObjects {
    client: kube::Client,
    /// The last discovery, to know each resource's version and kind when listing.
    map: Rc<RefCell<Option<ResourceMap>>>,
    /// Watch-fed caches by (resource, running pods only).
    caches: Rc<RefCell<HashMap<(GroupResource, bool), Cache>>>,
}

impl KubeObjects {
    /// A client from `--lister-kubeconfig`, or in-cluster / `KUBECONFIG` when empty. Build it on the
    /// actors' thread: the client lives with the runtime that made it.
    pub async fn connect(kubeconfig: &str) -> anyhow::Result<Self> {
        let config = if kubeconfig.is_empty() {
            kube::Config::infer()
                .await
                .context("no in-cluster config and no kubeconfig")?
        } else {
            let file = kube::config::Kubeconfig::read_from(kubeconfig)
                .with_context(|| format!("--lister-kubeconfig {kubeconfig}"))?;
            kube::Config::from_custom_kubeconfig(file, &Default::default())
                .await
                .with_context(|| format!("--lister-kubeconfig {kubeconfig}"))?
        };
        let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
        Ok(Self {
            client,
            map: Rc::default(),
            caches: Rc::default(),
        })
    }
}

fn unavailable(error: kube::Error) -> KubeError {
    KubeError::Unavailable(error.to_string())
}

async fn discover(client: kube::Client) -> Result<ResourceMap, KubeError> {
    let discovery = Discovery::new(client).run().await.map_err(unavailable)?;
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
fn start_cache(client: kube::Client, ar: &ApiResource, running_only: bool) -> Cache {
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
            tracing::warn!(%resource, %error, "object watch failed; retrying");
        }
        futures_util::future::ready(())
    }));
    cache
}

impl ObjectBackend for KubeObjects {
    fn resources(&self) -> LocalBoxFuture<'static, Result<ResourceMap, KubeError>> {
        let (client, cache) = (self.client.clone(), self.map.clone());
        Box::pin(async move {
            let map = discover(client).await?;
            *cache.borrow_mut() = Some(map.clone());
            Ok(map)
        })
    }

    fn list(
        &self,
        resource: &GroupResource,
        namespace: Option<&str>,
        selector: &Selector,
        running_only: bool,
    ) -> LocalBoxFuture<'static, Result<Vec<ObjectMeta>, KubeError>> {
        let (client, map, caches) = (self.client.clone(), self.map.clone(), self.caches.clone());
        let (resource, namespace, selector) = (
            resource.clone(),
            namespace.map(str::to_string),
            selector.clone(),
        );
        Box::pin(async move {
            if map.borrow().is_none() {
                let discovered = discover(client.clone()).await?;
                *map.borrow_mut() = Some(discovered);
            }
            let info = map
                .borrow()
                .as_ref()
                .and_then(|m| m.get(&resource).cloned())
                .ok_or_else(|| {
                    KubeError::Unavailable(format!(
                        "resource {resource} is not served by the cluster"
                    ))
                })?;
            let ar = api_resource(&info);
            let namespace = namespace.filter(|_| info.namespaced);
            let key = (resource.clone(), running_only);
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
                        caches
                            .borrow_mut()
                            .insert(key, start_cache(client.clone(), &ar, running_only));
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
                    let list = api.list_metadata(&params).await.map_err(unavailable)?;
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
