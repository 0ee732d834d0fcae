//! Building PromQL for a request: the template arguments in upstream's order (metric-selector matchers
//! sorted by key, then namespace, then resource), rendered, and kept under a byte budget.
//!
//! Object names in a `=~` alternation are regex-escaped (upstream joins them raw, so `.` is a wildcard).
//! When a long name list would make a query larger than the budget and the query groups by the resource
//! label (its template reads `.GroupBy`/`.GroupBySlice`), the names are split into several queries whose
//! results the caller merges; a query that cannot be split is an error naming the sizes.

use std::collections::BTreeMap;

use gotmpl::Value;

use crate::label_selector::Selector;
use crate::promql::{self, MatcherError};
use crate::resource_labels::{NoLabel, ResourceMapping};
use crate::resource_map::{GroupResource, ResourceMap};
use crate::rules::{DiscoveryRule, ResourceRule};
use crate::template::{self, Template};

/// The default largest query, in bytes (well under the 16 KiB some backends cap queries at, and under
/// common URL limits with GET).
pub const DEFAULT_BUDGET: usize = 8 * 1024;

/// Why no query could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The metric selector has a requirement PromQL cannot express.
    #[error("metric selector: {0}")]
    Selector(#[from] MatcherError),
    /// The rule has no label for a resource the request needs.
    #[error(transparent)]
    NoLabel(#[from] NoLabel),
    /// The template failed.
    #[error("{0}")]
    Template(#[from] template::Error),
    /// The template rendered nothing.
    #[error("empty query produced by metrics query template")]
    Empty,
    /// No names were given.
    #[error("no object names to query")]
    NoNames,
    /// The query is over budget and cannot be split.
    #[error("query of {bytes} bytes exceeds the {budget}-byte budget{why}")]
    OverBudget {
        /// Size of the smallest query that could be built.
        bytes: usize,
        /// The budget.
        budget: usize,
        /// Why it could not be split further.
        why: &'static str,
    },
}

/// The arguments a query template sees (upstream's `queryTemplateArgs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryArgs {
    /// `.Series`
    pub series: String,
    /// `.LabelMatchers`, joined with `,`.
    pub label_matchers: Vec<String>,
    /// `.LabelValuesByName`
    pub label_values_by_name: BTreeMap<String, String>,
    /// `.GroupBySlice`; `.GroupBy` is it joined with `,`.
    pub group_by: Vec<String>,
}

impl QueryArgs {
    /// Renders `template` with these arguments; an empty result is an error.
    pub fn render(&self, template: &Template) -> Result<String, Error> {
        let data = template::data([
            ("Series", Value::String(self.series.as_str().into())),
            (
                "LabelMatchers",
                Value::String(self.label_matchers.join(",").into()),
            ),
            (
                "LabelValuesByName",
                template::string_map(&self.label_values_by_name),
            ),
            ("GroupBy", Value::String(self.group_by.join(",").into())),
            ("GroupBySlice", template::string_list(&self.group_by)),
        ]);
        let query = template.render(&data)?;
        if query.trim().is_empty() {
            Err(Error::Empty)
        } else {
            Ok(query)
        }
    }

    /// Adds the metric selector's matchers (they come first, sorted by key).
    fn with_selector(mut self, selector: &Selector) -> Result<Self, Error> {
        for (label, matcher, value) in promql::selector_matchers(selector)? {
            self.label_matchers.push(matcher);
            self.label_values_by_name.insert(label, value);
        }
        Ok(self)
    }

    fn push_equal(&mut self, label: String, value: &str) {
        self.label_matchers
            .push(format!("{label}={}", promql::quote(value)));
        self.label_values_by_name.insert(label, value.to_string());
    }

    /// `label="name"` for one name, `label=~"n1|n2"` (escaped) for several.
    fn push_names(&mut self, label: String, names: &[&str]) {
        if let [name] = names {
            self.push_equal(label, name);
            return;
        }
        let mut alternation =
            String::with_capacity(names.iter().map(|n| n.len() + 1).sum::<usize>() + 16);
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                alternation.push('|');
            }
            promql::push_escaped_regex(&mut alternation, name);
        }
        self.label_matchers
            .push(format!("{label}=~{}", promql::quote(&alternation)));
        self.label_values_by_name.insert(label, alternation);
    }
}

/// A custom-metrics request, as far as query building cares.
#[derive(Debug, Clone, Copy)]
pub struct CustomRequest<'a> {
    /// The series the metric was discovered from.
    pub series: &'a str,
    /// The resource of the objects.
    pub resource: &'a GroupResource,
    /// The namespace, for namespaced objects.
    pub namespace: Option<&'a str>,
    /// Object names (one for a single object).
    pub names: &'a [&'a str],
    /// `metricLabelSelector`.
    pub metric_selector: &'a Selector,
}

/// The queries for a custom-metrics request: usually one; several when the names had to be split.
pub fn custom(
    rule: &DiscoveryRule,
    map: &ResourceMap,
    req: CustomRequest<'_>,
    budget: usize,
) -> Result<Vec<String>, Error> {
    let resource_label = rule.resources.label_for(req.resource, map)?;
    let namespace = match req.namespace {
        Some(ns) => Some((
            rule.resources
                .label_for(&GroupResource::new("", "namespaces"), map)?,
            ns,
        )),
        None => None,
    };
    let base = QueryArgs {
        series: req.series.to_string(),
        ..QueryArgs::default()
    }
    .with_selector(req.metric_selector)?;
    render_split(&rule.metrics_query, req.names, budget, |names| {
        let mut args = base.clone();
        if let Some((label, ns)) = &namespace {
            args.push_equal(label.clone(), ns);
        }
        args.push_names(resource_label.clone(), names);
        args.group_by = vec![resource_label.clone()];
        Ok(args)
    })
}

