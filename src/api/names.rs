//! Names taken from the request path, checked before anything is asked of a backend: a namespace is a
//! DNS-1123 label, an object a DNS-1123 subdomain (kube-apiserver's rules). A path whose decoded name is
//! not one — `app%2Fx` decodes to `app/x`, `%FF%FE` is not even UTF-8 — names nothing: 404, as upstream,
//! instead of a query for a namespace that cannot exist.

use super::status::ApiError;

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A namespace from the path.
pub fn namespace(name: &str) -> Result<&str, ApiError> {
    if is_label(name) {
        Ok(name)
    } else {
        Err(ApiError::NotFound(format!("namespaces {name:?} not found")))
    }
}

/// An object name from the path (`*` is the custom API's "every object").
pub fn object(name: &str) -> Result<&str, ApiError> {
    let ok = name == "*" || (name.len() <= 253 && name.split('.').all(is_label));
    if ok {
        Ok(name)
    } else {
        Err(ApiError::NotFound(format!("{name:?} not found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_names_pass_and_nothing_else() {
        for ok in ["prod", "a", "kube-system", "x1"] {
            assert!(namespace(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "app/x",
            "Prod",
            "-a",
            "a-",
            "a.b",
            "\u{fffd}\u{fffd}",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(namespace(bad), Err(ApiError::NotFound(_))),
                "{bad:?}"
            );
        }
        for ok in ["web-1", "*", "ip-10-0-0-1.ec2.internal"] {
            assert!(object(ok).is_ok(), "{ok}");
        }
        for bad in ["a/b", "a..b", "UPPER", "a b"] {
            assert!(object(bad).is_err(), "{bad:?}");
        }
    }
}
