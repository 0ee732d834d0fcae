//! Several backends: each rule's own backend and tenant; one down leaves the other serving.

use super::*;

/// Rules routed to two backends: the default one (the example's pods rule) and `mimir`, whose tenant is
/// the request's namespace.
const ROUTED: &str = r#"
backends:
  mimir:
    url: http://mimir.invalid/prometheus
    tenant: {value: "<<.Namespace>>", fallback: "shop|prod"}
rules:
- seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
  resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
  name: {matches: "^(.*)_total$", as: "${1}_per_second"}
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
externalRules:
- seriesQuery: '{__name__="queue_depth",queue!=""}'
  resources: {overrides: {namespace: {resource: namespace}}}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)'
  backend: mimir
"#;

#[actix_rt::test]
async fn rules_reach_their_own_backend_with_the_namespace_tenant_and_one_down_leaves_the_other() {
    tokio::time::pause();
    let (default, mimir) = (SimPrometheus::new(), SimPrometheus::new());
    for pod in ["web-1", "web-2"] {
        default.add_series(
            "http_requests_total",
            &[("namespace", "prod"), ("pod", pod)],
        );
    }
    mimir.add_series("queue_depth", &[("namespace", "shop"), ("queue", "orders")]);
    let kube = SimKube::new();
    kube.add("pods", "prod", "web-1", &[("app", "web")]);
    kube.add("pods", "prod", "web-2", &[("app", "web")]);
    let backends =
        adapter_actors::prom::Backends::single(std::rc::Rc::new(default.clone()), PROM_TIMEOUT)
            .with("mimir", std::rc::Rc::new(mimir.clone()), PROM_TIMEOUT);
    let adapter = start(
        rules::load("routed.yaml", ROUTED).unwrap(),
        backends,
        std::rc::Rc::new(kube.clone()),
        Clock::starting_at(UNIX_EPOCH + Duration::from_secs(START)),
        options(),
    );
    let summary = adapter.relister.send(RelistNow).await.unwrap().unwrap();
    let errors: Vec<_> = adapter
        .registry
        .load()
        .rules
        .iter()
        .filter_map(|r| r.error.clone())
        .collect();
    assert_eq!(summary.failed_rules, 0, "{errors:?}");
    // Each backend was asked about its own rule's seriesQuery only (label questions, the probe aside;
    // the custom rule's also with a resource label required); mimir's with the fallback tenant.
    let matchers = |p: &SimPrometheus| -> Vec<String> {
        assert!(p.series_calls().is_empty(), "label mode by default");
        let mut m: Vec<String> = p
            .label_calls()
            .into_iter()
            .map(|c| c.1)
            .filter(|m| m != PROBE_SELECTOR)
            .collect();
        m.sort();
        m.dedup();
        m
    };
    assert_eq!(
        matchers(&default),
        [r#"http_requests_total{namespace!="",pod!=""}"#]
    );
    assert_eq!(matchers(&mimir), [r#"{__name__="queue_depth",queue!=""}"#]);
    assert!(
        mimir
            .tenants()
            .iter()
            .all(|t| t.as_deref() == Some("shop|prod"))
    );
    assert!(default.tenants().iter().all(Option::is_none));

    let external = |namespace: &str| GetExternalMetric {
        namespace: namespace.into(),
        metric: "queue_depth".into(),
        selector: Selector::default(),
    };
    let query = r#"sum(queue_depth{namespace="shop"}) by (queue)"#;
    mimir.answer(
        query,
        QueryResult::Vector(vec![sample(&[("queue", "orders")], 3.0, START as f64)]),
    );
    let values = adapter
        .front_door
        .send(external("shop"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values[0].value, 3.0);
    assert_eq!(mimir.query_calls(), [query]);
    assert_eq!(mimir.tenants().last().unwrap().as_deref(), Some("shop"));
    assert!(
        default.query_calls().is_empty(),
        "the default backend is not asked"
    );

    // The same PromQL for another tenant is another call (and another cache key).
    adapter
        .front_door
        .send(external("other"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mimir.tenants().last().unwrap().as_deref(), Some("other"));

    // mimir down: its metric answers 503, the default backend's keep being served.
    mimir.set_health(Health::Down);
    let err = adapter
        .front_door
        .send(external("shop"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, FlowError::Unavailable(_)), "{err}");
    default.answer(
        PODS_QUERY,
        QueryResult::Vector(vec![sample(&[("pod", "web-1")], 1.0, START as f64)]),
    );
    let pods = GetCustomMetric {
        resource: GroupResource::parse("pods"),
        namespace: Some("prod".into()),
        name: None,
        metric: "http_requests_per_second".into(),
        selector: Selector::parse("app=web").unwrap(),
        metric_selector: Selector::default(),
    };
    assert_eq!(
        adapter.front_door.send(pods).await.unwrap().unwrap().len(),
        1,
        "the default backend still serves (web-1 has a sample)"
    );
    let summary = adapter.relister.send(RelistNow).await.unwrap().unwrap();
    assert_eq!(
        summary.failed_rules, 1,
        "only mimir's rule fails its relist"
    );
    let snapshot = adapter.registry.load();
    assert!(
        snapshot.registry.external.contains_key("queue_depth"),
        "its metrics are kept"
    );
}
