//! A small world for the in-process tests: the binary's App (`api::simulated`) over the example rules, two
//! `app=web` pods and a `app=db` one with request counters, and a queue.

use adapter_actors::sim::{SimKube, SimPrometheus};
use prometheus_adapter::api::simulated::{Answer, Simulated};
use serde_json::Value;

const RULES: &str = include_str!("../../config/rules/example.yaml");

/// Two `app=web` pods with a request counter, a queue, and the app over them.
pub async fn world() -> (Simulated, SimPrometheus) {
    let prom = SimPrometheus::new();
    for pod in ["web-1", "web-2"] {
        prom.add_series(
            "http_requests_total",
            &[("namespace", "prod"), ("pod", pod)],
        );
    }
    prom.add_series("queue_depth", &[("namespace", "shop"), ("queue", "orders")]);
    let kube = SimKube::new();
    kube.add("namespaces", "", "prod", &[]);
    kube.add("pods", "prod", "web-1", &[("app", "web")]);
    kube.add("pods", "prod", "web-2", &[("app", "web")]);
    kube.add("pods", "prod", "db-1", &[("app", "db")]);
    (Simulated::start(RULES, prom.clone(), kube).await, prom)
}

/// The JSON of an answer.
pub fn json(answer: &Answer) -> Value {
    serde_json::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&answer.body)))
}
