//! No request text reaches PromQL as structure: hostile selector values are refused with 400 before any
//! query is built, and values with regex metacharacters match literally in a real Prometheus.

use serde_json::Value;

use crate::support::env::{demo_env, encode};

const HOSTILE: &[&str] = &[
    "x\"} or vector(1) #",
    "x\\\"}",
    "a\nb\"}[5m]) or up{",
    "} or on() vector(1)",
    ".*",
    "a|b",
    "\u{202e}\u{1f600}\"",
    "orders\" or queue=\"mail",
];

#[test]
fn hostile_selector_values_never_reach_prometheus() {
    let env = demo_env();
    let paths = [
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/http_requests_per_second?labelSelector=",
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/deployments.apps/worker/queue_length?metricLabelSelector=",
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector=",
    ];
    for path in paths {
        for value in HOSTILE {
            for selector in [
                format!("queue={value}"),
                format!("queue in (orders,{value})"),
            ] {
                let (status, body) = env.get(&format!("{path}{}", encode(&selector)));
                assert_eq!(status, 400, "{path}{selector:?}: {body}");
                let status: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(status["reason"], "BadRequest");
                // The parameter at fault, then the parser's words.
                let message = status["message"].as_str().unwrap();
                assert!(
                    (message.starts_with("labelSelector: ")
                        || message.starts_with("metricLabelSelector: "))
                        && message.contains("unable to parse requirement"),
                    "{body}"
                );
            }
        }
    }
    // Valid values are literals: `ord.rs` is not a pattern matching `orders`.
    let queues = |selector: &str| -> Vec<String> {
        let answer = env.json(&format!(
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector={}",
            encode(selector)
        ));
        let mut queues: Vec<String> = answer["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metricLabels"]["queue"].as_str().unwrap().to_string())
            .collect();
        queues.sort();
        queues
    };
    assert_eq!(queues("queue in (ord.rs,mail)"), ["mail"]);
    assert_eq!(queues("queue in (orders,mail)"), ["mail", "orders"]);
    assert_eq!(queues("queue notin (ord.rs)"), ["mail", "orders"]);
    assert!(queues("queue=ord.rs").is_empty());
}
