//! Errors become a `metav1.Status` here and nowhere else: one [`ApiError`] decides code, reason and
//! message for every cause, with the codes the HPA relies on. Bad requests are not logged as
//! errors; internal causes are logged once, with the detail clients do not see — unless `--v` is 6 or
//! more, when the cause (the Prometheus error, the unreachable backend) is appended for debugging.

use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use adapter_actors::front_door::FlowError;
use serde::Serialize;

static SHOW_CAUSES: AtomicBool = AtomicBool::new(false);

/// Whether error messages carry backend detail (`--v` ≥ 6); set once at start-up.
pub fn show_causes(show: bool) {
    SHOW_CAUSES.store(show, Ordering::Relaxed);
}

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 401: nobody vouched for the caller.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403, with Kubernetes' wording of what was denied.
    #[error("{0}")]
    Forbidden(String),
    /// 500 with a public message; the cause is logged.
    #[error("Internal error occurred: {public}")]
    Internal {
        /// What the client sees.
        public: &'static str,
        /// What the log sees.
        cause: String,
    },
    /// 503; the cause is logged.
    #[error("the metrics backend is unavailable")]
    Unavailable(String),
    /// 503 because a backend's credentials could not be had: the message names the method, backend and
    /// step (what an HPA's events then show); the cause is logged.
    #[error("the metrics backend is unavailable: {public}")]
    BackendAuth {
        /// Method, backend and step.
        public: String,
        /// What failed there.
        cause: String,
    },
    /// 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 406.
    #[error("{0}")]
    NotAcceptable(String),
}

impl From<FlowError> for ApiError {
    fn from(error: FlowError) -> Self {
        match error {
            FlowError::MetricNotFound { .. } | FlowError::ObjectNotFound(_) => {
                ApiError::NotFound(error.to_string())
            }
            FlowError::BadRequest(message) => ApiError::BadRequest(message),
            FlowError::QueryFailed(cause) => ApiError::Internal {
                public: "unable to fetch metrics",
                cause,
            },
            FlowError::ListFailed(cause) => ApiError::Internal {
                public: "unable to list matching resources",
                cause,
            },
            FlowError::BackendAuth { public, cause } => ApiError::BackendAuth { public, cause },
            FlowError::Unavailable(_) | FlowError::Timeout(_) => {
                ApiError::Unavailable(error.to_string())
            }
        }
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(error: actix::MailboxError) -> Self {
        ApiError::Unavailable(format!("the adapter is restarting: {error}"))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: super::wire::ListMeta,
    status: &'static str,
    message: String,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details>,
    code: u16,
}

#[derive(Serialize)]
struct Details {
    causes: Vec<Cause>,
}

#[derive(Serialize)]
struct Cause {
    message: &'static str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) | ApiError::BackendAuth { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.status_code();
        let (reason, details) = match self {
            ApiError::NotFound(_) => ("NotFound", None),
            ApiError::BadRequest(_) => ("BadRequest", None),
            ApiError::Unauthorized => ("Unauthorized", None),
            ApiError::Forbidden(_) => ("Forbidden", None),
            ApiError::MethodNotAllowed(_) => ("MethodNotAllowed", None),
            ApiError::NotAcceptable(_) => ("NotAcceptable", None),
            // metav1 names no reason for these three (its Timeout is a 504 for work that ran out of
            // time); named after their codes as Go's StatusText does.
            ApiError::Internal { public, cause } => {
                tracing::error!(%cause, "request failed");
                (
                    "InternalError",
                    Some(Details {
                        causes: vec![Cause { message: public }],
                    }),
                )
            }
            ApiError::Unavailable(cause) | ApiError::BackendAuth { cause, .. } => {
                tracing::warn!(%cause, "request failed: backend unavailable");
                ("ServiceUnavailable", None)
            }
        };
        let message = match self {
            ApiError::Internal { cause, .. }
            | ApiError::Unavailable(cause)
            | ApiError::BackendAuth { cause, .. }
                if SHOW_CAUSES.load(Ordering::Relaxed) =>
            {
                format!("{self}: {cause}")
            }
            _ => self.to_string(),
        };
        // Kept beside the JSON for `protobuf_errors`, which re-encodes it when the client asked for protobuf.
        let protobuf = super::protobuf::Status {
            status: "Failure",
            message: message.clone(),
            reason,
            causes: details
                .as_ref()
                .map(|d| d.causes.iter().map(|c| c.message).collect())
                .unwrap_or_default(),
            code: code.as_u16(),
        };
        let body = Status {
            kind: "Status",
            api_version: "v1",
            metadata: super::wire::ListMeta {},
            status: "Failure",
            message,
            reason,
            details,
            code: code.as_u16(),
        };
        let mut response = HttpResponse::build(code).json(body);
        response.extensions_mut().insert(protobuf);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error: ApiError) -> serde_json::Value {
        let response = error.error_response();
        let bytes = actix_web::body::to_bytes(response.into_body());
        let bytes = futures_util::FutureExt::now_or_never(bytes)
            .unwrap()
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn statuses_carry_the_codes_the_hpa_relies_on_and_hide_backend_detail() {
        let not_found = body(
            FlowError::MetricNotFound {
                metric: "m".into(),
                resource: "pods".into(),
                name: None,
            }
            .into(),
        );
        assert_eq!(
            (not_found["code"].as_u64(), not_found["reason"].as_str()),
            (Some(404), Some("NotFound"))
        );
        assert_eq!(
            not_found["message"],
            "the server could not find the metric m for pods"
        );
        let internal =
            body(FlowError::QueryFailed("bad_data: parse error at http://prom:9090".into()).into());
        assert_eq!(internal["code"], 500);
        assert_eq!(
            internal["message"],
            "Internal error occurred: unable to fetch metrics"
        );
        assert_eq!(
            internal["details"]["causes"][0]["message"],
            "unable to fetch metrics"
        );
        let down = ApiError::from(FlowError::Unavailable(
            "GET http://secret-prometheus:9090/api/v1/query: refused".into(),
        ));
        assert_eq!(down.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body(down)["message"], "the metrics backend is unavailable");
        // A backend's credentials: the method, backend and step are told, what failed there is logged.
        let auth = body(
            FlowError::BackendAuth {
                public: "oauth2 for backend b: asking the token endpoint".into(),
                cause: "http://idp.internal/token: connection refused".into(),
            }
            .into(),
        );
        assert_eq!(
            (&auth["code"], &auth["reason"], &auth["message"]),
            (
                &serde_json::json!(503),
                &serde_json::json!("ServiceUnavailable"),
                &serde_json::json!(
                    "the metrics backend is unavailable: oauth2 for backend b: asking the token endpoint"
                )
            )
        );
        show_causes(true);
        let detailed = body(FlowError::Unavailable("refused".into()).into());
        show_causes(false);
        assert_eq!(
            detailed["message"],
            "the metrics backend is unavailable: backend unavailable: refused"
        );
    }
}
