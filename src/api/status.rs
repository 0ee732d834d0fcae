//! Errors become a `metav1.Status` here and nowhere else: one [`ApiError`] decides code, reason and
//! message for every cause, with the codes the HPA relies on (spec §13.4). Bad requests are not logged as
//! errors; internal causes are logged once, with the detail clients do not see.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use adapter_actors::front_door::FlowError;
use serde::Serialize;

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 500 with a public message; the cause is logged.
    #[error("Internal error occurred: {public}")]
    Internal {
        /// What the client sees.
        public: &'static str,
        /// What the log sees.
        cause: String,
    },
    /// 503.
    #[error("{0}")]
    Unavailable(String),
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
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.status_code();
        let (reason, details) = match self {
            ApiError::NotFound(_) => ("NotFound", None),
            ApiError::BadRequest(_) => ("BadRequest", None),
            ApiError::Internal { public, cause } => {
                tracing::error!(%cause, "request failed");
                (
                    "InternalError",
                    Some(Details {
                        causes: vec![Cause { message: public }],
                    }),
                )
            }
            ApiError::Unavailable(message) => {
                tracing::warn!(%message, "request failed: backend unavailable");
                ("ServiceUnavailable", None)
            }
        };
        let body = Status {
            kind: "Status",
            api_version: "v1",
            metadata: super::wire::ListMeta {},
            status: "Failure",
            message: self.to_string(),
            reason,
            details,
            code: code.as_u16(),
        };
        HttpResponse::build(code).json(body)
    }
}
