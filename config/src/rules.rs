//! Compiled rules: the one `compile()` step from [`crate::raw`] to validated rules (regexes compiled,
//! templates parsed and checked, defaults applied). Actors only ever see these types.

use std::time::Duration;

use regex::Regex;

use crate::error::{Collector, ConfigError, ConfigErrors};
use crate::raw;
use crate::resource_labels::{LabelTemplate, Override, ResourceMapping};
use crate::resource_map::{GroupResource, ResourceMap};
use crate::series_selector::SeriesSelector;
use crate::template::Template;
use crate::{duration, naming::NameMatcher};

/// The fields a metrics query template may read.
pub const QUERY_TEMPLATE_FIELDS: [&str; 5] = [
    "Series",
    "LabelMatchers",
    "LabelValuesByName",
    "GroupBy",
    "GroupBySlice",
];

/// Which API a discovery rule serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleKind {
    /// `rules` → `custom.metrics.k8s.io`.
    Custom,
    /// `externalRules` → `external.metrics.k8s.io`.
    External,
}

/// A validated rules file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, for messages.
    pub file: String,
    /// Custom metrics rules, in file order.
    pub rules: Vec<DiscoveryRule>,
    /// External metrics rules, in file order.
    pub external_rules: Vec<DiscoveryRule>,
    /// Resource metrics rules; present when the file has the key (and they are not disabled).
    pub resource_rules: Option<ResourceRules>,
    /// What upstream starts with but fails on later, each naming file, rule and field.
    pub warnings: Vec<ConfigError>,
    /// Rules left out because of a warning (`rules[1]`, `externalRules[0]`, `resourceRules`), in file
    /// order; every other rule is served.
    pub disabled: Vec<String>,
    /// `backends:` (ours), by name.
    pub backends: std::collections::BTreeMap<String, crate::Backend>,
}

impl Config {
    /// The enabled rule at file index `index` of its list.
    pub fn rule(&self, kind: RuleKind, index: usize) -> Option<&DiscoveryRule> {
        let rules = match kind {
            RuleKind::Custom => &self.rules,
            RuleKind::External => &self.external_rules,
        };
        rules
            .binary_search_by_key(&index, |r| r.index)
            .ok()
            .map(|i| &rules[i])
    }

