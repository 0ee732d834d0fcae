//! Discovery: a rule's series → the metrics it advertises, and the rules' results → one registry.
//!
//! Deliberate differences from upstream: scope comes from the resource map (a cluster-scoped CRD is
//! cluster-scoped; upstream hard-codes namespaces, nodes and persistentvolumes); output is sorted; a name
//! claimed twice is reported as a [`Collision`] (the later rule still wins, as upstream); and each rule is
//! named on its own, so one failing `seriesQuery` does not discard the others.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::naming::Dropped;
use crate::resource_map::{GroupResource, ResourceInfo, ResourceMap};
use crate::rules::{DiscoveryRule, RuleKind};
use crate::series_answer::{LabelSetId, Name, SeriesSet};

/// A custom metric as advertised: resource, scope, name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomMetric {
    /// The resource the metric describes.
    pub resource: GroupResource,
    /// Whether it is served under `namespaces/{ns}/`.
    pub namespaced: bool,
    /// API metric name.
    pub metric: String,
}

/// Where a discovered metric comes from: the rule and the series name `<<.Series>>` renders.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricSource {
    /// Which rule list.
    pub kind: RuleKind,
    /// Index in that list.
    pub rule: usize,
    /// Series name.
    pub series: Name,
}

/// What one rule made of its series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleOutcome {
    /// Custom metrics (empty for external rules). Shared with the [`Registry`] assembled from them, so
    /// the relister's per-rule outcomes and the published registry hold each metric once.
    pub custom: BTreeMap<Arc<CustomMetric>, MetricSource>,
    /// External metric names (empty for custom rules).
    pub external: BTreeMap<String, MetricSource>,
    /// Counts, for reports and self-metrics.
    pub report: RuleReport,
    /// Names claimed by two different series of this rule.
    pub collisions: Vec<Collision>,
}

/// Per-rule counts of what happened to its series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleReport {
    /// Series the rule's query returned.
    pub series: u64,
    /// Series that produced at least one metric.
    pub named: u64,
    /// Series dropped, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
    /// Metrics advertised.
    pub metrics: usize,
}

/// Why a series produced no metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Naming rejected it.
    Name(Dropped),
    /// No label of a custom rule's series maps to a known resource.
    NoResource,
}

impl DropReason {
    /// A short phrase for reports.
    pub fn describe(self) -> &'static str {
        match self {
            DropReason::Name(d) => d.describe(),
            DropReason::NoResource => "no label maps to a known resource",
        }
    }
}

/// Two sources claimed the same metric; the later one is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// The metric as displayed (`pods/http_requests` or an external name).
    pub metric: String,
    /// The source that lost.
    pub lost: MetricSource,
    /// The source that is served.
    pub kept: MetricSource,
}

/// Names a rule's series. `series` is what the rule's `seriesQuery` returned.
pub fn name_rule(rule: &DiscoveryRule, series: &SeriesSet, map: &ResourceMap) -> RuleOutcome {
    let mut outcome = RuleOutcome::default();
    let mut names: HashMap<&Name, Result<String, Dropped>> = HashMap::new();
    let mut resources: HashMap<LabelSetId, Vec<&ResourceInfo>> = HashMap::new();
    for entry in series.entries() {
        outcome.report.series += entry.count;
        let metric = match names
            .entry(entry.name)
            .or_insert_with(|| rule.name.metric_name(entry.name))
        {
            Ok(metric) => metric,
            Err(dropped) => {
                *outcome
                    .report
                    .dropped
                    .entry(DropReason::Name(*dropped))
                    .or_default() += entry.count;
                continue;
            }
        };
        let source = MetricSource {
            kind: rule.kind,
            rule: rule.index,
            series: entry.name.clone(),
        };
        if rule.kind == RuleKind::External {
            outcome.report.named += entry.count;
            claim(
                &mut outcome.external,
                &mut outcome.collisions,
                metric.clone(),
                source,
                |m| m.clone(),
            );
            continue;
        }
        let found = resources.entry(entry.label_set).or_insert_with(|| {
            let mut found: Vec<_> = entry
                .labels
                .iter()
                .filter_map(|label| rule.resources.resource_for(label, map))
                .collect();
            found.sort_by(|a, b| (&a.group, &a.resource).cmp(&(&b.group, &b.resource)));
            found.dedup();
            found
        });
        if found.is_empty() {
            *outcome
                .report
                .dropped
                .entry(DropReason::NoResource)
                .or_default() += entry.count;
            continue;
        }
        outcome.report.named += entry.count;
        for info in found.iter() {
            let key = Arc::new(CustomMetric {
                resource: info.group_resource(),
                namespaced: info.namespaced,
                metric: metric.clone(),
            });
            claim(
                &mut outcome.custom,
                &mut outcome.collisions,
                key,
                source.clone(),
                |m| m.display(),
            );
        }
    }
    outcome.report.metrics = outcome.custom.len() + outcome.external.len();
    outcome
}

/// Inserts `source` under `key`, recording a collision when a different series held it.
fn claim<K: Ord>(
    map: &mut BTreeMap<K, MetricSource>,
    collisions: &mut Vec<Collision>,
    key: K,
    source: MetricSource,
    display: impl Fn(&K) -> String,
) {
    let shown = display(&key);
    if let Some(lost) = map.insert(key, source.clone())
        && lost != source
    {
        collisions.push(Collision {
            metric: shown,
            lost,
            kept: source,
        });
    }
}

impl CustomMetric {
    /// `pods/http_requests` or `deployments.apps/hits`, the discovery entry name.
    pub fn display(&self) -> String {
        format!("{}/{}", self.resource, self.metric)
    }
}

/// Every metric served, assembled from the rules' outcomes in rule order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    /// Custom metrics, sorted (each shared with the outcome it came from).
    pub custom: BTreeMap<Arc<CustomMetric>, MetricSource>,
    /// External metrics, sorted.
    pub external: BTreeMap<String, MetricSource>,
    /// Names claimed more than once, within or across rules.
    pub collisions: Vec<Collision>,
}

impl Registry {
    /// Merges outcomes; a later rule wins a name over an earlier one, as upstream.
    pub fn assemble<'a>(outcomes: impl IntoIterator<Item = &'a RuleOutcome>) -> Self {
        let mut registry = Registry::default();
        for outcome in outcomes {
            registry
                .collisions
                .extend(outcome.collisions.iter().cloned());
            for (key, source) in &outcome.custom {
                claim(
                    &mut registry.custom,
                    &mut registry.collisions,
                    key.clone(),
                    source.clone(),
                    |m| m.display(),
                );
            }
            for (key, source) in &outcome.external {
                claim(
                    &mut registry.external,
                    &mut registry.collisions,
                    key.clone(),
                    source.clone(),
                    String::clone,
                );
            }
        }
        registry
    }

    /// Looks up a custom metric.
    pub fn custom(
        &self,
        resource: &GroupResource,
        namespaced: bool,
        metric: &str,
    ) -> Option<&MetricSource> {
        self.custom.get(&CustomMetric {
            resource: resource.clone(),
            namespaced,
            metric: metric.to_string(),
        })
    }
}

#[cfg(test)]
mod tests;
