//! Discovery by label values (`--relist-mode=labels`) against real backends gives the same discovery
//! documents as discovery by series (`--relist-mode=series`, upstream's way): for a generated set with
//! every shape the rules language meets, over two Prometheus backends, and for every shipped rules
//! file; and against VictoriaMetrics.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::adapter::{Adapter, DOCUMENTS};
use crate::support::env::{Env, Killed, free_port};
use crate::support::victoria::Victoria;

/// Series with every shape: one metric under pods, services and ingresses; a node (cluster-scoped)
/// label; kube-state-metrics' pod info (pod and node); labels no rule maps (method, queue, interface);
/// cAdvisor's POD containers; queues for external rules; a metric with no resource label at all.
const SHAPES: &str = r#"http_requests_total{namespace="prod",pod="web-1",method="GET"} 10
http_requests_total{namespace="prod",service="web",method="POST"} 3
http_requests_total{namespace="prod",ingress="www"} 5
app_queue_length{namespace="prod",deployment="worker"} 17
app_jobs{namespace="batch"} 2
go_app_workers{namespace="prod",pod="web-1"} 30
node_load1{node="node-1"} 0.5
node_cpu_usage_seconds_total{node="node-2"} 100
kube_pod_info{namespace="prod",pod="web-1",node="node-1"} 1
kube_deployment_status_replicas{namespace="prod",deployment="web"} 3
kube_persistentvolume_capacity_bytes{persistentvolume="pv-1"} 1e9
container_cpu_usage_seconds_total{namespace="prod",pod="web-1",container="app"} 12.5
container_cpu_usage_seconds_total{namespace="prod",pod="web-1",container="POD"} 0.1
container_cpu_cfs_throttled_seconds_total{namespace="prod",pod="web-2",container="POD"} 0.1
container_memory_working_set_bytes{namespace="prod",pod="web-1",container="app"} 47185920
container_network_receive_bytes_total{namespace="prod",pod="web-1",interface="eth0"} 1000
queue_depth{namespace="shop",queue="orders"} 42
queue_latency_seconds{queue="mail"} 3
cloud_sqs_messages_visible{queue_name="jobs"} 7
"#;

