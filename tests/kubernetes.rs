//! The Kubernetes side through the real kube client: discovery from a test API server (scope of a
//! cluster-scoped CRD included), object lists with the label selector passed through and evaluated with
//! Kubernetes semantics, and Running pods only for resource metrics.

use crate::support::env::{Env, encode};
use crate::support::kube_api::{KubeApi, object};

#[test]
fn objects_and_resources_come_from_the_api_server() {
    let api = KubeApi::start(vec![
        object("v1", "namespaces", "", "prod", &[], ""),
        object("v1", "pods", "prod", "web-1", &[("app", "web")], "Running"),
        object(
            "v1",
            "pods",
            "prod",
            "web-2",
            &[("app", "web"), ("tier", "front")],
            "Running",
        ),
        object(
            "v1",
            "pods",
            "prod",
            "web-3",
            &[("app", "other")],
            "Running",
        ),
        object("v1", "pods", "prod", "db-1", &[("app", "web")], "Pending"),
        object("v1", "nodes", "", "node-1", &[], ""),
        object("apps/v1", "deployments", "prod", "worker", &[], ""),
        object("example.com/v1", "widgets", "", "w1", &[], ""),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = api.kubeconfig(dir.path());
    let mut pushes: Vec<(String, String)> = ["web-1", "web-2", "web-3", "db-1", "web-4"]
        .iter()
        .map(|pod| {
            (
                format!("job/k/instance/{pod}"),
                format!(
                    "# TYPE container_memory_working_set_bytes gauge\ncontainer_memory_working_set_bytes{{namespace=\"prod\",pod=\"{pod}\",container=\"app\"}} 1048576\n\
                     # TYPE container_cpu_usage_seconds_total counter\ncontainer_cpu_usage_seconds_total{{namespace=\"prod\",pod=\"{pod}\",container=\"app\"}} 1\n\
                     # TYPE http_requests_total counter\nhttp_requests_total{{namespace=\"prod\",pod=\"{pod}\"}} 1\n"
                ),
            )
        })
        .collect();
    pushes.push((
        "job/k/instance/widgets".into(),
        "# TYPE app_widget_load gauge\napp_widget_load{namespace=\"prod\",deployment=\"worker\",widget=\"w1\"} 5\n".into(),
    ));
    let refs: Vec<(&str, &str)> = pushes
        .iter()
        .map(|(g, t)| (g.as_str(), t.as_str()))
        .collect();
    let env = Env::start(
        "config/rules/example.yaml",
        &format!("--lister-kubeconfig={}", kubeconfig.display()),
        &refs,
    );

    // Discovery: the CRD's scope comes from the API server, so its metric is cluster-scoped.
    let entries = env.discovery_entries("/apis/custom.metrics.k8s.io/v1beta1");
    assert!(
        entries.contains(&"widgets.example.com/widget_load false".to_string()),
        "{entries:?}"
    );
    assert!(
        entries.contains(&"pods/http_requests_per_second true".to_string()),
        "{entries:?}"
    );

    // Selector mode lists pods through the API with the selector; db-1 (Pending) is listed too, as
    // upstream, and web-3 is not selected.
    let path = format!(
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/http_requests_per_second?labelSelector={}",
        encode("app in (web)")
    );
    let values = env.json(&path);
    let names: Vec<&str> = values["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["describedObject"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db-1", "web-1", "web-2"]);
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("/api/v1/namespaces/prod/pods?")
                && r.contains("labelSelector=app+in+%28web%29")),
        "{requests:?}"
    );

    // Resource metrics only for Running pods, asked of the API server with a field selector.
    let pods = env.json("/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods");
    let names: Vec<&str> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-1", "web-2", "web-3"]);
    assert_eq!(
        pods["items"][1]["metadata"]["labels"]["tier"], "front",
        "labels come from the API server"
    );
    assert!(
        api.requests()
            .iter()
            .any(|r| r.contains("fieldSelector=status.phase%3DRunning")),
        "{:?}",
        api.requests()
    );

    // The cluster-scoped CRD's metric is served at the root path.
    let widget = env.json("/apis/custom.metrics.k8s.io/v1beta1/widgets.example.com/w1/widget_load");
    assert_eq!(widget["items"][0]["value"], "5");
    assert_eq!(
        widget["items"][0]["describedObject"],
        serde_json::json!({"kind": "Widget", "name": "w1", "apiVersion": "example.com/v1"})
    );
    // Once the watch-fed cache has synced, requests are answered without listing again, and objects
    // added later arrive through the watch.
    let is_pod_list = |r: &String| r.contains("/pods?") && !r.contains("watch=");
    crate::support::env::wait_until("the pod watch", std::time::Duration::from_secs(10), || {
        api.requests()
            .iter()
            .any(|r| r.contains("/pods?") && r.contains("watch="))
    });
    let lists_before = api.requests().iter().filter(|r| is_pod_list(r)).count();
    for _ in 0..5 {
        let values = env.json(&path);
        assert_eq!(values["items"].as_array().unwrap().len(), 3);
    }
    assert_eq!(
        api.requests().iter().filter(|r| is_pod_list(r)).count(),
        lists_before,
        "served from the cache"
    );
    api.add(object(
        "v1",
        "pods",
        "prod",
        "web-4",
        &[("app", "web")],
        "Running",
    ));
    crate::support::env::wait_until(
        "web-4 through the watch",
        std::time::Duration::from_secs(10),
        || {
            env.json(&path)["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["describedObject"]["name"] == "web-4")
        },
    );
    assert_eq!(
        api.requests().iter().filter(|r| is_pod_list(r)).count(),
        lists_before,
        "no LIST for the new pod"
    );
    // Relabelled out of the selector (MODIFIED) and deleted (DELETED): gone from the answers, still without
    // a LIST.
    let names = || -> Vec<String> {
        let mut names: Vec<String> = env.json(&path)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["describedObject"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    api.relabel("pods", "prod", "web-2", &[("app", "other")]);
    api.delete("pods", "prod", "web-4");
    crate::support::env::wait_until(
        "web-2 relabelled and web-4 deleted through the watch",
        std::time::Duration::from_secs(10),
        || names() == ["db-1", "web-1"],
    );
    api.relabel("pods", "prod", "web-3", &[("app", "web")]);
    crate::support::env::wait_until(
        "web-3 relabelled into the selector",
        std::time::Duration::from_secs(10),
        || names() == ["db-1", "web-1", "web-3"],
    );
    assert_eq!(
        api.requests().iter().filter(|r| is_pod_list(r)).count(),
        lists_before,
        "no LIST for changes"
    );

    // Core objects are not served by the adapter when a real cluster is behind it.
    assert_eq!(env.get("/api/v1/nodes").0, 404);
}

/// kube-apiserver hung (every new request waits a minute): discovery refreshes fail in the background,
/// backed off, while external requests never wait for it and object requests are answered from the
/// watch-fed caches and the last resource map — none anywhere near the 10 s Kubernetes timeout.
#[test]
fn a_hung_api_server_slows_no_request() {
    let api = KubeApi::start(vec![
        object("v1", "namespaces", "", "prod", &[], ""),
        object("v1", "pods", "prod", "web-1", &[("app", "web")], "Running"),
        object("v1", "pods", "prod", "web-2", &[("app", "web")], "Running"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = api.kubeconfig(dir.path());
    let pushes = [(
        "job/k/instance/all",
        "# TYPE http_requests_total counter\nhttp_requests_total{namespace=\"prod\",pod=\"web-1\"} 1\nhttp_requests_total{namespace=\"prod\",pod=\"web-2\"} 1\n\
         # TYPE queue_depth gauge\nqueue_depth{namespace=\"shop\",queue=\"orders\"} 42\n",
    )];
    // The relist interval is also the resource map's refresh interval: 2 s.
    let env = Env::start(
        "config/rules/example.yaml",
        &format!("--lister-kubeconfig={}", kubeconfig.display()),
        &pushes,
    );
    let pods = "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb";
    let external = "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth";
    assert_eq!(env.json(pods)["items"].as_array().unwrap().len(), 2);
    crate::support::env::wait_until("the pod watch", std::time::Duration::from_secs(10), || {
        api.requests()
            .iter()
            .any(|r| r.contains("/pods?") && r.contains("watch="))
    });
    api.set_hung(true);
    let hung_at = std::time::Instant::now();
    let mut slowest = std::time::Duration::ZERO;
    // Three refresh intervals: every one finds the map stale.
    while hung_at.elapsed() < std::time::Duration::from_secs(7) {
        for path in [external, pods, "/apis/custom.metrics.k8s.io/v1beta1"] {
            let started = std::time::Instant::now();
            let (code, body) = env.get(path);
            slowest = slowest.max(started.elapsed());
            assert_eq!(code, 200, "{path} with the API server hung: {body}");
        }
    }
    assert!(
        slowest < std::time::Duration::from_secs(1),
        "slowest request with the API server hung: {slowest:?}"
    );
    // The refresh that hung fails at the 10 s Kubernetes timeout; requests meanwhile were not held up.
    crate::support::env::wait_until(
        "the failed refresh in the log",
        std::time::Duration::from_secs(15),
        || env.log().contains("resource discovery failed"),
    );
    let (code, _) = env.get(external);
    assert_eq!(code, 200);
    api.set_hung(false);
    let metrics = env.get("/metrics").1;
    assert!(
        metrics.contains(
            "prometheus_adapter_kubernetes_requests_total{call=\"discovery\",result=\"success\"}"
        ),
        "Kubernetes client metrics: {metrics}"
    );
    assert!(metrics.contains("prometheus_adapter_kubernetes_rate_limiter_wait_seconds_count"));
    assert!(
        metrics.contains(
            "prometheus_adapter_kubernetes_requests_total{call=\"discovery\",result=\"timeout\"}"
        ),
        "the failed discovery is counted: {metrics}"
    );
}

/// The object cache under churn and a watch restart: the API server compacts its history (every watch is
/// answered 410 Gone), the adapter lists again in pages — slowed here, so that the relist takes seconds —
/// and a pod deleted meanwhile is gone only once the relist is complete. Requests during the relist are
/// answered from the previous cache, whole (never empty, never a part of the pages), and without a LIST.
#[test]
fn a_relist_after_410_gone_replaces_the_cache_whole() {
    let pods = 1200;
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut objects = vec![object("v1", "namespaces", "", "prod", &[], "")];
    let mut series = String::from("# TYPE http_requests_total counter\n");
    for i in 0..pods {
        let name = leak(format!("web-{i:04}"));
        objects.push(object(
            "v1",
            "pods",
            "prod",
            name,
            &[("app", "web")],
            "Running",
        ));
        objects.push(object(
            "v1",
            "pods",
            "dev",
            name,
            &[("app", "web")],
            "Running",
        ));
        series.push_str(&format!(
            "http_requests_total{{namespace=\"prod\",pod=\"{name}\"}} 1\n"
        ));
    }
    let api = KubeApi::start(objects);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = api.kubeconfig(dir.path());
    let env = Env::start(
        "config/rules/example.yaml",
        &format!("--lister-kubeconfig={}", kubeconfig.display()),
        &[("job/k/instance/all", series.as_str())],
    );
    let path = format!(
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/http_requests_per_second?labelSelector={}",
        encode("app=web")
    );
    let count = || env.json(&path)["items"].as_array().unwrap().len();
    assert_eq!(count(), pods);
    let cached = "prometheus_adapter_object_cache_objects{resource=\"pods\",phase=\"\"}";
    crate::support::env::wait_until("the pod cache", std::time::Duration::from_secs(20), || {
        env.get("/metrics")
            .1
            .contains(&format!("{cached} {}", 2 * pods))
    });

    let seen_before = api.requests().len();
    api.set_list_delay(std::time::Duration::from_millis(400));
    api.expire_watches();
    api.delete("pods", "prod", "web-0000");
    // Every answer until the relist completes has every pod; then web-0000 is gone.
    let mut answers = Vec::new();
    crate::support::env::wait_until(
        "the relist without web-0000",
        std::time::Duration::from_secs(30),
        || {
            answers.push(count());
            *answers.last().unwrap() == pods - 1
        },
    );
    api.set_list_delay(std::time::Duration::ZERO);
    let during = &answers[..answers.len() - 1];
    assert!(
        during.iter().all(|n| *n == pods),
        "answers during the relist: {during:?}"
    );
    let since: Vec<String> = api.requests()[seen_before..]
        .iter()
        .filter(|r| r.contains("/pods?"))
        .cloned()
        .collect();
    let pages = since.iter().filter(|r| r.contains("continue=")).count();
    assert!(
        pages >= 2 && during.len() >= 2,
        "a paged relist ({pages} continued pages) with requests answered during it ({}): {since:?}",
        during.len()
    );
    assert!(
        since.iter().all(|r| !r.contains("labelSelector=app")),
        "no request fell back to a LIST: {since:?}"
    );
    let metrics = env.get("/metrics").1;
    assert!(
        metrics.contains(&format!("{cached} {}", 2 * pods - 1)),
        "{metrics}"
    );
    let bytes: f64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("prometheus_adapter_object_cache_bytes{resource=\"pods\",phase=\"\"} ")
        })
        .expect("the cache's bytes")
        .parse()
        .unwrap();
    assert!(
        bytes > 0.0 && bytes < 256.0 * (2 * pods) as f64,
        "an estimate of what the names and shared labels hold: {bytes}"
    );
}
