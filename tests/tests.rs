//! End-to-end tests of the binary, one module per user-visible feature.
#![allow(
    clippy::disallowed_methods,
    reason = "end-to-end tests drive real processes in real time"
)]

mod abuse;
mod auth;
mod backend_auth;
mod backend_clouds;
mod backends;
mod config_compat;
mod confine;
mod custom_metrics;
mod debug_explain;
mod deploy;
mod discovery;
mod external_metrics;
mod helm;
mod http2;
mod in_process;
mod injection;
mod kubernetes;
mod logging;
mod missing_value;
mod object_caches_bench;
mod observability;
mod outage;
mod prometheus_auth;
mod protobuf;
mod regression;
mod relist_modes;
mod reload;
mod resource_metrics;
mod router;
mod support;
mod tls;
mod value_cache;
