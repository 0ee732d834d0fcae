//! `metrics.k8s.io` v1beta1 and v1: PodMetrics and NodeMetrics, lists and single GETs,
//! as JSON or as a `meta.k8s.io` Table (`kubectl get podmetrics`).

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use adapter_actors::front_door::{
    GetNodeMetrics, GetPodMetrics, NodeMetrics as Node, PodMetrics as Pod, ResourceUsage,
};
use serde_json::json;

use super::status::ApiError;
use super::wire::{self, ContainerMetrics, List, NodeMetrics, ObjectMeta, PodMetrics, Usage};
use super::{Params, State};
use super::{forward, names, protobuf, wants_table};
use crate::groups::RESOURCE;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/apis/metrics.k8s.io/{version}/pods",
        web::get().to(all_pods),
    )
    .route(
        "/apis/metrics.k8s.io/{version}/namespaces/{namespace}/pods",
        web::get().to(namespace_pods),
    )
    .route(
        "/apis/metrics.k8s.io/{version}/namespaces/{namespace}/pods/{name}",
        web::get().to(one_pod),
    )
    .route(
        "/apis/metrics.k8s.io/{version}/nodes",
        web::get().to(all_nodes),
    )
    .route(
        "/apis/metrics.k8s.io/{version}/nodes/{name}",
        web::get().to(one_node),
    );
}

/// `metrics.k8s.io` is ours when the rules have `resourceRules`; otherwise it is the forwarding
/// target's, if there is one (metrics-server beside us).
async fn theirs(req: &HttpRequest, state: &State) -> Option<Result<HttpResponse, ApiError>> {
    let ours = || state.registry.load().served.resource;
    forward::unless_ours(req, state, RESOURCE, ours).await
}

fn api_version(state: &State, version: &str) -> Result<String, ApiError> {
    if state.registry.load().served.resource && (version == "v1beta1" || version == "v1") {
        Ok(format!("{RESOURCE}/{version}"))
    } else {
        Err(ApiError::NotFound(
            "the server could not find the requested resource".into(),
        ))
    }
}

/// A PodMetrics; `api_version` (with the kind) only for a single object, not a list item.
fn pod_json(state: &State, api_version: Option<&str>, pod: Pod) -> PodMetrics {
    PodMetrics {
        kind: api_version.map(|_| "PodMetrics"),
        api_version: api_version.map(str::to_string),
        metadata: ObjectMeta {
            name: pod.pod.name,
            namespace: Some(pod.pod.namespace),
            creation_timestamp: wire::timestamp(state.clock.unix_seconds()),
            labels: Arc::unwrap_or_clone(pod.pod.labels),
        },
        timestamp: wire::timestamp(pod.timestamp),
        window: wire::window(pod.window),
        containers: pod
            .containers
            .into_iter()
            .map(|(name, usage)| ContainerMetrics {
                name,
                usage: Usage::new(usage.cpu, usage.memory),
            })
            .collect(),
    }
}

/// A NodeMetrics; `api_version` (with the kind) only for a single object, not a list item.
fn node_json(state: &State, api_version: Option<&str>, node: Node) -> NodeMetrics {
    NodeMetrics {
        kind: api_version.map(|_| "NodeMetrics"),
        api_version: api_version.map(str::to_string),
        metadata: ObjectMeta {
            name: node.node.name,
            namespace: None,
            creation_timestamp: wire::timestamp(state.clock.unix_seconds()),
            labels: Arc::unwrap_or_clone(node.node.labels),
        },
        timestamp: wire::timestamp(node.timestamp),
        window: wire::window(node.window),
        usage: Usage::new(node.usage.cpu, node.usage.memory),
    }
}

/// A Table with metrics-server's columns: Name, CPU, Memory, Window.
fn table(rows: Vec<(ObjectMeta, ResourceUsage, Duration)>) -> HttpResponse {
    let column = |name: &str, format: &str| json!({"name": name, "type": "string", "format": format, "description": name, "priority": 0});
    let rows: Vec<_> = rows
        .into_iter()
        .map(|(meta, usage, window)| {
            let usage = Usage::new(usage.cpu, usage.memory);
            json!({
                "cells": [meta.name, usage.cpu, usage.memory, wire::window(window)],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta},
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": [column("Name", "name"), column("CPU", ""), column("Memory", ""), column("Window", "")],
        "rows": rows,
    }))
}

