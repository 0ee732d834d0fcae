//! `custom.metrics.k8s.io` end to end: real Prometheus, HTTPS, exact JSON shapes, errors.

use serde_json::Value;

use crate::support::env::{demo_env, encode};

#[test]
fn pods_by_selector_in_v1beta1_and_v1beta2_shapes() {
    let env = demo_env();
    // Counters need two samples for rate(): push a higher value and let a scrape pass.
    for pod in ["web-1", "web-2"] {
        env.push(&format!("job/demo/instance/{pod}"), &format!("# TYPE http_requests_total counter\nhttp_requests_total{{namespace=\"prod\",pod=\"{pod}\"}} 400\n"));
    }
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let path = |v: &str| {
        format!(
            "/apis/custom.metrics.k8s.io/{v}/namespaces/prod/pods/*/http_requests_per_second?labelSelector={}",
            encode("app=web")
        )
    };
    let v2 = env.json(&path("v1beta2"));
    assert_eq!(v2["kind"], "MetricValueList");
    assert_eq!(v2["apiVersion"], "custom.metrics.k8s.io/v1beta2");
    assert_eq!(v2["metadata"], serde_json::json!({}));
    let items = v2["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["describedObject"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-1", "web-2", "web-3"]);
    let first = &items[0];
    assert_eq!(
        first["describedObject"],
        serde_json::json!({"kind": "Pod", "namespace": "prod", "name": "web-1", "apiVersion": "v1"})
    );
    assert_eq!(
        first["metric"],
        serde_json::json!({"name": "http_requests_per_second", "selector": null})
    );
    assert_eq!(first["windowSeconds"], 120, "window from rate(…[2m])");
    assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
    let value = first["value"].as_str().unwrap();
    assert!(
        value != "0" && !value.starts_with('-'),
        "a positive rate for a growing counter: {value}"
    );

    let v1 = env.json(&path("v1beta1"));
    let item = &v1["items"][0];
    assert_eq!(item["metricName"], "http_requests_per_second");
    assert_eq!(item["selector"], Value::Null);
    assert_eq!(item["window"], 120);
    assert!(item.get("metric").is_none());
}

#[test]
fn single_objects_the_namespace_object_and_errors() {
    let env = demo_env();
    let worker = env.json(
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length",
    );
    let items = worker["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["value"], "17");
    assert_eq!(items[0]["describedObject"]["apiVersion"], "apps/v1");
    assert_eq!(items[0]["describedObject"]["kind"], "Deployment");
    assert!(
        items[0].get("windowSeconds").is_none(),
        "max() has no range window"
    );

    let ns = env.json("/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/metrics/queue_length");
    assert_eq!(
        ns["items"][0]["describedObject"],
        serde_json::json!({"kind": "Namespace", "name": "prod", "apiVersion": "v1"})
    );
    assert_eq!(ns["items"][0]["value"], "17");

    let with_selector = env.json(&format!(
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/deployments.apps/worker/queue_length?metricLabelSelector={}",
        encode("deployment=worker")
    ));
    assert_eq!(
        with_selector["items"][0]["selector"],
        serde_json::json!({"matchLabels": {"deployment": "worker"}})
    );

    let status = |path: &str| {
        let (code, body) = env.get(path);
        let json: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
        assert_eq!(json["kind"], "Status");
        assert_eq!(json["code"], code);
        (
            code,
            json["reason"].as_str().unwrap().to_string(),
            json["message"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        status("/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/nope"),
        (
            404,
            "NotFound".into(),
            "the server could not find the metric nope for pods".into()
        )
    );
    assert_eq!(
        status(
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/deployments.apps/ghost/queue_length"
        ),
        (
            404,
            "NotFound".into(),
            "the server could not find the metric queue_length for deployments.apps ghost".into()
        )
    );
    let (code, reason, _) = status(&format!(
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/http_requests_per_second?labelSelector={}",
        encode("app in (")
    ));
    assert_eq!((code, reason.as_str()), (400, "BadRequest"));
    let (code, _, message) = status(
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/web-1/http_requests_per_second?fieldSelector=metadata.name%3Dweb-2",
    );
    assert_eq!(
        (code, message.as_str()),
        (
            400,
            "fieldSelector metadata.name doesn't match requested name"
        )
    );
    let (code, _, message) = status("/apis/custom.metrics.k8s.io/v1beta1/pods/x");
    assert_eq!((code, message.as_str()), (400, "invalid request path"));
}

#[test]
fn kubectl_reads_custom_metrics_as_a_real_client() {
    let env = demo_env();
    let output = env.kubectl(&[
        "get",
        "--raw",
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["items"][0]["value"], "17");
    let output = env.kubectl(&[
        "get",
        "--raw",
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/nope",
    ]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("the server could not find the metric nope for pods")
    );
}
