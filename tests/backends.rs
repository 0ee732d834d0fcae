//! Several backends end to end: VictoriaMetrics (Debian's package) beside Prometheus with rules routed
//! to each, a tenant header per namespace through a reverse proxy that requires and records it, and
//! failover between two Prometheus replicas with one killed or hung mid-test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::env::{Env, encode, http, wait_until};
use crate::support::victoria::Victoria;

/// The demo's Prometheus data (pods' request counters, the shop queue), pushed to the Pushgateway.
fn demo_pushes() -> Vec<(String, String)> {
    let mut pushes = Vec::new();
    for pod in ["web-1", "web-2"] {
        pushes.push((
            format!("job/demo/instance/{pod}"),
            format!("# TYPE http_requests_total counter\nhttp_requests_total{{namespace=\"prod\",pod=\"{pod}\"}} 100\n"),
        ));
    }
    pushes.push((
        "job/demo/instance/shop".into(),
        "# TYPE queue_depth gauge\nqueue_depth{namespace=\"shop\",queue=\"orders\"} 42\nqueue_depth{namespace=\"prod\",queue=\"jobs\"} 5\n"
            .into(),
    ));
    pushes
}

/// Starts the environment with `rules` (written to a file of its own) and the demo objects.
fn start(rules: &str, dir: &tempfile::TempDir) -> Env {
    let path = dir.path().join("rules.yaml");
    std::fs::write(&path, rules).unwrap();
    let pushes = demo_pushes();
    let refs: Vec<(&str, &str)> = pushes
        .iter()
        .map(|(g, t)| (g.as_str(), t.as_str()))
        .collect();
    Env::start_with(
        path.to_str().unwrap(),
        "--objects=deploy/demo/objects.yaml",
        &refs,
        &[],
    )
}

