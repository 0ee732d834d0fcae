//! Each API group's flow end to end: custom by selector and by name, external, pod and node metrics.

use super::*;

#[actix_rt::test]
async fn custom_by_selector_maps_values_back_to_listed_objects() {
    let w = world();
    w.relist().await;
    w.answer_pods();
    let values = w.web_pods().await.unwrap();
    let summary: Vec<_> = values
        .iter()
        .map(|v| (v.object.name.as_str(), v.value, v.timestamp))
        .collect();
    assert_eq!(
        summary,
        [
            ("web-1", 1.5, START as f64),
            ("web-2", 2.5, START as f64 - 1.0)
        ]
    );
    let first = &values[0];
    assert_eq!(
        (
            first.object.kind.as_str(),
            first.object.api_version.as_str()
        ),
        ("Pod", "v1")
    );
    assert_eq!(first.object.namespace.as_deref(), Some("prod"));
    assert_eq!(
        first.window,
        Some(Duration::from_secs(120)),
        "window from the query's range selector"
    );
    assert_eq!(w.prom.query_calls().last().unwrap(), PODS_QUERY);
    // An object without a value is omitted; no objects at all is not found.
    w.prom.answer(
        PODS_QUERY,
        QueryResult::Vector(vec![
            sample(&[("pod", "web-2")], f64::NAN, 0.0),
            sample(&[("pod", "web-1")], 3.0, 0.0),
        ]),
    );
    let values = w.web_pods().await.unwrap();
    assert_eq!(
        values
            .iter()
            .map(|v| v.object.name.as_str())
            .collect::<Vec<_>>(),
        ["web-1"],
        "NaN has no value"
    );
    let err = w
        .custom(
            "pods",
            Some("prod"),
            None,
            "http_requests_per_second",
            "app=nothing",
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the server could not find the metric http_requests_per_second for pods"
    );
    let err = w
        .custom("pods", Some("prod"), None, "nope", "")
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::MetricNotFound { .. }));
}

#[actix_rt::test]
async fn custom_by_name_and_the_namespace_object() {
    let w = world();
    w.relist().await;
    let query = r#"sum(rate(http_requests_total{namespace="prod"}[2m])) by (namespace)"#;
    w.prom.answer(
        query,
        QueryResult::Vector(vec![sample(&[("namespace", "prod")], 4.0, START as f64)]),
    );
    let values = w
        .custom(
            "namespaces",
            None,
            Some("prod"),
            "http_requests_per_second",
            "",
        )
        .await
        .unwrap();
    assert_eq!(values.len(), 1);
    assert_eq!(
        (
            values[0].object.kind.as_str(),
            values[0].object.namespace.clone()
        ),
        ("Namespace", None)
    );
    let err = w
        .custom(
            "pods",
            Some("prod"),
            Some("web-7"),
            "http_requests_per_second",
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the server could not find the metric http_requests_per_second for pods web-7"
    );
    let query = r#"max(app_queue_length{namespace="prod",deployment="worker"}) by (deployment)"#;
    w.prom.answer(
        query,
        QueryResult::Vector(vec![sample(
            &[("deployment", "worker")],
            17.0,
            START as f64,
        )]),
    );
    let values = w.worker_queue_length(Some("worker")).await.unwrap();
    assert_eq!(
        (
            values[0].value,
            values[0].object.api_version.as_str(),
            values[0].window
        ),
        (17.0, "apps/v1", None)
    );
}