/// The names a discovery document lists, with their scope.
fn entries(document: &serde_json::Value) -> Vec<String> {
    document["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| format!("{} {}", r["name"].as_str().unwrap(), r["namespaced"]))
        .collect()
}

/// Starts a series-mode and a label-mode adapter for each rules file (all at once), then asserts
/// identical discovery documents, every rule relisted without error in the mode asked.
fn assert_modes_agree(dir: &Path, files: &[PathBuf], prometheus: &str) -> Vec<Vec<String>> {
    let pairs: Vec<(Adapter, Adapter)> = files
        .iter()
        .map(|file| {
            (
                Adapter::start(dir, file, prometheus, &["--relist-mode=series"]),
                Adapter::start(dir, file, prometheus, &["--relist-mode=labels"]),
            )
        })
        .collect();
    let mut discovered = Vec::new();
    for (file, (series, labels)) in files.iter().zip(&pairs) {
        series.wait_ready();
        labels.wait_ready();
        let file = file.display();
        for (adapter, mode) in [(series, "series"), (labels, "labels")] {
            for (rule, used, error) in adapter.rule_modes() {
                assert_eq!(used, mode, "{file} {rule}");
                assert!(error.is_null(), "{file} {rule} in {mode} mode: {error}");
            }
        }
        let (by_series, by_labels) = (series.documents(), labels.documents());
        for ((path, a), b) in DOCUMENTS.iter().zip(&by_series).zip(&by_labels) {
            assert_eq!(a, b, "{file}: {path} differs between the modes");
        }
        discovered.push(by_series.iter().flat_map(entries).collect());
    }
    discovered
}

/// Every rules file the project ships: the seeds under config/rules, the kustomize base's, and the
/// chart's default rules (a list the chart puts under `rules:`), written as a file into `dir`.
fn shipped_rules(dir: &Path) -> Vec<PathBuf> {
    let root = crate::support::root();
    let mut files = crate::support::files_in(&root.join("config/rules"), "yaml");
    files.push(root.join("deploy/base/config.yaml"));
    let chart =
        std::fs::read_to_string(root.join("deploy/helm/prometheus-adapter/rules/default.yaml"))
            .expect("the chart's default rules");
    let chart_file = dir.join("chart-default-rules.yaml");
    std::fs::write(&chart_file, format!("rules:\n{chart}")).expect("written");
    files.push(chart_file);
    files
}

#[test]
fn label_and_series_discovery_agree_on_every_shape_and_every_shipped_rules_file() {
    let pushes = [
        ("job/shapes/instance/a", SHAPES),
        (
            "job/shapes/instance/b",
            "http_requests_total{namespace=\"prod\",pod=\"web-2\"} 1\nqueue_depth{namespace=\"shop\",queue=\"mail\"} 3\n",
        ),
    ];
    let env = Env::start(
        "config/rules/example.yaml",
        "--objects=deploy/demo/objects.yaml",
        &pushes,
    );
    let (replica, _replica) = env.start_replica("cloud_sqs_messages_visible");
    let shapes = env.dir.path().join("shapes.yaml");
    let text =
        std::fs::read_to_string(crate::support::root().join("tests/relist_modes/shapes.yaml"))
            .expect("the shapes rules exist")
            .replace("REPLICA_URL", &format!("http://127.0.0.1:{replica}/"));
    std::fs::write(&shapes, text).expect("written");
    let prometheus = format!("http://127.0.0.1:{}/", env.prom_port);

    let mut files = vec![shapes];
    files.extend(shipped_rules(env.dir.path()));
    let discovered = assert_modes_agree(env.dir.path(), &files, &prometheus);

    // The comparison means something: each shape is discovered (by both modes, as asserted above).
    let shapes = &discovered[0];
    for entry in [
        "pods/http_requests_per_second true",
        "services/http_requests_per_second true",
        "ingresses.networking.k8s.io/http_requests_per_second true",
        "namespaces/http_requests_per_second false",
        "deployments.apps/app_queue_length true",
        "nodes/load1 false",
        "nodes/ksm_pod_info false",
        "pods/ksm_pod_info true",
        "persistentvolumes/ksm_persistentvolume_capacity_bytes false",
        "pods/cpu_usage true",
        "queue_depth true",
        "queue_latency_seconds true",
        "external_http_requests_total true",
        "sqs_backlog true",
    ] {
        assert!(shapes.contains(&entry.to_string()), "{entry} in {shapes:?}");
    }
    for absent in [
        "go_app_workers",
        "cpu_cfs_throttled",
        "process_",
        "app_jobs",
    ] {
        assert!(
            !shapes
                .iter()
                .any(|e| e.contains(absent) && !e.starts_with("namespaces/")),
            "{absent} is filtered or has no resource: {shapes:?}"
        );
    }
    for (file, found) in files.iter().zip(&discovered).skip(1) {
        let text = std::fs::read_to_string(file).expect("readable");
        // resource-metrics.yaml has resourceRules only: nothing to discover.
        if text.contains("seriesQuery") {
            assert!(!found.is_empty(), "{} discovers something", file.display());
        }
    }
}

#[test]
fn auto_mode_asks_label_questions_and_says_so() {
    let env = Env::start_with(
        "config/rules/default.yaml",
        "--objects=deploy/demo/objects.yaml",
        &[("job/shapes/instance/a", SHAPES)],
        &["--relist-mode=auto"],
    );
    let explain = env.json("/debug/explain");
    let rules = explain["rules"].as_array().expect("rules listed");
    for rule in rules {
        assert_eq!(rule["relistMode"], "labels", "{rule}");
        assert_eq!(rule["counted"], "metric names", "{rule}");
        assert!(rule["error"].is_null(), "{rule}");
    }
    let mut queries: Vec<&str> = rules
        .iter()
        .filter_map(|r| r["seriesQuery"].as_str())
        .collect();
    queries.sort_unstable();
    queries.dedup();
    let (_, metrics) = env.get("/metrics");
    let value = |name: &str| -> u64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in /metrics:\n{metrics}"));
        line.rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("a count")
    };
    // Per seriesQuery its label names and metric names (and per unrequired resource label the names
    // carrying it), plus the probe; no series call.
    let n = queries.len() as u64;
    assert_eq!(
        value(r#"prometheus_adapter_relist_questions{mode="labels",endpoint="labels"}"#),
        n
    );
    assert!(
        value(r#"prometheus_adapter_relist_questions{mode="labels",endpoint="label_values"}"#) > n
    );
    assert_eq!(
        value(r#"prometheus_adapter_relist_questions{mode="series",endpoint="series"}"#),
        0
    );
    let line = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("prometheus_adapter_relist_fallbacks_total").ends_with(" 0"));
    assert!(
        line(r#"prometheus_adapter_rule_relist_mode{rule="custom[0]",mode="labels"}"#)
            .ends_with(" 1")
    );
}

#[test]
fn victoriametrics_discovery_agrees_in_both_modes() {
    let own = tempfile::tempdir().expect("a temp dir");
    let vm = Victoria::start(own.path());
    let lines: Vec<(&str, f64, u64)> = SHAPES
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(series, value)| (series, value.parse().expect("a number"), 0))
        .collect();
    vm.import(&lines);
    let shapes = own.path().join("shapes.yaml");
    let url = format!("http://127.0.0.1:{}/", vm.port);
    let text =
        std::fs::read_to_string(crate::support::root().join("tests/relist_modes/shapes.yaml"))
            .expect("the shapes rules exist")
            .replace("REPLICA_URL", &url);
    std::fs::write(&shapes, text).expect("written");
    let mut files = vec![shapes];
    files.extend(shipped_rules(own.path()));
    let discovered = assert_modes_agree(own.path(), &files, &url);
    assert!(discovered[0].contains(&"pods/http_requests_per_second true".to_string()));
    assert!(discovered[0].contains(&"nodes/load1 false".to_string()));
}

/// The one difference the README names: Prometheus answers label questions per TSDB block, series per
/// chunk, so a metric whose only series stopped 30 minutes ago (outside a 10-minute window, inside the
/// block) is discovered by label questions and not by series. Pinned so that the README stays true.
#[test]
fn a_metric_stopped_before_the_window_but_inside_its_block_is_where_the_modes_differ() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let unix_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64()
    };
    // Backfilled blocks are aligned to 2 h: the stale sample must sit in the block holding the window's
    // start (`--metrics-max-age=10m` ago), before that start. Half an hour earlier unless the block began
    // later; within half a minute of a block's start there is no room yet, so wait for it.
    let block_start = |t: f64| (t / 7200.0).floor() * 7200.0;
    let mut now = unix_now();
    if now - 600.0 - block_start(now - 600.0) < 31.0 {
        std::thread::sleep(Duration::from_secs(35));
        now = unix_now();
    }
    let stale_at = (now - 1800.0).max(block_start(now - 600.0) + 1.0);
    let series = dir.path().join("series.om");
    std::fs::write(
        &series,
        format!(
            "# TYPE fresh_metric gauge\nfresh_metric{{namespace=\"a\",pod=\"p\"}} 1 {:.3}\n\
             # TYPE stale_metric gauge\nstale_metric{{namespace=\"a\",pod=\"p\"}} 1 {:.3}\n# EOF\n",
            now - 60.0,
            stale_at
        ),
    )
    .expect("written");
    let data = dir.path().join("data");
    let backfill = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .args([&series, &data])
        .output()
        .expect("promtool is installed (scripts/test.sh installs it)");
    assert!(backfill.status.success(), "{backfill:?}");
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global: {scrape_interval: 1h}\n",
    )
    .expect("written");
    let port = free_port();
    let _prometheus = Killed(
        std::process::Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed"),
    );
    crate::support::env::wait_until("prometheus", Duration::from_secs(30), || {
        crate::support::env::http(port, "GET", "/-/ready", "").0 == 200
    });
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "rules:\n- seriesQuery: '{namespace!=\"\",pod!=\"\"}'\n  resources: {template: \"<<.Resource>>\"}\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n",
    )
    .expect("written");
    let url = format!("http://127.0.0.1:{port}/");
    let discovered = |mode: &str| {
        let adapter = Adapter::start(
            dir.path(),
            &rules,
            &url,
            &[&format!("--relist-mode={mode}")],
        );
        adapter.wait_ready();
        entries(&adapter.get(DOCUMENTS[0]))
    };
    let (series, labels) = (discovered("series"), discovered("labels"));
    assert!(
        series.contains(&"pods/fresh_metric true".to_string()),
        "{series:?}"
    );
    assert!(
        !series.iter().any(|e| e.contains("stale_metric")),
        "{series:?}"
    );
    let mut only_stale: Vec<&String> = labels.iter().filter(|e| !series.contains(e)).collect();
    only_stale.sort();
    assert_eq!(
        only_stale,
        ["namespaces/stale_metric false", "pods/stale_metric true"]
    );
}