#[test]
fn victoriametrics_serves_custom_external_and_resource_metrics_beside_prometheus() {
    let own = tempfile::tempdir().unwrap();
    let vm = Victoria::start(own.path());
    let mut lines = vec![
        (
            r#"vm_jobs_waiting{namespace="prod",deployment="worker"}"#,
            7.0,
            0,
        ),
        (
            r#"vm_queue_depth{namespace="shop",queue="orders"}"#,
            42.0,
            0,
        ),
        (r#"vm_queue_depth{namespace="shop",queue="mail"}"#, 3.0, 0),
        (
            r#"node_memory_working_set_bytes{node="node-1"}"#,
            2147483648.0,
            0,
        ),
    ];
    for (age, cpu) in [(60, 10.0), (30, 13.0), (0, 16.0)] {
        lines.push((
            r#"container_cpu_usage_seconds_total{namespace="prod",pod="web-1",container="app"}"#,
            cpu,
            age,
        ));
        lines.push((
            r#"node_cpu_usage_seconds_total{node="node-1"}"#,
            cpu * 10.0,
            age,
        ));
    }
    lines.push((
        r#"container_memory_working_set_bytes{namespace="prod",pod="web-1",container="app"}"#,
        47185920.0,
        0,
    ));
    vm.import(&lines);
    let rules = format!(
        r#"backends:
  vm:
    url: http://127.0.0.1:{port}/
    queryParams: {{nocache: "1"}}
rules:
- seriesQuery: 'http_requests_total{{namespace!="",pod!=""}}'
  resources: {{overrides: {{namespace: {{resource: namespace}}, pod: {{resource: pod}}}}}}
  name: {{matches: "^(.*)_total$", as: "${{1}}_per_second"}}
  metricsQuery: 'sum(rate(<<.Series>>{{<<.LabelMatchers>>}}[2m])) by (<<.GroupBy>>)'
- seriesQuery: 'vm_jobs_waiting{{namespace!="",deployment!=""}}'
  backend: vm
  resources: {{overrides: {{namespace: {{resource: namespace}}, deployment: {{group: apps, resource: deployment}}}}}}
  metricsQuery: 'sum(<<.Series>>{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)'
externalRules:
- seriesQuery: '{{__name__="vm_queue_depth",queue!=""}}'
  backend: vm
  resources: {{overrides: {{namespace: {{resource: namespace}}}}}}
  metricsQuery: 'sum(<<.Series>>{{<<.LabelMatchers>>}}) by (queue)'
# A query VictoriaMetrics refuses (unbalanced parenthesis): its 422.
- seriesQuery: '{{__name__="vm_queue_depth",queue!=""}}'
  backend: vm
  resources: {{overrides: {{namespace: {{resource: namespace}}}}}}
  name: {{matches: "^vm_(.*)_depth$", as: "vm_${{1}}_refused"}}
  metricsQuery: 'sum(<<.Series>>{{<<.LabelMatchers>>}}) by (queue'
resourceRules:
  backend: vm
  cpu:
    containerQuery: 'sum(rate(container_cpu_usage_seconds_total{{<<.LabelMatchers>>}}[2m])) by (<<.GroupBy>>)'
    nodeQuery: 'sum(rate(node_cpu_usage_seconds_total{{<<.LabelMatchers>>}}[2m])) by (<<.GroupBy>>)'
    resources: {{overrides: {{namespace: {{resource: namespace}}, pod: {{resource: pod}}, node: {{resource: node}}}}}}
    containerLabel: container
  memory:
    containerQuery: 'sum(container_memory_working_set_bytes{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)'
    nodeQuery: 'sum(node_memory_working_set_bytes{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)'
    resources: {{overrides: {{namespace: {{resource: namespace}}, pod: {{resource: pod}}, node: {{resource: node}}}}}}
    containerLabel: container
  window: 2m
"#,
        port = vm.port
    );
    let env = start(&rules, &own);
    let custom = "/apis/custom.metrics.k8s.io/v1beta2";
    wait_until(
        "discovery from both backends",
        Duration::from_secs(20),
        || {
            let entries = env.discovery_entries(custom);
            [
                "pods/http_requests_per_second",
                "deployments.apps/vm_jobs_waiting",
            ]
            .iter()
            .all(|m| entries.iter().any(|e| e.starts_with(m)))
        },
    );
    // From Prometheus.
    let pods = env.json(&format!(
        "{custom}/namespaces/prod/pods/*/http_requests_per_second"
    ));
    assert_eq!(pods["items"].as_array().unwrap().len(), 2, "{pods}");
    // From VictoriaMetrics: Prometheus has no vm_* series at all.
    let (_, in_prometheus) = http(
        env.prom_port,
        "GET",
        &format!("/api/v1/series?match[]={}", encode("{__name__=~\"vm_.*\"}")),
        "",
    );
    assert!(in_prometheus.contains(r#""data":[]"#), "{in_prometheus}");
    let worker = env.json(&format!(
        "{custom}/namespaces/prod/deployments.apps/worker/vm_jobs_waiting"
    ));
    assert_eq!(worker["items"][0]["value"], "7", "{worker}");
    let external = env.json("/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/vm_queue_depth");
    let queues = crate::support::env::external_values(&external, "queue");
    assert_eq!(
        queues,
        [("mail".into(), "3".into()), ("orders".into(), "42".into())]
    );
    // metrics.k8s.io from VictoriaMetrics (its rate() does not extrapolate: 6 over 60 s = 100m).
    let pod = env.json("/apis/metrics.k8s.io/v1/namespaces/prod/pods/web-1");
    let container = &pod["containers"][0];
    assert_eq!(container["name"], "app", "{pod}");
    assert_eq!(container["usage"]["cpu"], "100m", "{pod}");
    assert_eq!(container["usage"]["memory"], "45Mi", "{pod}");
    let node = env.json("/apis/metrics.k8s.io/v1/nodes/node-1");
    assert_eq!(node["usage"]["cpu"], "1", "{node}");
    assert_eq!(node["usage"]["memory"], "2Gi", "{node}");
    // A query VictoriaMetrics refuses comes back as its error (errorType "422", not Prometheus' names): a 500
    // Status for the caller (upstream's code for a failed query), VictoriaMetrics' own words in the log.
    let (code, body) =
        env.get("/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/vm_queue_refused");
    assert_eq!(code, 500, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status["kind"].as_str(), status["code"].as_u64()),
        (Some("Status"), Some(500))
    );
    let log = env.log();
    assert!(log.contains("prometheus error 422"), "{log}");
    let metrics = env.get("/metrics").1;
    assert!(
        metrics.contains(&format!("server=\"http://127.0.0.1:{}/\"", vm.port)),
        "calls to VictoriaMetrics are timed by server"
    );
    // VictoriaMetrics gone: its metrics answer 503, Prometheus' keep being served.
    drop(vm);
    let (code, body) =
        env.get("/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/vm_queue_depth");
    assert_eq!(code, 503, "{body}");
    let (code, body) = env.get(&format!(
        "{custom}/namespaces/prod/pods/*/http_requests_per_second"
    ));
    assert_eq!(code, 200, "{body}");
}

/// A reverse proxy in front of Prometheus that refuses calls without `header` (401) and records the
/// value and path of every call — as Mimir's or Cortex's gateway does with `X-Scope-OrgID`.
struct TenantProxy {
    port: u16,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl TenantProxy {
    fn start(upstream: u16, header: &'static str) -> TenantProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || {
                    let _ = proxy_one(client, upstream, header, &record);
                });
            }
        });
        TenantProxy { port, seen }
    }

    fn tenants_for(&self, path_prefix: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, path)| path.starts_with(path_prefix))
            .map(|(tenant, _)| tenant.clone())
            .collect()
    }
}

