//! The access log: one line per request at `--v=4` and up (upstream logs none by default, and at a
//! thousand requests a second a line each is most of the work). Written when the request's span
//! closes: method, target (cut to [`TARGET_MAX`] bytes — a megabyte URL must not become a megabyte of
//! log), protocol, status, request id, the authenticated user and latency.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

/// Longest target logged, in bytes.
pub const TARGET_MAX: usize = 256;

/// The root span of each request, for `tracing_actix_web::TracingLogger`.
pub struct AccessLog;

impl RootSpanBuilder for AccessLog {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request.extensions().get::<RequestId>().copied();
        tracing::info_span!(
            "request",
            method = %request.method(),
            target = %truncated(&request.uri().to_string()),
            version = ?request.version(),
            request_id = request_id.map(tracing::field::display),
            status = tracing::field::Empty,
            user = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("status", status.as_u16());
    }
}

/// `target` cut to [`TARGET_MAX`] bytes on a character boundary, saying how long it was.
fn truncated(target: &str) -> String {
    if target.len() <= TARGET_MAX {
        return target.to_string();
    }
    let mut end = TARGET_MAX;
    while !target.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…({} bytes)", &target[..end], target.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_targets_are_cut_on_a_character_boundary() {
        assert_eq!(truncated("/apis"), "/apis");
        let long = format!("/x?labelSelector={}", "é".repeat(400));
        let cut = truncated(&long);
        assert!(cut.len() < TARGET_MAX + 20, "{}", cut.len());
        assert!(cut.ends_with(&format!("…({} bytes)", long.len())), "{cut}");
    }
}
