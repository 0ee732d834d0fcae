//! Backends down, hung or slow, and crashed actors: every request answered within its deadline.

use super::*;

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