/// Serves requests on one client connection, each forwarded on a connection of its own.
fn proxy_one(
    client: TcpStream,
    upstream: u16,
    header: &str,
    seen: &Mutex<Vec<(String, String)>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    loop {
        let mut head = Vec::new();
        let mut length = 0usize;
        let mut tenant = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
                if name == "content-length" {
                    length = value.parse().unwrap_or(0);
                }
                if name == header.to_ascii_lowercase() {
                    tenant = Some(value);
                }
                if name == "connection" {
                    continue;
                }
            }
            head.push(line);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let path = head[0].split_whitespace().nth(1).unwrap_or("").to_string();
        let Some(tenant) = tenant else {
            let refusal = "no org id\n";
            write!(
                client,
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\n\r\n{refusal}",
                refusal.len()
            )?;
            continue;
        };
        seen.lock().unwrap().push((tenant, path));
        let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
        for line in &head {
            server.write_all(line.as_bytes())?;
        }
        server.write_all(b"Connection: close\r\n\r\n")?;
        server.write_all(&body)?;
        let mut answer = Vec::new();
        server.read_to_end(&mut answer)?;
        // Prometheus closes after answering (Connection: close); so does the proxy's answer.
        client.write_all(&answer)?;
        return Ok(());
    }
}

#[test]
fn a_tenant_header_per_namespace_reaches_the_backend_and_is_required_there() {
    let own = tempfile::tempdir().unwrap();
    // The proxy needs Prometheus' port, which the environment picks: start a placeholder rules file,
    // then the real one is written and reloaded once the proxy runs.
    let placeholder = "rules: []\n";
    let env = start(placeholder, &own);
    let proxy = TenantProxy::start(env.prom_port, "X-Scope-OrgID");
    let (code, _) = http(proxy.port, "GET", "/api/v1/query?query=up", "");
    assert_eq!(code, 401, "the proxy refuses calls without a tenant");
    let rules = format!(
        r#"backends:
  mimir:
    url: http://127.0.0.1:{port}/
    tenant: {{header: X-Scope-OrgID, value: "tenant-<<.Namespace>>", fallback: "tenant-shop|tenant-prod"}}
externalRules:
- seriesQuery: '{{__name__="queue_depth",queue!=""}}'
  backend: mimir
  resources: {{overrides: {{namespace: {{resource: namespace}}}}}}
  metricsQuery: 'sum(<<.Series>>{{<<.LabelMatchers>>}}) by (queue)'
"#,
        port = proxy.port
    );
    std::fs::write(own.path().join("rules.yaml"), rules).unwrap();
    let external = "/apis/external.metrics.k8s.io/v1beta1";
    wait_until(
        "the reloaded rules' discovery",
        Duration::from_secs(30),
        || {
            let (code, body) = env.get(external);
            code == 200 && body.contains("queue_depth")
        },
    );
    assert!(
        proxy
            .tenants_for("/api/v1/series")
            .iter()
            .all(|t| t == "tenant-shop|tenant-prod"),
        "series discovery carries the fallback tenant"
    );
    let shop = env.json(&format!("{external}/namespaces/shop/queue_depth"));
    assert_eq!(shop["items"][0]["value"], "42", "{shop}");
    let prod = env.json(&format!("{external}/namespaces/prod/queue_depth"));
    assert_eq!(prod["items"][0]["value"], "5", "{prod}");
    let queries = proxy.tenants_for("/api/v1/query");
    assert_eq!(
        queries,
        ["tenant-shop", "tenant-prod"],
        "one tenant per namespace"
    );
}

