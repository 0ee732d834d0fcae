//! Router mode's HTTP side: a request for a metric our rules do not serve, in a group with a forwarding
//! target, is handed to the [`Forwarder`] and their answer becomes ours — a
//! Status passes through as they wrote it (JSON or protobuf), any other error becomes a Status with
//! their code, and their being unreachable is a 503 for their metrics only.

use std::collections::HashSet;

use actix::Addr;
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};

use super::State;
use super::status::ApiError;
use crate::auth::identity::User;
use crate::backends::forward::{Forward, ForwardError, Forwarder};

/// The forwarding targets, as the handlers see them.
pub struct Forwarding {
    /// The actor that calls them.
    pub forwarder: Addr<Forwarder>,
    /// The groups that have one.
    pub groups: HashSet<&'static str>,
}

/// Whether `group` has a forwarding target.
pub fn covers(state: &State, group: &str) -> bool {
    state
        .forwarding
        .as_ref()
        .is_some_and(|f| f.groups.contains(group))
}

/// `None` when the request is ours to answer (no target for `group`, or `ours()`); otherwise their answer.
/// `ours` is asked only when `group` has a target: without router mode no request pays for it.
pub async fn unless_ours(
    req: &HttpRequest,
    state: &State,
    group: &'static str,
    ours: impl FnOnce() -> bool,
) -> Option<Result<HttpResponse, ApiError>> {
    let forwarding = state
        .forwarding
        .as_ref()
        .filter(|f| f.groups.contains(group))?;
    if ours() {
        return None;
    }
    Some(forward(req, forwarding, group).await)
}

/// Who the caller is, as the auth middleware authenticated them, in the headers the aggregator passes
/// it on with: user, every group, every extra (none on always-allowed paths).
pub fn caller(req: &HttpRequest) -> Vec<(String, String)> {
    let Some(user) = req.extensions().get::<User>().cloned() else {
        return Vec::new();
    };
    let mut headers = vec![("X-Remote-User".to_string(), user.name)];
    for group in user.groups {
        headers.push(("X-Remote-Group".to_string(), group));
    }
    for (key, values) in user.extra {
        let name = extra_header(&key);
        headers.extend(values.into_iter().map(|value| (name.clone(), value)));
    }
    headers
}

/// `X-Remote-Extra-` and the key, escaped as a header name must be.
fn extra_header(key: &str) -> String {
    let escaped: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    format!("X-Remote-Extra-{escaped}")
}

async fn forward(
    req: &HttpRequest,
    forwarding: &Forwarding,
    group: &'static str,
) -> Result<HttpResponse, ApiError> {
    let msg = Forward {
        group,
        path_and_query: req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        accept: req
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        caller: caller(req),
    };
    let answer = forwarding.forwarder.send(msg).await?.map_err(|e| match e {
        ForwardError::NoTarget(_) => ApiError::NotFound(e.to_string()),
        ForwardError::Unavailable { .. } => ApiError::Unavailable(e.to_string()),
    })?;
    let code = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer.content_type.unwrap_or_default();
    if code.is_success() || is_status(&content_type, &answer.body) {
        return Ok(HttpResponse::build(code)
            .content_type(content_type)
            .body(answer.body));
    }
    let text = String::from_utf8_lossy(&answer.body);
    let message = format!(
        "the metrics server for {group} answered {}: {}",
        code.as_u16(),
        text.trim()
    );
    Err(match code {
        StatusCode::NOT_FOUND => ApiError::NotFound(message),
        StatusCode::BAD_REQUEST => ApiError::BadRequest(message),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ApiError::Forbidden(message),
        _ => ApiError::Unavailable(message),
    })
}

/// Whether an error body is already a `metav1.Status`: JSON with `kind: Status`, or protobuf (whose
/// errors are Status by construction).
fn is_status(content_type: &str, body: &[u8]) -> bool {
    if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        return true;
    }
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v["kind"] == "Status")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_keys_are_escaped_into_header_names() {
        assert_eq!(
            extra_header("scopes.k8s.io/x"),
            "X-Remote-Extra-scopes.k8s.io%2Fx"
        );
    }

    #[test]
    fn statuses_are_recognised_in_json_and_protobuf() {
        assert!(is_status(
            "application/json",
            br#"{"kind":"Status","code":404}"#
        ));
        assert!(is_status("application/vnd.kubernetes.protobuf", b"k8s\0"));
        assert!(!is_status("text/plain", b"404 page not found"));
        assert!(!is_status(
            "application/json",
            br#"{"kind":"MetricValueList"}"#
        ));
    }
}
