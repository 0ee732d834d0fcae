//! Kubernetes RBAC, evaluated the way kube-apiserver's authorizer does, over the manifests we ship: the test
//! API server answers SubjectAccessReviews with it, so a test shows that the shipped roles let the HPA and
//! `view` users do exactly what they need through the adapter's own authorization.
//!
//! Covered: ClusterRoles (rules with apiGroups, resources incl. `*`, `resource/subresource` and `*/sub`,
//! verbs, resourceNames, nonResourceURLs with a trailing `*`), ClusterRoleBindings to Users, Groups and
//! ServiceAccounts, and aggregation into the built-in `view`/`edit`/`admin` roles by label.

use serde_json::Value;

#[derive(Debug, Default)]
pub struct Rbac {
    /// ClusterRole name → rules.
    roles: Vec<(String, Vec<Value>)>,
    /// (role name, subjects) of each ClusterRoleBinding.
    bindings: Vec<(String, Vec<Value>)>,
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

impl Rbac {
    /// The ClusterRoles and ClusterRoleBindings of a multi-document manifest; `extra` adds more (YAML).
    pub fn from_manifests(yaml: &str) -> Rbac {
        let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).unwrap();
        let mut rbac = Rbac::default();
        for doc in &docs {
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match doc["kind"].as_str() {
                Some("ClusterRole") => {
                    let rules = doc["rules"].as_array().cloned().unwrap_or_default();
                    rbac.roles.push((name.clone(), rules));
                    // Aggregation into the built-in roles, as the aggregation controller does.
                    for builtin in ["view", "edit", "admin"] {
                        let label = format!("rbac.authorization.k8s.io/aggregate-to-{builtin}");
                        if doc["metadata"]["labels"][&label] == "true" {
                            let rules = doc["rules"].as_array().cloned().unwrap_or_default();
                            rbac.roles.push((builtin.to_string(), rules));
                        }
                    }
                }
                Some("ClusterRoleBinding") => {
                    let role = doc["roleRef"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let subjects = doc["subjects"].as_array().cloned().unwrap_or_default();
                    rbac.bindings.push((role, subjects));
                }
                _ => {}
            }
        }
        rbac
    }

    /// Binds `user` to ClusterRole `role` (as a cluster admin would, e.g. to `view`).
    pub fn bind_user(&mut self, role: &str, user: &str) {
        self.bindings.push((
            role.to_string(),
            vec![serde_json::json!({"kind": "User", "name": user})],
        ));
    }

    fn subject_matches(subject: &Value, user: &str, groups: &[&str]) -> bool {
        let name = subject["name"].as_str().unwrap_or_default();
        match subject["kind"].as_str() {
            Some("User") => name == user,
            Some("Group") => groups.contains(&name),
            Some("ServiceAccount") => {
                let ns = subject["namespace"].as_str().unwrap_or_default();
                user == format!("system:serviceaccount:{ns}:{name}")
            }
            _ => false,
        }
    }

    fn rule_allows(rule: &Value, spec: &Value) -> bool {
        let any = |list: &[&str], item: &str| list.iter().any(|v| *v == "*" || *v == item);
        if let Some(attributes) = spec.get("resourceAttributes") {
            let text = |key: &str| attributes[key].as_str().unwrap_or_default();
            let (resource, subresource) = (text("resource"), text("subresource"));
            let combined = if subresource.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}/{subresource}")
            };
            let resources = strings(&rule["resources"]);
            let resource_ok = resources.iter().any(|r| {
                *r == "*"
                    || *r == combined
                    || (!subresource.is_empty() && *r == format!("*/{subresource}"))
            });
            let names = strings(&rule["resourceNames"]);
            any(&strings(&rule["apiGroups"]), text("group"))
                && resource_ok
                && any(&strings(&rule["verbs"]), text("verb"))
                && (names.is_empty() || names.contains(&text("name")))
        } else {
            let attributes = &spec["nonResourceAttributes"];
            let path = attributes["path"].as_str().unwrap_or_default();
            let verb = attributes["verb"].as_str().unwrap_or_default();
            any(&strings(&rule["verbs"]), verb)
                && strings(&rule["nonResourceURLs"])
                    .iter()
                    .any(|u| match u.strip_suffix('*') {
                        Some(prefix) => path.starts_with(prefix),
                        None => *u == path,
                    })
        }
    }

    /// Whether the SubjectAccessReview `spec` is allowed.
    pub fn allows(&self, spec: &Value) -> bool {
        let user = spec["user"].as_str().unwrap_or_default();
        let groups = strings(&spec["groups"]);
        self.bindings
            .iter()
            .filter(|(_, subjects)| {
                subjects
                    .iter()
                    .any(|s| Self::subject_matches(s, user, &groups))
            })
            .flat_map(|(role, _)| self.roles.iter().filter(move |(name, _)| name == role))
            .flat_map(|(_, rules)| rules)
            .any(|rule| Self::rule_allows(rule, spec))
    }
}
