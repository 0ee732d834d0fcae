use super::*;
use crate::rules::load;
use crate::series_answer::read_answer;
use crate::series_selector::SeriesSelector;

/// Realistic cAdvisor (modern labels) and application series, with values.
fn cluster_series() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let pod = |ns, p, c| {
        vec![
            ("namespace", ns),
            ("pod", p),
            ("container", c),
            ("id", "/kubepods/x"),
            ("image", "nginx"),
        ]
    };
    vec![
        (
            "container_cpu_usage_seconds_total",
            pod("prod", "web-1", "app"),
        ),
        (
            "container_cpu_usage_seconds_total",
            pod("prod", "web-2", "app"),
        ),
        (
            "container_cpu_usage_seconds_total",
            pod("prod", "web-1", "POD"),
        ),
        (
            "container_memory_working_set_bytes",
            pod("prod", "web-1", "app"),
        ),
        (
            "container_network_receive_bytes_total",
            pod("prod", "web-1", "app"),
        ),
        ("container_fs_reads_total", pod("prod", "web-1", "app")),
        (
            "container_cpu_usage_seconds_total",
            vec![("id", "/"), ("instance", "node-1")],
        ),
        (
            "http_requests_total",
            vec![("namespace", "prod"), ("pod", "web-1"), ("method", "GET")],
        ),
        (
            "http_requests_total",
            vec![("namespace", "prod"), ("pod", "web-2"), ("method", "POST")],
        ),
        (
            "http_request_duration_seconds_total",
            vec![("namespace", "prod"), ("pod", "web-1")],
        ),
        (
            "app_queue_length",
            vec![("namespace", "prod"), ("deployment", "worker")],
        ),
        (
            "app_requests_total",
            vec![("namespace", "prod"), ("deployment", "worker")],
        ),
        (
            "queue_depth",
            vec![("queue", "orders"), ("namespace", "shop")],
        ),
        (
            "queue_depth",
            vec![("queue", "mail"), ("namespace", "shop")],
        ),
        ("cloud_sqs_messages_visible", vec![("queue_name", "q1")]),
        ("node_load1", vec![("instance", "node-1")]),
        (
            "kube_storageclass_info",
            vec![("namespace", "kube-system"), ("storageclass", "fast")],
        ),
    ]
}

/// What Prometheus' `/api/v1/series?match[]=<rule.seriesQuery>` would answer, evaluated offline.
fn answer_for(selector: &str) -> SeriesSet {
    let selector = SeriesSelector::parse(selector).unwrap();
    let mut set = SeriesSet::new();
    for (name, labels) in cluster_series() {
        let get = |l: &str| labels.iter().find(|(k, _)| *k == l).map(|(_, v)| *v);
        if selector.matches(name, get) {
            set.insert(name, labels.iter().map(|(k, _)| *k));
        }
    }
    set
}

fn discover(file: &str) -> (Registry, Vec<RuleOutcome>) {
    let text = crate::rules::tests::SHIPPED
        .iter()
        .find(|(n, _)| *n == file)
        .unwrap()
        .1;
    let config = load(file, text).unwrap();
    let map = ResourceMap::standard();
    let outcomes: Vec<RuleOutcome> = config
        .rules
        .iter()
        .chain(&config.external_rules)
        .map(|rule| name_rule(rule, &answer_for(&rule.series_query), &map))
        .collect();
    (Registry::assemble(&outcomes), outcomes)
}

fn custom_names(registry: &Registry) -> Vec<String> {
    registry
        .custom
        .iter()
        .map(|(k, s)| {
            format!(
                "{} {} {}",
                k.display(),
                if k.namespaced { "ns" } else { "cluster" },
                s.series
            )
        })
        .collect()
}

