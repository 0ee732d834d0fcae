//! Discovery: the relist timer, its window, and per-rule failure isolation.

use super::*;

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
