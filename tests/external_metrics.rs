//! `external.metrics.k8s.io` end to end.

use crate::support::env::{demo_env, encode};

#[test]
fn external_values_carry_labels_and_honour_the_selector() {
    let env = demo_env();
    let all = env.json("/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth");
    assert_eq!(all["kind"], "ExternalMetricValueList");
    assert_eq!(all["apiVersion"], "external.metrics.k8s.io/v1beta1");
    let values = crate::support::env::external_values(&all, "queue");
    assert_eq!(
        values,
        [
            ("mail".to_string(), "3".to_string()),
            ("orders".to_string(), "42".to_string())
        ]
    );
    let orders = env.json(&format!(
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector={}",
        encode("queue=orders")
    ));
    assert_eq!(orders["items"].as_array().unwrap().len(), 1);
    assert_eq!(orders["items"][0]["metricName"], "queue_depth");
    // Namespaced rule: another namespace has no such series.
    let other = env.json("/apis/external.metrics.k8s.io/v1beta1/namespaces/prod/queue_depth");
    assert_eq!(other["items"], serde_json::json!([]));
    let (code, body) = env.get("/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/nope");
    assert_eq!(code, 404, "{body}");
    let (code, _) = env.get("/apis/external.metrics.k8s.io/v1beta1/queue_depth");
    assert_eq!(code, 404);
}
