//! Impersonation, as k8s.io/apiserver's filter does it: `Impersonate-User`, `-Uid`, `-Group` (repeatable)
//! and `-Extra-<key>` headers ask to act as someone else. Each asked-for attribute is a SubjectAccessReview
//! of the caller for verb `impersonate` — `users` (or `serviceaccounts` in their namespace for
//! `system:serviceaccount:<ns>:<name>`), `groups`, `userextras/<key>` and `uids` in
//! `authentication.k8s.io` — and any denial is a 403; then the request is authorized and served as the
//! impersonated user.

use std::collections::BTreeMap;

use actix_web::http::header::HeaderMap;

use super::Refusal;
use super::attributes::Attributes;
use super::identity::User;

const USER: &str = "impersonate-user";
const UID: &str = "impersonate-uid";
const GROUP: &str = "impersonate-group";
const EXTRA: &str = "impersonate-extra-";

/// Who the caller asks to act as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    user: String,
    uid: Option<String>,
    groups: Vec<String>,
    extra: BTreeMap<String, Vec<String>>,
}

fn text(value: &actix_web::http::header::HeaderValue) -> Result<String, Refusal> {
    value
        .to_str()
        .map(str::to_string)
        .map_err(|_| Refusal::BadRequest("impersonation headers must be visible ASCII".into()))
}

/// The impersonation the headers ask for, if any; groups, a uid or extras without a user are a 400.
pub fn requested(headers: &HeaderMap) -> Result<Option<Requested>, Refusal> {
    let user = headers.get(USER).map(text).transpose()?;
    let uid = headers.get(UID).map(text).transpose()?;
    let groups = headers
        .get_all(GROUP)
        .map(text)
        .collect::<Result<Vec<_>, _>>()?;
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(EXTRA) {
            // Percent-encoded in header names (`Impersonate-Extra-example.com%2fscopes`), as Go unescapes
            // them.
            let key = super::identity::percent_decode(key);
            extra.entry(key).or_default().push(text(value)?);
        }
    }
    match user {
        Some(user) if !user.is_empty() => Ok(Some(Requested {
            user,
            uid,
            groups,
            extra,
        })),
        _ if uid.is_some() || !groups.is_empty() || !extra.is_empty() => Err(Refusal::BadRequest(
            "requested impersonation of groups, a uid or extras without impersonating a user"
                .into(),
        )),
        _ => Ok(None),
    }
}

/// A resource attribute for verb `impersonate`.
fn impersonate(
    group: &str,
    resource: &str,
    subresource: &str,
    name: &str,
    namespace: &str,
) -> Attributes {
    Attributes::Resource {
        verb: "impersonate".into(),
        group: group.into(),
        version: String::new(),
        resource: resource.into(),
        subresource: subresource.into(),
        name: name.into(),
        namespace: namespace.into(),
    }
}

impl Requested {
    /// What the caller must be allowed, one review each.
    pub fn checks(&self) -> Vec<Attributes> {
        let mut checks = Vec::new();
        match service_account(&self.user) {
            Some((namespace, name)) => {
                checks.push(impersonate("", "serviceaccounts", "", name, namespace))
            }
            None => checks.push(impersonate("", "users", "", &self.user, "")),
        }
        if let Some(uid) = &self.uid {
            checks.push(impersonate("authentication.k8s.io", "uids", "", uid, ""));
        }
        for group in &self.groups {
            checks.push(impersonate("", "groups", "", group, ""));
        }
        for (key, values) in &self.extra {
            for value in values {
                checks.push(impersonate(
                    "authentication.k8s.io",
                    "userextras",
                    key,
                    value,
                    "",
                ));
            }
        }
        checks
    }

    /// The user the request then runs as: the asked-for name, uid, groups and extras, plus
    /// `system:authenticated` (and a service account's own groups), as Go adds them.
    pub fn user(&self) -> User {
        let mut groups = self.groups.clone();
        if let Some((namespace, _)) = service_account(&self.user) {
            for group in [
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}"),
            ] {
                if !groups.contains(&group) {
                    groups.push(group);
                }
            }
        }
        let user = User {
            name: self.user.clone(),
            uid: self.uid.clone().unwrap_or_default(),
            groups,
            extra: self.extra.clone(),
        };
        if self.user == "system:anonymous" {
            user
        } else {
            user.authenticated()
        }
    }
}

/// `system:serviceaccount:<namespace>:<name>`.
fn service_account(user: &str) -> Option<(&str, &str)> {
    user.strip_prefix("system:serviceaccount:")?.split_once(':')
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::try_from(*k).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn headers_become_reviews_and_a_user() {
        assert_eq!(requested(&headers(&[])).unwrap(), None);
        let asked = requested(&headers(&[
            ("Impersonate-User", "bob"),
            ("Impersonate-Group", "dev"),
            ("Impersonate-Group", "ops"),
            ("Impersonate-Extra-example.com%2fscopes", "read"),
            ("Impersonate-Uid", "42"),
        ]))
        .unwrap()
        .unwrap();
        let checks = asked.checks();
        assert_eq!(checks.len(), 5);
        assert_eq!(checks[0], impersonate("", "users", "", "bob", ""));
        assert_eq!(
            checks[1],
            impersonate("authentication.k8s.io", "uids", "", "42", "")
        );
        assert_eq!(
            checks[4],
            impersonate(
                "authentication.k8s.io",
                "userextras",
                "example.com/scopes",
                "read",
                ""
            )
        );
        let user = asked.user();
        assert_eq!(user.name, "bob");
        assert_eq!(user.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(user.extra["example.com/scopes"], ["read"]);
        let sa = requested(&headers(&[(
            "Impersonate-User",
            "system:serviceaccount:kube-system:hpa",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(
            sa.checks()[0],
            impersonate("", "serviceaccounts", "", "hpa", "kube-system")
        );
        assert!(
            sa.user()
                .groups
                .contains(&"system:serviceaccounts:kube-system".to_string())
        );
        assert!(matches!(
            requested(&headers(&[("Impersonate-Group", "dev")])),
            Err(Refusal::BadRequest(_))
        ));
    }
}
