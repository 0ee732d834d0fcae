//! With `--objects` there is no kube-apiserver beside us, so the core objects `kubectl top` reads are
//! served here, read-only and metadata-only: `/api`, `/api/v1/nodes`, `/api/v1/pods`,
//! `/api/v1/namespaces/{ns}/pods`. Without the embedded source these paths are not ours and 404.

use actix_web::{HttpResponse, web};
use adapter_actors::object_lister::ListObjects;
use adapter_config::GroupResource;
use serde_json::json;

use super::status::ApiError;
use super::{Params, State};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api", web::get().to(versions))
        .route("/api/v1/nodes", web::get().to(nodes))
        .route("/api/v1/pods", web::get().to(all_pods))
        .route(
            "/api/v1/namespaces/{namespace}/pods",
            web::get().to(namespace_pods),
        );
}

fn not_ours() -> ApiError {
    ApiError::NotFound("the server could not find the requested resource".into())
}

async fn versions(state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    state.embedded_objects.as_ref().ok_or_else(not_ours)?;
    Ok(HttpResponse::Ok().json(json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})))
}

async fn list(
    state: &State,
    resource: &str,
    kind: &str,
    namespace: Option<String>,
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    let lister = state.embedded_objects.as_ref().ok_or_else(not_ours)?;
    let msg = ListObjects {
        resource: GroupResource::new("", resource),
        namespace,
        selector: params.selector()?,
        running_only: false,
    };
    let objects = lister
        .send(msg)
        .await?
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let items: Vec<_> = objects
        .into_iter()
        .map(|o| {
            let mut metadata = json!({"name": &o.name, "labels": *o.labels});
            if !o.namespace.is_empty() {
                metadata["namespace"] = json!(o.namespace);
            }
            let key = (GroupResource::new("", resource), o.namespace, o.name);
            let mut status = state
                .embedded_statuses
                .get(&key)
                .filter(|s| s.is_object())
                .cloned()
                .unwrap_or_else(|| json!({}));
            if !o.phase.is_empty() {
                status["phase"] = json!(o.phase);
            }
            let mut item = json!({"metadata": metadata});
            if status.as_object().is_some_and(|s| !s.is_empty()) {
                item["status"] = status;
            }
            item
        })
        .collect();
    Ok(HttpResponse::Ok().json(
        json!({"kind": format!("{kind}List"), "apiVersion": "v1", "metadata": {}, "items": items}),
    ))
}

async fn nodes(state: web::Data<State>, params: Params) -> Result<HttpResponse, ApiError> {
    list(&state, "nodes", "Node", None, &params).await
}

async fn all_pods(state: web::Data<State>, params: Params) -> Result<HttpResponse, ApiError> {
    list(&state, "pods", "Pod", None, &params).await
}

async fn namespace_pods(
    state: web::Data<State>,
    path: web::Path<String>,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    list(&state, "pods", "Pod", Some(path.into_inner()), &params).await
}
