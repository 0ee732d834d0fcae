//! What the rules need to know about Kubernetes resources: plural, singular, kind, group, preferred
//! version and scope. Upstream asks a RESTMapper filled once at start-up; here the map is a value the
//! caller supplies — the built-in standard resources for offline use, a file, or live discovery.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

/// A group and a plural resource name: the identity of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    /// API group, empty for core.
    pub group: Arc<str>,
    /// Plural resource name.
    pub resource: Arc<str>,
}

impl GroupResource {
    /// Builds a group-resource.
    pub fn new(group: &str, resource: &str) -> Self {
        Self {
            group: Arc::from(group),
            resource: Arc::from(resource),
        }
    }

    /// Parses `resource` or `resource.group` as in API paths (`deployments.apps`).
    pub fn parse(text: &str) -> Self {
        match text.split_once('.') {
            Some((resource, group)) => Self::new(group, resource),
            None => Self::new("", text),
        }
    }
}

impl std::fmt::Display for GroupResource {
    /// `resource` or `resource.group`, the form used in discovery entries.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// One resource as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceInfo {
    /// API group, empty for core.
    #[serde(default)]
    pub group: String,
    /// Preferred version.
    pub version: String,
    /// Plural name (`pods`).
    pub resource: String,
    /// Singular name (`pod`).
    pub singular: String,
    /// Kind (`Pod`).
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

impl ResourceInfo {
    /// The identity of this resource.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.resource)
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Why a resource could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to normalize group-resource {0}: no such resource is known")]
pub struct UnknownResource(pub String);

/// The resources known, in discovery priority order (earlier wins when a name is in several groups).
#[derive(Debug, Clone, Default)]
pub struct ResourceMap {
    resources: Vec<ResourceInfo>,
    by_name: HashMap<String, Vec<usize>>,
}

impl ResourceMap {
    /// Builds a map from resources in priority order.
    pub fn new(resources: Vec<ResourceInfo>) -> Self {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, info) in resources.iter().enumerate() {
            for name in [&info.resource, &info.singular, &info.kind.to_lowercase()] {
                let slots = by_name.entry(name.to_lowercase()).or_default();
                if !slots.contains(&i) {
                    slots.push(i);
                }
            }
        }
        Self { resources, by_name }
    }

    /// The standard Kubernetes resources, for use without a cluster.
    pub fn standard() -> Self {
        Self::from_yaml(include_str!("../resources/standard.yaml")).unwrap_or_default()
    }

    /// Reads a YAML or JSON list of [`ResourceInfo`].
    pub fn from_yaml(text: &str) -> Result<Self, serde_saphyr::Error> {
        Ok(Self::new(serde_saphyr::from_str(text)?))
    }

    /// Resolves a singular or plural name (any case) in `group`, or in any group by priority when `group`
    /// is empty and the name is not a core resource.
    pub fn resolve(&self, group: &str, name: &str) -> Result<&ResourceInfo, UnknownResource> {
        let candidates = self
            .by_name
            .get(&name.to_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut found = candidates.iter().map(|&i| &self.resources[i]);
        let hit = if group.is_empty() {
            found.next()
        } else {
            found.find(|info| info.group == group)
        };
        hit.ok_or_else(|| UnknownResource(GroupResource::new(group, name).to_string()))
    }

    /// Looks up a resource by exact group and plural.
    pub fn get(&self, resource: &GroupResource) -> Option<&ResourceInfo> {
        self.resolve(&resource.group, &resource.resource)
            .ok()
            .filter(|info| info.resource == *resource.resource && info.group == *resource.group)
    }

    /// Every resource, in priority order.
    pub fn iter(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.resources.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_map_resolves_plural_singular_and_kind() {
        let map = ResourceMap::standard();
        for name in ["pods", "pod", "Pod", "POD"] {
            let info = map.resolve("", name).unwrap();
            assert_eq!(
                (info.resource.as_str(), info.group.as_str(), info.namespaced),
                ("pods", "", true)
            );
        }
        let deployment = map.resolve("apps", "deployment").unwrap();
        assert_eq!(
            (deployment.kind.as_str(), deployment.api_version()),
            ("Deployment", "apps/v1".to_string())
        );
        assert_eq!(
            map.resolve("", "ingress").unwrap().group,
            "networking.k8s.io"
        );
        assert!(!map.resolve("", "namespace").unwrap().namespaced);
        assert!(!map.resolve("", "storageclasses").unwrap().namespaced);
        assert_eq!(map.resolve("", "pods").unwrap().api_version(), "v1");
    }

    #[test]
    fn unknown_resources_and_wrong_groups_are_errors() {
        let map = ResourceMap::standard();
        assert_eq!(
            map.resolve("", "widgets").unwrap_err().to_string(),
            "unable to normalize group-resource widgets: no such resource is known"
        );
        assert!(map.resolve("batch", "pods").is_err());
        assert!(
            map.resolve("", "po").is_err(),
            "short names are not accepted, as upstream"
        );
    }

    #[test]
    fn group_resource_parses_and_prints_path_form() {
        let gr = GroupResource::parse("deployments.apps");
        assert_eq!((&*gr.group, &*gr.resource), ("apps", "deployments"));
        assert_eq!(gr.to_string(), "deployments.apps");
        assert_eq!(GroupResource::parse("pods").to_string(), "pods");
        assert_eq!(
            GroupResource::parse("ingresses.networking.k8s.io")
                .group
                .as_ref(),
            "networking.k8s.io"
        );
    }
}
