//! Resource association (upstream `resource_converter.go`): which label of a series names which
//! Kubernetes resource, in both directions — label → resource when naming discovered series, resource →
//! label when building queries — through `overrides` and the `resources.template`.

use regex::Regex;

use crate::resource_map::{GroupResource, ResourceInfo, ResourceMap};
use crate::template::{self, Template};

/// A rule's compiled `resources:` block.
#[derive(Debug, Clone, Default)]
pub struct ResourceMapping {
    /// `(label, group, resource)` as written; resolved against the resource map when used, so a CRD
    /// installed later is picked up when the map refreshes.
    pub overrides: Vec<Override>,
    /// The label template, if any.
    pub template: Option<LabelTemplate>,
}

/// One `overrides` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The series label.
    pub label: String,
    /// Group as written.
    pub group: String,
    /// Resource as written (singular or plural).
    pub resource: String,
}

/// A compiled `resources.template` and its reverse pattern.
#[derive(Debug, Clone)]
pub struct LabelTemplate {
    template: Template,
    reverse: Regex,
}

/// The fields a resource label template may read.
pub const LABEL_TEMPLATE_FIELDS: [&str; 2] = ["Group", "Resource"];

/// A resource with no label to query it by.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no generic resource label form specified for this metric (resource {0})")]
pub struct NoLabel(pub String);

impl LabelTemplate {
    /// Compiles a label template; it must read `.Resource`.
    pub fn compile(source: &str) -> Result<Self, String> {
        let template =
            Template::compile(source, &LABEL_TEMPLATE_FIELDS).map_err(|e| e.to_string())?;
        if !template.uses("Resource") {
            return Err("must include at least `<<.Resource>>` in the label template".into());
        }
        if render(&template, "apps", "deployment")?.is_empty() {
            return Err("label template renders an empty label".into());
        }
        // Render with placeholders, escape the literal text around them, then put capture groups in.
        let marked = render(&template, "\u{0}G\u{0}", "\u{0}R\u{0}")?;
        let mut pattern = String::from("^");
        let (mut named_group, mut named_resource) = (false, false);
        for (i, part) in marked.split('\u{0}').enumerate() {
            if i % 2 == 0 {
                pattern.push_str(&regex::escape(part));
            } else if part == "G" {
                pattern.push_str(if named_group {
                    "(?:.+?)"
                } else {
                    "(?P<group>.+?)"
                });
                named_group = true;
            } else {
                pattern.push_str(if named_resource {
                    "(?:.+?)"
                } else {
                    "(?P<resource>.+?)"
                });
                named_resource = true;
            }
        }
        pattern.push('$');
        let reverse = Regex::new(&pattern)
            .map_err(|e| format!("label template has no reverse pattern: {e}"))?;
        Ok(Self { template, reverse })
    }

    /// The label for a resource: `.Group` sanitized (`.`/`-` → `_`), `.Resource` singular.
    pub fn label_for(&self, info: &ResourceInfo) -> Result<String, String> {
        render(&self.template, &sanitize_group(&info.group), &info.singular)
    }

    /// The resource a label names, if it fits the template and the map knows it. The reverse pattern
    /// only screens: which resource it is, is settled by rendering the template forward for each known
    /// resource (singular or plural), so `kube_networking_k8s_io_ingress` resolves although its group was
    /// sanitized (upstream cannot round-trip dotted groups).
    pub fn resource_for<'m>(&self, label: &str, map: &'m ResourceMap) -> Option<&'m ResourceInfo> {
        if !self.reverse.is_match(label) {
            return None;
        }
        let group_of = |info: &ResourceInfo| sanitize_group(&info.group);
        map.iter().find(|info| {
            [&info.singular, &info.resource]
                .into_iter()
                .any(|name| render(&self.template, &group_of(info), name).is_ok_and(|l| l == label))
        })
    }
}

fn render(template: &Template, group: &str, resource: &str) -> Result<String, String> {
    let data = template::data([
        ("Group", gotmpl::Value::String(group.into())),
        ("Resource", gotmpl::Value::String(resource.into())),
    ]);
    template.render(&data).map_err(|e| e.to_string())
}

/// Upstream's group sanitizing for label templates: `networking.k8s.io` → `networking_k8s_io`.
pub fn sanitize_group(group: &str) -> String {
    group.replace(['.', '-'], "_")
}

