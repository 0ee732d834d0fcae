//! Actor-level simulation: the real actors against simulated Prometheus and Kubernetes backends, on
//! tokio's paused clock. Each flow, each failure, each restart.

use std::time::{Duration, UNIX_EPOCH};

use adapter_actors::front_door::{
    FlowError, GetCustomMetric, GetDiscovery, GetExternalMetric, GetNodeMetrics, GetPodMetrics,
};
use adapter_actors::prom::QueryResult;
use adapter_actors::relister::RelistNow;
use adapter_actors::rule_namer::{CurrentRules, Reload};
use adapter_actors::sim::{Health, SimKube, SimPrometheus, sample};
use adapter_actors::{Adapter, Clock, Crash, Options, start};
use adapter_config::{GroupResource, Selector, rules};

const EXAMPLE: &str = include_str!("../../config/rules/example.yaml");
const START: u64 = 1_700_000_000;
const PODS_QUERY: &str =
    r#"sum(rate(http_requests_total{namespace="prod",pod=~"web-1|web-2"}[2m])) by (pod)"#;

struct World {
    prom: SimPrometheus,
    kube: SimKube,
    adapter: Adapter,
}

/// Each simulated Prometheus call's deadline.
const PROM_TIMEOUT: Duration = Duration::from_secs(2);

fn options() -> Options {
    let mut options = Options::default();
    options.relist.interval = Duration::from_secs(60);
    options.relist.max_age = Duration::from_secs(120);
    options.kube_timeout = Duration::from_secs(2);
    options.flows.deadline = Duration::from_secs(5);
    options
}

/// A cluster: namespace prod with pods web-1, web-2 (app=web), db-1 (app=db, Pending), node-1, node-2;
/// series for the example rules.
fn world() -> World {
    world_with(options())
}

fn world_with(options: Options) -> World {
    tokio::time::pause();
    let prom = SimPrometheus::new();
    for pod in ["web-1", "web-2"] {
        prom.add_series(
            "http_requests_total",
            &[("namespace", "prod"), ("pod", pod), ("method", "GET")],
        );
    }
    prom.add_series(
        "app_queue_length",
        &[("namespace", "prod"), ("deployment", "worker")],
    );
    prom.add_series("queue_depth", &[("namespace", "shop"), ("queue", "orders")]);
    let kube = SimKube::new();
    kube.add("namespaces", "", "prod", &[]);
    kube.add("pods", "prod", "web-1", &[("app", "web")]);
    kube.add("pods", "prod", "web-2", &[("app", "web")]);
    kube.add_with_phase("pods", "prod", "db-1", &[("app", "db")], "Pending");
    kube.add("pods", "other", "web-9", &[("app", "web")]);
    kube.add("deployments.apps", "prod", "worker", &[]);
    kube.add("nodes", "", "node-1", &[("zone", "a")]);
    kube.add("nodes", "", "node-2", &[("zone", "b")]);
    let config = rules::load("example.yaml", EXAMPLE).unwrap();
    let clock = Clock::starting_at(UNIX_EPOCH + Duration::from_secs(START));
    let adapter = start(
        config,
        adapter_actors::prom::Backends::single(std::rc::Rc::new(prom.clone()), PROM_TIMEOUT),
        std::rc::Rc::new(kube.clone()),
        clock,
        options,
    );
    World {
        prom,
        kube,
        adapter,
    }
}

impl World {
    async fn relist(&self) -> adapter_actors::relister::RelistSummary {
        self.adapter
            .relister
            .send(RelistNow)
            .await
            .unwrap()
            .unwrap()
    }

    async fn custom(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: Option<&str>,
        metric: &str,
        selector: &str,
    ) -> Result<Vec<adapter_actors::front_door::CustomValue>, FlowError> {
        let msg = GetCustomMetric {
            resource: GroupResource::parse(resource),
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            metric: metric.to_string(),
            selector: Selector::parse(selector).unwrap(),
            metric_selector: Selector::default(),
        };
        self.adapter.front_door.send(msg).await.unwrap()
    }

