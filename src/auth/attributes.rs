//! What a request asks to do, in the terms RBAC rules are written in: k8s.io/apiserver's
//! `RequestInfoFactory` applied to the raw path, before any rewriting, so
//! `pods/*/http_requests` is verb `get` on resource `pods`, subresource `http_requests`, name `*`, and
//! `namespaces/prod/metrics/m` is verb `get` on resource `metrics`, name `m`.

use serde::Serialize;

/// The attributes a SubjectAccessReview is asked about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Attributes {
    /// `/api/v1/...` and `/apis/<group>/<version>/...` below the version.
    Resource {
        verb: String,
        group: String,
        version: String,
        resource: String,
        subresource: String,
        name: String,
        namespace: String,
    },
    /// Everything else (`/apis`, `/apis/<group>/<version>`, `/openapi/v2`, `/metrics`, …).
    NonResource { verb: String, path: String },
}

impl Attributes {
    /// Parses `method`, `path` and the raw query string as k8s.io/apiserver does.
    pub fn of(method: &str, path: &str, query: &str) -> Attributes {
        let non_resource = || Attributes::NonResource {
            verb: method.to_ascii_lowercase(),
            path: path.to_string(),
        };
        let parts: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() < 3 {
            return non_resource();
        }
        let (group, rest) = match parts[0] {
            "api" => ("", &parts[1..]),
            "apis" if parts.len() >= 4 => (parts[1], &parts[2..]),
            _ => return non_resource(),
        };
        let version = rest[0];
        let mut rest = &rest[1..];
        let mut verb = match rest.first() {
            Some(&special @ ("watch" | "proxy")) if rest.len() > 1 => {
                rest = &rest[1..];
                special.to_string()
            }
            _ => match method {
                "POST" => "create".to_string(),
                "GET" | "HEAD" => "get".to_string(),
                "PUT" => "update".to_string(),
                "PATCH" => "patch".to_string(),
                "DELETE" => "delete".to_string(),
                other => other.to_ascii_lowercase(),
            },
        };
        let mut namespace = "";
        if rest.first() == Some(&"namespaces") && rest.len() > 1 {
            namespace = rest[1];
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        let part = |i: usize| rest.get(i).copied().unwrap_or_default().to_string();
        let mut name = part(1);
        let subresource = if rest.len() >= 3 && verb != "proxy" {
            part(2)
        } else {
            String::new()
        };
        if name.is_empty() && verb == "get" {
            let mut watch = false;
            for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
                match key.as_ref() {
                    "watch" => watch = value == "true" || value == "1",
                    "fieldSelector" => {
                        for term in value.split(',') {
                            if let Some(value) = term
                                .strip_prefix("metadata.name==")
                                .or_else(|| term.strip_prefix("metadata.name="))
                            {
                                name = value.to_string();
                            }
                        }
                    }
                    _ => {}
                }
            }
            verb = if watch { "watch" } else { "list" }.to_string();
        }
        if name.is_empty() && verb == "delete" {
            verb = "deletecollection".to_string();
        }
        Attributes::Resource {
            verb,
            group: group.to_string(),
            version: version.to_string(),
            resource: part(0),
            subresource,
            name,
            namespace: namespace.to_string(),
        }
    }

