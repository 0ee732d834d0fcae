//! What each fuzz target checks, one module per target: `tools/fuzz` runs them under libFuzzer
//! (`scripts/fuzz.sh`), and `tests/seeds.rs` runs them over every seed as an ordinary test in the suite.
//! Each `check` panics on a finding.

pub mod kubeconfig;
pub mod label_selector;
pub mod promql_quoting;
pub mod quantity;
pub mod query_answer;
pub mod request;
pub mod rules_file;
pub mod series_answer;
pub mod series_selector;
pub mod template;
