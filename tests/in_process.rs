//! The API's wire shapes, Status mapping, content negotiation and protobuf, through the binary's own `App`
//! in process (`api::simulated`: the real actors on simulated Prometheus and Kubernetes): milliseconds a
//! test, no sockets, no Prometheus. What needs real processes is in the other modules.

use adapter_actors::prom::QueryResult;
use adapter_actors::sim::sample;
use prometheus_adapter::api::simulated::Answer;
use serde_json::Value;

use crate::support::simulated::{json, world};

const PODS: &str =
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second";
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// `(code, reason)` of a Status answer, checked to be one whose code is the answer's.
fn status(answer: &Answer) -> (u16, String) {
    let status = json(answer);
    assert_eq!(status["kind"], "Status", "{status}");
    assert_eq!(status["apiVersion"], "v1", "{status}");
    assert_eq!(status["status"], "Failure", "{status}");
    assert_eq!(status["code"], answer.status, "{status}");
    (
        answer.status,
        status["reason"].as_str().unwrap().to_string(),
    )
}

#[actix_rt::test]
async fn custom_values_by_selector_carry_the_objects_the_samples_and_the_window() {
    let (app, prom) = world().await;
    // The first request shows the PromQL built; Prometheus is then given an answer to it.
    let empty = app
        .get(&format!("{PODS}?labelSelector=app%3Dweb"), None)
        .await;
    assert_eq!(empty.status, 200);
    assert_eq!(json(&empty)["items"], Value::Array(vec![]));
    let promql = prom.query_calls().pop().expect("a query was sent");
    assert!(promql.contains(r#"pod=~"web-1|web-2""#), "{promql}");
    prom.answer(
        &promql,
        QueryResult::Vector(vec![
            sample(&[("pod", "web-1")], 2.5, 1_700_000_000.0),
            sample(&[("pod", "web-2")], 0.25, 1_700_000_000.0),
        ]),
    );
    let answer = app
        .get(&format!("{PODS}?labelSelector=app%3Dweb"), None)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json");
    let list = json(&answer);
    assert_eq!(list["kind"], "MetricValueList");
    assert_eq!(list["apiVersion"], "custom.metrics.k8s.io/v1beta2");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    let web1 = &items[0];
    assert_eq!(
        web1["describedObject"],
        serde_json::json!({"kind": "Pod", "namespace": "prod", "name": "web-1", "apiVersion": "v1"})
    );
    assert_eq!(web1["metric"]["name"], "http_requests_per_second");
    assert_eq!(web1["value"], "2500m");
    assert_eq!(web1["timestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(web1["windowSeconds"], 120);
    assert_eq!(items[1]["value"], "250m");
}

#[actix_rt::test]
async fn every_refusal_is_a_status_with_its_code_and_reason() {
    let (app, _) = world().await;
    let cases = [
        (
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/nope",
            None,
            404,
            "NotFound",
        ),
        (
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?labelSelector=a%3D%3D%3D",
            None,
            400,
            "BadRequest",
        ),
        (
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?watch=true",
            None,
            405,
            "MethodNotAllowed",
        ),
        (
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?timeout=soon",
            None,
            400,
            "BadRequest",
        ),
        (
            PODS,
            Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
            406,
            "NotAcceptable",
        ),
        ("/apis/no.such.group/v1", None, 404, "NotFound"),
        (
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/app%2Fx/http_requests_per_second",
            None,
            404,
            "NotFound",
        ),
    ];
    for (target, accept, code, reason) in cases {
        let answer = app.get(target, accept).await;
        assert_eq!(status(&answer), (code, reason.to_string()), "{target}");
    }
    let post = actix_web::test::TestRequest::post()
        .uri("/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth")
        .set_payload("x")
        .to_request();
    let answer = app.call(post).await;
    assert_eq!(status(&answer), (405, "MethodNotAllowed".to_string()));
}

#[actix_rt::test]
async fn protobuf_is_answered_when_asked_for_and_json_stays_the_default() {
    let (app, _) = world().await;
    let external = "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth";
    for accept in [None, Some("*/*"), Some("application/json")] {
        let answer = app.get(external, accept).await;
        assert_eq!(answer.status, 200, "{accept:?}");
        assert_eq!(answer.content_type, "application/json", "{accept:?}");
        assert_eq!(json(&answer)["kind"], "ExternalMetricValueList");
    }
    for accept in [
        PROTOBUF,
        "application/vnd.kubernetes.protobuf, application/json",
    ] {
        let answer = app.get(external, Some(accept)).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.content_type, PROTOBUF, "{accept}");
        // The Kubernetes protobuf envelope: magic, then a Unknown message naming the kind.
        assert!(answer.body.starts_with(b"k8s\0"), "{:?}", answer.body);
        let kind = b"ExternalMetricValueList";
        assert!(answer.body.windows(kind.len()).any(|w| w == kind));
    }
    // Errors too, when protobuf is asked for.
    let missing = app
        .get(
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/nope",
            Some(PROTOBUF),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type, PROTOBUF);
    assert!(missing.body.starts_with(b"k8s\0"));
    assert!(missing.body.windows(6).any(|w| w == b"Status"));
    // Discovery is JSON only.
    let discovery = app
        .get("/apis/custom.metrics.k8s.io/v1beta2", Some(PROTOBUF))
        .await;
    assert_eq!(discovery.content_type, "application/json");
}

#[actix_rt::test]
async fn discovery_lists_what_the_rules_serve() {
    let (app, _) = world().await;
    let list = json(&app.get("/apis/custom.metrics.k8s.io/v1beta2", None).await);
    assert_eq!(list["kind"], "APIResourceList");
    assert_eq!(list["groupVersion"], "custom.metrics.k8s.io/v1beta2");
    let names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "namespaces/http_requests_per_second",
            "pods/http_requests_per_second"
        ]
    );
    let external = json(&app.get("/apis/external.metrics.k8s.io/v1beta1", None).await);
    assert_eq!(external["resources"][0]["name"], "queue_depth");
}
