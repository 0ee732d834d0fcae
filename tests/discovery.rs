//! Discovery documents and the generic endpoints, over HTTPS and through kubectl.

use crate::support::env::demo_env;

#[test]
fn discovery_documents_list_every_served_group_and_metric() {
    let env = demo_env();
    let groups = env.json("/apis");
    assert_eq!(groups["kind"], "APIGroupList");
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "custom.metrics.k8s.io",
            "external.metrics.k8s.io",
            "metrics.k8s.io"
        ]
    );
    let custom = env.json("/apis/custom.metrics.k8s.io");
    let versions: Vec<&str> = custom["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(
        versions,
        ["v1beta2", "v1beta1"],
        "both custom versions listed (upstream lists only v1beta1)"
    );
    let resources = env.json("/apis/custom.metrics.k8s.io/v1beta1");
    assert_eq!(resources["kind"], "APIResourceList");
    assert_eq!(resources["groupVersion"], "custom.metrics.k8s.io/v1beta1");
    let entries = env.discovery_entries("/apis/custom.metrics.k8s.io/v1beta1");
    assert!(
        entries.contains(&"pods/http_requests_per_second true".to_string()),
        "{entries:?}"
    );
    assert!(
        entries.contains(&"namespaces/http_requests_per_second false".to_string()),
        "{entries:?}"
    );
    assert!(
        entries.contains(&"deployments.apps/queue_length true".to_string()),
        "{entries:?}"
    );
    let mut sorted = entries.clone();
    sorted.sort_by_key(|e| e.starts_with("deployments"));
    assert_eq!(resources["resources"][0]["kind"], "MetricValueList");
    let external = env.json("/apis/external.metrics.k8s.io/v1beta1");
    assert_eq!(external["resources"][0]["name"], "queue_depth");
    let metrics = env.json("/apis/metrics.k8s.io/v1");
    assert_eq!(metrics["resources"].as_array().unwrap().len(), 2);
    assert_eq!(env.get("/apis/custom.metrics.k8s.io/v2").0, 404);

    let output = env.kubectl(&["get", "--raw", "/apis/custom.metrics.k8s.io/v1beta2"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn health_version_metrics_and_openapi_answer() {
    let env = demo_env();
    assert_eq!(env.get("/healthz"), (200, "ok".to_string()));
    assert_eq!(env.get("/livez").0, 200);
    assert_eq!(env.get("/readyz").0, 200);
    assert_eq!(env.json("/version")["major"], "1");
    let (code, metrics) = env.get("/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("prometheus_adapter_registry_metrics{api=\"external\"} 1"),
        "{metrics}"
    );
    for expected in [
        "prometheus_adapter_request_duration_seconds_count{group=\"nonresource\",verb=\"get\",code=\"200\"}",
        // Discovery asks label questions by default, not for every series.
        "prometheus_adapter_prometheus_client_request_duration_seconds_count{path=\"/api/v1/labels\"",
        "prometheus_adapter_relist_questions{mode=\"series\",endpoint=\"series\"} 0",
        "prometheus_adapter_rule_relist_mode{rule=\"custom[0]\",mode=\"labels\"} 1",
        "prometheus_adapter_rule_failing{rule=\"custom[0]\"} 0",
        "prometheus_adapter_rule_last_success_timestamp_seconds{rule=\"external[0]\"}",
    ] {
        assert!(metrics.contains(expected), "{expected} in {metrics}");
    }
    assert_eq!(
        env.json("/openapi/v2")["info"]["title"],
        "prometheus-metrics-adapter"
    );
    let (code, _) = env.get("/openapi/v3/apis/custom.metrics.k8s.io/v1beta2");
    assert_eq!(code, 200);
    let (_, v3) = env.get("/openapi/v3");
    assert!(v3.contains("apis/metrics.k8s.io/v1"), "{v3}");
    // ETags: a client that has the document gets 304.
    let (code, headers_and_body) =
        env.https("GET", "/openapi/v2", &[("If-None-Match", "\"nope\"")]);
    assert_eq!(code, 200);
    assert!(headers_and_body.contains("swagger"));
    // Aggregated discovery, as kube-apiserver's aggregator and kubectl ask for it.
    let (code, body) = env.https(
        "GET",
        "/apis",
        &[(
            "Accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )],
    );
    assert_eq!(code, 200);
    let aggregated: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(aggregated["kind"], "APIGroupDiscoveryList");
    let custom = aggregated["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "custom.metrics.k8s.io")
        .unwrap();
    let resources = custom["versions"][0]["resources"].as_array().unwrap();
    assert!(resources.iter().any(|r| r["resource"] == "pods/http_requests_per_second" && r["scope"] == "Namespaced"));
    // Clients that ask for protobuf first get it (tests/protobuf.rs decodes it).
    let (code, body) = env.https(
        "GET",
        "/apis/metrics.k8s.io/v1beta1/nodes",
        &[("Accept", "application/vnd.kubernetes.protobuf, */*")],
    );
    assert_eq!(code, 200);
    assert!(body.starts_with("k8s\0"), "{body:?}");
}
