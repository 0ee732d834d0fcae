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
    /// Validate a rules file: exit 0 with its warnings and a summary, or 1 with every error (file, rule,
    /// field); `--strict` fails on warnings too.
    CheckConfig(CheckConfig),
    /// Show what a rules file discovers from a `/api/v1/series` answer, or the PromQL a request would
    /// run; with `--server`, ask a running adapter. (Boxed: its flags outweigh check-config's.)
    Explain(Box<Explain>),
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
    /// Fail (exit 1) on warnings too: what upstream starts with but fails on later.
    #[arg(long)]
    pub strict: bool,
}

/// `explain` arguments.
#[derive(Debug, Args)]
pub struct Explain {
    /// The rules file (not with --server: the running adapter has its own).
    #[arg(long, required_unless_present = "server", conflicts_with = "server")]
    pub config: Option<PathBuf>,
    /// Ask a running adapter instead (`https://adapter:6443`, e.g. through `kubectl port-forward`):
    /// `GET /debug/explain` with the same question; prints the same text.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// With --server: credentials (client certificate, token, exec plugin) from this kubeconfig's
    /// current context, as kubectl uses them; its server URL is replaced by --server.
    #[arg(long, requires = "server")]
    pub kubeconfig: Option<PathBuf>,
    /// With --server: the CA that signed the adapter's serving certificate.
    #[arg(long, requires = "server")]
    pub certificate_authority: Option<PathBuf>,
    /// With --server: a client certificate (PEM), with --client-key.
    #[arg(long, requires_all = ["server", "client_key"])]
    pub client_certificate: Option<PathBuf>,
    /// With --server: the client certificate's key.
    #[arg(long, requires_all = ["server", "client_certificate"])]
    pub client_key: Option<PathBuf>,
    /// With --server: a bearer token.
    #[arg(long, requires = "server")]
    pub token: Option<String>,
    /// With --server: do not verify the adapter's serving certificate.
    #[arg(long, requires = "server")]
    pub insecure_skip_tls_verify: bool,
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
