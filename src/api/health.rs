//! `/healthz`, `/livez`, `/readyz` (ready once the first relist finished), `/version`, `/metrics`.

use std::fmt::Write;

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
    let mut out = String::new();
    out.push_str("# HELP prometheus_adapter_registry_metrics Metrics advertised, by API.\n# TYPE prometheus_adapter_registry_metrics gauge\n");
    let _ = writeln!(
        out,
        "prometheus_adapter_registry_metrics{{api=\"custom\"}} {}",
        snapshot.registry.custom.len()
    );
    let _ = writeln!(
        out,
        "prometheus_adapter_registry_metrics{{api=\"external\"}} {}",
        snapshot.registry.external.len()
    );
    out.push_str("# HELP prometheus_adapter_rule_series Series the rule's seriesQuery returned at its last success.\n# TYPE prometheus_adapter_rule_series gauge\n");
    for rule in &snapshot.rules {
        let _ = writeln!(
            out,
            "prometheus_adapter_rule_series{{rule=\"{:?}[{}]\"}} {}",
            rule.kind, rule.index, rule.report.series
        );
    }
    out.push_str("# HELP prometheus_adapter_rule_failing Whether the rule's last relist failed.\n# TYPE prometheus_adapter_rule_failing gauge\n");
    for rule in &snapshot.rules {
        let _ = writeln!(
            out,
            "prometheus_adapter_rule_failing{{rule=\"{:?}[{}]\"}} {}",
            rule.kind,
            rule.index,
            u8::from(rule.error.is_some())
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out))
}