    /// Pod metrics in prod: all, or one by name.
    async fn pod_metrics(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<adapter_actors::front_door::PodMetrics>, FlowError> {
        let msg = GetPodMetrics {
            namespace: Some("prod".into()),
            name: name.map(str::to_string),
            selector: Selector::default(),
        };
        self.adapter.front_door.send(msg).await.unwrap()
    }

    /// The HPA's typical request: web pods' request rate in prod.
    async fn web_pods(&self) -> Result<Vec<adapter_actors::front_door::CustomValue>, FlowError> {
        self.custom(
            "pods",
            Some("prod"),
            None,
            "http_requests_per_second",
            "app=web",
        )
        .await
    }

    fn answer_pods(&self) {
        let ts = START as f64;
        self.prom.answer(
            PODS_QUERY,
            QueryResult::Vector(vec![
                sample(&[("pod", "web-1")], 1.5, ts),
                sample(&[("pod", "web-2")], 2.5, ts - 1.0),
            ]),
        );
    }
}

fn entries(world: &World) -> Vec<String> {
    let snapshot = world.adapter.registry.load();
    snapshot
        .custom_entries
        .iter()
        .map(|e| e.name.clone())
        .chain(
            snapshot
                .external_entries
                .iter()
                .map(|e| format!("external/{}", e.name)),
        )
        .collect()
}

#[actix_rt::test]
async fn first_relist_publishes_sorted_discovery() {
    let w = world();
    let summary = w.relist().await;
    assert_eq!(summary.failed_rules, 0);
    assert_eq!(
        entries(&w),
        [
            "namespaces/http_requests_per_second",
            "namespaces/queue_length",
            "pods/http_requests_per_second",
            "deployments.apps/queue_length",
            "external/queue_depth",
        ]
    );
    let snapshot = w.adapter.front_door.send(GetDiscovery).await.unwrap();
    assert!(snapshot.ready());
    assert_eq!(snapshot.rules.len(), 4);
    assert!(
        snapshot
            .rules
            .iter()
            .all(|r| r.error.is_none() && r.last_success.is_some())
    );
}

#[actix_rt::test]
async fn relists_every_interval_after_the_last_finished_with_the_max_age_window() {
    let w = world();
    w.relist().await;
    let calls = w.prom.series_calls();
    // One call per distinct seriesQuery (4 rules, 4 queries), start = end − max-age.
    let distinct = calls.len();
    assert!(distinct >= 4);
    let (_, start, end) = calls.last().unwrap().clone();
    assert_eq!(end - start, 120.0);
    w.prom.add_series(
        "app_backlog",
        &[("namespace", "prod"), ("deployment", "worker")],
    );
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert!(
        !entries(&w).contains(&"deployments.apps/backlog".to_string()),
        "not before the interval"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::yield_now().await;
    assert!(
        entries(&w).contains(&"deployments.apps/backlog".to_string()),
        "relisted within one interval"
    );
    let later = w.prom.series_calls();
    assert!(
        later.last().unwrap().2 >= end + 60.0,
        "the window moves with the clock"
    );
}

#[actix_rt::test]
async fn a_failing_rule_keeps_its_metrics_while_others_refresh() {
    let w = world();
    w.relist().await;
    w.prom
        .fail_matcher(r#"{__name__="queue_depth",queue!=""}"#, true);
    w.prom.add_series(
        "app_backlog",
        &[("namespace", "prod"), ("deployment", "worker")],
    );
    let summary = w.relist().await;
    assert_eq!(summary.failed_rules, 1);
    let now = entries(&w);
    assert!(
        now.contains(&"external/queue_depth".to_string()),
        "previous metrics of the failed rule kept"
    );
    assert!(
        now.contains(&"deployments.apps/backlog".to_string()),
        "other rules refreshed"
    );
    let snapshot = w.adapter.registry.load();
    let failed: Vec<_> = snapshot
        .rules
        .iter()
        .filter(|r| r.error.is_some())
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .error
            .as_ref()
            .unwrap()
            .contains("simulated failure")
    );
    assert!(failed[0].last_success.is_some());
}

#[actix_rt::test]
async fn prometheus_down_serves_last_discovery_fails_fast_and_recovers_within_an_interval() {
    let w = world();
    w.relist().await;
    w.answer_pods();
    w.prom.set_health(Health::Down);
    let summary = w.relist().await;
    assert_eq!(summary.failed_rules, 4);
    assert_eq!(entries(&w).len(), 5, "discovery still served");
    let started = tokio::time::Instant::now();
    let err = w.web_pods().await.unwrap_err();
    assert!(matches!(err, FlowError::Unavailable(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1), "fails fast");
    w.prom.set_health(Health::Up);
    tokio::time::sleep(Duration::from_secs(61)).await;
    tokio::task::yield_now().await;
    let snapshot = w.adapter.registry.load();
    assert!(
        snapshot.rules.iter().all(|r| r.error.is_none()),
        "recovered by the next timed relist"
    );
    assert_eq!(w.web_pods().await.unwrap().len(), 2);
}

#[actix_rt::test]
async fn kubernetes_down_fails_object_lookups_but_keeps_discovery() {
    let w = world();
    w.relist().await;
    w.kube.set_health(Health::Down);
    let err = w.web_pods().await.unwrap_err();
    assert!(matches!(err, FlowError::ListFailed(_)), "{err}");
    let err = w
        .adapter
        .front_door
        .send(GetPodMetrics {
            namespace: Some("prod".into()),
            name: None,
            selector: Selector::default(),
        })
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, FlowError::Unavailable(_)), "{err}");
    let summary = w.relist().await;
    assert_eq!(summary.failed_rules, 0, "relist uses the last resource map");
    assert_eq!(entries(&w).len(), 5);
}

#[actix_rt::test]
async fn hanging_backends_are_cut_off_by_their_timeouts() {
    let w = world();
    w.relist().await;
    w.prom.set_health(Health::Hang);
    let started = tokio::time::Instant::now();
    let err = w.web_pods().await.unwrap_err();
    assert!(
        matches!(&err, FlowError::Unavailable(m) if m.contains("did not answer within 2s")),
        "{err}"
    );
    assert_within(started.elapsed(), Duration::from_secs(2));
    w.prom.set_health(Health::Up);
    w.kube.set_health(Health::Hang);
    let started = tokio::time::Instant::now();
    let err = w.web_pods().await.unwrap_err();
    assert!(matches!(err, FlowError::ListFailed(_)), "{err}");
    assert_within(started.elapsed(), Duration::from_secs(2));
    // A relist against a hanging Prometheus also ends, with every rule failed.
    w.kube.set_health(Health::Up);
    w.prom.set_health(Health::Hang);
    assert_eq!(w.relist().await.failed_rules, 4);
}

/// Timers on the paused clock fire on the millisecond tick after their deadline.
fn assert_within(elapsed: Duration, expected: Duration) {
    assert!(
        elapsed >= expected && elapsed < expected + Duration::from_millis(10),
        "{elapsed:?} vs {expected:?}"
    );
}

#[actix_rt::test]
async fn the_flow_deadline_bounds_everything() {
    let mut options = options();
    options.flows.deadline = Duration::from_secs(3);
    let w = world_with(options);
    w.relist().await;
    // Each call is under its own 2 s timeout, but the list and the query together exceed the 3 s deadline.
    w.kube.set_health(Health::Slow(Duration::from_millis(1900)));
    w.prom.set_health(Health::Slow(Duration::from_millis(1900)));
    let started = tokio::time::Instant::now();
    let err = w.web_pods().await.unwrap_err();
    assert_eq!(err, FlowError::Timeout(Duration::from_secs(3)));
    assert_within(started.elapsed(), Duration::from_secs(3));
}

#[actix_rt::test]
async fn crashed_actors_restart_and_no_request_hangs() {
    let w = world();
    w.relist().await;
    w.answer_pods();
    w.prom.set_health(Health::Slow(Duration::from_millis(100)));
    let requests: Vec<_> = (0..50)
        .map(|i| {
            let door = w.adapter.front_door.clone();
            async move {
                let msg = GetCustomMetric {
                    resource: GroupResource::parse("pods"),
                    namespace: Some("prod".into()),
                    name: Some(if i % 2 == 0 { "web-1" } else { "web-2" }.into()),
                    metric: "http_requests_per_second".into(),
                    selector: Selector::default(),
                    metric_selector: Selector::default(),
                };
                door.send(msg).await
            }
        })
        .collect();
    let crashes = async {
        w.adapter.querier.do_send(Crash);
        w.adapter.namer.do_send(Crash);
        w.adapter.lister.do_send(Crash);
        w.adapter.front_door.do_send(Crash);
        w.adapter.relister.do_send(Crash);
    };
    let started = tokio::time::Instant::now();
    let (results, ()) =
        futures_util::future::join(futures_util::future::join_all(requests), crashes).await;
    assert!(
        started.elapsed() <= Duration::from_secs(5),
        "nothing waited past the deadline"
    );
    assert_eq!(results.len(), 50);
    // After the restarts, everything works again.
    w.prom.set_health(Health::Up);
    let values = w.web_pods().await.unwrap();
    assert_eq!(values.len(), 2);
    assert_eq!(
        w.relist().await.failed_rules,
        0,
        "the relister restarted too"
    );
    assert_eq!(
        w.adapter.namer.send(CurrentRules).await.unwrap().number,
        1,
        "the rule namer kept its rules"
    );
}

fn reload(text: &str, strict: bool) -> Reload {
    Reload {
        file: "new.yaml".into(),
        text: text.into(),
        strict,
    }
}

#[actix_rt::test]
async fn reload_swaps_rules_only_when_they_compile() {
    let w = world();
    w.relist().await;
    // An error (upstream refuses it too): nothing changes.
    let bad = w
        .adapter
        .namer
        .send(reload(
            "rules:\n- seriesQuery: x\n  name: {matches: '('}\n",
            false,
        ))
        .await
        .unwrap();
    let errors = bad.unwrap_err().to_string();
    assert!(
        errors.contains("new.yaml: rules[0].name.matches: invalid regex"),
        "{errors}"
    );
    assert_eq!(w.adapter.namer.send(CurrentRules).await.unwrap().number, 1);
    assert_eq!(w.relist().await.metrics, 5, "old rules still served");
    // A warning under --strict-config: refused as well.
    let warned = "rules:\n- seriesQuery: ''\n";
    let refused = w.adapter.namer.send(reload(warned, true)).await.unwrap();
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("rules[0].seriesQuery: warning: must not be empty")
    );
    assert_eq!(w.adapter.namer.send(CurrentRules).await.unwrap().number, 1);
    let good = "externalRules:\n- seriesQuery: '{__name__=\"queue_depth\"}'\n  name: {as: depth}\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'\n  resources: {namespaced: false}\n";
    let generation = w
        .adapter
        .namer
        .send(reload(good, false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(generation, 2);
    let summary = w.relist().await;
    assert_eq!((summary.generation, summary.metrics), (2, 1));
    assert_eq!(entries(&w), ["external/depth"]);
    let served = w.adapter.registry.load().served.clone();
    assert!(
        served.external && !served.custom && !served.resource,
        "{served:?}"
    );
    // Without strict, a warning disables only its rule: the other is served.
    let mixed = format!(
        "{good}- seriesQuery: '{{__name__=\"queue_depth\"}}'\n  name: {{as: other}}\n  metricsQuery: ''\n"
    );
    assert_eq!(
        w.adapter
            .namer
            .send(reload(&mixed, false))
            .await
            .unwrap()
            .unwrap(),
        3
    );
    w.relist().await;
    assert_eq!(entries(&w), ["external/depth"]);
    let snapshot = w.adapter.registry.load();
    assert_eq!(snapshot.served.disabled.len(), 1);
    let (rule, why) = &snapshot.served.disabled[0];
    assert_eq!(rule, "externalRules[1]");
    assert!(why[0].contains("externalRules[1].metricsQuery"), "{why:?}");
}

#[actix_rt::test]
async fn a_request_in_flight_during_a_reload_finishes_on_its_rules() {
    let w = world();
    w.relist().await;
    w.answer_pods();
    // The request is discovered with generation 1 and its query waits in Prometheus.
    w.prom.set_health(Health::Slow(Duration::from_millis(500)));
    let in_flight = w.web_pods();
    let reload_then_relist = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Generation 2 serves nothing for pods; until the relist publishes it, requests keep generation 1.
        let text = "externalRules:\n- seriesQuery: '{__name__=\"queue_depth\"}'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'\n";
        w.adapter
            .namer
            .send(reload(text, false))
            .await
            .unwrap()
            .unwrap();
        let during = w.web_pods().await;
        w.prom.set_health(Health::Up);
        w.relist().await;
        (during, w.web_pods().await)
    };
    let (first, (during, after)) = futures_util::future::join(in_flight, reload_then_relist).await;
    assert_eq!(
        first.unwrap().len(),
        2,
        "the request in flight finished on generation 1"
    );
    assert_eq!(
        during.unwrap().len(),
        2,
        "the snapshot still names generation 1"
    );
    assert!(
        matches!(after, Err(FlowError::MetricNotFound { .. })),
        "after the relist: generation 2, no such metric: {after:?}"
    );
}

#[actix_rt::test]
async fn identical_concurrent_queries_share_one_backend_call() {
    let w = world();
    w.relist().await;
    w.answer_pods();
    w.prom.set_health(Health::Slow(Duration::from_millis(500)));
    let before = w.prom.query_calls().len();
    let requests = (0..50).map(|_| w.web_pods());
    let results = futures_util::future::join_all(requests).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|v| v.len() == 2))
    );
    assert_eq!(
        w.prom.query_calls().len() - before,
        1,
        "one backend call for 50 identical queries"
    );
}

