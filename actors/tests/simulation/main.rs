//! Actor-level simulation: the real actors against simulated Prometheus and Kubernetes backends, on
//! tokio's paused clock. Each flow, each failure, each restart.

mod backends;
mod faults;
mod flows;
mod load;
mod relist;
mod reload;
mod resources;
mod value_cache;

use std::time::{Duration, UNIX_EPOCH};

use adapter_actors::front_door::{
    FlowError, GetCustomMetric, GetDiscovery, GetExternalMetric, GetNodeMetrics, GetPodMetrics,
};
use adapter_actors::prom::QueryResult;
use adapter_actors::relister::RelistNow;
use adapter_actors::rule_namer::{CurrentRules, Reload};
use adapter_actors::sim::{Health, LabelSupport, SimKube, SimPrometheus, sample};
use adapter_actors::{Adapter, Clock, Crash, Options, start};
use adapter_config::label_discovery::{PROBE_SELECTOR, RelistMode};
use adapter_config::{GroupResource, Selector, rules};

const EXAMPLE: &str = include_str!("../../../config/rules/example.yaml");
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
    world_of(options, EXAMPLE)
}

/// The world's cluster and series, serving `rules`.
fn world_of(options: Options, rules: &str) -> World {
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
    let config = rules::load("example.yaml", rules).unwrap();
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

    /// `queue_length` of deployments in prod: the worker by name, or all.
    async fn worker_queue_length(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<adapter_actors::front_door::CustomValue>, FlowError> {
        self.custom("deployment.apps", Some("prod"), name, "queue_length", "")
            .await
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
        .custom_entries()
        .map(|e| e.name)
        .chain(
            snapshot
                .external_entries()
                .map(|e| format!("external/{}", e.name)),
        )
        .collect()
}

/// Timers on the paused clock fire on the millisecond tick after their deadline.
fn assert_within(elapsed: Duration, expected: Duration) {
    assert!(
        elapsed >= expected && elapsed < expected + Duration::from_millis(10),
        "{elapsed:?} vs {expected:?}"
    );
}
