//! `metrics.k8s.io` v1beta1 and v1 end to end, and `kubectl top` rendering them.

use crate::support::env::{demo_env, encode};

#[test]
fn pod_and_node_metrics_in_both_versions() {
    let env = demo_env();
    for version in ["v1beta1", "v1"] {
        let pods = env.json(&format!(
            "/apis/metrics.k8s.io/{version}/namespaces/prod/pods"
        ));
        assert_eq!(pods["kind"], "PodMetricsList");
        assert_eq!(pods["apiVersion"], format!("metrics.k8s.io/{version}"));
        let items = pods["items"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        let pod = &items[0];
        // List items carry no kind/apiVersion of their own, as upstream and metrics-server.
        assert!(
            pod.get("kind").is_none() && pod.get("apiVersion").is_none(),
            "{pod}"
        );
        assert_eq!(pod["metadata"]["name"], "web-1");
        assert_eq!(pod["metadata"]["labels"]["app"], "web");
        assert_eq!(pod["window"], "2m0s");
        assert_eq!(pod["containers"][0]["name"], "app");
        assert_eq!(pod["containers"][0]["usage"]["memory"], "45Mi");
    }
    let one = env.json("/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods/web-2");
    assert_eq!(one["metadata"]["name"], "web-2");
    assert_eq!(
        (one["kind"].as_str(), one["apiVersion"].as_str()),
        (Some("PodMetrics"), Some("metrics.k8s.io/v1beta1")),
        "single objects keep theirs"
    );
    let selected = env.json(&format!(
        "/apis/metrics.k8s.io/v1beta1/pods?labelSelector={}",
        encode("app=nothing")
    ));
    assert_eq!(selected["items"], serde_json::json!([]));
    let (code, body) = env.get("/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods/ghost");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains(r#"pods \"ghost\" not found"#), "{body}");

    let nodes = env.json("/apis/metrics.k8s.io/v1/nodes");
    let usage: Vec<(String, String)> = nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["metadata"]["name"].as_str().unwrap().to_string(),
                n["usage"]["memory"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        usage,
        [
            ("node-1".to_string(), "2Gi".to_string()),
            ("node-2".to_string(), "1Gi".to_string())
        ]
    );
    let (code, _) = env.get("/apis/metrics.k8s.io/v1beta1/nodes/ghost");
    assert_eq!(code, 404);
}

#[test]
fn tables_for_kubectl_get_podmetrics_and_nodemetrics() {
    let env = demo_env();
    let accept = [(
        "Accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )];
    let (code, body) = env.https(
        "GET",
        "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods",
        &accept,
    );
    assert_eq!(code, 200, "{body}");
    let table: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(table["kind"], "Table");
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Name", "CPU", "Memory", "Window"]);
    assert_eq!(table["rows"][0]["cells"][0], "web-1");
    assert_eq!(table["rows"][0]["cells"][2], "45Mi");
    assert_eq!(table["rows"][0]["object"]["metadata"]["namespace"], "prod");
    let (_, body) = env.https("GET", "/apis/metrics.k8s.io/v1/nodes/node-2", &accept);
    let table: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(table["rows"].as_array().unwrap().len(), 1);
    assert_eq!(table["rows"][0]["cells"][2], "1Gi");
    let output = env.kubectl(&["get", "podmetrics", "-n", "prod"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("web-2") && stdout.contains("45Mi") && stdout.contains("2m0s"),
        "{stdout}"
    );
}

#[test]
fn kubectl_top_renders_our_pod_and_node_metrics() {
    let env = demo_env();
    let output = env.kubectl(&["top", "pod", "-n", "prod"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{stdout}");
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[1].starts_with("web-1") && lines[1].contains("45Mi"),
        "{stdout}"
    );
    // rate() over the node counters needs a second scrape before nodes have cpu.
    crate::support::env::wait_until("node metrics", std::time::Duration::from_secs(15), || {
        env.kubectl(&["top", "node"]).status.success()
    });
    let output = env.kubectl(&["top", "node"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("node-1") && stdout.contains("2048Mi"),
        "{stdout}"
    );
    // The demo nodes have allocatable resources, so the percentage columns are filled:
    // 2 GiB of 7680 MiB is 26 %.
    let node_1 = stdout.lines().find(|l| l.starts_with("node-1")).unwrap();
    let columns: Vec<&str> = node_1.split_whitespace().collect();
    assert_eq!(columns.len(), 5, "NAME CPU CPU% MEMORY MEMORY%: {stdout}");
    assert!(columns[2].ends_with('%'), "{stdout}");
    assert_eq!(columns[4], "26%", "{stdout}");
    let (_, nodes) = env.get("/api/v1/nodes");
    let nodes: serde_json::Value = serde_json::from_str(&nodes).unwrap();
    assert_eq!(
        nodes["items"][0]["status"]["allocatable"]["memory"],
        "7680Mi"
    );
}
