//! The Prometheus-compatible backends the adapter queries: the HTTP client and how it authenticates.

pub mod prometheus;
pub mod prometheus_auth;
