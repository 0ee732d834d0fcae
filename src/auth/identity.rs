//! Who the caller is, from what the connection and the request carry, in k8s.io/apiserver's order:
//! a front proxy's headers (only on a connection whose certificate verifies against the requestheader CA
//! and whose CN is allowed), a client certificate from the client CA (user = CN, groups = O), a bearer
//! token (reviewed by the caller of these functions). Headers on any other connection are ignored.

use std::collections::BTreeMap;

use actix_web::http::header::HeaderMap;
use rustls_pki_types::CertificateDer;
use serde::Serialize;

use super::peer::PeerCertificates;
use super::trust::{CaPool, RequestHeader};

/// An authenticated user, as a SubjectAccessReview names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Added to every authenticated user, as Go's `AuthenticatedGroupAdder` does.
const AUTHENTICATED: &str = "system:authenticated";

impl User {
    pub fn new(name: String, groups: Vec<String>) -> Self {
        Self {
            name,
            uid: String::new(),
            groups,
            extra: BTreeMap::new(),
        }
        .authenticated()
    }

    /// Adds `system:authenticated` unless present.
    pub fn authenticated(mut self) -> Self {
        if !self.groups.iter().any(|g| g == AUTHENTICATED) {
            self.groups.push(AUTHENTICATED.to_string());
        }
        self
    }
}

/// The user a front proxy asserts, if the connection's certificate is the proxy's and a username header
/// is present; `Err` explains why a presented certificate was not trusted (for debug logs).
pub fn from_request_header(
    peer: &PeerCertificates,
    settings: &RequestHeader,
    headers: &HeaderMap,
) -> Result<Option<User>, String> {
    peer.verify(&settings.ca)?;
    if !settings.names.allowed_names.is_empty() {
        let cn = common_name(&peer.chain[0]).unwrap_or_default();
        if !settings.names.allowed_names.contains(&cn) {
            return Err(format!(
                "requestheader certificate CN {cn:?} is not in the allowed names"
            ));
        }
    }
    let name = settings.names.username_headers.iter().find_map(|h| {
        headers
            .get_all(h.as_str())
            .filter_map(|v| v.to_str().ok())
            .find(|v| !v.is_empty())
    });
    let Some(name) = name else {
        return Ok(None);
    };
    let groups = settings
        .names
        .group_headers
        .iter()
        .flat_map(|h| headers.get_all(h.as_str()))
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    let mut user = User::new(name.to_string(), groups);
    for (header, value) in headers {
        let lower = header.as_str(); // header names are lower-case in actix
        for prefix in &settings.names.extra_prefixes {
            let prefix = prefix.to_ascii_lowercase();
            if let Some(key) = lower.strip_prefix(prefix.as_str())
                && let Ok(value) = value.to_str()
            {
                let key = percent_decode(key);
                user.extra.entry(key).or_default().push(value.to_string());
            }
        }
    }
    Ok(Some(user))
}

/// The user a client certificate from the client CA names: CN, with the O values as groups.
pub fn from_client_certificate(peer: &PeerCertificates, pool: &CaPool) -> Result<User, String> {
    peer.verify(pool)?;
    let (cn, orgs) = subject(&peer.chain[0])?;
    if cn.is_empty() {
        return Err("client certificate has an empty common name".into());
    }
    Ok(User::new(cn, orgs))
}

/// The bearer token of an `Authorization` header, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    subject(cert).ok().map(|(cn, _)| cn)
}

/// (CN, O values) of a certificate's subject.
fn subject(cert: &CertificateDer<'_>) -> Result<(String, Vec<String>), String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| format!("unreadable client certificate: {e}"))?;
    let text = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        a.as_str().map(str::to_string).unwrap_or_default()
    };
    let subject = parsed.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .map(text)
        .unwrap_or_default();
    let orgs = subject.iter_organization().map(text).collect();
    Ok((cn, orgs))
}

