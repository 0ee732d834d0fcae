use super::*;
use crate::rules::load;

const WORKED_EXAMPLE: &str = r#"
rules:
- seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
  resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
  name: {matches: "^(.*)_total$", as: "${1}_per_second"}
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
- seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
  resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m]))'
- seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
  resources: {overrides: {pod: {resource: pod}}}
  metricsQuery: 'x{<<.LabelMatchers>>} <<.LabelValuesByName>> <<.GroupBySlice>>'
externalRules:
- seriesQuery: '{__name__="queue_depth",topic!=""}'
  resources: {overrides: {namespace: {resource: namespace}}}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (name)'
- seriesQuery: '{__name__="queue_depth",topic!=""}'
  resources: {namespaced: false}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
- seriesQuery: '{__name__="queue_depth",topic!=""}'
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'
"#;

fn config() -> crate::Config {
    load("c.yaml", WORKED_EXAMPLE).unwrap()
}

fn custom_query(
    rule: usize,
    resource: &str,
    namespace: Option<&str>,
    names: &[&str],
    selector: &str,
) -> Result<Vec<String>, Error> {
    custom_query_within(rule, resource, namespace, names, selector, DEFAULT_BUDGET)
}

fn custom_query_within(
    rule: usize,
    resource: &str,
    namespace: Option<&str>,
    names: &[&str],
    selector: &str,
    budget: usize,
) -> Result<Vec<String>, Error> {
    let config = config();
    let selector = Selector::parse(selector).unwrap();
    let resource = GroupResource::parse(resource);
    let req = CustomRequest {
        series: "http_requests_total",
        resource: &resource,
        namespace,
        names,
        metric_selector: &selector,
    };
    custom(&config.rules[rule], &ResourceMap::standard(), req, budget)
}

