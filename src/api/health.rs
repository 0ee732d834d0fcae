//! `/healthz`, `/livez`, `/readyz` (ready once the first relist finished), `/version`, `/metrics`.

use actix_web::{HttpResponse, web};
use adapter_actors::front_door::GetDiscovery;

use super::State;
use super::status::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(ok))
        .route("/healthz/{check:.*}", web::get().to(ok))
        .route("/livez", web::get().to(ok))
        .route("/livez/{check:.*}", web::get().to(ok))
        .route("/readyz", web::get().to(ready))
        .route("/readyz/{check:.*}", web::get().to(ready))
        .route("/version", web::get().to(version))
        .route("/metrics", web::get().to(metrics));
}

async fn ok() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}

async fn ready(state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let snapshot = state.front_door.send(GetDiscovery).await?;
    if snapshot.ready() {
        Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ok"))
    } else {
        Ok(HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("[-]relist failed: the first discovery has not finished\nreadyz check failed"))
    }
}

async fn version() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "major": "1",
        "minor": "0",
        "gitVersion": concat!("v", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    }))
}

/// The adapter's own metrics, in Prometheus text format.
async fn metrics(state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let snapshot = state.front_door.send(GetDiscovery).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(
            state
                .telemetry
                .render(&snapshot, &state.cache_stats, &state.flow_stats),
        ))
}