/// Go's `url.PathUnescape`, keeping the raw text when it is not valid escaping (extra keys of the
/// front-proxy and impersonation headers).
pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                None => return text.to_string(),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::trust::HeaderNames;
    use actix_web::http::header::{HeaderName, HeaderValue};

    struct Ca {
        issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
        pem: String,
    }

    fn ca(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: rcgen::Issuer::new(params, key),
            pem,
        }
    }

    fn leaf(ca: &Ca, cn: &str, orgs: &[&str]) -> PeerCertificates {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        for o in orgs {
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, *o);
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        PeerCertificates::new(vec![
            params.signed_by(&key, &ca.issuer).unwrap().der().clone(),
        ])
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn settings(ca: &Ca, allowed: &[&str]) -> RequestHeader {
        RequestHeader {
            ca: CaPool::from_pem(ca.pem.as_bytes()).unwrap(),
            names: HeaderNames {
                allowed_names: allowed.iter().map(|s| s.to_string()).collect(),
                username_headers: vec!["X-Remote-User".into()],
                group_headers: vec!["X-Remote-Group".into()],
                extra_prefixes: vec!["X-Remote-Extra-".into()],
            },
        }
    }

    #[test]
    fn a_front_proxy_certificate_makes_its_headers_the_user() {
        let proxy_ca = ca("front-proxy-ca");
        let rh = settings(&proxy_ca, &["front-proxy-client"]);
        let h = headers(&[
            ("x-remote-user", "carol"),
            ("x-remote-group", "team-a"),
            ("x-remote-group", "team-b"),
            ("x-remote-extra-scopes", "read"),
            ("x-remote-extra-acme.com%2fproject", "p1"),
        ]);
        let user = from_request_header(&leaf(&proxy_ca, "front-proxy-client", &[]), &rh, &h)
            .unwrap()
            .unwrap();
        assert_eq!(user.name, "carol");
        assert_eq!(user.groups, ["team-a", "team-b", "system:authenticated"]);
        assert_eq!(user.extra["scopes"], ["read"]);
        assert_eq!(user.extra["acme.com/project"], ["p1"]);

        let denied = from_request_header(&leaf(&proxy_ca, "intruder", &[]), &rh, &h);
        assert!(denied.unwrap_err().contains("not in the allowed names"));
        let other = from_request_header(&leaf(&ca("other"), "front-proxy-client", &[]), &rh, &h);
        assert!(
            other.is_err(),
            "a certificate from another CA is not the proxy"
        );
        let any_cn = settings(&proxy_ca, &[]);
        assert!(
            from_request_header(&leaf(&proxy_ca, "anyone", &[]), &any_cn, &h)
                .unwrap()
                .is_some(),
            "empty allowed names accept any CN"
        );
        assert_eq!(
            from_request_header(
                &leaf(&proxy_ca, "front-proxy-client", &[]),
                &rh,
                &headers(&[])
            ),
            Ok(None),
            "no username header: not this authenticator"
        );
    }

    #[test]
    fn a_client_certificate_names_user_and_groups() {
        let client_ca = ca("client-ca");
        let pool = CaPool::from_pem(client_ca.pem.as_bytes()).unwrap();
        let user = from_client_certificate(&leaf(&client_ca, "dave", &["ops"]), &pool).unwrap();
        assert_eq!(user.name, "dave");
        assert_eq!(user.groups, ["ops", "system:authenticated"]);
        assert!(from_client_certificate(&leaf(&ca("x"), "dave", &[]), &pool).is_err());
        assert!(from_client_certificate(&leaf(&client_ca, "", &[]), &pool).is_err());
    }

    #[test]
    fn a_connections_verifications_are_kept_per_pool() {
        let (first, second) = (ca("first"), ca("second"));
        let peer = leaf(&first, "dave", &[]);
        let first_pool = CaPool::from_pem(first.pem.as_bytes()).unwrap();
        let second_pool = CaPool::from_pem(second.pem.as_bytes()).unwrap();
        assert!(peer.verify(&first_pool).is_ok());
        assert!(
            peer.verify(&second_pool).is_err(),
            "not the answer for another pool"
        );
        assert!(peer.verify(&first_pool).is_ok());
        // A rotation (a new pool, even of the same CA) is verified afresh.
        let rotated = CaPool::from_pem(second.pem.as_bytes()).unwrap();
        assert_ne!(rotated.id, second_pool.id);
        assert!(peer.verify(&rotated).is_err());
    }

    #[test]
    fn bearer_tokens_are_read_as_go_does() {
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "bearer  abc ")])),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Basic abc")])),
            None
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer ")])),
            None
        );
        assert_eq!(bearer_token(&headers(&[])), None);
    }
}
