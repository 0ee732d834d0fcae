//! Discovery documents: `/apis` (legacy `APIGroupList`, or the aggregated `APIGroupDiscoveryList` when
//! the client asks for it, as kube-apiserver's aggregator and kubectl do), `/apis/<group>`,
//! `/apis/<group>/<version>`, and `/openapi/v2`, `/openapi/v3` with ETags. Unlike upstream, custom
//! metrics list both v1beta1 and v1beta2, and `metrics.k8s.io` serves v1 beside v1beta1 (the HPA prefers
//! v1 where listed).

use std::hash::{DefaultHasher, Hash, Hasher};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use adapter_actors::front_door::GetDiscovery;
use serde_json::{Value, json};

use super::State;
use super::status::ApiError;

pub const CUSTOM: &str = "custom.metrics.k8s.io";
pub const EXTERNAL: &str = "external.metrics.k8s.io";
pub const RESOURCE: &str = "metrics.k8s.io";

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/apis", web::get().to(groups))
        .route("/apis/{group}", web::get().to(group))
        .route("/apis/{group}/{version}", web::get().to(resources))
        .route("/openapi/v2", web::get().to(openapi_v2))
        .route("/openapi/v3", web::get().to(openapi_v3))
        .route(
            "/openapi/v3/apis/{group}/{version}",
            web::get().to(openapi_v3_group),
        );
}

/// `(group, versions)` served under the current rules, preferred version first.
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

/// One resource of a group: name, namespaced, kind, verbs.
struct Entry {
    name: String,
    namespaced: bool,
    kind: &'static str,
    verbs: &'static [&'static str],
}

/// The resources of a served group, from the discovery snapshot for the metric groups.
async fn entries(state: &State, group: &str) -> Result<Vec<Entry>, ApiError> {
    let entry = |name: &str, namespaced, kind, verbs| Entry {
        name: name.to_string(),
        namespaced,
        kind,
        verbs,
    };
    if group == RESOURCE {
        return Ok(vec![
            entry("nodes", false, "NodeMetrics", &["get", "list"]),
            entry("pods", true, "PodMetrics", &["get", "list"]),
        ]);
    }
    let snapshot = state.front_door.send(GetDiscovery).await?;
    let (list, kind) = if group == CUSTOM {
        (&snapshot.custom_entries, "MetricValueList")
    } else {
        (&snapshot.external_entries, "ExternalMetricValueList")
    };
    Ok(list
        .iter()
        .map(|e| entry(&e.name, e.namespaced, kind, &["get"]))
        .collect())
}

fn group_json(name: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": versions, "preferredVersion": versions[0]})
}

async fn groups(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default();
    if !accept.contains("as=APIGroupDiscoveryList") {
        let groups: Vec<Value> = served(&state)
            .into_iter()
            .map(|(g, v)| group_json(g, v))
            .collect();
        return Ok(HttpResponse::Ok()
            .json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})));
    }
    let mut items = Vec::new();
    for (group, versions) in served(&state) {
        let resources: Vec<Value> = entries(&state, group)
            .await?
            .into_iter()
            .map(|e| {
                json!({
                    "resource": e.name,
                    "responseKind": {"group": "", "version": "", "kind": e.kind},
                    "scope": if e.namespaced { "Namespaced" } else { "Cluster" },
                    "singularResource": "",
                    "verbs": e.verbs,
                })
            })
            .collect();
        let versions: Vec<Value> = versions
            .iter()
            .map(|v| json!({"version": v, "resources": resources, "freshness": "Current"}))
            .collect();
        items.push(json!({"metadata": {"name": group}, "versions": versions}));
    }
    let body = json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items});
    Ok(HttpResponse::Ok()
        .content_type(AGGREGATED)
        .body(body.to_string()))
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

fn check_served(state: &State, group: &str, version: &str) -> Result<(), ApiError> {
    let known = served(state)
        .into_iter()
        .any(|(g, versions)| g == group && versions.contains(&version));
    if known {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "the server could not find the requested resource ({group}/{version})"
        )))
    }
}

async fn resources(
    state: web::Data<State>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (group, version) = path.into_inner();
    check_served(&state, &group, &version)?;
    let resources: Vec<Value> = entries(&state, &group)
        .await?
        .into_iter()
        .map(|e| json!({"name": e.name, "singularName": "", "namespaced": e.namespaced, "kind": e.kind, "verbs": e.verbs}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": format!("{group}/{version}"),
        "resources": resources,
    })))
}

/// A JSON body with a strong ETag; `304 Not Modified` when the client already has it.
/// The content-derived hash of a document, the ETag's value and OpenAPI v3's `?hash=`.
fn content_hash(text: &str) -> String {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    format!("{:016X}", hasher.finish())
}

fn with_etag(req: &HttpRequest, body: &Value) -> HttpResponse {
    let text = body.to_string();
    let etag = format!("\"{}\"", content_hash(&text));
    let cached = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    if cached {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .content_type("application/json")
        .body(text)
}

fn info() -> Value {
    json!({"title": "prometheus-metrics-adapter", "version": "1.0.0"})
}

async fn openapi_v2(req: HttpRequest) -> HttpResponse {
    with_etag(
        &req,
        &json!({"swagger": "2.0", "info": info(), "paths": {}, "definitions": {}}),
    )
}

async fn openapi_v3(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    let mut paths = serde_json::Map::new();
    for (group, versions) in served(&state) {
        for version in versions {
            // Clients cache group documents by this hash, so it must change with the document.
            let hash = content_hash(&group_document().to_string());
            let url = format!("/openapi/v3/apis/{group}/{version}?hash={hash}");
            paths.insert(
                format!("apis/{group}/{version}"),
                json!({"serverRelativeURL": url}),
            );
        }
    }
    with_etag(&req, &json!({"paths": paths}))
}

async fn openapi_v3_group(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (group, version) = path.into_inner();
    check_served(&state, &group, &version)?;
    Ok(with_etag(&req, &group_document()))
}

/// The OpenAPI v3 document of a group-version (the metric types are not described yet).
fn group_document() -> Value {
    json!({"openapi": "3.0.0", "info": info(), "paths": {}, "components": {}})
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn documents_carry_an_etag_and_answer_304_when_unchanged() {
        let body = json!({"swagger": "2.0"});
        let first = with_etag(&TestRequest::default().to_http_request(), &body);
        assert_eq!(first.status(), 200);
        let etag = first
            .headers()
            .get(header::ETAG)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let again = with_etag(
            &TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, etag.as_str()))
                .to_http_request(),
            &body,
        );
        assert_eq!(again.status(), 304);
        let changed = with_etag(
            &TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, etag.as_str()))
                .to_http_request(),
            &json!({"swagger": "3"}),
        );
        assert_eq!(changed.status(), 200);
    }
}