    /// The warnings about `location` (`rules[1]`): why it is disabled.
    pub fn warnings_for<'a>(&'a self, location: &'a str) -> impl Iterator<Item = &'a ConfigError> {
        self.warnings.iter().filter(move |w| {
            w.location == location
                || w.location
                    .strip_prefix(location)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    }
}

/// A compiled `rules[i]` or `externalRules[i]`.
#[derive(Debug, Clone)]
pub struct DiscoveryRule {
    /// Which list it is in.
    pub kind: RuleKind,
    /// Its index in that list.
    pub index: usize,
    /// `seriesQuery`, verbatim: sent as `match[]` and shared by rules with the same text.
    pub series_query: String,
    /// `seriesQuery`, parsed.
    pub series_selector: SeriesSelector,
    /// `seriesFilters` plus the implicit `name.matches` filter.
    pub name: NameMatcher,
    /// `resources`.
    pub resources: ResourceMapping,
    /// `resources.namespaced` (external rules: whether the request namespace becomes a matcher).
    pub namespaced: bool,
    /// `metricsQuery`.
    pub metrics_query: Template,
    /// `backend:` (ours): the `backends:` entry it reads; `None` for `--prometheus-url`.
    pub backend: Option<String>,
    /// `missingValue:` (ours): answered when Prometheus has no sample — for an external metric's whole
    /// answer, for one named object's custom metric — instead of an empty list or a 404.
    pub missing_value: Option<f64>,
}

impl RuleKind {
    /// Where rule `index` of this kind is in the file: `rules[3]` or `externalRules[0]`.
    pub fn location(self, index: usize) -> String {
        let list = match self {
            RuleKind::Custom => "rules",
            RuleKind::External => "externalRules",
        };
        format!("{list}[{index}]")
    }
}

impl DiscoveryRule {
    /// `rules[3]` or `externalRules[0]`.
    pub fn location(&self) -> String {
        self.kind.location(self.index)
    }
}

/// Compiled `resourceRules`.
#[derive(Debug, Clone)]
pub struct ResourceRules {
    /// CPU.
    pub cpu: ResourceRule,
    /// Memory.
    pub memory: ResourceRule,
    /// Reported window.
    pub window: Duration,
    /// `backend:` (ours): the `backends:` entry both read; `None` for `--prometheus-url`.
    pub backend: Option<String>,
}

/// Compiled `resourceRules.cpu` / `.memory`.
#[derive(Debug, Clone)]
pub struct ResourceRule {
    /// For pods' containers.
    pub container_query: Template,
    /// For nodes.
    pub node_query: Template,
    /// Label ↔ resource.
    pub resources: ResourceMapping,
    /// The label holding the container name.
    pub container_label: String,
}

/// Parses and compiles a rules file's text; `file` names it in errors. Every problem is reported: the
/// file's shape is checked first (every unknown key and wrong type, by path), then each rule.
pub fn load(file: &str, text: &str) -> Result<Config, ConfigErrors> {
    let yaml_error = |e: serde_saphyr::Error| {
        ConfigErrors(vec![ConfigError {
            file: file.to_string(),
            location: "yaml".into(),
            message: e.to_string(),
            severity: Default::default(),
        }])
    };
    if !text.trim().is_empty() {
        let value: serde_json::Value = serde_saphyr::from_str(text).map_err(yaml_error)?;
        let found = crate::shape::check(&value);
        if !found.is_empty() {
            return Err(ConfigErrors(
                found
                    .into_iter()
                    .map(|(location, message)| ConfigError {
                        file: file.to_string(),
                        location,
                        message,
                        severity: Default::default(),
                    })
                    .collect(),
            ));
        }
    }
    let raw = raw::parse(text).map_err(yaml_error)?;
    compile(file, &raw)
}

/// Compiles a parsed rules file.
pub fn compile(file: &str, raw: &raw::MetricsDiscoveryConfig) -> Result<Config, ConfigErrors> {
    let mut errors = Collector::new(file);
    let mut disabled = Vec::new();
    let backends = crate::backend_routes::compile(&mut errors, &raw.backends);
    let rules = compile_rules(&mut errors, &mut disabled, RuleKind::Custom, raw);
    let external_rules = compile_rules(&mut errors, &mut disabled, RuleKind::External, raw);
    let resource_rules = raw.resource_rules.as_ref().and_then(|r| {
        let before = errors.warnings();
        let compiled = compile_resource_rules(&mut errors, r, &raw.backends);
        if errors.warnings() > before {
            disabled.push("resourceRules".to_string());
            return None;
        }
        compiled
    });
    errors.finish(|warnings| Config {
        file: file.to_string(),
        rules,
        external_rules,
        resource_rules,
        warnings,
        disabled,
        backends,
    })
}

/// The rules that compile without a warning; the others are named in `disabled`.
fn compile_rules(
    errors: &mut Collector<'_>,
    disabled: &mut Vec<String>,
    kind: RuleKind,
    file: &raw::MetricsDiscoveryConfig,
) -> Vec<DiscoveryRule> {
    let raw = match kind {
        RuleKind::Custom => &file.rules,
        RuleKind::External => &file.external_rules,
    };
    let mut rules = Vec::new();
    for (index, rule) in raw.iter().enumerate() {
        let before = errors.warnings();
        let compiled = compile_rule(errors, kind, index, rule, &file.backends);
        if errors.warnings() > before {
            disabled.push(kind.location(index));
        } else {
            rules.extend(compiled);
        }
    }
    rules
}

fn compile_rule(
    errors: &mut Collector<'_>,
    kind: RuleKind,
    index: usize,
    raw: &raw::DiscoveryRule,
    backends: &std::collections::BTreeMap<String, raw::Backend>,
) -> Option<DiscoveryRule> {
    let at = |field: &str| format!("{}.{field}", kind.location(index));
    let backend =
        crate::backend_routes::check_reference(errors, &at("backend"), &raw.backend, backends);
    let series_selector = if raw.series_query.trim().is_empty() {
        errors.warn(
            at("seriesQuery"),
            "must not be empty (Prometheus rejects an empty match[]); the rule is disabled",
        );
        None
    } else {
        errors.check(&at("seriesQuery"), SeriesSelector::parse(&raw.series_query))
    };
    let mut filters = Vec::new();
    for (i, filter) in raw.series_filters.iter().enumerate() {
        let here = at(&format!("seriesFilters[{i}]"));
        match (filter.is.is_empty(), filter.is_not.is_empty()) {
            (false, true) => filters.extend(
                errors
                    .check(&here, compile_regex(&filter.is))
                    .map(|r| (r, true)),
            ),
            (true, false) => filters.extend(
                errors
                    .check(&here, compile_regex(&filter.is_not))
                    .map(|r| (r, false)),
            ),
            (false, false) => errors.push(here, "must have exactly one of is and isNot, not both"),
            (true, true) => errors.push(here, "must have exactly one of is and isNot"),
        }
    }
    let name = compile_name(errors, &at("name"), &raw.name, filters);
    let resources = compile_mapping(errors, &at("resources"), &raw.resources);
    let metrics_query = compile_query(errors, &at("metricsQuery"), &raw.metrics_query);
    let missing_value = match raw.missing_value.trim() {
        "" => Some(None),
        text => errors
            .check(&at("missingValue"), crate::quantity::parse(text))
            .map(Some),
    };
    Some(DiscoveryRule {
        kind,
        index,
        series_query: raw.series_query.clone(),
        series_selector: series_selector?,
        name: name?,
        resources: resources?,
        namespaced: raw.resources.namespaced.unwrap_or(true),
        metrics_query: metrics_query?,
        backend: backend?,
        missing_value: missing_value?,
    })
}

fn compile_regex(source: &str) -> Result<Regex, String> {
    Regex::new(source).map_err(|e| crate::error::regex_error(source, &e))
}

fn compile_name(
    errors: &mut Collector<'_>,
    at: &str,
    raw: &raw::NameMapping,
    filters: Vec<(Regex, bool)>,
) -> Option<NameMatcher> {
    let matches = if raw.matches.is_empty() {
        ".*"
    } else {
        raw.matches.as_str()
    };
    let regex = errors.check(&format!("{at}.matches"), compile_regex(matches))?;
    let as_ = if raw.as_.is_empty() {
        match regex.captures_len() - 1 {
            0 => "$0".to_string(),
            1 => "$1".to_string(),
            n => {
                errors.push(
                    format!("{at}.as"),
                    format!("must specify an 'as' value for name matcher {matches:?}: it has {n} capture groups"),
                );
                return None;
            }
        }
    } else {
        raw.as_.clone()
    };
    Some(NameMatcher::new(filters, regex, as_))
}

fn compile_mapping(
    errors: &mut Collector<'_>,
    at: &str,
    raw: &raw::ResourceMapping,
) -> Option<ResourceMapping> {
    let mut ok = true;
    let mut overrides = Vec::new();
    for (label, target) in &raw.overrides {
        if target.resource.is_empty() {
            errors.push(
                format!("{at}.overrides.{label}.resource"),
                "must not be empty",
            );
            ok = false;
        }
        overrides.push(Override {
            label: label.clone(),
            group: target.group.clone(),
            resource: target.resource.clone(),
        });
    }
    let template = if raw.template.is_empty() {
        None
    } else {
        let compiled = errors.check(
            &format!("{at}.template"),
            LabelTemplate::compile(&raw.template),
        );
        ok &= compiled.is_some();
        compiled
    };
    ok.then_some(ResourceMapping {
        overrides,
        template,
    })
}

/// A query template. Empty, or reading a field that does not exist, is a warning (upstream starts and
/// fails every request); a template that does not parse is an error (upstream refuses to start).
fn compile_query(errors: &mut Collector<'_>, at: &str, source: &str) -> Option<Template> {
    if source.trim().is_empty() {
        errors.warn(
            at,
            "must not be empty (every request would fail with an empty query); the rule is disabled",
        );
        return None;
    }
    match Template::compile(source, &QUERY_TEMPLATE_FIELDS) {
        Ok(template) => Some(template),
        Err(error @ crate::template::Error::UnknownField { .. }) => {
            errors.warn(
                at,
                format!("{error} (every request would fail); the rule is disabled"),
            );
            None
        }
        Err(error) => {
            errors.push(at, error.to_string());
            None
        }
    }
}

fn compile_resource_rules(
    errors: &mut Collector<'_>,
    raw: &raw::ResourceRules,
    backends: &std::collections::BTreeMap<String, raw::Backend>,
) -> Option<ResourceRules> {
    let backend = crate::backend_routes::check_reference(
        errors,
        "resourceRules.backend",
        &raw.backend,
        backends,
    );
    let cpu = compile_resource_rule(errors, "resourceRules.cpu", &raw.cpu);
    let memory = compile_resource_rule(errors, "resourceRules.memory", &raw.memory);
    let window = if raw.window.is_empty() {
        Some(Duration::ZERO)
    } else {
        errors.check(
            "resourceRules.window",
            duration::parse_prometheus(&raw.window),
        )
    };
    Some(ResourceRules {
        cpu: cpu?,
        memory: memory?,
        window: window?,
        backend: backend?,
    })
}

fn compile_resource_rule(
    errors: &mut Collector<'_>,
    at: &str,
    raw: &raw::ResourceRule,
) -> Option<ResourceRule> {
    let container_query = compile_query(
        errors,
        &format!("{at}.containerQuery"),
        &raw.container_query,
    );
    let node_query = compile_query(errors, &format!("{at}.nodeQuery"), &raw.node_query);
    let resources = compile_mapping(errors, &format!("{at}.resources"), &raw.resources);
    if raw.container_label.is_empty() {
        errors.warn(
            format!("{at}.containerLabel"),
            "must name the label that holds container names; resource rules are disabled",
        );
    }
    Some(ResourceRule {
        container_query: container_query?,
        node_query: node_query?,
        resources: resources?,
        container_label: (!raw.container_label.is_empty()).then(|| raw.container_label.clone())?,
    })
}

impl Config {
    /// Checks the parts that depend on which resources exist: every override must name a known
    /// resource (upstream: fatal at start-up), and resource rules must have labels for namespaces, pods
    /// and nodes (upstream: an error on every request).
    /// These are warnings: upstream refuses to start on an unknown override, but a cluster's resources
    /// are only known once discovery ran (and refresh), so ours serves the rest.
    pub fn check_resources(&self, map: &ResourceMap) -> Vec<ConfigError> {
        let mut errors = Collector::new(&self.file);
        for rule in self.rules.iter().chain(&self.external_rules) {
            check_overrides(
                &mut errors,
                &format!("{}.resources", rule.location()),
                &rule.resources,
                map,
            );
        }
        if let Some(rr) = &self.resource_rules {
            for (name, rule) in [("cpu", &rr.cpu), ("memory", &rr.memory)] {
                let at = format!("resourceRules.{name}.resources");
                check_overrides(&mut errors, &at, &rule.resources, map);
                for resource in ["namespaces", "pods", "nodes"] {
                    let gr = GroupResource::new("", resource);
                    errors.check(&at, rule.resources.label_for(&gr, map));
                }
            }
        }
        let found = errors.finish(|_| ()).err().map(|e| e.0).unwrap_or_default();
        found
            .into_iter()
            .map(|mut finding| {
                finding.severity = crate::error::Severity::Warning;
                finding
            })
            .collect()
    }
}

fn check_overrides(
    errors: &mut Collector<'_>,
    at: &str,
    mapping: &ResourceMapping,
    map: &ResourceMap,
) {
    for o in &mapping.overrides {
        errors.check(
            &format!("{at}.overrides.{}", o.label),
            map.resolve(&o.group, &o.resource),
        );
    }
}

#[cfg(test)]
pub(crate) mod tests;