#[actix_rt::test]
async fn a_thousand_concurrent_requests_are_all_answered() {
    let w = world();
    w.relist().await;
    for i in 0..1000 {
        let pod = format!("web-{i}");
        let query = format!(
            r#"sum(rate(http_requests_total{{namespace="prod",pod="{pod}"}}[2m])) by (pod)"#
        );
        w.prom.answer(
            &query,
            QueryResult::Vector(vec![sample(&[("pod", &pod)], i as f64, START as f64)]),
        );
    }
    let requests = (0..1000).map(|i| {
        let door = w.adapter.front_door.clone();
        async move {
            let msg = GetCustomMetric {
                resource: GroupResource::parse("pod"),
                namespace: Some("prod".into()),
                name: Some(format!("web-{i}")),
                metric: "http_requests_per_second".into(),
                selector: Selector::default(),
                metric_selector: Selector::default(),
            };
            (i, door.send(msg).await.unwrap())
        }
    });
    let results = futures_util::future::join_all(requests).await;
    for (i, result) in results {
        let values = result.unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(
            (values.len(), values[0].value, values[0].object.name.clone()),
            (1, i as f64, format!("web-{i}"))
        );
    }
}

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
    let values = w
        .custom(
            "deployment.apps",
            Some("prod"),
            Some("worker"),
            "queue_length",
            "",
        )
        .await
        .unwrap();
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

