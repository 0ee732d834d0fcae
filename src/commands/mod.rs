//! The offline commands: read files, hand them to the pure core, print what it says.

pub mod cli;
pub mod explain_client;

use std::path::Path;

use adapter_config::explain::{discover_offline, discovery_report, one_line, summary};
use adapter_config::query::{self, CustomRequest, ResourceTarget};
use adapter_config::series_answer::{LabeledSeries, read_answer_labeled};
use adapter_config::{
    Config, ConfigError, GroupResource, Registry, ResourceMap, RuleKind, Selector, rules,
};
use anyhow::{Context, Result, anyhow, bail};

use crate::commands::cli::{CheckConfig, Explain, ResourceMetric};

/// Loads a rules file and checks it against a resource map: the config with every warning (its own
/// and the resource map's), or every error (and warning) as one error.
fn load_config(path: &Path, map: &ResourceMap) -> Result<(Config, Vec<ConfigError>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("unable to read {}", path.display()))?;
    let config = rules::load(&path.display().to_string(), &text).map_err(|e| anyhow!("{e}"))?;
    let mut warnings = config.warnings.clone();
    warnings.extend(config.check_resources(map));
    Ok((config, warnings))
}

fn lines(findings: &[ConfigError]) -> String {
    findings.iter().map(|f| format!("{f}\n")).collect()
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

/// `check-config`: the warnings, one a line, then the summary; with `--strict`, warnings fail too.
pub fn check_config(args: &CheckConfig) -> Result<String> {
    let map = load_map(args.resource_map.as_deref())?;
    let (config, warnings) = load_config(&args.config, &map)?;
    if args.strict && !warnings.is_empty() {
        bail!("{}", lines(&warnings).trim_end());
    }
    Ok(lines(&warnings) + &summary(&config))
}

/// `explain`.
pub fn explain(args: &Explain) -> Result<String> {
    let (Some(path), None) = (&args.config, &args.server) else {
        return crate::commands::explain_client::ask(args);
    };
    let map = load_map(args.resource_map.as_deref())?;
    let (config, warnings) = load_config(path, &map)?;
    eprint!("{}", lines(&warnings));
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
    let backend: Option<&str>;
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
        let rule = config
            .rule(RuleKind::Custom, source.rule)
            .ok_or_else(|| anyhow!("rules[{}] is disabled", source.rule))?;
        backend = rule.backend.as_deref();
        query::custom(rule, &map, req, budget)?
    } else if let Some(metric) = &args.external {
        let registry = Registry::assemble(outcomes.iter().map(|(_, o)| o));
        let source = registry
            .external
            .get(metric)
            .ok_or_else(|| anyhow!("the server could not find the external metric {metric}"))?;
        let namespace = args.namespace.as_deref().unwrap_or("default");
        let rule = config
            .rule(RuleKind::External, source.rule)
            .ok_or_else(|| anyhow!("externalRules[{}] is disabled", source.rule))?;
        backend = rule.backend.as_deref();
        vec![query::external(
            rule,
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
        backend = rr.backend.as_deref();
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
    // Which backend the queries go to, and with which tenant, when it is not --prometheus-url.
    let route = config.route(backend, args.namespace.as_deref())?;
    let header = match route.backend {
        Some(_) => format!("# backend {route}\n"),
        None => String::new(),
    };
    Ok(header
        + &queries
            .iter()
            .map(|q| one_line(q) + "\n")
            .collect::<String>())
}
