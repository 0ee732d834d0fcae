//! `custom.metrics.k8s.io` v1beta1 and v1beta2.

use actix_web::{HttpRequest, HttpResponse, web};
use adapter_actors::front_door::{DescribedObject, GetCustomMetric};
use adapter_config::GroupResource;

use super::status::ApiError;
use super::wire::{
    self, List, MetricIdentifier, MetricValueV1beta1, MetricValueV1beta2, ObjectReference,
};
use super::{Params, State};
use super::{forward, names, protobuf, refuse_tables};
use crate::groups::CUSTOM;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/apis/custom.metrics.k8s.io/{version}/{tail:.+}",
        web::get().to(get),
    );
}

/// What a custom-metrics path asks for.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    resource: String,
    namespace: Option<String>,
    name: String,
    metric: String,
}

/// `namespaces/{ns}/metrics/{m}` (the Namespace object), `namespaces/{ns}/{res}/{name}/{m}`, `{res}/{name}/{m}`.
fn parse_path(tail: &str) -> Result<Target, ApiError> {
    let parts: Vec<&str> = tail.trim_end_matches('/').split('/').collect();
    let target = |resource: &str, namespace: Option<&str>, name: &str, metric: &str| Target {
        resource: resource.to_string(),
        namespace: namespace.map(str::to_string),
        name: name.to_string(),
        metric: metric.to_string(),
    };
    match parts.as_slice() {
        ["namespaces", ns, "metrics", metric] => {
            Ok(target("namespaces", None, names::namespace(ns)?, metric))
        }
        ["namespaces", ns, resource, name, metric] => Ok(target(
            resource,
            Some(names::namespace(ns)?),
            names::object(name)?,
            metric,
        )),
        [resource, name, metric] => Ok(target(resource, None, names::object(name)?, metric)),
        parts if parts.len() < 3 => Err(ApiError::BadRequest("invalid request path".into())),
        _ => Err(ApiError::NotFound(
            "the server could not find the requested resource".into(),
        )),
    }
}

async fn get(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<(String, String)>,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    let (version, tail) = path.into_inner();
    refuse_tables(&req)?;
    let snapshot = state.registry.load();
    let served = snapshot.served.custom || forward::covers(&state, CUSTOM);
    if version != "v1beta1" && version != "v1beta2" || !served {
        return Err(ApiError::NotFound(
            "the server could not find the requested resource".into(),
        ));
    }
    let target = parse_path(&tail)?;
    // Ours when our rules serve a metric of that name (for any resource): on a clash, ours wins.
    let ours = || {
        snapshot.served.custom
            && snapshot
                .registry
                .custom
                .keys()
                .any(|m| m.metric == target.metric)
    };
    if let Some(theirs) = forward::unless_ours(&req, &state, CUSTOM, ours).await {
        return theirs;
    }
    if !snapshot.served.custom {
        return Err(ApiError::NotFound(
            "the server could not find the requested resource".into(),
        ));
    }
    let field_name = params.field_name()?;
    let name = match (target.name.as_str(), field_name) {
        ("*", None) => None,
        ("*", Some(name)) => Some(name),
        (path_name, Some(field)) if field != path_name => {
            return Err(ApiError::BadRequest(
                "fieldSelector metadata.name doesn't match requested name".into(),
            ));
        }
        (path_name, _) => Some(path_name.to_string()),
    };
    let metric_selector = params.metric_selector()?;
    let msg = GetCustomMetric {
        resource: GroupResource::parse(&target.resource),
        namespace: target.namespace,
        name,
        metric: target.metric,
        selector: params.selector()?,
        metric_selector: metric_selector.clone(),
    };
    let values = state.front_door.send(msg).await??;
    let api_version = format!("{CUSTOM}/{version}");
    let selector = wire::label_selector(&metric_selector);
    // The values are moved into the answer's items, not copied: a 1,000-pod answer has 1,000.
    let described = |object: DescribedObject| ObjectReference {
        kind: object.kind,
        namespace: object.namespace,
        name: object.name,
        api_version: object.api_version,
    };
    let value = |v: f64| wire::quantity(v, adapter_config::quantity::Format::DecimalSI);
    let response = if version == "v1beta1" {
        let items = values
            .into_iter()
            .map(|v| MetricValueV1beta1 {
                timestamp: wire::timestamp(v.timestamp),
                window_seconds: v.window.map(|w| w.as_secs()),
                value: value(v.value),
                described_object: described(v.object),
                metric_name: v.metric,
                selector: selector.clone(),
            })
            .collect();
        let list = List::new("MetricValueList", api_version.clone(), items);
        protobuf::ok(&req, &api_version, "MetricValueList", &list)
    } else {
        let items = values
            .into_iter()
            .map(|v| MetricValueV1beta2 {
                timestamp: wire::timestamp(v.timestamp),
                window_seconds: v.window.map(|w| w.as_secs()),
                value: value(v.value),
                described_object: described(v.object),
                metric: MetricIdentifier {
                    name: v.metric,
                    selector: selector.clone(),
                },
            })
            .collect();
        let list = List::new("MetricValueList", api_version.clone(), items);
        protobuf::ok(&req, &api_version, "MetricValueList", &list)
    };
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_like_upstream() {
        let t = parse_path("namespaces/prod/pods/*/http_requests").unwrap();
        assert_eq!(
            (
                t.resource.as_str(),
                t.namespace.as_deref(),
                t.name.as_str(),
                t.metric.as_str()
            ),
            ("pods", Some("prod"), "*", "http_requests")
        );
        let t = parse_path("namespaces/prod/metrics/http_requests").unwrap();
        assert_eq!(
            (t.resource.as_str(), t.namespace, t.name.as_str()),
            ("namespaces", None, "prod")
        );
        let t = parse_path("nodes/node-1/load").unwrap();
        assert_eq!(
            (t.resource.as_str(), t.namespace, t.name.as_str()),
            ("nodes", None, "node-1")
        );
        assert!(matches!(parse_path("pods/x"), Err(ApiError::BadRequest(_))));
        assert!(matches!(
            parse_path("a/b/c/d/e/f"),
            Err(ApiError::NotFound(_))
        ));
    }
}
