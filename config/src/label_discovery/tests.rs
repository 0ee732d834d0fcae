use super::*;
use crate::discovery::name_rule;
use crate::rules::load;
use crate::series_selector::SeriesSelector;

type Series = (&'static str, Vec<(&'static str, &'static str)>);

/// Every shape naming meets: one metric whose series carry different resource labels, a node
/// (cluster-scoped) label, a label no rule maps, names filtered out, names without any resource label.
fn series() -> Vec<Series> {
    vec![
        (
            "http_requests_total",
            vec![("namespace", "prod"), ("pod", "web-1"), ("method", "GET")],
        ),
        (
            "http_requests_total",
            vec![("namespace", "prod"), ("service", "web")],
        ),
        (
            "http_requests_total",
            vec![("namespace", "prod"), ("ingress", "www")],
        ),
        (
            "node_load1",
            vec![("node", "n1"), ("instance", "10.0.0.1:9100")],
        ),
        (
            "kube_deployment_replicas",
            vec![("namespace", "prod"), ("deployment", "web")],
        ),
        (
            "queue_depth",
            vec![("namespace", "prod"), ("queue", "jobs")],
        ),
        ("queue_depth", vec![("queue", "global")]),
        (
            "process_cpu_seconds_total",
            vec![("instance", "a"), ("job", "x")],
        ),
        (
            "go_gc_duration_seconds",
            vec![("namespace", "prod"), ("pod", "web-1")],
        ),
        (
            "container_cpu_usage_seconds_total",
            vec![
                ("namespace", "prod"),
                ("pod", "web-1"),
                ("container", "app"),
            ],
        ),
        ("weird", vec![("namespace", "prod"), ("my.pod", "x")]),
    ]
}

const RULES: &str = r#"
rules:
- seriesQuery: '{namespace!="",__name__!~"^container_.*"}'
  seriesFilters: [{isNot: "^go_.*"}]
  resources: {template: "<<.Resource>>"}
  name: {matches: "^(.*)_total$", as: "${1}_per_second"}
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
- seriesQuery: '{namespace!="",__name__!~"^container_.*"}'
  resources: {overrides: {namespace: {resource: namespace}, deployment: {group: apps, resource: deployment}}}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
- seriesQuery: 'node_load1'
  resources: {overrides: {node: {resource: node}}}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
- seriesQuery: '{__name__=~"process_.*"}'
  resources: {template: "<<.Resource>>"}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
- seriesQuery: '{__name__=~"container_.*",container!=""}'
  resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
  name: {matches: "^container_(.*)_seconds_total$"}
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
externalRules:
- seriesQuery: '{__name__=~"queue_.*"}'
  resources: {overrides: {namespace: {resource: namespace}}}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'
- seriesQuery: '{namespace!="",__name__!~"^container_.*"}'
  seriesFilters: [{is: "^http_.*"}]
  name: {as: "external_${0}"}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'
"#;

/// What a backend answers, computed the way Prometheus defines the endpoints.
struct Backend(Vec<Series>);

impl Backend {
    fn matching(&self, selector: &str) -> impl Iterator<Item = &Series> {
        let selector = SeriesSelector::parse(selector).expect("a selector the test writes parses");
        self.0.iter().filter(move |(name, labels)| {
            selector.matches(name, |l| {
                labels.iter().find(|(k, _)| *k == l).map(|(_, v)| *v)
            })
        })
    }

    fn series(&self, selector: &str) -> SeriesSet {
        let mut set = SeriesSet::new();
        for (name, labels) in self.matching(selector) {
            set.insert(name, labels.iter().map(|(k, _)| *k));
        }
        set
    }

    fn label_names(&self, selector: &str) -> Vec<String> {
        let names: BTreeSet<String> = self
            .matching(selector)
            .flat_map(|(_, labels)| labels.iter().map(|(k, _)| k.to_string()))
            .chain(std::iter::once("__name__".to_string()))
            .collect();
        names.into_iter().collect()
    }

    fn metric_names(&self, selector: &str) -> Vec<String> {
        let names: BTreeSet<String> = self
            .matching(selector)
            .map(|(n, _)| n.to_string())
            .collect();
        names.into_iter().collect()
    }

    /// The label mode's questions for the rules sharing `query`, as the relister asks them.
    fn asked_by_labels(
        &self,
        query: &str,
        rules: &[&DiscoveryRule],
        map: &ResourceMap,
    ) -> SeriesSet {
        let label_names = self.label_names(query);
        let names = self.metric_names(query);
        let wanted = resource_labels(&label_names, rules, map);
        let answers: Vec<(&str, Vec<String>)> = wanted
            .iter()
            .map(|label| (*label, self.metric_names(&with_label_present(query, label))))
            .collect();
        let carriers: Vec<(&str, &[String])> =
            answers.iter().map(|(l, n)| (*l, n.as_slice())).collect();
        series_from_label_answers(&names, &carriers)
    }
}

#[test]
fn label_answers_name_every_rule_exactly_as_the_series_do() {
    let config = load("rules.yaml", RULES).expect("the test's rules load");
    let map = ResourceMap::standard();
    let backend = Backend(series());
    let rules: Vec<&DiscoveryRule> = config.rules.iter().chain(&config.external_rules).collect();
    for rule in &rules {
        let sharing: Vec<&DiscoveryRule> = rules
            .iter()
            .copied()
            .filter(|r| r.series_query == rule.series_query)
            .collect();
        let by_series = name_rule(rule, &backend.series(&rule.series_query), &map);
        let by_labels = name_rule(
            rule,
            &backend.asked_by_labels(&rule.series_query, &sharing, &map),
            &map,
        );
        assert_eq!(by_series.custom, by_labels.custom, "{}", rule.location());
        assert_eq!(
            by_series.external,
            by_labels.external,
            "{}",
            rule.location()
        );
        assert!(
            !by_series.custom.is_empty() || !by_series.external.is_empty(),
            "{} discovers something, so the comparison means something",
            rule.location()
        );
    }
    // The shapes are really there: one name under three resources, a node metric cluster-scoped.
    let first = name_rule(rules[0], &backend.series(&rules[0].series_query), &map);
    let http: Vec<String> = first
        .custom
        .keys()
        .filter(|m| m.metric == "http_requests_per_second")
        .map(|m| m.display())
        .collect();
    assert_eq!(
        http,
        [
            "namespaces/http_requests_per_second",
            "pods/http_requests_per_second",
            "services/http_requests_per_second",
            "ingresses.networking.k8s.io/http_requests_per_second",
        ]
    );
    let node = name_rule(rules[2], &backend.series("node_load1"), &map);
    assert!(node.custom.keys().all(|m| !m.namespaced) && node.custom.len() == 1);
}

#[test]
fn only_labels_a_custom_rule_maps_are_asked_about() {
    let config = load("rules.yaml", RULES).expect("the test's rules load");
    let map = ResourceMap::standard();
    let shared: Vec<&DiscoveryRule> = config
        .rules
        .iter()
        .chain(&config.external_rules)
        .filter(|r| r.series_query.starts_with("{namespace"))
        .collect();
    let names: Vec<String> = [
        "__name__",
        "deployment",
        "ingress",
        "method",
        "my.pod",
        "namespace",
        "pod",
        "service",
        "queue",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        resource_labels(&names, &shared, &map),
        ["deployment", "ingress", "namespace", "pod", "service"]
    );
    let external_only: Vec<&DiscoveryRule> = config.external_rules.iter().collect();
    assert!(resource_labels(&names, &external_only, &map).is_empty());
    assert!(requires_label(shared[0], "namespace"));
    assert!(!requires_label(shared[0], "pod"));
}

#[test]
fn a_presence_matcher_is_added_to_every_selector_shape() {
    let cases = [
        ("up", r#"up{pod!=""}"#),
        ("up{}", r#"up{pod!=""}"#),
        (r#"up{job="a"}"#, r#"up{job="a",pod!=""}"#),
        (r#"{job="a",}"#, r#"{job="a",pod!=""}"#),
        (r#"{job="}"} "#, r#"{job="}",pod!=""}"#),
        (
            r#"{ namespace!="" , __name__!~"^container_.*" }"#,
            r#"{ namespace!="" , __name__!~"^container_.*",pod!=""}"#,
        ),
    ];
    for (selector, want) in cases {
        let got = with_label_present(selector, "pod");
        assert_eq!(got, want);
        let parsed = SeriesSelector::parse(&got).expect("the result parses");
        assert!(
            parsed
                .matchers
                .iter()
                .any(|m| m.label == "pod" && m.op == MatchOp::NotEqual)
        );
    }
    assert_eq!(with_label_present("up", "my.pod"), r#"up{"my.pod"!=""}"#);
}

#[test]
fn label_answers_are_read_with_prometheus_errors_kept() {
    assert_eq!(
        read_string_list(br#"{"status":"success","data":["a","b"]}"#),
        Ok(vec!["a".to_string(), "b".to_string()])
    );
    assert_eq!(
        read_string_list(br#"{"status":"success","data":null}"#),
        Ok(vec![])
    );
    assert_eq!(
        read_string_list(br#"{"status":"error","errorType":"bad_data","error":"unknown"}"#),
        Err(AnswerError::Prometheus {
            error_type: "bad_data".into(),
            error: "unknown".into()
        })
    );
    assert!(matches!(
        read_string_list(b"<html>"),
        Err(AnswerError::Decode(_))
    ));
    assert_eq!("labels".parse(), Ok(RelistMode::Labels));
    assert!(
        "both"
            .parse::<RelistMode>()
            .unwrap_err()
            .contains("auto, series or labels")
    );
}