impl ResourceMapping {
    /// The resource a series label names: an override first, then the template.
    pub fn resource_for<'m>(&self, label: &str, map: &'m ResourceMap) -> Option<&'m ResourceInfo> {
        if let Some(o) = self.overrides.iter().find(|o| o.label == label) {
            return map.resolve(&o.group, &o.resource).ok();
        }
        self.template.as_ref()?.resource_for(label, map)
    }

    /// The label that holds names of `resource` in series: an override first, then the template.
    pub fn label_for(
        &self,
        resource: &GroupResource,
        map: &ResourceMap,
    ) -> Result<String, NoLabel> {
        let no_label = || NoLabel(resource.to_string());
        for o in &self.overrides {
            if map
                .resolve(&o.group, &o.resource)
                .is_ok_and(|info| info.group_resource() == *resource)
            {
                return Ok(o.label.clone());
            }
        }
        let template = self.template.as_ref().ok_or_else(no_label)?;
        let info = map.get(resource).ok_or_else(no_label)?;
        template.label_for(info).map_err(|_| no_label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(template: Option<&str>, overrides: &[(&str, &str, &str)]) -> ResourceMapping {
        ResourceMapping {
            overrides: overrides
                .iter()
                .map(|(l, g, r)| Override {
                    label: l.to_string(),
                    group: g.to_string(),
                    resource: r.to_string(),
                })
                .collect(),
            template: template.map(|t| LabelTemplate::compile(t).unwrap()),
        }
    }

    #[test]
    fn overrides_map_labels_to_resources_both_ways() {
        let map = ResourceMap::standard();
        let m = mapping(
            None,
            &[
                ("kubernetes_namespace", "", "namespace"),
                ("kubernetes_pod_name", "", "pods"),
            ],
        );
        assert_eq!(
            m.resource_for("kubernetes_pod_name", &map)
                .unwrap()
                .resource,
            "pods"
        );
        assert_eq!(
            m.resource_for("kubernetes_namespace", &map)
                .unwrap()
                .resource,
            "namespaces"
        );
        assert!(m.resource_for("pod", &map).is_none());
        assert_eq!(
            m.label_for(&GroupResource::new("", "pods"), &map).unwrap(),
            "kubernetes_pod_name"
        );
        assert_eq!(
            m.label_for(&GroupResource::new("", "nodes"), &map)
                .unwrap_err()
                .to_string(),
            "no generic resource label form specified for this metric (resource nodes)"
        );
    }

    #[test]
    fn templates_map_labels_to_resources_both_ways() {
        let map = ResourceMap::standard();
        let plain = mapping(Some("<<.Resource>>"), &[]);
        assert_eq!(plain.resource_for("pod", &map).unwrap().resource, "pods");
        assert_eq!(plain.resource_for("pods", &map).unwrap().resource, "pods");
        assert_eq!(
            plain.resource_for("deployment", &map).unwrap().group,
            "apps"
        );
        assert!(plain.resource_for("instance", &map).is_none());
        assert_eq!(
            plain
                .label_for(&GroupResource::new("", "pods"), &map)
                .unwrap(),
            "pod"
        );

        let prefixed = mapping(Some("kube_<<.Resource>>"), &[]);
        assert_eq!(
            prefixed
                .resource_for("kube_namespace", &map)
                .unwrap()
                .resource,
            "namespaces"
        );
        assert!(prefixed.resource_for("namespace", &map).is_none());
        assert_eq!(
            prefixed
                .label_for(&GroupResource::new("apps", "deployments"), &map)
                .unwrap(),
            "kube_deployment"
        );

        let grouped = mapping(Some("kube_<<.Group>>_<<.Resource>>"), &[]);
        assert_eq!(
            grouped
                .label_for(&GroupResource::new("networking.k8s.io", "ingresses"), &map)
                .unwrap(),
            "kube_networking_k8s_io_ingress"
        );
        let ingress = grouped
            .resource_for("kube_networking_k8s_io_ingress", &map)
            .unwrap();
        assert_eq!(
            (ingress.group.as_str(), ingress.resource.as_str()),
            ("networking.k8s.io", "ingresses")
        );
        assert!(
            grouped.resource_for("kube__pod", &map).is_none(),
            "core resources cannot match a group template"
        );
    }

    #[test]
    fn overrides_win_over_the_template() {
        let map = ResourceMap::standard();
        let m = mapping(Some("<<.Resource>>"), &[("instance", "", "node")]);
        assert_eq!(m.resource_for("instance", &map).unwrap().resource, "nodes");
        assert_eq!(
            m.label_for(&GroupResource::new("", "nodes"), &map).unwrap(),
            "instance"
        );
        assert_eq!(
            m.label_for(&GroupResource::new("", "pods"), &map).unwrap(),
            "pod"
        );
    }

    #[test]
    fn label_templates_are_checked() {
        assert!(
            LabelTemplate::compile("<<.Group>>")
                .unwrap_err()
                .contains("<<.Resource>>")
        );
        assert!(
            LabelTemplate::compile("<<.Kind>>")
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(LabelTemplate::compile("<<if .Resource>>").is_err());
        assert!(
            LabelTemplate::compile("a.b_<<.Resource>>")
                .unwrap()
                .reverse
                .is_match("a.b_pod")
        );
        assert!(
            !LabelTemplate::compile("a.b_<<.Resource>>")
                .unwrap()
                .reverse
                .is_match("axb_pod")
        );
        assert!(LabelTemplate::compile("<<.Resource>>_<<.Resource>>").is_ok());
    }
}