/// A world whose resource map goes stale after a minute.
fn world_refreshing_every_minute() -> World {
    let mut options = options();
    options.discovery_refresh = Duration::from_secs(60);
    world_with(options)
}

fn shop_queue(w: &World) -> GetExternalMetric {
    w.prom.answer(
        r#"sum(queue_depth{namespace="shop"}) by (queue)"#,
        QueryResult::Vector(vec![sample(&[("queue", "orders")], 42.0, START as f64)]),
    );
    GetExternalMetric {
        namespace: "shop".into(),
        metric: "queue_depth".into(),
        selector: Selector::default(),
    }
}

#[actix_rt::test]
async fn a_stale_resource_map_is_refreshed_once_while_requests_are_answered_from_it() {
    let w = world_refreshing_every_minute();
    w.relist().await;
    w.answer_pods();
    tokio::time::advance(Duration::from_secs(61)).await;
    let before = w.kube.discovery_calls();
    // Discovery now takes a second; nobody may wait for it.
    w.kube
        .set_discovery_health(Some(Health::Slow(Duration::from_secs(1))));
    let started = tokio::time::Instant::now();
    let answers = futures_util::future::join_all((0..100).map(|_| w.web_pods())).await;
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().is_ok_and(|v| v.len() == 2))
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered from the current map: {:?}",
        started.elapsed()
    );
    assert_eq!(
        w.kube.discovery_calls() - before,
        1,
        "one refresh for 100 requests"
    );
    // The refresh finishes in the background; the next minute needs no other.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for _ in 0..10 {
        w.web_pods().await.unwrap();
    }
    assert_eq!(w.kube.discovery_calls() - before, 1);
}

