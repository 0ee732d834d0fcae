//! Human-readable reports for `check-config` and `explain`: what a rules file discovers from a set of
//! series and why series were dropped. Pure: the caller reads the files.

use std::fmt::Write;

use crate::discovery::{Registry, RuleOutcome, RuleReport, name_rule};
use crate::resource_map::ResourceMap;
use crate::rules::{Config, DiscoveryRule};
use crate::series_answer::{LabeledSeries, SeriesSet};

/// One line summing up a valid config.
pub fn summary(config: &Config) -> String {
    let resource = match &config.resource_rules {
        Some(rr) => format!(
            "resource rules (window {})",
            crate::duration::format_go(rr.window)
        ),
        None => "no resource rules".to_string(),
    };
    let disabled = if config.disabled.is_empty() {
        String::new()
    } else {
        format!("; disabled: {}", config.disabled.join(", "))
    };
    let backends: Vec<String> = config
        .backends
        .values()
        .map(|b| {
            let urls = if b.urls.len() == 1 {
                "1 URL".to_string()
            } else {
                format!("{} URLs", b.urls.len())
            };
            let mut about = vec![urls];
            if let Some(tenant) = &b.tenant {
                about.push(format!("tenant header {}", tenant.header));
            }
            if let Some(credentials) = &b.credentials {
                about.push(credentials.method().to_string());
            }
            format!("{} ({})", b.name, about.join(", "))
        })
        .collect();
    let backends = if backends.is_empty() {
        String::new()
    } else {
        format!("; backends: {}", backends.join(", "))
    };
    let missing: Vec<String> = config
        .rules
        .iter()
        .chain(&config.external_rules)
        .filter_map(|r| Some(format!("{} {}", r.location(), r.missing_value?)))
        .collect();
    let missing = if missing.is_empty() {
        String::new()
    } else {
        format!(
            "; answered without a sample (missingValue): {}",
            missing.join(", ")
        )
    };
    format!(
        "{}: ok: {} custom rules, {} external rules, {resource}{disabled}{backends}{missing}",
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
    let rules: Vec<RuleLine<'_>> = outcomes
        .iter()
        .map(|(rule, outcome)| RuleLine {
            location: rule.location(),
            series_query: &rule.series_query,
            report: &outcome.report,
            counted: "series",
            error: None,
            backend: rule.backend.as_deref(),
        })
        .collect();
    report(config, &registry, &rules)
}

/// One rule's line of the report.
pub struct RuleLine<'a> {
    /// `rules[0]`.
    pub location: String,
    /// Its `seriesQuery`.
    pub series_query: &'a str,
    /// What its last relist made of the series.
    pub report: &'a RuleReport,
    /// What the report's first count counts: `series`, or `metric names` for a relist by label values.
    pub counted: &'a str,
    /// Why its last relist failed, for a running adapter.
    pub error: Option<&'a str>,
    /// The `backends:` entry it reads (`None`: `--prometheus-url`).
    pub backend: Option<&'a str>,
}

/// The report of a registry and its rules' lines: offline from series files, or from a running
/// adapter's last relist (the same text either way).
pub fn report(config: &Config, registry: &Registry, rules: &[RuleLine<'_>]) -> String {
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
            .rule(crate::RuleKind::External, source.rule)
            .is_some_and(|r| r.namespaced);
        let scope = if namespaced { "namespaced" } else { "cluster" };
        let _ = writeln!(out, "external {scope} {metric} {}", source.series);
    }
    for rule in rules {
        let r = rule.report;
        let _ = write!(
            out,
            "# {} {}: {} {}, {} named, {} metrics",
            rule.location, rule.series_query, r.series, rule.counted, r.named, r.metrics
        );
        for (reason, count) in &r.dropped {
            let _ = write!(out, "; {count} {}", reason.describe());
        }
        if let Some(backend) = rule.backend {
            let _ = write!(out, "; backend {backend}");
        }
        if let Some(error) = rule.error {
            let _ = write!(out, "; failing: {error}");
        }
        out.push('\n');
    }
    for (location, why) in config
        .disabled
        .iter()
        .map(|d| (d, config.warnings_for(d).map(|w| w.message.as_str())))
    {
        let why: Vec<&str> = why.collect();
        let _ = writeln!(out, "# {location} disabled: {}", why.join("; "));
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

/// Folds a multi-line query onto one line: PromQL does not care about whitespace around line breaks, and
/// whitespace inside a line (possibly inside a string) is kept.
pub fn one_line(query: &str) -> String {
    query
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Up to `n` of `candidates` closest to `name` (by edit distance, then alphabetically), for a 404's
/// "did you mean". Only names within half the name's length count.
pub fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    n: usize,
) -> Vec<&'a str> {
    let limit = name.chars().count().div_ceil(2).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort();
    scored.dedup();
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load;

    #[test]
    fn closest_names_by_edit_distance() {
        let names = [
            "http_requests_per_second",
            "http_errors_per_second",
            "queue_length",
        ];
        assert_eq!(
            closest("http_request_per_second", names, 3),
            ["http_requests_per_second", "http_errors_per_second"]
        );
        assert_eq!(closest("queue_lenght", names, 3), ["queue_length"]);
        assert!(closest("cpu", names, 3).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
    use crate::series_answer::read_answer_labeled;

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
