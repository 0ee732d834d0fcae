//! The offline commands: read files, hand them to the pure core, print what it says.

use std::path::Path;

use adapter_config::explain::{discover_offline, discovery_report, summary};
use adapter_config::query::{self, CustomRequest, ResourceTarget};
use adapter_config::series::{LabeledSeries, read_answer_labeled};
use adapter_config::{Config, GroupResource, Registry, ResourceMap, Selector, rules};
use anyhow::{Context, Result, anyhow, bail};

use crate::cli::{CheckConfig, Explain, ResourceMetric};

/// Loads and checks a rules file against a resource map, returning every problem as one error.
fn load_config(path: &Path, map: &ResourceMap) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("unable to read {}", path.display()))?;
    let config = rules::load(&path.display().to_string(), &text).map_err(|e| anyhow!("{e}"))?;
    let problems = config.check_resources(map);
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        bail!("{}", lines.join("\n"));
    }
    Ok(config)
}

fn load_map(path: Option<&Path>) -> Result<ResourceMap> {
    let Some(path) = path else {
        return Ok(ResourceMap::standard());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("unable to read {}", path.display()))?;
    ResourceMap::from_yaml(&text)
        .with_context(|| format!("{}: not a resource list", path.display()))
}

fn load_series(path: &Path) -> Result<Vec<LabeledSeries>> {
    let body = std::fs::read(path).with_context(|| format!("unable to read {}", path.display()))?;
    read_answer_labeled(&body)
        .with_context(|| format!("{}: not a /api/v1/series answer", path.display()))
}

/// `check-config`.
pub fn check_config(args: &CheckConfig) -> Result<String> {
    let map = load_map(args.resource_map.as_deref())?;
    Ok(summary(&load_config(&args.config, &map)?))
}

/// `explain`.
pub fn explain(args: &Explain) -> Result<String> {
    let map = load_map(args.resource_map.as_deref())?;
    let config = load_config(&args.config, &map)?;
    let series = match &args.series {
        Some(path) => load_series(path)?,
        None => Vec::new(),
    };
    if args.series.is_none() && args.resource_metric.is_none() {
        bail!("--series is needed to discover metrics (only --resource-metric works without it)");
    }
    let outcomes = discover_offline(&config, &series, &map);
    let selector = Selector::parse(&args.metric_selector).context("--metric-selector")?;
    let names: Vec<&str> = args.names.iter().map(String::as_str).collect();
    let budget = args.query_budget;
    let queries = if let Some(target) = &args.custom {
        let (resource, metric) = target
            .split_once('/')
            .ok_or_else(|| anyhow!("--custom takes RESOURCE/METRIC"))?;
        let requested = GroupResource::parse(resource);
        let info = map.resolve(&requested.group, &requested.resource)?;
        let registry = Registry::assemble(outcomes.iter().map(|(_, o)| o));
        let namespaced = args.namespace.is_some();
        let source = registry
            .custom(&info.group_resource(), namespaced, metric)
            .ok_or_else(|| {
                anyhow!(
                    "the server could not find the metric {metric} for {}",
                    info.group_resource()
                )
            })?;
        let req = CustomRequest {
            series: &source.series,
            resource: &info.group_resource(),
            namespace: args.namespace.as_deref(),
            names: &names,
            metric_selector: &selector,
        };
        query::custom(&config.rules[source.rule], &map, req, budget)?
    } else if let Some(metric) = &args.external {
        let registry = Registry::assemble(outcomes.iter().map(|(_, o)| o));
        let source = registry
            .external
            .get(metric)
            .ok_or_else(|| anyhow!("the server could not find the external metric {metric}"))?;
        let namespace = args.namespace.as_deref().unwrap_or("default");
        vec![query::external(
            &config.external_rules[source.rule],
            &map,
            &source.series,
            Some(namespace),
            &selector,
            budget,
        )?]
    } else if let Some(which) = args.resource_metric {
        let rr = config
            .resource_rules
            .as_ref()
            .ok_or_else(|| anyhow!("the config has no resourceRules"))?;
        let rule = if which == ResourceMetric::Cpu {
            &rr.cpu
        } else {
            &rr.memory
        };
        let target = if args.nodes {
            ResourceTarget::Nodes
        } else {
            ResourceTarget::Pods {
                namespace: args
                    .namespace
                    .as_deref()
                    .ok_or_else(|| anyhow!("pods need --namespace (or use --nodes)"))?,
            }
        };
        query::resource(rule, &map, target, &names, budget)?
    } else {
        return Ok(discovery_report(&config, &outcomes));
    };
    Ok(queries.iter().map(|q| one_line(q) + "\n").collect())
}

/// Folds a multi-line query onto one line: PromQL does not care about whitespace around line breaks, and
/// whitespace inside a line (possibly inside a string) is kept.
fn one_line(query: &str) -> String {
    query
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
