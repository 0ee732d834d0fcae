//! The embedded object source (`--objects FILE`): Kubernetes manifests (YAML documents separated by
//! `---`, or `kind: List`) standing in for a cluster, so the whole adapter runs on a laptop. Kinds map to
//! resources through the standard resource map; label selectors are evaluated for real. Pods without
//! `status.phase` count as Running. Each object's `status` is kept as written, for the embedded core
//! lists (`kubectl top node` reads nodes' capacity). The file is read once at start-up.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use adapter_actors::objects::{KubeError, ObjectBackend, ObjectMeta};
use adapter_config::{GroupResource, ResourceInfo, ResourceMap, Selector};
use anyhow::{Context, bail};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    api_version: String,
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    status: Option<serde_json::Value>,
    #[serde(default)]
    items: Vec<Manifest>,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Objects' `status` as written, by (resource, namespace, name).
pub type Statuses = HashMap<(GroupResource, String, String), serde_json::Value>;

/// Objects from a manifests file.
#[derive(Debug)]
pub struct ObjectsFile {
    map: ResourceMap,
    objects: Vec<(GroupResource, ObjectMeta)>,
    statuses: Arc<Statuses>,
}

impl ObjectsFile {
    /// Reads and resolves every manifest; an unknown kind or a nameless object is an error naming it.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("unable to read --objects {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("--objects {}", path.display()))
    }

    /// Parses manifests text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let map = ResourceMap::standard();
        let mut objects = Vec::new();
        let mut statuses = Statuses::new();
        let mut documents = vec![String::new()];
        for line in text.lines() {
            if line.trim_end() == "---" {
                documents.push(String::new());
            } else if let Some(doc) = documents.last_mut() {
                doc.push_str(line);
                doc.push('\n');
            }
        }
        for (i, doc) in documents
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.trim().is_empty())
        {
            let manifest: Manifest =
                serde_saphyr::from_str(doc).with_context(|| format!("document {}", i + 1))?;
            let mut pending = vec![manifest];
            while let Some(m) = pending.pop() {
                if m.kind.ends_with("List") {
                    pending.extend(m.items.into_iter().rev());
                    continue;
                }
                let group = m.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
                let info = map
                    .resolve(group, &m.kind)
                    .with_context(|| format!("document {}: kind {}", i + 1, m.kind))?;
                if m.metadata.name.is_empty() {
                    bail!("document {}: a {} without metadata.name", i + 1, m.kind);
                }
                let written = m
                    .status
                    .as_ref()
                    .and_then(|s| s.get("phase"))
                    .and_then(serde_json::Value::as_str)
                    .filter(|p| !p.is_empty());
                let phase = match (written, info.resource.as_str()) {
                    (Some(phase), _) => phase.to_string(),
                    (None, "pods") => "Running".to_string(),
                    (None, _) => String::new(),
                };
                let namespace = if info.namespaced && m.metadata.namespace.is_empty() {
                    "default".to_string()
                } else {
                    m.metadata.namespace
                };
                if let Some(status) = m.status {
                    statuses.insert(
                        (
                            info.group_resource(),
                            namespace.clone(),
                            m.metadata.name.clone(),
                        ),
                        status,
                    );
                }
                objects.push((
                    info.group_resource(),
                    ObjectMeta {
                        namespace,
                        name: m.metadata.name,
                        labels: m.metadata.labels.into(),
                        phase,
                    },
                ));
            }
        }
        Ok(Self {
            map,
            objects,
            statuses: Arc::new(statuses),
        })
    }

    /// Every object's `status` as written.
    pub fn statuses(&self) -> Arc<Statuses> {
        self.statuses.clone()
    }

    /// How many objects were read.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

impl ObjectBackend for ObjectsFile {
    fn resources(&self) -> LocalBoxFuture<'static, Result<ResourceMap, KubeError>> {
        let map = self.map.clone();
        Box::pin(async move { Ok(map) })
    }

    fn list(
        &self,
        resource: &ResourceInfo,
        namespace: Option<&str>,
        selector: &Selector,
        running_only: bool,
    ) -> LocalBoxFuture<'static, Result<Vec<ObjectMeta>, KubeError>> {
        let found = adapter_actors::objects::select(
            &self.objects,
            &resource.group_resource(),
            namespace,
            selector,
            running_only,
        );
        Box::pin(async move { Ok(found) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_and_lists_load() {
        let objects = ObjectsFile::parse(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n---\n\
             apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: web-1, namespace: prod, labels: {app: web}}}\n\
             - {apiVersion: v1, kind: Pod, metadata: {name: db-1, namespace: prod}, status: {phase: Pending}}\n---\n\
             apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
        )
        .unwrap();
        assert_eq!(objects.len(), 4);
        let pods: Vec<_> = objects
            .objects
            .iter()
            .filter(|(r, _)| &*r.resource == "pods")
            .map(|(_, o)| (o.name.as_str(), o.phase.as_str()))
            .collect();
        assert_eq!(pods, [("web-1", "Running"), ("db-1", "Pending")]);
        assert!(
            objects
                .objects
                .iter()
                .any(|(r, o)| &*r.group == "apps" && o.namespace == "default")
        );
        assert!(
            ObjectsFile::parse("kind: Widget\nmetadata: {name: x}\n")
                .unwrap_err()
                .to_string()
                .contains("kind Widget")
        );
    }
}
