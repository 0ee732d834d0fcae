//! The front door's HTTP side: routes, query parameters, wire JSON and Status errors. It only translates
//! requests into front-door messages and their answers into JSON; `configure` is reused by tests without
//! a socket.

mod custom;
mod discovery;
mod embedded;
mod explain;
mod external;
mod health;
pub mod protobuf;
mod resource;
pub mod status;
pub mod wire;

use actix::Addr;
use actix_web::web;
use adapter_actors::Clock;
use adapter_actors::front_door::FrontDoor;
use adapter_config::Selector;

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
    pub embedded_statuses: std::sync::Arc<crate::objects_file::Statuses>,
    /// Discovery snapshots, read lock-free: the groups the current rules serve (they follow a reload).
    pub registry: adapter_actors::registry::RegistryReader,
    /// For `creationTimestamp`.
    pub clock: Clock,
    /// Self-metrics.
    pub telemetry: std::sync::Arc<crate::telemetry::Telemetry>,
    /// The value cache's counters, for `/metrics`.
    pub cache_stats: std::sync::Arc<adapter_actors::value_cache::CacheStats>,
    /// Discovery documents rendered once per relist.
    pub rendered: discovery::Rendered,
}

/// Query parameters every route may carry; others (`pretty`, `limit`, …) are accepted and ignored.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    /// Objects' label selector (external: the metric selector).
    #[serde(default)]
    pub label_selector: String,
    /// Series label selector (custom).
    #[serde(default)]
    pub metric_label_selector: String,
    /// Only `metadata.name=` (and `metadata.namespace=`) are understood.
    #[serde(default)]
    pub field_selector: String,
}

impl Params {
    fn selector(&self) -> Result<Selector, ApiError> {
        Selector::parse(&self.label_selector).map_err(|e| ApiError::BadRequest(e.to_string()))
    }

    fn metric_selector(&self) -> Result<Selector, ApiError> {
        Selector::parse(&self.metric_label_selector)
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    }

    /// `metadata.name=X` from the field selector, if given.
    fn field_name(&self) -> Result<Option<String>, ApiError> {
        let mut name = None;
        for term in self.field_selector.split(',').filter(|t| !t.is_empty()) {
            let (key, value) = term
                .split_once("==")
                .or_else(|| term.split_once('='))
                .ok_or_else(|| ApiError::BadRequest(format!("invalid field selector: {term}")))?;
            match key.trim() {
                "metadata.name" => name = Some(value.trim().to_string()),
                "metadata.namespace" => {}
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "field label not supported: {other}"
                    )));
                }
            }
        }
        Ok(name)
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
}
