//! Bugs of upstream (kubernetes-sigs/prometheus-adapter) that users met, each test named after the issue it
//! guards against, in process through the binary's App.

use adapter_actors::prom::QueryResult;
use adapter_actors::sim::sample;

use crate::support::simulated::{json, world};

/// kubernetes-sigs/prometheus-adapter#280: a NaN sample (`histogram_quantile` over no requests) was served as
/// `-9223372036854775808m`, and a pod's `describedObject.apiVersion` as `/v1`. A NaN is left out; the
/// HPA then averages over the pods that have a value. Core objects are `v1`.
#[actix_rt::test]
async fn upstream_280_a_nan_sample_is_left_out_and_core_objects_are_v1() {
    let (app, prom) = world().await;
    let path = "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb";
    app.get(path, None).await;
    let promql = prom.query_calls().pop().expect("a query was sent");
    prom.answer(
        &promql,
        QueryResult::Vector(vec![
            sample(&[("pod", "web-1")], 30.0, 1_700_000_000.0),
            sample(&[("pod", "web-2")], f64::NAN, 1_700_000_000.0),
        ]),
    );
    let answer = app.get(path, None).await;
    assert_eq!(answer.status, 200);
    let body = String::from_utf8_lossy(&answer.body);
    assert!(!body.contains("9223372036854775808"), "{body}");
    let list = json(&answer);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["describedObject"]["name"], "web-1");
    assert_eq!(items[0]["describedObject"]["apiVersion"], "v1");
    assert_eq!(items[0]["value"], "30");
}