#[actix_rt::test]
async fn external_metrics_carry_every_label_and_sample_time() {
    let w = world();
    w.relist().await;
    let query = r#"sum(queue_depth{namespace="shop"}) by (queue)"#;
    w.prom.answer(
        query,
        QueryResult::Vector(vec![sample(
            &[("queue", "orders")],
            42.0,
            START as f64 - 5.0,
        )]),
    );
    let msg = GetExternalMetric {
        namespace: "shop".into(),
        metric: "queue_depth".into(),
        selector: Selector::default(),
    };
    let values = w
        .adapter
        .front_door
        .send(msg.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values.len(), 1);
    assert_eq!(
        (values[0].value, values[0].timestamp),
        (42.0, START as f64 - 5.0)
    );
    assert_eq!(values[0].labels.as_ref().unwrap()["queue"], "orders");
    w.prom.answer(query, QueryResult::Scalar(7.0, START as f64));
    let values = w
        .adapter
        .front_door
        .send(msg.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((values[0].value, values[0].labels.clone()), (7.0, None));
    w.prom.answer(query, QueryResult::Unexpected("matrix"));
    let err = w.adapter.front_door.send(msg).await.unwrap().unwrap_err();
    assert!(matches!(err, FlowError::QueryFailed(_)));
    let unknown = GetExternalMetric {
        namespace: "shop".into(),
        metric: "nope".into(),
        selector: Selector::default(),
    };
    assert!(matches!(
        w.adapter.front_door.send(unknown).await.unwrap(),
        Err(FlowError::MetricNotFound { .. })
    ));
}

#[actix_rt::test]
async fn pod_metrics_need_cpu_and_memory_and_use_the_earliest_sample() {
    let w = world();
    w.relist().await;
    let t = START as f64;
    w.prom.answer(
        r#"sum(rate(container_cpu_usage_seconds_total{namespace="prod",pod=~"web-1|web-2",container!="",pod!=""}[2m])) by (pod,container)"#,
        QueryResult::Vector(vec![
            sample(&[("pod", "web-1"), ("container", "app")], 0.25, t),
            sample(&[("pod", "web-1"), ("container", "sidecar")], f64::NAN, t - 3.0),
            sample(&[("pod", "web-2"), ("container", "app")], 0.5, t),
        ]),
    );
    w.prom.answer(
        r#"sum(container_memory_working_set_bytes{namespace="prod",pod=~"web-1|web-2",container!="",pod!=""}) by (pod,container)"#,
        QueryResult::Vector(vec![sample(&[("pod", "web-1"), ("container", "app")], 1024.0, t - 1.0)]),
    );
    let msg = GetPodMetrics {
        namespace: Some("prod".into()),
        name: None,
        selector: Selector::default(),
    };
    let pods = w.adapter.front_door.send(msg).await.unwrap().unwrap();
    assert_eq!(
        pods.len(),
        1,
        "web-2 has no memory sample; db-1 is not Running"
    );
    let pod = &pods[0];
    assert_eq!(
        (pod.pod.name.as_str(), pod.timestamp, pod.window),
        ("web-1", t - 3.0, Duration::from_secs(120))
    );
    let containers: Vec<_> = pod
        .containers
        .iter()
        .map(|(n, u)| (n.as_str(), u.cpu, u.memory))
        .collect();
    assert_eq!(containers, [("app", 0.25, 1024.0), ("sidecar", 0.0, 0.0)]);
    let err = w.pod_metrics(Some("web-2")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"podmetrics.metrics.k8s.io "prod/web-2" not found"#
    );
    let err = w.pod_metrics(Some("db-1")).await.unwrap_err();
    assert_eq!(err.to_string(), r#"pods "db-1" not found"#);
}

#[actix_rt::test]
async fn node_metrics_take_the_first_sample_per_node() {
    let w = world();
    w.relist().await;
    let t = START as f64;
    w.prom.answer(
        r#"sum(rate(node_cpu_usage_seconds_total{node=~"node-1|node-2"}[2m])) by (node)"#,
        QueryResult::Vector(vec![
            sample(&[("node", "node-1")], 1.2, t),
            sample(&[("node", "node-1")], 9.0, t),
            sample(&[("node", "node-2")], -1.0, t),
        ]),
    );
    w.prom.answer(
        r#"sum(node_memory_working_set_bytes{node=~"node-1|node-2"}) by (node)"#,
        QueryResult::Vector(vec![
            sample(&[("node", "node-1")], 2e9, t - 2.0),
            sample(&[("node", "node-2")], 1e9, t),
        ]),
    );
    let nodes = w
        .adapter
        .front_door
        .send(GetNodeMetrics {
            name: None,
            selector: Selector::default(),
        })
        .await
        .unwrap()
        .unwrap();
    let summary: Vec<_> = nodes
        .iter()
        .map(|n| {
            (
                n.node.name.as_str(),
                n.usage.cpu,
                n.usage.memory,
                n.timestamp,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("node-1", 1.2, 2e9, t - 2.0), ("node-2", 0.0, 1e9, t)]
    );
    w.prom.answer(
        r#"sum(rate(node_cpu_usage_seconds_total{node="node-2"}[2m])) by (node)"#,
        QueryResult::Vector(vec![sample(&[("node", "node-2")], 0.3, t)]),
    );
    w.prom.answer(
        r#"sum(node_memory_working_set_bytes{node="node-2"}) by (node)"#,
        QueryResult::Vector(vec![sample(&[("node", "node-2")], 1e9, t)]),
    );
    let zone_b = GetNodeMetrics {
        name: None,
        selector: Selector::parse("zone=b").unwrap(),
    };
    let nodes = w.adapter.front_door.send(zone_b).await.unwrap().unwrap();
    assert_eq!(
        nodes
            .iter()
            .map(|n| (n.node.name.as_str(), n.usage.cpu))
            .collect::<Vec<_>>(),
        [("node-2", 0.3)]
    );
    let err = w
        .adapter
        .front_door
        .send(GetNodeMetrics {
            name: Some("node-9".into()),
            selector: Selector::default(),
        })
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"nodemetrics.metrics.k8s.io "node-9" not found"#
    );
}

#[actix_rt::test]
async fn a_rules_missing_value_answers_for_want_of_a_sample_and_only_where_it_may() {
    // The example's queue rule answers 0 without a sample, its deployments rule 2.5; the others do not.
    let rules = EXAMPLE
        .replacen(
            "by (queue)'",
            "by (queue)'\n  missingValue: \"0\"",
            1,
        )
        .replacen(
            "metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'",
            "metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n  missingValue: 2.5",
            1,
        );
    assert_eq!(rules.matches("missingValue").count(), 2);
    let w = world_of(options(), &rules);
    w.prom
        .add_series("cloud_sqs_messages_visible", &[("queue_name", "jobs")]);
    w.relist().await;
    let external = |metric: &str| GetExternalMetric {
        namespace: "shop".into(),
        metric: metric.into(),
        selector: Selector::default(),
    };
    // No series at all: one item, the rule's value, stamped with the evaluation time.
    let values = w
        .adapter
        .front_door
        .send(external("queue_depth"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values.len(), 1);
    assert_eq!(
        (
            values[0].value,
            values[0].timestamp,
            values[0].labels.clone()
        ),
        (0.0, START as f64, Some(Default::default()))
    );
    // A rule without missingValue keeps upstream's empty list.
    let values = w
        .adapter
        .front_door
        .send(external("sqs_backlog"))
        .await
        .unwrap()
        .unwrap();
    assert!(values.is_empty(), "{values:?}");
    // A sample present is answered as ever.
    w.prom.answer(
        r#"sum(queue_depth{namespace="shop"}) by (queue)"#,
        QueryResult::Vector(vec![sample(
            &[("queue", "orders")],
            42.0,
            START as f64 - 5.0,
        )]),
    );
    let values = w
        .adapter
        .front_door
        .send(external("queue_depth"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((values.len(), values[0].value), (1, 42.0));

    // One named object without a sample: the rule's value for that object (the HPA's Object metric).
    let values = w.worker_queue_length(Some("worker")).await.unwrap();
    assert_eq!(values.len(), 1);
    assert_eq!(
        (
            values[0].value,
            values[0].timestamp,
            values[0].object.name.as_str()
        ),
        (2.5, START as f64, "worker")
    );
    // By selector (the HPA's Pods metrics have their own rules for pods without a value): as ever.
    let values = w.worker_queue_length(None).await.unwrap();
    assert!(values.is_empty(), "{values:?}");
    // A NaN sample is a sample: no quantity, so a 404, as upstream.
    w.prom.answer(
        r#"max(app_queue_length{namespace="prod",deployment="worker"}) by (deployment)"#,
        QueryResult::Vector(vec![sample(
            &[("deployment", "worker")],
            f64::NAN,
            START as f64,
        )]),
    );
    let err = w.worker_queue_length(Some("worker")).await.unwrap_err();
    assert!(matches!(err, FlowError::MetricNotFound { .. }), "{err}");
    // A rule without missingValue keeps upstream's 404 for a named object.
    let err = w
        .custom(
            "pods",
            Some("prod"),
            Some("web-7"),
            "http_requests_per_second",
            "",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::MetricNotFound { .. }), "{err}");
    assert_eq!(
        w.adapter
            .flow_stats
            .missing_value_answers
            .load(std::sync::atomic::Ordering::Relaxed),
        2,
        "one external and one object answer were made of missingValue"
    );
}