fn pod_row(state: &State, pod: Pod) -> (ObjectMeta, ResourceUsage, Duration) {
    let total = pod
        .containers
        .iter()
        .fold(ResourceUsage::default(), |sum, (_, u)| ResourceUsage {
            cpu: sum.cpu + u.cpu,
            memory: sum.memory + u.memory,
        });
    let meta = ObjectMeta {
        name: pod.pod.name,
        namespace: Some(pod.pod.namespace),
        creation_timestamp: wire::timestamp(state.clock.unix_seconds()),
        labels: Arc::unwrap_or_clone(pod.pod.labels),
    };
    (meta, total, pod.window)
}

fn node_row(state: &State, node: Node) -> (ObjectMeta, ResourceUsage, Duration) {
    let meta = ObjectMeta {
        name: node.node.name,
        namespace: None,
        creation_timestamp: wire::timestamp(state.clock.unix_seconds()),
        labels: Arc::unwrap_or_clone(node.node.labels),
    };
    (meta, node.usage, node.window)
}

async fn pods(
    req: &HttpRequest,
    state: &State,
    version: &str,
    namespace: Option<String>,
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    if let Some(theirs) = theirs(req, state).await {
        return theirs;
    }
    let api_version = api_version(state, version)?;
    let only = params.field_name()?;
    let msg = GetPodMetrics {
        namespace,
        name: None,
        selector: params.selector()?,
    };
    let pods = state.front_door.send(msg).await??;
    let pods = pods
        .into_iter()
        .filter(|p| only.as_ref().is_none_or(|n| *n == p.pod.name));
    if wants_table(req) {
        return Ok(table(pods.map(|p| pod_row(state, p)).collect()));
    }
    let items = pods.map(|p| pod_json(state, None, p)).collect();
    let list = List::new("PodMetricsList", api_version.clone(), items);
    Ok(protobuf::ok(req, &api_version, "PodMetricsList", &list))
}

async fn all_pods(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<String>,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    pods(&req, &state, &path.into_inner(), None, &params).await
}

async fn namespace_pods(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<(String, String)>,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    let (version, namespace) = path.into_inner();
    names::namespace(&namespace)?;
    pods(&req, &state, &version, Some(namespace), &params).await
}

async fn one_pod(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<(String, String, String)>,
    _params: Params,
) -> Result<HttpResponse, ApiError> {
    if let Some(theirs) = theirs(&req, &state).await {
        return theirs;
    }
    let (version, namespace, name) = path.into_inner();
    names::namespace(&namespace)?;
    names::object(&name)?;
    let api_version = api_version(&state, &version)?;
    let msg = GetPodMetrics {
        namespace: Some(namespace),
        name: Some(name),
        selector: Default::default(),
    };
    let pod = state.front_door.send(msg).await??.into_iter().next();
    let pod = pod.ok_or_else(|| ApiError::NotFound("pod metrics not found".into()))?;
    if wants_table(&req) {
        return Ok(table(vec![pod_row(&state, pod)]));
    }
    let pod = pod_json(&state, Some(&api_version), pod);
    Ok(protobuf::ok(&req, &api_version, "PodMetrics", &pod))
}

async fn all_nodes(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<String>,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    if let Some(theirs) = theirs(&req, &state).await {
        return theirs;
    }
    let api_version = api_version(&state, &path.into_inner())?;
    let only = params.field_name()?;
    let msg = GetNodeMetrics {
        name: None,
        selector: params.selector()?,
    };
    let nodes = state.front_door.send(msg).await??;
    let nodes = nodes
        .into_iter()
        .filter(|n| only.as_ref().is_none_or(|name| *name == n.node.name));
    if wants_table(&req) {
        return Ok(table(nodes.map(|n| node_row(&state, n)).collect()));
    }
    let items = nodes.map(|n| node_json(&state, None, n)).collect();
    let list = List::new("NodeMetricsList", api_version.clone(), items);
    Ok(protobuf::ok(&req, &api_version, "NodeMetricsList", &list))
}

async fn one_node(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<(String, String)>,
    _params: Params,
) -> Result<HttpResponse, ApiError> {
    if let Some(theirs) = theirs(&req, &state).await {
        return theirs;
    }
    let (version, name) = path.into_inner();
    names::object(&name)?;
    let api_version = api_version(&state, &version)?;
    let node = state
        .front_door
        .send(GetNodeMetrics {
            name: Some(name),
            selector: Default::default(),
        })
        .await??
        .into_iter()
        .next();
    let node = node.ok_or_else(|| ApiError::NotFound("node metrics not found".into()))?;
    if wants_table(&req) {
        return Ok(table(vec![node_row(&state, node)]));
    }
    let node = node_json(&state, Some(&api_version), node);
    Ok(protobuf::ok(&req, &api_version, "NodeMetrics", &node))
}
