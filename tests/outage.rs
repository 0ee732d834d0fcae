//! Prometheus stopped mid-test: discovery stays, metric requests fail fast with 503, then recover.

use std::time::{Duration, Instant};

use crate::support::env::{demo_env, wait_until};

#[test]
fn prometheus_outage_keeps_discovery_fails_fast_and_recovers() {
    let mut env = demo_env();
    let path =
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/deployments.apps/worker/queue_length";
    assert_eq!(env.get(path).0, 200);
    env.stop_prometheus();
    let started = Instant::now();
    let (code, body) = env.get(path);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("\"reason\":\"ServiceUnavailable\""), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "fails fast: {:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_secs(3));
    let discovery = env.json("/apis/custom.metrics.k8s.io/v1beta1");
    assert!(
        !discovery["resources"].as_array().unwrap().is_empty(),
        "discovery still served after a failed relist"
    );
    env.start_prometheus();
    wait_until("recovery", Duration::from_secs(30), || {
        env.get(path).0 == 200
    });
    assert!(
        env.log().contains("relist of rule failed"),
        "the failed relist was logged"
    );
}
