//! `external.metrics.k8s.io/v1beta1`.

use actix_web::{HttpRequest, HttpResponse, web};
use adapter_actors::front_door::GetExternalMetric;

use super::status::ApiError;
use super::wire::{self, ExternalMetricValue, List};
use super::{Params, State};
use super::{forward, names, protobuf, refuse_tables};
use crate::groups::EXTERNAL;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}",
        web::get().to(get),
    );
}

async fn get(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<(String, String)>,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    let (namespace, metric) = path.into_inner();
    let snapshot = state.registry.load();
    let ours =
        || snapshot.served.external && snapshot.registry.external.contains_key(metric.as_str());
    if let Some(theirs) = forward::unless_ours(&req, &state, EXTERNAL, ours).await {
        return theirs;
    }
    if !snapshot.served.external {
        return Err(ApiError::NotFound(
            "the server could not find the requested resource".into(),
        ));
    }
    refuse_tables(&req)?;
    names::namespace(&namespace)?;
    let msg = GetExternalMetric {
        namespace,
        metric,
        selector: params.external_selector()?,
    };
    let values = state.front_door.send(msg).await??;
    let items = values
        .into_iter()
        .map(|v| ExternalMetricValue {
            metric_name: v.metric,
            metric_labels: v.labels,
            timestamp: wire::timestamp(v.timestamp),
            value: wire::quantity(v.value, adapter_config::quantity::Format::DecimalSI),
        })
        .collect();
    let api_version = format!("{EXTERNAL}/v1beta1");
    let list = List::new("ExternalMetricValueList", api_version.clone(), items);
    Ok(protobuf::ok(
        &req,
        &api_version,
        "ExternalMetricValueList",
        &list,
    ))
}