/// The query for an external-metrics request. `namespace` becomes a matcher only for namespaced rules.
pub fn external(
    rule: &DiscoveryRule,
    map: &ResourceMap,
    series: &str,
    namespace: Option<&str>,
    selector: &Selector,
    budget: usize,
) -> Result<String, Error> {
    let mut args = QueryArgs {
        series: series.to_string(),
        ..QueryArgs::default()
    }
    .with_selector(selector)?;
    if let Some(ns) = namespace.filter(|ns| rule.namespaced && !ns.is_empty()) {
        args.push_equal(
            rule.resources
                .label_for(&GroupResource::new("", "namespaces"), map)?,
            ns,
        );
    }
    let query = args.render(&rule.metrics_query)?;
    check_budget(query, budget, ": external queries cannot be split")
}

/// Which objects a resource-metrics query is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceTarget<'a> {
    /// Pods in one namespace (grouped by pod and container).
    Pods {
        /// The namespace.
        namespace: &'a str,
    },
    /// Nodes.
    Nodes,
}

/// The queries for cpu or memory of pods in a namespace, or of nodes.
pub fn resource(
    rule: &ResourceRule,
    map: &ResourceMap,
    target: ResourceTarget<'_>,
    names: &[&str],
    budget: usize,
) -> Result<Vec<String>, Error> {
    let label = |mapping: &ResourceMapping, resource: &str| {
        mapping.label_for(&GroupResource::new("", resource), map)
    };
    let (template, namespace, resource_label, extra) = match target {
        ResourceTarget::Pods { namespace } => (
            &rule.container_query,
            Some((label(&rule.resources, "namespaces")?, namespace)),
            label(&rule.resources, "pods")?,
            Some(rule.container_label.clone()),
        ),
        ResourceTarget::Nodes => (
            &rule.node_query,
            None,
            label(&rule.resources, "nodes")?,
            None,
        ),
    };
    render_split(template, names, budget, |names| {
        let mut args = QueryArgs::default();
        if let Some((label, ns)) = &namespace {
            args.push_equal(label.clone(), ns);
        }
        args.push_names(resource_label.clone(), names);
        args.group_by = std::iter::once(resource_label.clone())
            .chain(extra.clone())
            .collect();
        Ok(args)
    })
}

/// Renders for all names; over budget, splits the names in halves while the template groups by the
/// resource label (so each object's value does not depend on the others in its query). A list long
/// enough to need splitting is first cut into chunks predicted to fit ([`first_cut`]), so that a
/// 1,000-name request renders its queries once rather than once per halving.
fn render_split(
    template: &Template,
    names: &[&str],
    budget: usize,
    args_for: impl Fn(&[&str]) -> Result<QueryArgs, Error>,
) -> Result<Vec<String>, Error> {
    if names.is_empty() {
        return Err(Error::NoNames);
    }
    let splittable = template.uses("GroupBy") || template.uses("GroupBySlice");
    let mut out = Vec::new();
    let mut pending = vec![names];
    let names_bytes: usize = names.iter().map(|n| name_cost(n)).sum();
    if splittable && names.len() > 1 && names_bytes > budget / 2 {
        let one_name = args_for(&names[..1])?.render(template)?.len();
        pending = first_cut(names, budget, one_name.saturating_sub(name_cost(names[0])));
        pending.reverse();
    }
    while let Some(chunk) = pending.pop() {
        let query = args_for(chunk)?.render(template)?;
        if query.len() <= budget {
            out.push(query);
            continue;
        }
        let why = match (splittable, chunk.len()) {
            (false, _) => ": the query does not group by the resource label, so it cannot be split",
            (true, 1) => ": even a single object's query is too large",
            (true, n) => {
                let (left, right) = chunk.split_at(n / 2);
                pending.push(right);
                pending.push(left);
                continue;
            }
        };
        return Err(Error::OverBudget {
            bytes: query.len(),
            budget,
            why,
        });
    }
    Ok(out)
}

/// The bytes a name adds to an alternation: escaped, and its `|`.
fn name_cost(name: &str) -> usize {
    promql::escaped_regex_len(name) + 1
}

/// Consecutive runs of `names` whose queries are predicted to fit 90 % of `budget`, given the bytes a
/// query has besides its names (`overhead`) and assuming the names appear once in it. A prediction only:
/// the caller still halves a chunk that renders over budget (a template that repeats the matchers).
fn first_cut<'n>(names: &'n [&'n str], budget: usize, overhead: usize) -> Vec<&'n [&'n str]> {
    let room = (budget / 10 * 9).saturating_sub(overhead);
    let mut chunks = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, name) in names.iter().enumerate() {
        let cost = name_cost(name);
        if i > start && used + cost > room {
            chunks.push(&names[start..i]);
            (start, used) = (i, 0);
        }
        used += cost;
    }
    chunks.push(&names[start..]);
    chunks
}

fn check_budget(query: String, budget: usize, why: &'static str) -> Result<String, Error> {
    if query.len() <= budget {
        Ok(query)
    } else {
        Err(Error::OverBudget {
            bytes: query.len(),
            budget,
            why,
        })
    }
}

#[cfg(test)]
mod tests;