#[actix_rt::test]
async fn failed_refreshes_are_backed_off_not_retried_per_request() {
    let w = world_refreshing_every_minute();
    w.relist().await;
    w.answer_pods();
    let msg = shop_queue(&w);
    tokio::time::advance(Duration::from_secs(61)).await;
    let before = w.kube.discovery_calls();
    w.kube.set_health(Health::Down);
    for _ in 0..50 {
        // Objects still list (the backend's own caches in a real cluster); external needs none.
        w.adapter
            .front_door
            .send(msg.clone())
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(w.kube.discovery_calls() - before, 1, "one failed refresh");
    // Backed off 1 s, then 2 s, ...: requests inside the pause start nothing.
    tokio::time::advance(Duration::from_millis(900)).await;
    w.adapter
        .front_door
        .send(msg.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(w.kube.discovery_calls() - before, 1);
    tokio::time::advance(Duration::from_millis(200)).await;
    w.adapter
        .front_door
        .send(msg.clone())
        .await
        .unwrap()
        .unwrap();
    tokio::task::yield_now().await;
    assert_eq!(w.kube.discovery_calls() - before, 2, "retried after 1 s");
    tokio::time::advance(Duration::from_millis(1500)).await;
    w.adapter
        .front_door
        .send(msg.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(w.kube.discovery_calls() - before, 2, "then backed off 2 s");
    // Back up: the next attempt after the pause succeeds and the map is fresh again.
    w.kube.set_health(Health::Up);
    tokio::time::advance(Duration::from_millis(600)).await;
    w.adapter
        .front_door
        .send(msg.clone())
        .await
        .unwrap()
        .unwrap();
    tokio::task::yield_now().await;
    let recovered = w.kube.discovery_calls();
    assert_eq!(recovered - before, 3);
    for _ in 0..10 {
        w.web_pods().await.unwrap();
    }
    assert_eq!(w.kube.discovery_calls(), recovered, "fresh again");
}

#[actix_rt::test]
async fn with_kubernetes_hung_external_requests_never_wait_for_it() {
    let w = world_refreshing_every_minute();
    w.relist().await;
    let msg = shop_queue(&w);
    tokio::time::advance(Duration::from_secs(61)).await;
    w.kube.set_health(Health::Hang);
    let started = tokio::time::Instant::now();
    for _ in 0..20 {
        let values = w
            .adapter
            .front_door
            .send(msg.clone())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(values.len(), 1);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1),
        "{:?}",
        started.elapsed()
    );
}

#[actix_rt::test]
async fn external_requests_are_served_before_kubernetes_ever_answered() {
    let w = world();
    w.kube.set_health(Health::Hang);
    // The relist ends (the lister's call times out) and keeps external rules' metrics.
    w.relist().await;
    let msg = shop_queue(&w);
    let started = tokio::time::Instant::now();
    let values = w.adapter.front_door.send(msg).await.unwrap().unwrap();
    assert_eq!(values.len(), 1);
    assert!(
        started.elapsed() < Duration::from_millis(1),
        "{:?}",
        started.elapsed()
    );
}

#[actix_rt::test]
async fn misses_share_one_refresh_and_are_rate_limited() {
    let w = world();
    w.relist().await;
    // A refresh on a miss waits a second after the last one (the relist's).
    tokio::time::advance(Duration::from_millis(1100)).await;
    let before = w.kube.discovery_calls();
    let unknown = || w.custom("widgets.example.com", Some("prod"), Some("w"), "m", "");
    let answers = futures_util::future::join_all((0..20).map(|_| unknown())).await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Err(FlowError::MetricNotFound { .. })))
    );
    assert_eq!(
        w.kube.discovery_calls() - before,
        1,
        "20 misses, one refresh"
    );
    for _ in 0..5 {
        assert!(unknown().await.is_err());
    }
    assert_eq!(
        w.kube.discovery_calls() - before,
        1,
        "within a second of the last"
    );
    tokio::time::advance(Duration::from_millis(1100)).await;
    assert!(unknown().await.is_err());
    assert_eq!(w.kube.discovery_calls() - before, 2);
}