#[test]
fn one_replica_killed_or_hung_mid_test_fails_no_request() {
    let own = tempfile::tempdir().unwrap();
    let env = start("rules: []\n", &own);
    let (replica_port, mut replica) = env.start_replica("queue_depth");
    // The replica first, so that it is the one serving when it dies.
    let rules = format!(
        r#"backends:
  ha:
    urls: ["http://127.0.0.1:{replica_port}/", "http://127.0.0.1:{main}/"]
    backoff: 30s
externalRules:
- seriesQuery: '{{__name__="queue_depth",queue!=""}}'
  backend: ha
  resources: {{overrides: {{namespace: {{resource: namespace}}}}}}
  metricsQuery: 'sum(<<.Series>>{{<<.LabelMatchers>>}}) by (queue)'
"#,
        main = env.prom_port
    );
    std::fs::write(own.path().join("rules.yaml"), rules).unwrap();
    let path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth";
    wait_until("the reloaded rules", Duration::from_secs(30), || {
        env.get(path).0 == 200
    });
    let up = |url_port: u16| {
        let metrics = env.get("/metrics").1;
        let line = format!(
            "prometheus_adapter_backend_url_up{{backend=\"ha\",url=\"http://127.0.0.1:{url_port}/\"}}"
        );
        metrics
            .lines()
            .find(|l| l.starts_with(&line))
            .map(|l| l.ends_with(" 1"))
    };
    assert_eq!(up(replica_port), Some(true));

    // Killed mid-run: every request still answers 200.
    let mut codes = Vec::new();
    for i in 0..120 {
        if i == 40 {
            let _ = replica.0.kill();
            let _ = replica.0.wait();
        }
        let (code, body) = env.get(path);
        assert!(body.contains("42") || code != 200, "{body}");
        codes.push(code);
    }
    assert!(codes.iter().all(|&c| c == 200), "{codes:?}");
    assert_eq!(up(replica_port), Some(false), "the dead URL is shown down");
    assert!(env.log().contains("backend URL failed"), "and logged");

    // Hung (SIGSTOP) instead: the request waits for its share of the timeout (2 s / 2), then the next
    // URL answers.
    let (hung_port, hung) = env.start_replica("queue_depth");
    let rules = std::fs::read_to_string(own.path().join("rules.yaml"))
        .unwrap()
        .replace(&format!(":{replica_port}/"), &format!(":{hung_port}/"));
    std::fs::write(own.path().join("rules.yaml"), rules).unwrap();
    wait_until("the hung replica in use", Duration::from_secs(30), || {
        up(hung_port) == Some(true) && env.get(path).0 == 200
    });
    let pid = hung.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let (code, body) = env.get(path);
    let took = started.elapsed();
    let _ = Command::new("kill").args(["-CONT", &pid]).status();
    assert_eq!(code, 200, "{body}");
    assert!(
        took < Duration::from_millis(1900),
        "{took:?}: within the 2 s timeout"
    );
    assert_eq!(up(hung_port), Some(false));
}

#[test]
fn check_config_and_explain_show_each_rules_backend_and_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        r#"backends:
  mimir:
    urls: ["http://m1:8080/prometheus", "http://m2:8080/prometheus"]
    tenant: {value: "<<.Namespace>>", fallback: "shop|prod"}
externalRules:
- seriesQuery: '{__name__="queue_depth",queue!=""}'
  resources: {overrides: {namespace: {resource: namespace}}}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)'
  backend: mimir
"#,
    )
    .unwrap();
    let series = dir.path().join("series.json");
    std::fs::write(
        &series,
        r#"{"status":"success","data":[{"__name__":"queue_depth","namespace":"shop","queue":"a"}]}"#,
    )
    .unwrap();
    let config = format!("--config={}", rules.display());
    let (out, err) = crate::support::text(&crate::support::adapter(&["check-config", &config]));
    assert!(
        out.ends_with("backends: mimir (2 URLs, tenant header X-Scope-OrgID)\n"),
        "{out}{err}"
    );
    let series = format!("--series={}", series.display());
    let (out, err) = crate::support::text(&crate::support::adapter(&["explain", &config, &series]));
    assert!(out.contains("# externalRules[0] {__name__=\"queue_depth\",queue!=\"\"}: 1 series, 1 named, 1 metrics; backend mimir\n"), "{out}{err}");
    let (out, err) = crate::support::text(&crate::support::adapter(&[
        "explain",
        &config,
        &series,
        "--external=queue_depth",
        "--namespace=shop",
    ]));
    assert_eq!(
        out, "# backend mimir (tenant \"shop\")\nsum(queue_depth{namespace=\"shop\"}) by (queue)\n",
        "{err}"
    );
}
