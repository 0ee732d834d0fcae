//! End-to-end tests of the binary, one module per user-visible feature.

mod config_compat;
mod support;