fn world_with_cache(ttl: u64, stale: u64) -> World {
    let mut options = options();
    options.values.ttl = Duration::from_secs(ttl);
    options.values.serve_stale_for = Duration::from_secs(stale);
    world_with(options)
}

fn pods_calls(w: &World) -> usize {
    w.prom
        .query_calls()
        .iter()
        .filter(|q| *q == PODS_QUERY)
        .count()
}

#[actix_rt::test]
async fn without_the_value_cache_every_request_asks_prometheus() {
    let w = world();
    w.relist().await;
    w.answer_pods();
    for _ in 0..3 {
        w.web_pods().await.unwrap();
    }
    assert_eq!(pods_calls(&w), 3);
    w.prom.set_health(Health::Down);
    assert!(matches!(w.web_pods().await, Err(FlowError::Unavailable(_))));
}

#[actix_rt::test]
async fn the_value_cache_answers_within_its_ttl_with_the_samples_own_timestamps() {
    let w = world_with_cache(5, 0);
    w.relist().await;
    w.answer_pods();
    let first = w.web_pods().await.unwrap();
    tokio::time::advance(Duration::from_secs(4)).await;
    let again = w.web_pods().await.unwrap();
    assert_eq!(first, again, "same values and sample timestamps");
    assert_eq!(again[1].timestamp, START as f64 - 1.0);
    assert_eq!(pods_calls(&w), 1, "the second came from memory");
    let stats = &w.adapter.cache_stats;
    assert_eq!(stats.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    tokio::time::advance(Duration::from_millis(1100)).await;
    w.web_pods().await.unwrap();
    assert_eq!(pods_calls(&w), 2, "expired: asked again");
    // A TTL alone serves nothing stale.
    w.prom.set_health(Health::Down);
    tokio::time::advance(Duration::from_secs(6)).await;
    assert!(matches!(w.web_pods().await, Err(FlowError::Unavailable(_))));
}

#[actix_rt::test]
async fn a_stale_value_is_served_while_prometheus_fails_up_to_its_bound() {
    let w = world_with_cache(0, 60);
    w.relist().await;
    w.answer_pods();
    let good = w.web_pods().await.unwrap();
    w.prom.set_health(Health::Down);
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(
        w.web_pods().await.unwrap(),
        good,
        "down: the last good value"
    );
    // Hung: cut at the Prometheus timeout, then the stale value.
    w.prom.set_health(Health::Hang);
    let started = tokio::time::Instant::now();
    assert_eq!(w.web_pods().await.unwrap(), good);
    assert_within(started.elapsed(), Duration::from_secs(2));
    // Query errors are answers, not outages: never covered up.
    w.prom.set_health(Health::Up);
    w.prom.answer(PODS_QUERY, QueryResult::Unexpected("matrix"));
    assert!(matches!(w.web_pods().await, Err(FlowError::QueryFailed(_))));
    // Past the bound: 503 (Unavailable).
    w.answer_pods();
    w.prom.set_health(Health::Down);
    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(matches!(w.web_pods().await, Err(FlowError::Unavailable(_))));
    let stats = &w.adapter.cache_stats;
    assert_eq!(
        stats
            .stale_served
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(
        stats
            .stale_expired
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Back: fresh values again, and they are what a later outage falls back to.
    w.prom.set_health(Health::Up);
    w.web_pods().await.unwrap();
    w.prom.set_health(Health::Down);
    assert!(w.web_pods().await.is_ok());
}

#[actix_rt::test]
async fn cached_and_in_flight_sharing_work_together() {
    let w = world_with_cache(5, 0);
    w.relist().await;
    w.answer_pods();
    w.prom.set_health(Health::Slow(Duration::from_millis(100)));
    let answers = futures_util::future::join_all((0..50).map(|_| w.web_pods())).await;
    assert!(answers.iter().all(Result::is_ok));
    assert_eq!(pods_calls(&w), 1, "50 concurrent misses share one call");
    let answers = futures_util::future::join_all((0..50).map(|_| w.web_pods())).await;
    assert!(answers.iter().all(Result::is_ok));
    assert_eq!(pods_calls(&w), 1, "then all hit");
}

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
    // Each backend was asked for its own rule's series only; mimir's with the fallback tenant.
    let matchers = |p: &SimPrometheus| -> Vec<String> {
        let mut m: Vec<String> = p.series_calls().into_iter().map(|c| c.0).collect();
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
        snapshot
            .external_entries
            .iter()
            .any(|e| e.name == "queue_depth"),
        "its metrics are kept"
    );
}
