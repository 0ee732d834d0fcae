//! Discovery from label values: the same [`SeriesSet`] the `/api/v1/series` answer gives naming, built
//! from the backend's label endpoints instead of from every series.
//!
//! Naming reads, per metric name, only which labels its series carry, and of those only the ones that
//! map to a resource. So instead of every series of a `seriesQuery` (a million series are ~129 MB of
//! JSON Prometheus spends seconds of CPU on), a relist in [`RelistMode::Labels`] asks:
//!
//! 1. `/api/v1/labels?match[]=Q` — which label names occur (a few dozen);
//! 2. `/api/v1/label/__name__/values?match[]=Q` — which metric names (external rules need no more);
//! 3. for each label `L` some custom rule of `Q` maps to a resource:
//!    `/api/v1/label/__name__/values?match[]=Q{L!=""}` — which metric names carry `L`.
//!
//! [`series_from_label_answers`] turns those answers into one entry per metric name whose label set is
//! the resource labels it carries, so [`crate::discovery::name_rule`] advertises exactly the (metric,
//! resource, scope) entries the series would have given: a name maps to a resource when *some* series of
//! it carries the label, and that is what question 3 asks. Counts in the rule report are then names,
//! not series.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::query_answer::Envelope;
use crate::resource_map::ResourceMap;
use crate::rules::DiscoveryRule;
use crate::series_answer::{AnswerError, SeriesSet};
use crate::series_selector::MatchOp;

/// How a relist learns which metrics a `seriesQuery` has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RelistMode {
    /// Labels where the backend answers label questions with `match[]`, series otherwise.
    #[default]
    Auto,
    /// Every series (`/api/v1/series`), as upstream.
    Series,
    /// Label names and metric names (`/api/v1/labels`, `/api/v1/label/__name__/values`).
    Labels,
}

impl RelistMode {
    /// The flag's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RelistMode::Auto => "auto",
            RelistMode::Series => "series",
            RelistMode::Labels => "labels",
        }
    }
}

impl fmt::Display for RelistMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RelistMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(RelistMode::Auto),
            "series" => Ok(RelistMode::Series),
            "labels" => Ok(RelistMode::Labels),
            other => Err(format!("{other:?}: use auto, series or labels")),
        }
    }
}

/// One label question to a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LabelQuestion {
    /// `/api/v1/labels`: label names that occur on the matched series.
    LabelNames,
    /// `/api/v1/label/__name__/values`: metric names of the matched series.
    MetricNames,
}

impl LabelQuestion {
    /// The path under `/api/v1/`.
    pub fn endpoint(self) -> &'static str {
        match self {
            LabelQuestion::LabelNames => "labels",
            LabelQuestion::MetricNames => "label/__name__/values",
        }
    }
}

/// A selector no series matches, asked for metric names before a backend is trusted with
/// [`RelistMode::Labels`] in [`RelistMode::Auto`]: a backend that honours `match[]` answers nothing; one
/// that ignores it (Prometheus before 2.24 did, silently) answers every name it has.
pub const PROBE_SELECTOR: &str = r#"{__name__="prometheus_adapter_relist_probe_matches_nothing"}"#;

/// `selector` with `label!=""` added, so only series carrying `label` match (an empty value is an
/// absent label in Prometheus). The text the user wrote is kept as written; only the matcher is added.
pub fn with_label_present(selector: &str, label: &str) -> String {
    let matcher = format!("{}!=\"\"", label_name(label));
    let trimmed = selector.trim_end();
    match (trimmed.find('{'), trimmed.strip_suffix('}')) {
        (Some(open), Some(before_close)) => {
            let inside = before_close[open + 1..].trim_end();
            let comma = if inside.trim_start().is_empty() || inside.ends_with(',') {
                ""
            } else {
                ","
            };
            format!("{}{comma}{matcher}}}", before_close.trim_end())
        }
        _ => format!("{trimmed}{{{matcher}}}"),
    }
}

/// A label name as a selector writes it: bare when it is a classic identifier, quoted otherwise
/// (Prometheus 3 accepts UTF-8 label names in quotes).
fn label_name(label: &str) -> String {
    let mut chars = label.chars();
    let classic = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if classic {
        label.to_string()
    } else {
        crate::promql::quote(label)
    }
}

/// Whether `rule`'s own selector already requires `label` to be present (`label!=""`), so the metric
/// names carrying it are the query's metric names and need not be asked again.
pub fn requires_label(rule: &DiscoveryRule, label: &str) -> bool {
    rule.series_selector
        .matchers
        .iter()
        .any(|m| m.label == label && m.op == MatchOp::NotEqual && m.value.is_empty())
}

/// The label names (of those the backend reported for a `seriesQuery`) that some custom rule sharing
/// it maps to a resource: the labels whose metric names discovery needs. Sorted, without duplicates.
pub fn resource_labels<'a>(
    label_names: &'a [String],
    rules: &[&DiscoveryRule],
    map: &ResourceMap,
) -> Vec<&'a str> {
    let wanted: BTreeSet<&str> = label_names
        .iter()
        .map(String::as_str)
        .filter(|label| *label != "__name__")
        .filter(|label| {
            rules.iter().any(|rule| {
                rule.kind == crate::RuleKind::Custom
                    && rule.resources.resource_for(label, map).is_some()
            })
        })
        .collect();
    wanted.into_iter().collect()
}

/// The discovery input the label answers stand for: each metric name once, with the resource labels
/// that some of its series carry. `carriers` holds, per label, the metric names carrying it.
pub fn series_from_label_answers(names: &[String], carriers: &[(&str, &[String])]) -> SeriesSet {
    let mut by_name: BTreeMap<&str, Vec<&str>> =
        names.iter().map(|n| (n.as_str(), Vec::new())).collect();
    for (label, carrying) in carriers {
        for name in carrying.iter() {
            // A name carrying a label is a name of the query; a backend answering otherwise (a series
            // appearing between the two questions) still has it discovered, as a later relist would.
            by_name.entry(name.as_str()).or_default().push(label);
        }
    }
    let mut set = SeriesSet::new();
    for (name, labels) in by_name {
        set.insert(name, labels);
    }
    set
}

/// Reads a label endpoint's answer: `{"status":"success","data":["a","b"]}` (some Prometheus versions
/// answer `"data": null` for no labels).
pub fn read_string_list(body: &[u8]) -> Result<Vec<String>, AnswerError> {
    let envelope: Envelope<Vec<String>> =
        serde_json::from_slice(body).map_err(|e| AnswerError::Decode(e.to_string()))?;
    Ok(envelope.data()?.unwrap_or_default())
}

#[cfg(test)]
mod tests;