#[test]
fn modern_default_rules_discover_cadvisor_and_application_metrics() {
    let (registry, outcomes) = discover("default-modern.yaml");
    assert_eq!(
        custom_names(&registry),
        [
            "namespaces/app_queue_length cluster app_queue_length",
            "namespaces/app_requests cluster app_requests_total",
            "namespaces/cpu_usage cluster container_cpu_usage_seconds_total",
            "namespaces/fs_reads cluster container_fs_reads_total",
            "namespaces/http_request_duration cluster http_request_duration_seconds_total",
            "namespaces/http_requests cluster http_requests_total",
            "namespaces/kube_storageclass_info cluster kube_storageclass_info",
            "namespaces/memory_working_set_bytes cluster container_memory_working_set_bytes",
            "namespaces/network_receive_bytes cluster container_network_receive_bytes_total",
            "namespaces/queue_depth cluster queue_depth",
            "pods/cpu_usage ns container_cpu_usage_seconds_total",
            "pods/fs_reads ns container_fs_reads_total",
            "pods/http_request_duration ns http_request_duration_seconds_total",
            "pods/http_requests ns http_requests_total",
            "pods/memory_working_set_bytes ns container_memory_working_set_bytes",
            "pods/network_receive_bytes ns container_network_receive_bytes_total",
            "deployments.apps/app_queue_length ns app_queue_length",
            "deployments.apps/app_requests ns app_requests_total",
            "storageclasses.storage.k8s.io/kube_storageclass_info cluster kube_storageclass_info",
        ]
    );
    // The seconds-counter rule (0) keeps only *_seconds_total; the counter rule (1) filters them out.
    // Rule 0 sees 5 series (the POD container is excluded by the seriesQuery), 2 of them seconds counters.
    assert_eq!(outcomes[0].report.series, 5);
    assert_eq!(
        outcomes[0]
            .report
            .dropped
            .get(&DropReason::Name(Dropped::NameMismatch)),
        Some(&3)
    );
    assert_eq!(
        outcomes[1]
            .report
            .dropped
            .get(&DropReason::Name(Dropped::Filtered)),
        Some(&2)
    );
    assert_eq!(
        outcomes[1]
            .report
            .dropped
            .get(&DropReason::Name(Dropped::NameMismatch)),
        Some(&1)
    );
    // The generic gauge rule sees the http counters and drops them by filter.
    assert!(
        outcomes[3]
            .report
            .dropped
            .contains_key(&DropReason::Name(Dropped::Filtered))
    );
    assert!(registry.collisions.is_empty(), "{:?}", registry.collisions);
}

#[test]
fn scope_comes_from_the_resource_map() {
    let (registry, _) = discover("default-modern.yaml");
    let storage = GroupResource::new("storage.k8s.io", "storageclasses");
    assert!(
        registry
            .custom(&storage, false, "kube_storageclass_info")
            .is_some(),
        "cluster-scoped resource is cluster-scoped"
    );
    assert!(
        registry
            .custom(&storage, true, "kube_storageclass_info")
            .is_none()
    );
    assert!(
        registry
            .custom(&GroupResource::new("", "pods"), true, "http_requests")
            .is_some()
    );
}

#[test]
fn legacy_default_rules_need_legacy_labels() {
    let (registry, outcomes) = discover("default.yaml");
    // No series here carry pod_name/container_name, so the cAdvisor rules find nothing.
    assert_eq!(outcomes[0].report.series, 0);
    assert!(
        registry
            .custom
            .keys()
            .all(|k| !k.metric.starts_with("cpu_usage"))
    );
    assert!(
        registry
            .custom(&GroupResource::new("", "pods"), true, "http_requests")
            .is_some()
    );
}

#[test]
fn example_rules_discover_custom_and_external_metrics() {
    let (registry, outcomes) = discover("example.yaml");
    assert_eq!(
        custom_names(&registry),
        [
            "namespaces/http_requests_per_second cluster http_requests_total",
            "namespaces/queue_length cluster app_queue_length",
            "pods/http_requests_per_second ns http_requests_total",
            "deployments.apps/queue_length ns app_queue_length",
        ]
    );
    let external: Vec<_> = registry
        .external
        .iter()
        .map(|(k, s)| format!("{k} {}", s.series))
        .collect();
    assert_eq!(
        external,
        [
            "queue_depth queue_depth",
            "sqs_backlog cloud_sqs_messages_visible"
        ]
    );
    assert_eq!(outcomes[2].report.series, 2);
    assert_eq!(outcomes[2].report.named, 2);
    assert_eq!(
        outcomes[1]
            .report
            .dropped
            .get(&DropReason::Name(Dropped::Filtered)),
        Some(&1)
    );
}

