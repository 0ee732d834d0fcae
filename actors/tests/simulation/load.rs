//! Many requests at once: identical queries share one backend call, a thousand are all answered.

use super::*;

#[actix_rt::test]
async fn identical_concurrent_queries_share_one_backend_call() {
    let w = world();
    w.relist().await;
    w.answer_pods();
    w.prom.set_health(Health::Slow(Duration::from_millis(500)));
    let before = w.prom.query_calls().len();
    let requests = (0..50).map(|_| w.web_pods());
    let results = futures_util::future::join_all(requests).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|v| v.len() == 2))
    );
    assert_eq!(
        w.prom.query_calls().len() - before,
        1,
        "one backend call for 50 identical queries"
    );
}

#[actix_rt::test]
async fn a_thousand_concurrent_requests_are_all_answered() {
    let w = world();
    w.relist().await;
    for i in 0..1000 {
        let pod = format!("web-{i}");
        let query = format!(
            r#"sum(rate(http_requests_total{{namespace="prod",pod="{pod}"}}[2m])) by (pod)"#
        );
        w.prom.answer(
            &query,
            QueryResult::Vector(vec![sample(&[("pod", &pod)], i as f64, START as f64)]),
        );
    }
    let requests = (0..1000).map(|i| {
        let door = w.adapter.front_door.clone();
        async move {
            let msg = GetCustomMetric {
                resource: GroupResource::parse("pod"),
                namespace: Some("prod".into()),
                name: Some(format!("web-{i}")),
                metric: "http_requests_per_second".into(),
                selector: Selector::default(),
                metric_selector: Selector::default(),
            };
            (i, door.send(msg).await.unwrap())
        }
    });
    let results = futures_util::future::join_all(requests).await;
    for (i, result) in results {
        let values = result.unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(
            (values.len(), values[0].value, values[0].object.name.clone()),
            (1, i as f64, format!("web-{i}"))
        );
    }
}