#[test]
fn custom_queries_follow_the_worked_example() {
    /// (namespace, resource, names, metric selector, expected query)
    type Case<'a> = (Option<&'a str>, &'a str, &'a [&'a str], &'a str, &'a str);
    let cases: [Case<'_>; 5] = [
        (
            Some("prod"),
            "pods",
            &["web-1", "web-2"],
            "",
            r#"sum(rate(http_requests_total{namespace="prod",pod=~"web-1|web-2"}[2m])) by (pod)"#,
        ),
        (
            Some("prod"),
            "pods",
            &["web-1", "web-2"],
            "method=GET",
            r#"sum(rate(http_requests_total{method="GET",namespace="prod",pod=~"web-1|web-2"}[2m])) by (pod)"#,
        ),
        (
            Some("prod"),
            "pods",
            &["web-1"],
            "",
            r#"sum(rate(http_requests_total{namespace="prod",pod="web-1"}[2m])) by (pod)"#,
        ),
        (
            None,
            "namespaces",
            &["prod"],
            "",
            r#"sum(rate(http_requests_total{namespace="prod"}[2m])) by (namespace)"#,
        ),
        (
            Some("prod"),
            "pods",
            &["web-1.a", "b"],
            "z=1,a in (y,x),!c",
            r#"sum(rate(http_requests_total{a=~"x|y",c="",z="1",namespace="prod",pod=~"web-1\\.a|b"}[2m])) by (pod)"#,
        ),
    ];
    for (namespace, resource, names, selector, want) in cases {
        assert_eq!(
            custom_query(0, resource, namespace, names, selector),
            Ok(vec![want.to_string()]),
            "{names:?} {selector}"
        );
    }
}

#[test]
fn template_fields_render_like_upstream() {
    let got = custom_query(2, "pods", None, &["a", "b.c"], "m=x").unwrap();
    assert_eq!(
        got,
        [r#"x{m="x",pod=~"a|b\\.c"} map[m:x pod:a|b\.c] [pod]"#]
    );
}

#[test]
fn namespaced_requests_need_a_namespace_label() {
    let err = custom_query(2, "pods", Some("prod"), &["a"], "").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no generic resource label form specified for this metric (resource namespaces)"
    );
    let err = custom_query(0, "nodes", None, &["n"], "").unwrap_err();
    assert!(matches!(err, Error::NoLabel(_)));
}

#[test]
fn unsupported_metric_selectors_are_errors() {
    let err = custom_query(0, "pods", Some("prod"), &["a"], "x>1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "metric selector: operator not supported by prometheus: gt"
    );
    assert_eq!(
        custom_query(0, "pods", Some("p"), &[], ""),
        Err(Error::NoNames)
    );
}

#[test]
fn hostile_values_cannot_change_query_structure() {
    // Object names come from Kubernetes, but are still escaped and quoted: nothing leaves the string.
    let got = custom_query(0, "pods", Some("a\"}or{x=\"y"), &["p\"}) or vector(1"], "").unwrap();
    assert_eq!(
        got,
        [
            r#"sum(rate(http_requests_total{namespace="a\"}or{x=\"y",pod="p\"}) or vector(1"}[2m])) by (pod)"#
        ]
    );
    // Selector values with quotes or braces do not even parse.
    for hostile in ["a=\"b\"", "a=b}", "a in (x\\)", "a=b\nc"] {
        assert!(Selector::parse(hostile).is_err(), "{hostile:?}");
    }
}

#[test]
fn long_name_lists_are_split_under_the_budget() {
    let names: Vec<String> = (0..5000)
        .map(|i| format!("web-deployment-7d9f8c6b5-{i:05}"))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let queries = custom_query(0, "pods", Some("prod"), &refs, "").unwrap();
    assert!(queries.len() > 1);
    assert!(
        queries.iter().all(|q| q.len() <= DEFAULT_BUDGET),
        "every query within budget"
    );
    let mut seen: Vec<String> = queries
        .iter()
        .flat_map(|q| {
            let start = q
                .find("pod=~\"")
                .map(|i| i + 6)
                .or_else(|| q.find("pod=\"").map(|i| i + 5))
                .unwrap();
            let end = start + q[start..].find('"').unwrap();
            q[start..end]
                .split('|')
                .map(|n| n.replace('\\', ""))
                .collect::<Vec<_>>()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, names, "every name queried exactly once");
    // A tiny budget that a single name cannot meet is an error, not a silent drop.
    let err = custom_query_within(0, "pods", Some("prod"), &refs, "", 40).unwrap_err();
    assert!(
        err.to_string()
            .contains("even a single object's query is too large"),
        "{err}"
    );
}

#[test]
fn queries_that_do_not_group_by_the_resource_are_not_split() {
    let names: Vec<String> = (0..2000).map(|i| format!("pod-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let err = custom_query(1, "pods", Some("prod"), &refs, "").unwrap_err();
    assert!(matches!(err, Error::OverBudget { why, .. } if why.contains("does not group by")));
}

#[test]
fn external_queries_honour_namespaced() {
    let config = config();
    let map = ResourceMap::standard();
    let selector = Selector::parse("topic=orders").unwrap();
    let q = |rule: usize| {
        external(
            &config.external_rules[rule],
            &map,
            "queue_depth",
            Some("default"),
            &selector,
            DEFAULT_BUDGET,
        )
    };
    assert_eq!(
        q(0).unwrap(),
        r#"sum(queue_depth{topic="orders",namespace="default"}) by (name)"#
    );
    assert_eq!(q(1).unwrap(), r#"sum(queue_depth{topic="orders"}) by ()"#);
    // Namespaced (the default) without a namespace mapping cannot build the matcher.
    assert!(matches!(q(2), Err(Error::NoLabel(_))));
    let everything = Selector::default();
    let unscoped = external(
        &config.external_rules[1],
        &map,
        "queue_depth",
        Some("x"),
        &everything,
        DEFAULT_BUDGET,
    );
    assert_eq!(unscoped.unwrap(), "sum(queue_depth{}) by ()");
}

#[test]
fn resource_queries_group_pods_by_container_and_nodes_by_node() {
    let config = load("r.yaml", include_str!("../../rules/resource-metrics.yaml")).unwrap();
    let rules = config.resource_rules.unwrap();
    let map = ResourceMap::standard();
    let pods = resource(
        &rules.cpu,
        &map,
        ResourceTarget::Pods { namespace: "prod" },
        &["web-1", "web-2"],
        DEFAULT_BUDGET,
    )
    .unwrap();
    assert_eq!(
        pods,
        [
            "sum by (pod,container) (\n  irate (\n      container_cpu_usage_seconds_total{namespace=\"prod\",pod=~\"web-1|web-2\",container!=\"\",pod!=\"\"}[4m]\n  )\n)\n"
        ]
    );
    let nodes = resource(
        &rules.memory,
        &map,
        ResourceTarget::Nodes,
        &["node-1"],
        DEFAULT_BUDGET,
    )
    .unwrap();
    assert_eq!(
        nodes,
        ["sum by (node) (\n  node_memory_working_set_bytes{node=\"node-1\"}\n)\n"]
    );
}

#[test]
fn empty_renders_are_errors() {
    let config = load("c.yaml", "rules:\n- seriesQuery: m\n  resources: {template: '<<.Resource>>'}\n  metricsQuery: '<<if false>>x<<end>>'\n").unwrap();
    let selector = Selector::default();
    let resource = GroupResource::new("", "pods");
    let req = CustomRequest {
        series: "m",
        resource: &resource,
        namespace: None,
        names: &["a"],
        metric_selector: &selector,
    };
    assert_eq!(
        custom(
            &config.rules[0],
            &ResourceMap::standard(),
            req,
            DEFAULT_BUDGET
        ),
        Err(Error::Empty)
    );
}

#[test]
fn the_first_cut_fills_each_chunk_to_nine_tenths_of_the_budget_in_order() {
    let names: Vec<String> = (0..1000)
        .map(|i| format!("app-7d4b9c8f6d-{i:05}"))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let chunks = super::first_cut(&refs, 8192, 100);
    let joined: Vec<&str> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    assert_eq!(joined, refs, "every name once, in order");
    // 21 bytes a name: (8192 / 10 * 9 - 100) / 21 = 346 names a chunk.
    assert_eq!(
        chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
        [346, 346, 308]
    );
    // A name larger than the room still gets a chunk of its own (the render then judges it).
    let long = "x".repeat(9000);
    assert_eq!(super::first_cut(&["a", &long, "b"], 8192, 100).len(), 3);
}
