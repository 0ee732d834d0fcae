//! A rule's `missingValue` end to end (scale to zero): against a real Prometheus whose series disappear,
//! a rule with it answers its value with a fresh timestamp, a rule without it keeps upstream's answer (an
//! empty external list, a 404 for an object).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::env::{Env, http, wait_until};

const RULES: &str = r#"
rules:
- seriesQuery: 'jobs_waiting{namespace!="",deployment!=""}'
  resources: {overrides: {namespace: {resource: namespace}, deployment: {group: apps, resource: deployment}}}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
  missingValue: "0"
- seriesQuery: 'jobs_running{namespace!="",deployment!=""}'
  resources: {overrides: {namespace: {resource: namespace}, deployment: {group: apps, resource: deployment}}}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
externalRules:
- seriesQuery: 'queue_messages{queue!=""}'
  resources: {overrides: {namespace: {resource: namespace}}}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)'
  missingValue: "0"
- seriesQuery: 'queue_consumers{queue!=""}'
  resources: {overrides: {namespace: {resource: namespace}}}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)'
"#;

const WAITING: &str =
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/jobs_waiting";
const RUNNING: &str =
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/jobs_running";
const MESSAGES: &str = "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_messages";
const CONSUMERS: &str = "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_consumers";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// Seconds since the epoch of an RFC 3339 timestamp as the API writes it (`2026-12-07T02:17:11Z`).
fn seconds(rfc3339: &str) -> f64 {
    let output = std::process::Command::new("date")
        .args(["-u", "-d", rfc3339, "+%s"])
        .output()
        .expect("date runs");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{rfc3339} is a timestamp"))
}

#[test]
fn a_missing_value_answers_once_the_series_are_gone_and_only_for_its_rules() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES).expect("written");
    let group = "job/worker/instance/a";
    let env = Env::start_with(
        rules.to_str().expect("a UTF-8 path"),
        "--objects=deploy/demo/objects.yaml",
        &[(
            group,
            "jobs_waiting{namespace=\"prod\",deployment=\"worker\"} 5\njobs_running{namespace=\"prod\",deployment=\"worker\"} 3\n\
             queue_messages{namespace=\"shop\",queue=\"orders\"} 7\nqueue_consumers{namespace=\"shop\",queue=\"orders\"} 2\n",
        )],
        // Discovery keeps the metrics for an hour after their series go: what is asked here is the
        // answer for a discovered metric without data.
        &["--metrics-max-age=1h"],
    );
    // With data, every rule answers its sample, missingValue or not.
    assert_eq!(env.json(WAITING)["items"][0]["value"], "5");
    assert_eq!(env.json(RUNNING)["items"][0]["value"], "3");
    assert_eq!(env.json(MESSAGES)["items"][0]["value"], "7");
    assert_eq!(env.json(CONSUMERS)["items"][0]["value"], "2");

    // The work is gone: the series disappear (Prometheus marks them stale at its next scrape).
    let (status, body) = http(env.push_port, "DELETE", &format!("/metrics/{group}"), "");
    assert!(status == 202 || status == 200, "{status} {body}");
    wait_until(
        "the queue's series to go stale",
        Duration::from_secs(20),
        || {
            env.json(CONSUMERS)["items"]
                .as_array()
                .is_some_and(Vec::is_empty)
        },
    );

    // externalRules[0]: one item, 0, stamped now; externalRules[1]: upstream's empty list.
    let messages = env.json(MESSAGES);
    let item = &messages["items"][0];
    assert_eq!(
        messages["items"].as_array().map(Vec::len),
        Some(1),
        "{messages}"
    );
    assert_eq!(
        (&item["metricName"], &item["value"]),
        (&"queue_messages".into(), &"0".into())
    );
    let age = now() - seconds(item["timestamp"].as_str().expect("a timestamp"));
    assert!(
        (-2.0..5.0).contains(&age),
        "a fresh timestamp, not the last sample's: {item}"
    );
    // rules[0]: the named object gets 0; rules[1]: upstream's 404.
    let waiting = env.json(WAITING);
    assert_eq!(waiting["items"][0]["value"], "0", "{waiting}");
    assert_eq!(waiting["items"][0]["describedObject"]["name"], "worker");
    let (status, body) = env.get(RUNNING);
    assert_eq!(status, 404, "{body}");

    // Counted, and explained.
    let (_, metrics) = env.get("/metrics");
    let answered: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("prometheus_adapter_missing_value_answers_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("the counter in {metrics}"));
    assert!(answered >= 2, "{answered}");
    let explained = env.json("/debug/explain?external=queue_messages&namespace=shop");
    let why = explained["explanation"]["missingValue"]["why"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        why, "no sample: answered 0 by rule externalRules[0]",
        "{explained}"
    );
    assert!(explained["text"].as_str().unwrap_or_default().contains(why));
}
