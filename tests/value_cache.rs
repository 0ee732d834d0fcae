//! The value cache against a real Prometheus: answers within the TTL come from memory, and with
//! Prometheus stopped the last good value is served up to `--metrics-serve-stale-for`, then 503.

use std::time::{Duration, Instant};

use crate::support::env::{demo_env, demo_env_with};

const OBJECT: &str =
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length";

/// `prometheus_adapter_value_cache_lookups_total{result=…}` from `/metrics`.
fn lookups(metrics: &str, result: &str) -> u64 {
    let prefix = format!("prometheus_adapter_value_cache_lookups_total{{result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
        .parse()
        .unwrap()
}

/// Prometheus queries the adapter made, by its own latency histogram's count.
fn prometheus_queries(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("prometheus_adapter_prometheus_client_request_duration_seconds_count")
                && l.contains("path=\"/api/v1/query\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn stale_values_cover_a_prometheus_outage_up_to_their_bound() {
    let mut env = demo_env_with(&["--metrics-cache-ttl=1h", "--metrics-serve-stale-for=4s"]);
    let good = env.json(OBJECT);
    let before = prometheus_queries(&env.get("/metrics").1);
    for _ in 0..5 {
        assert_eq!(
            env.json(OBJECT)["items"],
            good["items"],
            "within the TTL: the same answer"
        );
    }
    let metrics = env.get("/metrics").1;
    assert_eq!(
        prometheus_queries(&metrics),
        before,
        "no query reached Prometheus"
    );
    assert!(lookups(&metrics, "hit") >= 5);
    drop(metrics);
    // Past a TTL of an hour nothing changes; restart with a short TTL for the outage part.
    env.stop_prometheus();
    assert_eq!(
        env.json(OBJECT)["items"],
        good["items"],
        "fresh from memory"
    );
    drop(env);

    let mut env = demo_env_with(&["--metrics-cache-ttl=1ms", "--metrics-serve-stale-for=4s"]);
    let good = env.json(OBJECT);
    env.stop_prometheus();
    let stopped = Instant::now();
    let (code, body) = env.get(OBJECT);
    assert_eq!(code, 200, "Prometheus down: the last good value: {body}");
    let stale: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        stale["items"], good["items"],
        "with its own sample timestamp"
    );
    assert!(lookups(&env.get("/metrics").1, "stale") >= 1);
    assert!(env.log().contains("answering with the last good value"));
    while stopped.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, body) = env.get(OBJECT);
    assert_eq!(code, 503, "past the bound: {body}");
    assert!(lookups(&env.get("/metrics").1, "stale_expired") >= 1);
}

#[test]
fn without_the_flags_nothing_is_cached() {
    let mut env = demo_env();
    assert_eq!(env.get(OBJECT).0, 200);
    let before = prometheus_queries(&env.get("/metrics").1);
    for _ in 0..3 {
        assert_eq!(env.get(OBJECT).0, 200);
    }
    let metrics = env.get("/metrics").1;
    assert_eq!(
        prometheus_queries(&metrics),
        before + 3,
        "every request asks Prometheus"
    );
    assert_eq!(lookups(&metrics, "hit"), 0);
    env.stop_prometheus();
    assert_eq!(env.get(OBJECT).0, 503);
}
