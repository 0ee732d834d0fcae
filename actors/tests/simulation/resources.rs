//! The resource map: refreshed when stale or on a miss, backed off on failure, never waited for by external requests.

use super::*;

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
