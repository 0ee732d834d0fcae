//! Router mode end to end: a second instance of the adapter, with other rules, plays the server we share
//! `external.metrics.k8s.io` and `custom.metrics.k8s.io` with (KEDA's place). It trusts our front-proxy
//! client certificate as a cluster's aggregated servers trust kube-apiserver's, and names the user it
//! was told in its access log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::env::{
    Killed, demo_env_with, free_port, https_as, spawn_adapter_with_auth, wait_until,
};
use crate::support::pki::{Client, ca, client, serving};

/// Their rules: `worker_backlog` (ours does not have it), and `queue_depth` a thousand times ours (a
/// clash ours must win).
const THEIR_RULES: &str = r#"
externalRules:
- seriesQuery: '{__name__="app_queue_length",deployment!=""}'
  resources: {overrides: {namespace: {resource: namespace}}}
  name: {matches: "^app_queue_length$", as: "worker_backlog"}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'
- seriesQuery: '{__name__="queue_depth",queue!=""}'
  resources: {overrides: {namespace: {resource: namespace}}}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (queue) * 1000'
rules:
- seriesQuery: 'app_queue_length{namespace!="",deployment!=""}'
  resources: {overrides: {namespace: {resource: namespace}, deployment: {group: apps, resource: deployment}}}
  name: {matches: "^app_queue_length$", as: "their_backlog"}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

struct Them {
    port: u16,
    log: PathBuf,
    process: Option<Killed>,
}

impl Them {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[test]
fn unknown_metrics_go_to_the_other_server_as_the_caller_and_discovery_lists_both() {
    let dir = tempfile::tempdir().unwrap();
    let (serving_ca, front_proxy_ca, client_ca) = (
        ca("their-serving-ca"),
        ca("front-proxy-ca"),
        ca("client-ca"),
    );
    let (cert, key) = serving(&serving_ca, "their-metrics-server", &["127.0.0.1"]);
    let their_cert = write(dir.path(), "their.crt", &cert);
    let their_key = write(dir.path(), "their.key", &key);
    let serving_ca_file = write(dir.path(), "serving-ca.crt", &serving_ca.pem);
    let front_proxy_ca_file = write(dir.path(), "front-proxy-ca.crt", &front_proxy_ca.pem);
    let client_ca_file = write(dir.path(), "client-ca.crt", &client_ca.pem);
    let proxy: Client = client(&front_proxy_ca, "front-proxy-client", None);
    let proxy_cert = write(dir.path(), "proxy.crt", &proxy.cert_pem);
    let proxy_key = write(dir.path(), "proxy.key", &proxy.key_pem);
    let alice = client(&client_ca, "alice", Some("team-a"));

    let their_port = free_port();
    let target = format!("https://127.0.0.1:{their_port}");
    let ours = demo_env_with(&[
        &format!("--forward-unknown-metrics-to=external.metrics.k8s.io={target}"),
        &format!("--forward-unknown-metrics-to=custom.metrics.k8s.io={target}"),
        &format!("--forward-ca-file={}", serving_ca_file.display()),
        &format!("--forward-client-cert-file={}", proxy_cert.display()),
        &format!("--forward-client-key-file={}", proxy_key.display()),
        "--forward-timeout=3s",
        &format!("--client-ca-file={}", client_ca_file.display()),
    ]);
    let get = |path: &str, headers: &[(&str, &str)]| {
        https_as(
            ours.port,
            &ours.ca(),
            Some(&alice.identity),
            "GET",
            path,
            headers,
        )
    };
    let external = "/apis/external.metrics.k8s.io/v1beta1";
    let backlog = format!("{external}/namespaces/prod/worker_backlog");

    // They are not running yet: their metric is a 503, ours are served, discovery lists ours.
    let (code, body) = get(&backlog, &[]);
    assert_eq!(code, 503, "{body}");
    let (code, body) = get(&format!("{external}/namespaces/shop/queue_depth"), &[]);
    assert_eq!(code, 200, "{body}");
    let (code, body) = get(external, &[]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"queue_depth\""), "{body}");

