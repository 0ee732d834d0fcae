//! The one `App`: every route behind the same layers, as the binary serves it and as the tests and the
//! request fuzz target drive it in process.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Condition, Next, from_fn};
use actix_web::{App, ResponseError, web};

use super::State;
use super::status::ApiError;
use crate::auth::{Auth, Refusal};
use crate::server::access_log::AccessLog;

/// The app over `state`, every request let in (or not) by `auth`; with `access_log`, a line per request.
pub fn app(
    state: web::Data<State>,
    auth: web::Data<Auth>,
    access_log: bool,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let telemetry = state.telemetry.clone();
    App::new()
        .app_data(state)
        .app_data(auth)
        .wrap(from_fn(admission))
        .wrap(from_fn(super::protobuf::errors))
        .wrap_fn(move |req, srv| {
            let (telemetry, path, method) = (
                telemetry.clone(),
                req.path().to_string(),
                req.method().to_string(),
            );
            #[allow(clippy::disallowed_methods, reason = "latency self-metric")]
            let started = std::time::Instant::now();
            let call = srv.call(req);
            async move {
                let response = call.await?;
                telemetry.observe_request(
                    &path,
                    &method,
                    response.status().as_u16(),
                    started.elapsed(),
                );
                Ok(response)
            }
        })
        .wrap(Condition::new(
            access_log,
            tracing_actix_web::TracingLogger::<AccessLog>::new(),
        ))
        .configure(super::configure)
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::BadRequest(message) => ApiError::BadRequest(message),
            Refusal::Unauthorized => ApiError::Unauthorized,
            Refusal::Forbidden(message) => ApiError::Forbidden(message),
            Refusal::Internal(cause) => ApiError::Internal {
                public: "the request could not be authorized",
                cause,
            },
        }
    }
}

/// Every request passes `Auth::admit` before routing; a refusal is its Status.
async fn admission<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let Some(auth) = req.app_data::<web::Data<Auth>>().cloned() else {
        // Fail closed: a server wired without the authenticator serves nothing.
        let error = ApiError::from(Refusal::Internal("no authenticator configured".into()));
        return Ok(req
            .into_response(error.error_response())
            .map_into_right_body());
    };
    match auth.admit(&req).await {
        Ok(user) => {
            if let Some(user) = user {
                // The access log names who asked; router mode forwards who it was.
                tracing::Span::current().record("user", tracing::field::display(&user.name));
                actix_web::HttpMessage::extensions_mut(&req).insert(user);
            }
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(refusal) => Ok(req
            .into_response(ApiError::from(refusal).error_response())
            .map_into_right_body()),
    }
}
