//! Command-line surface. Serving (upstream's flags) arrives with the serving issue; today the binary
//! offers the rules language's offline tools.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A drop-in Rust replacement for kubernetes-sigs/prometheus-adapter.
#[derive(Debug, Parser)]
#[command(name = "prometheus-adapter", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a rules file: exit 0 with a summary, or 1 with every error (file, rule, field).
    CheckConfig(CheckConfig),
    /// Show what a rules file discovers from a `/api/v1/series` answer, or the PromQL a request would run.
    Explain(Explain),
}

/// `check-config` arguments.
#[derive(Debug, Args)]
pub struct CheckConfig {
    /// The rules file (upstream's `--config`).
    #[arg(long)]
    pub config: PathBuf,
    /// A YAML list of resources (see config/resources/standard.yaml); default: the standard ones.
    #[arg(long)]
    pub resource_map: Option<PathBuf>,
}

/// `explain` arguments.
#[derive(Debug, Args)]
pub struct Explain {
    /// The rules file.
    #[arg(long)]
    pub config: PathBuf,
    /// A Prometheus `/api/v1/series` answer (`curl '…/api/v1/series?match[]=…' > s.json`).
    #[arg(long)]
    pub series: Option<PathBuf>,
    /// A YAML list of resources; default: the standard ones.
    #[arg(long)]
    pub resource_map: Option<PathBuf>,
    /// Print the PromQL for a custom metric: `<resource[.group]>/<metric>`, e.g. `pods/http_requests`.
    #[arg(long, value_name = "RESOURCE/METRIC", conflicts_with_all = ["external", "resource_metric"])]
    pub custom: Option<String>,
    /// Print the PromQL for an external metric.
    #[arg(long, value_name = "METRIC", conflicts_with = "resource_metric")]
    pub external: Option<String>,
    /// Print the PromQL for resource metrics of pods (in `--namespace`) or `--nodes`.
    #[arg(long, value_enum)]
    pub resource_metric: Option<ResourceMetric>,
    /// With `--resource-metric`: query nodes instead of pods.
    #[arg(long, requires = "resource_metric")]
    pub nodes: bool,
    /// The request namespace (custom: omit for cluster-scoped objects).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Object names, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub names: Vec<String>,
    /// `metricLabelSelector` (custom) or `labelSelector` (external).
    #[arg(long, default_value = "")]
    pub metric_selector: String,
    /// Largest query in bytes before names are split into several queries.
    #[arg(long, default_value_t = adapter_config::query::DEFAULT_BUDGET)]
    pub query_budget: usize,
}

/// `cpu` or `memory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResourceMetric {
    /// CPU usage.
    Cpu,
    /// Memory working set.
    Memory,
}
