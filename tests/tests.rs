//! End-to-end tests of the binary, one module per user-visible feature.

mod config_compat;
mod custom_metrics;
mod discovery;
mod env;
mod external_metrics;
mod outage;
mod resource_metrics;
mod support;