#[test]
fn series_without_resource_labels_are_dropped_and_counted() {
    let config = load(
        "c.yaml",
        "rules:\n- seriesQuery: '{__name__=~\".+\"}'\n  resources: {template: '<<.Resource>>'}\n  metricsQuery: x\n",
    )
    .unwrap();
    let mut set = SeriesSet::new();
    set.insert("node_load1", ["instance"]);
    set.insert("up", ["le", "instance"]);
    set.insert("up", ["instance", "le"]);
    // `job` names batch/jobs through `<<.Resource>>`, as it does upstream.
    set.insert("up", ["job"]);
    let outcome = name_rule(&config.rules[0], &set, &ResourceMap::standard());
    assert_eq!(
        outcome.report.dropped.get(&DropReason::NoResource),
        Some(&3)
    );
    assert_eq!(outcome.report.series, 4);
    let names: Vec<String> = outcome.custom.keys().map(|m| m.display()).collect();
    assert_eq!(names, ["jobs.batch/up"]);
}

#[test]
fn collisions_are_reported_and_the_later_rule_wins() {
    let text = "rules:\n\
        - seriesQuery: '{__name__=~\"^a_.*\",pod!=\"\"}'\n  resources: {template: '<<.Resource>>'}\n  name: {matches: '^a_(.*)$'}\n  metricsQuery: x\n\
        - seriesQuery: '{__name__=~\"^b_.*\",pod!=\"\"}'\n  resources: {template: '<<.Resource>>'}\n  name: {matches: '^b_(.*)$'}\n  metricsQuery: y\n";
    let config = load("c.yaml", text).unwrap();
    let map = ResourceMap::standard();
    let mut a = SeriesSet::new();
    a.insert("a_requests", ["pod"]);
    let mut b = SeriesSet::new();
    b.insert("b_requests", ["pod"]);
    b.insert("b_x_requests", ["pod"]);
    b.insert("b_x_requests", ["pod", "extra"]);
    let outcomes = [
        name_rule(&config.rules[0], &a, &map),
        name_rule(&config.rules[1], &b, &map),
    ];
    let registry = Registry::assemble(&outcomes);
    assert_eq!(registry.collisions.len(), 1, "{:?}", registry.collisions);
    let collision = &registry.collisions[0];
    assert_eq!(collision.metric, "pods/requests");
    assert_eq!(
        (collision.lost.rule, &*collision.lost.series),
        (0, "a_requests")
    );
    assert_eq!(
        (collision.kept.rule, &*collision.kept.series),
        (1, "b_requests")
    );
    assert_eq!(
        registry
            .custom(&GroupResource::new("", "pods"), true, "requests")
            .unwrap()
            .rule,
        1
    );
}

#[test]
fn naming_is_deterministic_whatever_the_answer_order() {
    let config = load("example.yaml", crate::rules::tests::SHIPPED[3].1).unwrap();
    let map = ResourceMap::standard();
    let forward = br#"{"status":"success","data":[{"__name__":"http_requests_total","namespace":"a","pod":"p"},{"__name__":"http_requests_total","pod":"q","namespace":"b","x":"y"}]}"#;
    let backward = br#"{"status":"success","data":[{"__name__":"http_requests_total","pod":"q","namespace":"b","x":"y"},{"__name__":"http_requests_total","namespace":"a","pod":"p"}]}"#;
    let outcome = |body: &[u8]| {
        let mut set = SeriesSet::new();
        read_answer(body, &mut set).unwrap();
        name_rule(&config.rules[0], &set, &map)
    };
    assert_eq!(outcome(forward), outcome(backward));
}