    let rules = write(dir.path(), "their-rules.yaml", THEIR_RULES);
    let log = dir.path().join("their.log");
    let mut them = Them {
        port: their_port,
        log: log.clone(),
        process: Some(spawn_adapter_with_auth(
            their_port,
            &[
                format!("--config={}", rules.display()),
                format!("--prometheus-url=http://127.0.0.1:{}/", ours.prom_port),
                format!("--tls-cert-file={}", their_cert.display()),
                format!("--tls-private-key-file={}", their_key.display()),
                format!(
                    "--requestheader-client-ca-file={}",
                    front_proxy_ca_file.display()
                ),
                "--requestheader-allowed-names=front-proxy-client".to_string(),
                "--delegated-auth=false".to_string(),
                "--metrics-relist-interval=2s".to_string(),
                "--v=4".to_string(),
            ],
            std::fs::File::create(&log).unwrap(),
        )),
    };
    wait_until(
        "their adapter and its discovery",
        Duration::from_secs(30),
        || {
            let (code, body) = get(&backlog, &[]);
            code == 200 && body.contains("worker_backlog")
        },
    );

    // Forwarded, as alice (a caller's own X-Remote-User is not passed on), answered by them.
    let (code, body) = get(&backlog, &[("X-Remote-User", "mallory")]);
    assert_eq!(code, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["items"][0]["value"], "17", "{answer}");
    let their_log = them.log();
    let line = their_log
        .lines()
        .rfind(|l| l.contains("/worker_backlog"))
        .unwrap_or_else(|| panic!("they logged the request: {their_log}"));
    assert!(line.contains("user=alice"), "{line}");
    assert!(!their_log.contains("mallory"), "{their_log}");

    // A custom metric only they have, protobuf passed through as they encoded it.
    let theirs =
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/their_backlog";
    let (code, body) = get(theirs, &[]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"value\":\"17\""), "{body}");
    let (code, body) = get(theirs, &[("Accept", "application/vnd.kubernetes.protobuf")]);
    assert_eq!(code, 200);
    assert!(body.starts_with("k8s\0"), "{body:?}");

    // Discovery lists both (theirs is asked again 5 s after a failure); on the clash ours is listed and
    // answers (42, not their 42000), logged.
    wait_until(
        "their metrics in our discovery",
        Duration::from_secs(10),
        || get(external, &[]).1.contains("worker_backlog"),
    );
    let (_, body) = get(external, &[]);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["queue_depth", "worker_backlog"], "{body}");
    let (_, body) = get("/apis/custom.metrics.k8s.io/v1beta1", &[]);
    assert!(body.contains("deployments.apps/their_backlog"), "{body}");
    assert!(body.contains("pods/http_requests_per_second"), "{body}");
    let (_, body) = get(&format!("{external}/namespaces/shop/queue_depth"), &[]);
    assert!(body.contains("\"value\":\"42\""), "{body}");
    assert!(ours.log().contains("ours is served"), "the clash is logged");

    // Their 404 comes back as their Status.
    let (code, body) = get(&format!("{external}/namespaces/prod/nope"), &[]);
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("\"kind\":\"Status\""), "{body}");
    assert!(
        them.log().contains("/namespaces/prod/nope"),
        "it was theirs to answer"
    );

    // They go away: their metrics are 503 within the deadline, ours and discovery stay.
    them.process = None;
    let started = std::time::Instant::now();
    let (code, body) = get(&backlog, &[]);
    assert_eq!(code, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let (code, _) = get(&format!("{external}/namespaces/shop/queue_depth"), &[]);
    assert_eq!(code, 200);
    let (code, _) = get(external, &[]);
    assert_eq!(code, 200);
    let _ = them.port;
}
