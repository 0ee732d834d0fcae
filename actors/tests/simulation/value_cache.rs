//! The value cache: off by default, answers within its TTL, serves stale values while Prometheus fails.

use super::*;

fn world_with_cache(ttl: u64, stale: u64) -> World {
    let mut options = options();
    options.values.ttl = Duration::from_secs(ttl);
    options.values.serve_stale_for = Duration::from_secs(stale);
    world_with(options)
}

fn pods_calls(w: &World) -> usize {
    w.prom
        .query_calls()
        .iter()
        .filter(|q| *q == PODS_QUERY)
        .count()
}

#[actix_rt::test]
async fn without_the_value_cache_every_request_asks_prometheus() {
    let w = world();
    w.relist().await;
    w.answer_pods();
    for _ in 0..3 {
        w.web_pods().await.unwrap();
    }
    assert_eq!(pods_calls(&w), 3);
    w.prom.set_health(Health::Down);
    assert!(matches!(w.web_pods().await, Err(FlowError::Unavailable(_))));
}

#[actix_rt::test]
async fn the_value_cache_answers_within_its_ttl_with_the_samples_own_timestamps() {
    let w = world_with_cache(5, 0);
    w.relist().await;
    w.answer_pods();
    let first = w.web_pods().await.unwrap();
    tokio::time::advance(Duration::from_secs(4)).await;
    let again = w.web_pods().await.unwrap();
    assert_eq!(first, again, "same values and sample timestamps");
    assert_eq!(again[1].timestamp, START as f64 - 1.0);
    assert_eq!(pods_calls(&w), 1, "the second came from memory");
    let stats = &w.adapter.cache_stats;
    assert_eq!(stats.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    tokio::time::advance(Duration::from_millis(1100)).await;
    w.web_pods().await.unwrap();
    assert_eq!(pods_calls(&w), 2, "expired: asked again");
    // A TTL alone serves nothing stale.
    w.prom.set_health(Health::Down);
    tokio::time::advance(Duration::from_secs(6)).await;
    assert!(matches!(w.web_pods().await, Err(FlowError::Unavailable(_))));
}

#[actix_rt::test]
async fn a_stale_value_is_served_while_prometheus_fails_up_to_its_bound() {
    let w = world_with_cache(0, 60);
    w.relist().await;
    w.answer_pods();
    let good = w.web_pods().await.unwrap();
    w.prom.set_health(Health::Down);
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(
        w.web_pods().await.unwrap(),
        good,
        "down: the last good value"
    );
    // Hung: cut at the Prometheus timeout, then the stale value.
    w.prom.set_health(Health::Hang);
    let started = tokio::time::Instant::now();
    assert_eq!(w.web_pods().await.unwrap(), good);
    assert_within(started.elapsed(), Duration::from_secs(2));
    // Query errors are answers, not outages: never covered up.
    w.prom.set_health(Health::Up);
    w.prom.answer(PODS_QUERY, QueryResult::Unexpected("matrix"));
    assert!(matches!(w.web_pods().await, Err(FlowError::QueryFailed(_))));
    // Past the bound: 503 (Unavailable).
    w.answer_pods();
    w.prom.set_health(Health::Down);
    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(matches!(w.web_pods().await, Err(FlowError::Unavailable(_))));
    let stats = &w.adapter.cache_stats;
    assert_eq!(
        stats
            .stale_served
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(
        stats
            .stale_expired
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Back: fresh values again, and they are what a later outage falls back to.
    w.prom.set_health(Health::Up);
    w.web_pods().await.unwrap();
    w.prom.set_health(Health::Down);
    assert!(w.web_pods().await.is_ok());
}

#[actix_rt::test]
async fn cached_and_in_flight_sharing_work_together() {
    let w = world_with_cache(5, 0);
    w.relist().await;
    w.answer_pods();
    w.prom.set_health(Health::Slow(Duration::from_millis(100)));
    let answers = futures_util::future::join_all((0..50).map(|_| w.web_pods())).await;
    assert!(answers.iter().all(Result::is_ok));
    assert_eq!(pods_calls(&w), 1, "50 concurrent misses share one call");
    let answers = futures_util::future::join_all((0..50).map(|_| w.web_pods())).await;
    assert!(answers.iter().all(Result::is_ok));
    assert_eq!(pods_calls(&w), 1, "then all hit");
}
