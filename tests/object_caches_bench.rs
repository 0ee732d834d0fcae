//! The object caches' benchmark (issue 27; `scripts/bench-objects.sh` runs it, BENCHMARKS.md "Object
//! caches" holds its figures): no real cluster, the test API server holding 1,000, 20,000 and 100,000 pods
//! in namespaces of 1,000 (100 Deployments of 10 pods each, with the labels, kubectl last-applied
//! annotation, managed fields and owner reference such pods carry), a real Prometheus with a series for
//! every pod of the first namespace, and the adapter asked for the pods of a 10-pod and of a 1,000-pod
//! selector in that namespace by `adapter-load` over HTTP/2 and HTTP/1.1 at concurrency 1, 8 and 32. Each size runs with
//! the value cache off (Prometheus answers every request) and on (identical PromQL answered from memory,
//! so that the figures are the adapter's own cost). Ignored: it takes minutes.
//!
//! Environment: `LOAD_BIN` (the `adapter-load` binary, required), `ADAPTER_BIN` (default: the tests'
//! build), `OBJECT_BENCH_SIZES` (default `1000,20000,100000`), `OBJECT_BENCH_REQUESTS` (at c1, default
//! 2000), `OBJECT_BENCH_SECONDS` (at c8, default 5), `OBJECT_BENCH_CACHE` (`off,on` by default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::env::{Env, encode, wait_until};
use crate::support::kube_api::{KubeApi, Object, object};

const PODS_PER_NAMESPACE: usize = 1000;
const PODS_PER_DEPLOYMENT: usize = 10;

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// What a Deployment's pod carries beyond name and labels, shared by every pod (its size is what counts).
fn pod_metadata() -> Arc<serde_json::Map<String, Value>> {
    let last_applied = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"app.kubernetes.io/name": "shop"}, "name": "web", "namespace": "ns-0"},
        "spec": {"containers": [{"name": "app", "image": "registry.example.com/shop/web:1.24.3", "ports": [{"containerPort": 8080, "name": "http"}],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "env": (0..12).map(|i| json!({"name": format!("SETTING_{i}"), "value": format!("value-of-setting-number-{i}")})).collect::<Vec<_>>()}]}});
    let fields = json!({"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app.kubernetes.io/name": {}, "f:app.kubernetes.io/part-of": {}, "f:pod-template-hash": {}},
        "f:ownerReferences": {".": {}, "k:{\"uid\":\"5d0f1c3e-8a4b-4c55-9a61-2f0c1d2e3f40\"}": {}}},
        "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:ports": {}, "f:resources": {}}},
        "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}}});
    let extra = json!({
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied.to_string()},
        "managedFields": [
            {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": "2026-12-01T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields},
            {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-12-01T10:00:05Z", "fieldsType": "FieldsV1", "subresource": "status",
             "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}}},
        ],
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f6d", "uid": "5d0f1c3e-8a4b-4c55-9a61-2f0c1d2e3f40", "controller": true, "blockOwnerDeletion": true}],
        "generateName": "web-7d4b9c8f6d-",
        "creationTimestamp": "2026-12-01T10:00:00Z",
    });
    let Value::Object(extra) = extra else {
        unreachable!()
    };
    Arc::new(extra)
}

/// `pods` pods in namespaces of 1,000, and their namespaces.
fn cluster(pods: usize) -> Vec<Object> {
    let extra = pod_metadata();
    let mut objects = Vec::with_capacity(pods + pods / PODS_PER_NAMESPACE);
    for n in 0..pods.div_ceil(PODS_PER_NAMESPACE) {
        let namespace = leak(format!("ns-{n}"));
        objects.push(object("v1", "namespaces", "", namespace, &[], ""));
        for d in 0..PODS_PER_NAMESPACE / PODS_PER_DEPLOYMENT {
            let app = leak(format!("app-{d}"));
            let hash = leak(format!("{:010x}", 0x007d_4b9c_8f6d_u64 + d as u64));
            let labels = [
                ("app.kubernetes.io/name", app),
                ("app.kubernetes.io/part-of", "shop"),
                ("pod-template-hash", hash),
            ];
            for p in 0..PODS_PER_DEPLOYMENT {
                let name = leak(format!("{app}-{hash}-{p:05x}"));
                let mut pod = object("v1", "pods", namespace, name, &labels, "Running");
                pod.extra = Some(extra.clone());
                objects.push(pod);
            }
        }
    }
    objects
}

/// Pod watches the API server has been asked for: a watcher starts watching once its list is done.
fn pod_watches(api: &KubeApi) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.contains("/pods?") && r.contains("watch="))
        .count()
}

