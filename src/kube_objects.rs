//! The real Kubernetes backend on kube-rs: discovery builds the resource map (core first, then groups
//! alphabetically, each resource at its group's preferred version), and lists are metadata-only
//! (`PartialObjectMetadataList`) with the label selector, plus `status.phase=Running` for resource
//! metrics, as upstream's informer does.

use std::cell::RefCell;
use std::rc::Rc;

use adapter_actors::objects::{KubeError, ObjectBackend, ObjectMeta};
use adapter_config::{GroupResource, ResourceInfo, ResourceMap, Selector};
use anyhow::Context;
use futures_util::future::LocalBoxFuture;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::{ApiResource, Discovery, Scope};

/// Objects from a Kubernetes API server.
pub struct KubeObjects {
    client: kube::Client,
    /// The last discovery, to know each resource's version and kind when listing.
    map: Rc<RefCell<Option<ResourceMap>>>,
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
        let (client, cache) = (self.client.clone(), self.map.clone());
        let (resource, namespace, labels) = (
            resource.clone(),
            namespace.map(str::to_string),
            selector.to_string(),
        );
        Box::pin(async move {
            if cache.borrow().is_none() {
                let map = discover(client.clone()).await?;
                *cache.borrow_mut() = Some(map);
            }
            let info = cache
                .borrow()
                .as_ref()
                .and_then(|m| m.get(&resource).cloned())
                .ok_or_else(|| {
                    KubeError::Unavailable(format!(
                        "resource {resource} is not served by the cluster"
                    ))
                })?;
            let ar = ApiResource {
                group: info.group.clone(),
                version: info.version.clone(),
                api_version: info.api_version(),
                kind: info.kind.clone(),
                plural: info.resource.clone(),
            };
            let api: Api<DynamicObject> = match &namespace {
                Some(ns) if info.namespaced => Api::namespaced_with(client, ns, &ar),
                _ => Api::all_with(client, &ar),
            };
            let mut params = ListParams::default().labels(&labels);
            if running_only {
                params = params.fields("status.phase=Running");
            }
            let list = api.list_metadata(&params).await.map_err(unavailable)?;
            let mut objects: Vec<ObjectMeta> = list
                .items
                .into_iter()
                .map(|o| ObjectMeta {
                    namespace: o.metadata.namespace.unwrap_or_default(),
                    name: o.metadata.name.unwrap_or_default(),
                    labels: o.metadata.labels.unwrap_or_default(),
                    phase: if running_only {
                        "Running".to_string()
                    } else {
                        String::new()
                    },
                })
                .collect();
            objects.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
            Ok(objects)
        })
    }
}
