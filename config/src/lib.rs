//! The prometheus-adapter rules language, as a pure library: no I/O, no actors, no async.
//!
//! It turns an upstream prometheus-adapter rules file plus a set of Prometheus series into discovered
//! metrics ([`discovery`]), and a metrics request into PromQL ([`query`]). Everything the adapter serves
//! is decided here; the actors only move data.
//!
//! ```text
//! rules file ─raw::parse─▶ raw ─rules::compile─▶ rules::Config
//! /api/v1/series ─series_answer::read_answer─▶ SeriesSet ─discovery::name_rule─▶ RuleOutcome ─▶ Registry
//! request + Registry + ResourceMap ─query::custom / external / resource─▶ PromQL
//! ```
//!
//! # Syntax
//!
//! The rules file is upstream's YAML, read strictly (an unknown or duplicate key is an error): `rules`,
//! `externalRules` (each a list of `seriesQuery`, `seriesFilters`, `resources`, `name`, `metricsQuery`)
//! and `resourceRules` (`cpu` and `memory`, each `containerQuery`, `nodeQuery`, `resources`,
//! `containerLabel`; and `window`).
//!
//! Templates are Go `text/template` with `<<` and `>>` as delimiters. Supported: field access
//! (`<<.Series>>`, `<<$.GroupBy>>`), pipelines (`<<.Series | printf "%s">>`), variables (`<<$x := .GroupBy>>`),
//! `if`/`else if`/`else`, `range` (with `else`), `with`, comments (`<</* … */>>`), trim markers (`<<-`, `->>`),
//! and the functions `index`, `len`, `slice`, `printf` (`%s %d %v %q` …), `print`, `println`, `eq ne lt le
//! gt ge`, `and or not`, `urlquery`, `html`, `js`, `call`. Values print as Go prints them: a slice as
//! `[pod container]`, a map as `map[namespace:prod pod:a|b]` with keys sorted.
//!
//! Query templates (`metricsQuery`, `containerQuery`, `nodeQuery`) read `.Series`, `.LabelMatchers`,
//! `.LabelValuesByName`, `.GroupBy` and `.GroupBySlice`; label templates (`resources.template`) read
//! `.Group` and `.Resource`, and must read `.Resource`.
//!
//! Known differences from Go, all on the side of failing early:
//! - a template that reads a field its kind of template does not have is rejected when the file loads,
//!   even in a branch that would not run (Go fails at execution);
//! - unbalanced blocks are rejected when the file loads;
//! - `index` on a missing map key gives `""`, as Go does for a `map[string]string`.
//!
//! ```
//! let config = adapter_config::rules::load("example.yaml", r#"
//! rules:
//! - seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
//!   resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
//!   name: {matches: "^(.*)_total$", as: "${1}_per_second"}
//!   metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
//! "#).unwrap();
//! let map = adapter_config::ResourceMap::standard();
//! let selector = adapter_config::Selector::parse("method=GET").unwrap();
//! let queries = adapter_config::query::custom(
//!     &config.rules[0],
//!     &map,
//!     adapter_config::query::CustomRequest {
//!         series: "http_requests_total",
//!         resource: &adapter_config::GroupResource::new("", "pods"),
//!         namespace: Some("prod"),
//!         names: &["web-1", "web-2"],
//!         metric_selector: &selector,
//!     },
//!     adapter_config::query::DEFAULT_BUDGET,
//! ).unwrap();
//! assert_eq!(
//!     queries,
//!     [r#"sum(rate(http_requests_total{method="GET",namespace="prod",pod=~"web-1|web-2"}[2m])) by (pod)"#]
//! );
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend_credentials;
pub mod backend_routes;
pub mod confine;
pub mod discovery;
pub mod duration;
pub mod error;
pub mod explain;
pub mod label_discovery;
pub mod label_selector;
pub mod naming;
pub mod promql;
pub mod quantity;
pub mod query;
pub mod query_answer;
pub mod raw;
pub mod resource_labels;
pub mod resource_map;
pub mod rules;
pub mod series_answer;
pub mod series_selector;
pub mod shape;
pub mod template;

pub use backend_routes::{Backend, Route, RouteError};
pub use discovery::{CustomMetric, MetricSource, Registry, RuleOutcome};
pub use error::{ConfigError, ConfigErrors, Severity};
pub use label_selector::Selector;
pub use resource_map::{GroupResource, ResourceInfo, ResourceMap};
pub use rules::{Config, DiscoveryRule, RuleKind};
pub use series_answer::SeriesSet;
