//! Human-readable reports for `check-config` and `explain`: what a rules file discovers from a set of
//! series and why series were dropped. Pure: the caller reads the files.

use std::fmt::Write;

use crate::discovery::{Registry, RuleOutcome, name_rule};
use crate::resource_map::ResourceMap;
use crate::rules::{Config, DiscoveryRule};
use crate::series::{LabeledSeries, SeriesSet};

/// One line summing up a valid config.
pub fn summary(config: &Config) -> String {
    let resource = match &config.resource_rules {
        Some(rr) => format!(
            "resource rules (window {})",
            crate::duration::format_go(rr.window)
        ),
        None => "no resource rules".to_string(),
    };
    format!(
        "{}: ok: {} custom rules, {} external rules, {resource}",
        config.file,
        config.rules.len(),
        config.external_rules.len()
    )
}

/// Every rule with what it made of the series its `seriesQuery` selects from `series`.
pub fn discover_offline<'c>(
    config: &'c Config,
    series: &[LabeledSeries],
    map: &ResourceMap,
) -> Vec<(&'c DiscoveryRule, RuleOutcome)> {
    config
        .rules
        .iter()
        .chain(&config.external_rules)
        .map(|rule| {
            let mut set = SeriesSet::new();
            for s in series {
                if rule
                    .series_selector
                    .matches(&s.name, |l| s.labels.get(l).map(String::as_str))
                {
                    set.insert(&s.name, s.labels.keys().map(String::as_str));
                }
            }
            let outcome = name_rule(rule, &set, map);
            (rule, outcome)
        })
        .collect()
}

/// The discovery report: metrics one per line, sorted
/// (`<resource[.group]> <namespaced|cluster> <metric> <series>`, external metrics as `external`), then
/// `#` lines per rule and per collision.
pub fn discovery_report(config: &Config, outcomes: &[(&DiscoveryRule, RuleOutcome)]) -> String {
    let registry = Registry::assemble(outcomes.iter().map(|(_, o)| o));
    let mut out = String::new();
    for (metric, source) in &registry.custom {
        let scope = if metric.namespaced {
            "namespaced"
        } else {
            "cluster"
        };
        let _ = writeln!(
            out,
            "{} {scope} {} {}",
            metric.resource, metric.metric, source.series
        );
    }
    for (metric, source) in &registry.external {
        let namespaced = config
            .external_rules
            .get(source.rule)
            .is_some_and(|r| r.namespaced);
        let scope = if namespaced { "namespaced" } else { "cluster" };
        let _ = writeln!(out, "external {scope} {metric} {}", source.series);
    }
    for (rule, outcome) in outcomes {
        let r = &outcome.report;
        let _ = write!(
            out,
            "# {} {}: {} series, {} named, {} metrics",
            rule.location(),
            rule.series_query,
            r.series,
            r.named,
            r.metrics
        );
        for (reason, count) in &r.dropped {
            let _ = write!(out, "; {count} {}", reason.describe());
        }
        out.push('\n');
    }
    for c in &registry.collisions {
        let _ = writeln!(
            out,
            "# collision: {} from {} ({}) is replaced by {} ({})",
            c.metric,
            c.lost.kind.location(c.lost.rule),
            c.lost.series,
            c.kept.kind.location(c.kept.rule),
            c.kept.series
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load;
    use crate::series::read_answer_labeled;

    #[test]
    fn report_lists_metrics_sorted_then_rule_counts() {
        let config = load("example.yaml", include_str!("../rules/example.yaml")).unwrap();
        let series = read_answer_labeled(
            br#"{"status":"success","data":[
            {"__name__":"http_requests_total","namespace":"prod","pod":"web-1"},
            {"__name__":"queue_depth","namespace":"shop","queue":"orders"},
            {"__name__":"node_load1","instance":"n1"}]}"#,
        )
        .unwrap();
        let outcomes = discover_offline(&config, &series, &ResourceMap::standard());
        let report = discovery_report(&config, &outcomes);
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(
            lines[..3],
            [
                "namespaces cluster http_requests_per_second http_requests_total",
                "pods namespaced http_requests_per_second http_requests_total",
                "external namespaced queue_depth queue_depth",
            ]
        );
        assert_eq!(
            lines[3],
            r#"# rules[0] http_requests_total{namespace!="",pod!=""}: 1 series, 1 named, 2 metrics"#
        );
        assert!(
            lines.iter().any(|l| l.starts_with("# externalRules[1]")
                && l.ends_with("0 series, 0 named, 0 metrics"))
        );
        assert_eq!(
            summary(&config),
            "example.yaml: ok: 2 custom rules, 2 external rules, resource rules (window 2m0s)"
        );
    }
}