    /// Go's `forbiddenMessage` plus the `NewForbidden` prefix: what a denied caller reads.
    pub fn forbidden_message(&self, user: &str, reason: &str) -> String {
        let message = match self {
            Attributes::NonResource { verb, path } => {
                format!("forbidden: User {user:?} cannot {verb} path {path:?}")
            }
            Attributes::Resource {
                verb,
                group,
                resource,
                subresource,
                name,
                namespace,
                ..
            } => {
                let full = if subresource.is_empty() {
                    resource.clone()
                } else {
                    format!("{resource}/{subresource}")
                };
                let scope = if namespace.is_empty() {
                    "at the cluster scope".to_string()
                } else {
                    format!("in the namespace {namespace:?}")
                };
                let qualified = if group.is_empty() {
                    resource.clone()
                } else {
                    format!("{resource}.{group}")
                };
                format!(
                    "{qualified} {name:?} is forbidden: User {user:?} cannot {verb} resource {full:?} in API group {group:?} {scope}"
                )
            }
        };
        if reason.is_empty() {
            message
        } else {
            format!("{message}: {reason}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(
        verb: &str,
        group: &str,
        resource: &str,
        subresource: &str,
        name: &str,
        namespace: &str,
    ) -> Attributes {
        let version = if group.starts_with("custom") {
            "v1beta1"
        } else {
            "v1"
        };
        Attributes::Resource {
            verb: verb.into(),
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    #[test]
    fn custom_metric_paths_map_as_upstream_documents() {
        let g = "custom.metrics.k8s.io";
        let cases = [
            (
                "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/http_requests",
                resource("get", g, "pods", "http_requests", "*", "prod"),
            ),
            (
                "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/web-1/http_requests",
                resource("get", g, "pods", "http_requests", "web-1", "prod"),
            ),
            (
                "/apis/custom.metrics.k8s.io/v1beta1/nodes/*/load",
                resource("get", g, "nodes", "load", "*", ""),
            ),
            (
                "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/metrics/queue",
                resource("get", g, "metrics", "", "queue", "prod"),
            ),
        ];
        for (path, expected) in cases {
            assert_eq!(Attributes::of("GET", path, ""), expected, "{path}");
        }
    }

    #[test]
    fn lists_watches_and_core_paths() {
        assert_eq!(
            Attributes::of(
                "GET",
                "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth",
                "labelSelector=queue%3Dorders"
            ),
            Attributes::Resource {
                verb: "list".into(),
                group: "external.metrics.k8s.io".into(),
                version: "v1beta1".into(),
                resource: "queue_depth".into(),
                subresource: "".into(),
                name: "".into(),
                namespace: "shop".into(),
            }
        );
        assert_eq!(
            Attributes::of("GET", "/apis/metrics.k8s.io/v1/nodes", ""),
            resource("list", "metrics.k8s.io", "nodes", "", "", "")
        );
        assert_eq!(
            Attributes::of(
                "GET",
                "/apis/metrics.k8s.io/v1/namespaces/prod/pods",
                "fieldSelector=metadata.name%3Dweb-1"
            ),
            resource("list", "metrics.k8s.io", "pods", "", "web-1", "prod"),
            "a field selector on the name names the object of the list, as upstream"
        );
        assert_eq!(
            Attributes::of("GET", "/api/v1/namespaces/prod/pods", "watch=true"),
            resource("watch", "", "pods", "", "", "prod")
        );
        assert_eq!(
            Attributes::of("GET", "/api/v1/namespaces/prod", ""),
            resource("get", "", "namespaces", "", "prod", "prod")
        );
    }

    #[test]
    fn discovery_and_other_paths_are_non_resource() {
        for path in [
            "/apis",
            "/apis/custom.metrics.k8s.io",
            "/apis/custom.metrics.k8s.io/v1beta1",
            "/api/v1",
            "/openapi/v2",
            "/metrics",
            "/",
        ] {
            assert_eq!(
                Attributes::of("GET", path, ""),
                Attributes::NonResource {
                    verb: "get".into(),
                    path: path.into()
                }
            );
        }
    }

    #[test]
    fn forbidden_messages_read_like_kubernetes() {
        let a = Attributes::of(
            "GET",
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/http_requests",
            "",
        );
        assert_eq!(
            a.forbidden_message("bob", ""),
            "pods.custom.metrics.k8s.io \"*\" is forbidden: User \"bob\" cannot get resource \
             \"pods/http_requests\" in API group \"custom.metrics.k8s.io\" in the namespace \"prod\""
        );
        let b = Attributes::of("GET", "/metrics", "");
        assert_eq!(
            b.forbidden_message("bob", "no RBAC policy matched"),
            "forbidden: User \"bob\" cannot get path \"/metrics\": no RBAC policy matched"
        );
    }
}