/// The adapter's resident and peak memory, KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[test]
#[ignore = "a benchmark (scripts/bench-objects.sh)"]
fn object_caches_bench() {
    let load = std::env::var("LOAD_BIN").expect("LOAD_BIN: the adapter-load binary");
    let sizes: Vec<usize> = std::env::var("OBJECT_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,20000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let requests = std::env::var("OBJECT_BENCH_REQUESTS").unwrap_or_else(|_| "2000".into());
    let seconds = std::env::var("OBJECT_BENCH_SECONDS").unwrap_or_else(|_| "5".into());
    let caches: Vec<bool> = std::env::var("OBJECT_BENCH_CACHE")
        .unwrap_or_else(|_| "off,on".into())
        .split(',')
        .map(|c| c.trim() == "on")
        .collect();
    let mut series = String::from("# TYPE http_requests_total counter\n");
    for object in cluster(PODS_PER_NAMESPACE)
        .iter()
        .filter(|o| o.plural == "pods")
    {
        series.push_str(&format!(
            "http_requests_total{{namespace=\"ns-0\",pod=\"{}\"}} 1\n",
            object.name
        ));
    }
    let selectors = [
        ("10 pods", "app.kubernetes.io/name=app-7"),
        ("1000 pods", "app.kubernetes.io/part-of=shop"),
    ];
    println!("# pods in the cluster, value cache; then adapter-load lines (ms) and memory");
    for &pods in &sizes {
        let api = KubeApi::start(cluster(pods));
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = api.kubeconfig(dir.path());
        for &cache in &caches {
            let lister = format!("--lister-kubeconfig={}", kubeconfig.display());
            let mut flags = vec!["--v=1"];
            if cache {
                flags.push("--metrics-cache-ttl=1h");
            }
            // The API server outlives each adapter: count only this adapter's watches.
            let watches_before = pod_watches(&api);
            let env = Env::start_with(
                "config/rules/example.yaml",
                &lister,
                &[("job/k/instance/ns-0", series.as_str())],
                &flags,
            );
            let pid = env.adapter_pid();
            let idle = memory_kib(pid).0;
            let path = |selector: &str| {
                format!(
                    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns-0/pods/*/http_requests_per_second?labelSelector={}",
                    encode(selector)
                )
            };
            let url = |selector: &str| format!("https://127.0.0.1:{}{}", env.port, path(selector));
            // The first request starts the pod watch (and is answered by one LIST); then the cache syncs.
            let started = Instant::now();
            let first = env.json(&path(selectors[0].1));
            assert_eq!(
                first["items"].as_array().map(Vec::len),
                Some(PODS_PER_DEPLOYMENT)
            );
            // Synced once the watcher, its list done, starts watching (this also times builds that
            // predate the object-cache metrics).
            wait_until("the pod cache", Duration::from_secs(600), || {
                pod_watches(&api) > watches_before
            });
            let synced = started.elapsed();
            let metrics = env.get("/metrics").1;
            let bytes = metrics
                .lines()
                .find_map(|l| {
                    l.strip_prefix(
                        "prometheus_adapter_object_cache_bytes{resource=\"pods\",phase=\"\"} ",
                    )
                })
                .unwrap_or("?")
                .to_string();
            let (after_sync, peak_sync) = memory_kib(pid);
            println!(
                "## {pods} pods, value cache {}: synced in {:.1}s; RSS idle {}, after sync {} (peak {}), cache estimate {bytes} B",
                if cache { "on" } else { "off" },
                synced.as_secs_f64(),
                mib(idle),
                mib(after_sync),
                mib(peak_sync),
            );
            // The adapter over HTTP/2 (one shared connection, as Go's clients) and, with `http1`, over
            // HTTP/1.1; at concurrency 1, 8 (the issue's) and 32 (DESIGN.md's).
            let run = |label: String, urls: Vec<String>, tls: bool, http1: bool| {
                for (c, amount) in [
                    ("1", ["-n", requests.as_str()]),
                    ("8", ["-d", seconds.as_str()]),
                    ("32", ["-d", seconds.as_str()]),
                ] {
                    let mut command = std::process::Command::new(&load);
                    command
                        .args(["--label", &format!("{label}, c{c}")])
                        .args(["-c", c])
                        .args(amount)
                        .args(urls.iter().flat_map(|u| ["--url", u.as_str()]));
                    if urls.len() > 1 {
                        command.arg("--together");
                    }
                    if tls {
                        command.args(["--cacert", &env.ca().display().to_string()]);
                    }
                    if http1 {
                        command.arg("--http1");
                    }
                    let output = command.output().expect("adapter-load runs");
                    assert!(output.status.success(), "{output:?}");
                    print!("{}", String::from_utf8_lossy(&output.stdout));
                }
            };
            for (label, selector) in selectors {
                run(
                    format!("{pods} pods, {label}"),
                    vec![url(selector)],
                    true,
                    false,
                );
                run(
                    format!("{pods} pods, {label}"),
                    vec![url(selector)],
                    true,
                    true,
                );
                if !cache {
                    // The same PromQL straight to Prometheus (plain HTTP/1.1, as Go's client speaks to it).
                    let explained = env.json(&format!(
                        "/debug/explain?custom=pods/http_requests_per_second&namespace=ns-0&labelSelector={}",
                        encode(selector)
                    ));
                    // Split under the byte budget into several queries, which the adapter runs at once:
                    // so does this baseline (`--together`).
                    let straight: Vec<String> = explained["explanation"]["queries"]
                        .as_array()
                        .expect("the request's PromQL")
                        .iter()
                        .map(|q| {
                            format!(
                                "http://127.0.0.1:{}/api/v1/query?query={}",
                                env.prom_port,
                                encode(q.as_str().unwrap())
                            )
                        })
                        .collect();
                    let label = format!(
                        "{pods} pods, {label}, Prometheus ({} queries)",
                        straight.len()
                    );
                    run(label, straight, false, false);
                }
            }
            let (rss, peak) = memory_kib(pid);
            println!("RSS after the load {} (peak {})", mib(rss), mib(peak));
        }
    }
}
