//! What the adapter needs of Kubernetes, as a trait with two implementations: the real kube client
//! (serving issue) and the simulated one in [`crate::sim`]. Only metadata: names, labels, phase.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use adapter_config::{GroupResource, ResourceInfo, ResourceMap, Selector};
use futures_util::future::LocalBoxFuture;

/// An object's labels, shared: the object caches keep one copy for every object carrying the same set.
pub type Labels = Arc<BTreeMap<String, String>>;

/// The metadata of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Pod phase (`Running`, …); empty for other kinds.
    pub phase: String,
}

/// Why a Kubernetes call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    /// The API server could not be reached or refused.
    #[error("kubernetes unavailable: {0}")]
    Unavailable(String),
    /// No answer within the deadline.
    #[error("kubernetes did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The lister actor was restarting or gone.
    #[error("object lister unavailable: {0}")]
    Mailbox(String),
}

/// The Kubernetes API, reduced to what the adapter reads.
pub trait ObjectBackend {
    /// Discovery: every resource with its scope, kind and preferred version.
    fn resources(&self) -> LocalBoxFuture<'static, Result<ResourceMap, KubeError>>;
    /// Objects of `resource` (as discovery knows it) in `namespace` (all namespaces when `None`) matching `selector`, in the
    /// API's order (by namespace, then name). `running_only` keeps pods in phase Running (a
    /// `status.phase=Running` field selector), as resource metrics need.
    fn list(
        &self,
        resource: &ResourceInfo,
        namespace: Option<&str>,
        selector: &Selector,
        running_only: bool,
    ) -> LocalBoxFuture<'static, Result<Vec<ObjectMeta>, KubeError>>;
}

/// What an in-memory object store answers to a list: objects of `resource` in `namespace` matching
/// `selector` (and Running, for `running_only`), sorted by namespace and name as the API server does.
pub fn select<'a>(
    objects: impl IntoIterator<Item = &'a (GroupResource, ObjectMeta)>,
    resource: &GroupResource,
    namespace: Option<&str>,
    selector: &Selector,
    running_only: bool,
) -> Vec<ObjectMeta> {
    let mut found: Vec<ObjectMeta> = objects
        .into_iter()
        .filter(|(r, o)| {
            r == resource
                && namespace.is_none_or(|ns| ns == o.namespace)
                && selector.matches(&o.labels)
                && (!running_only || o.phase == "Running")
        })
        .map(|(_, o)| o.clone())
        .collect();
    found.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    found
}

/// Shared handle to a backend.
pub type SharedObjectBackend = Rc<dyn ObjectBackend>;
