//! The front door's HTTP side: routes, query parameters, wire JSON and Status errors. It only translates
//! requests into front-door messages and their answers into JSON; `configure` is reused by tests without
//! a socket.

mod app;
mod custom;
pub mod discovery;
mod embedded;
mod explain;
mod external;
pub mod forward;
mod health;
mod names;
mod params;
pub mod protobuf;
mod resource;
pub mod simulated;
pub mod status;
pub mod wire;

use actix::Addr;
use actix_web::web;
use adapter_actors::Clock;
use adapter_actors::front_door::FrontDoor;

pub use app::app;
pub use params::Params;
use status::ApiError;

/// What every handler reads.
pub struct State {
    /// Where requests go.
    pub front_door: Addr<FrontDoor>,
    /// The rules generation, for `/debug/explain`.
    pub namer: actix::Recipient<adapter_actors::rule_namer::CurrentRules>,
    /// With the embedded object source only: core objects are served read-only too (`/api/v1/nodes`,
    /// `/api/v1/namespaces/{ns}/pods`), so `kubectl top` works without a cluster.
    pub embedded_objects: Option<actix::Recipient<adapter_actors::object_lister::ListObjects>>,
    /// With the embedded object source: objects' `status` as the file has it (nodes' capacity).
    pub embedded_statuses: std::sync::Arc<crate::backends::objects_file::Statuses>,
    /// Discovery snapshots, read lock-free: the groups the current rules serve (they follow a reload).
    pub registry: adapter_actors::registry::RegistryReader,
    /// For `creationTimestamp`.
    pub clock: Clock,
    /// Self-metrics.
    pub telemetry: std::sync::Arc<crate::telemetry::Telemetry>,
    /// The value cache's counters, for `/metrics`.
    pub cache_stats: std::sync::Arc<adapter_actors::value_cache::CacheStats>,
    /// The flows' counters, for `/metrics`.
    pub flow_stats: std::sync::Arc<adapter_actors::front_door::FlowStats>,
    /// Discovery documents rendered once per relist.
    pub rendered: discovery::Rendered,
    /// Router mode: where metrics our rules do not serve go, per group.
    pub forwarding: Option<forward::Forwarding>,
}

impl State {
    /// What the handlers read of a running `adapter`. With `embedded` objects (the objects file), core
    /// objects are served too, with their `statuses`.
    pub fn new(
        adapter: &adapter_actors::Adapter,
        clock: Clock,
        telemetry: std::sync::Arc<crate::telemetry::Telemetry>,
        embedded: Option<std::sync::Arc<crate::backends::objects_file::Statuses>>,
        forwarding: Option<forward::Forwarding>,
    ) -> Self {
        Self {
            front_door: adapter.front_door.clone(),
            namer: adapter.namer.clone().recipient(),
            embedded_objects: embedded
                .is_some()
                .then(|| adapter.lister.clone().recipient()),
            embedded_statuses: embedded.unwrap_or_default(),
            registry: adapter.registry.clone(),
            clock,
            telemetry,
            cache_stats: adapter.cache_stats.clone(),
            flow_stats: adapter.flow_stats.clone(),
            rendered: Default::default(),
            forwarding,
        }
    }
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    discovery::configure(cfg);
    custom::configure(cfg);
    external::configure(cfg);
    resource::configure(cfg);
    embedded::configure(cfg);
    explain::configure(cfg);
    cfg.default_service(web::to(unmatched));
}

/// What matches no route is a Status like every other error: 405 for a method these read-only APIs do not
/// have (on any path), 404 for a path that names nothing.
async fn unmatched(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(if req.method() == actix_web::http::Method::GET {
        ApiError::NotFound("the server could not find the requested resource".into())
    } else {
        ApiError::MethodNotAllowed(format!(
            "the server does not allow this method on the requested resource ({})",
            req.method()
        ))
    })
}

/// The `Accept` header, if any.
fn accept(req: &actix_web::HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
}

/// Whether the client asked for `meta.k8s.io` Table output (`kubectl get podmetrics`).
fn wants_table(req: &actix_web::HttpRequest) -> bool {
    accept(req).is_some_and(|a| a.contains("as=Table"))
}

/// Custom and external metrics have no Table form: 406 when the client accepts nothing else, as
/// kube-apiserver answers (a list of media types that ends in plain JSON gets the list).
fn refuse_tables(req: &actix_web::HttpRequest) -> Result<(), ApiError> {
    let Some(accept) = accept(req) else {
        return Ok(());
    };
    let only_tables = accept.split(',').all(|range| range.contains("as=Table"));
    if wants_table(req) && only_tables {
        return Err(ApiError::NotAcceptable(
            "only the following media types are accepted: application/json, application/vnd.kubernetes.protobuf"
                .into(),
        ));
    }
    Ok(())
}
