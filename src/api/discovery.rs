//! Discovery documents: `/api`, `/apis`, `/apis/<group>`, `/apis/<group>/<version>`, `/openapi/v2`.
//! Unlike upstream, custom metrics list both v1beta1 and v1beta2, and `metrics.k8s.io` serves v1 beside
//! v1beta1 (the HPA prefers v1 where listed).

use actix_web::{HttpResponse, web};
use adapter_actors::front_door::GetDiscovery;
use serde_json::{Value, json};

use super::State;
use super::status::ApiError;

pub const CUSTOM: &str = "custom.metrics.k8s.io";
pub const EXTERNAL: &str = "external.metrics.k8s.io";
pub const RESOURCE: &str = "metrics.k8s.io";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/apis", web::get().to(groups))
        .route("/apis/{group}", web::get().to(group))
        .route("/apis/{group}/{version}", web::get().to(resources))
        .route("/openapi/v2", web::get().to(openapi));
}

/// `(group, versions, preferred)` served under the current rules.
fn served(state: &State) -> Vec<(&'static str, &'static [&'static str])> {
    let mut out = Vec::new();
    if state.groups.custom {
        out.push((CUSTOM, &["v1beta2", "v1beta1"][..]));
    }
    if state.groups.external {
        out.push((EXTERNAL, &["v1beta1"][..]));
    }
    if state.groups.resource {
        out.push((RESOURCE, &["v1", "v1beta1"][..]));
    }
    out
}

fn group_json(name: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": versions, "preferredVersion": versions[0]})
}

async fn groups(state: web::Data<State>) -> HttpResponse {
    let groups: Vec<Value> = served(&state)
        .into_iter()
        .map(|(g, v)| group_json(g, v))
        .collect();
    HttpResponse::Ok().json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

async fn group(state: web::Data<State>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    let (group, versions) = served(&state)
        .into_iter()
        .find(|(g, _)| *g == name)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "the server could not find the requested resource (group {name})"
            ))
        })?;
    let mut body = group_json(group, versions);
    body["kind"] = json!("APIGroup");
    body["apiVersion"] = json!("v1");
    Ok(HttpResponse::Ok().json(body))
}

async fn resources(
    state: web::Data<State>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (group, version) = path.into_inner();
    let known = served(&state)
        .into_iter()
        .any(|(g, versions)| g == group && versions.contains(&version.as_str()));
    if !known {
        return Err(ApiError::NotFound(format!(
            "the server could not find the requested resource ({group}/{version})"
        )));
    }
    let entry = |name: &str, namespaced: bool, kind: &str, verbs: &[&str]| json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": verbs});
    let resources: Vec<Value> = match group.as_str() {
        RESOURCE => vec![
            entry("nodes", false, "NodeMetrics", &["get", "list"]),
            entry("pods", true, "PodMetrics", &["get", "list"]),
        ],
        _ => {
            let snapshot = state.front_door.send(GetDiscovery).await?;
            if group == CUSTOM {
                snapshot
                    .custom_entries
                    .iter()
                    .map(|e| entry(&e.name, e.namespaced, "MetricValueList", &["get"]))
                    .collect()
            } else {
                snapshot
                    .external_entries
                    .iter()
                    .map(|e| entry(&e.name, e.namespaced, "ExternalMetricValueList", &["get"]))
                    .collect()
            }
        }
    };
    Ok(HttpResponse::Ok().json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": format!("{group}/{version}"),
        "resources": resources,
    })))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "swagger": "2.0",
        "info": {"title": "prometheus-metrics-adapter", "version": "1.0.0"},
        "paths": {},
        "definitions": {},
    }))
}
