//! Reaching a Prometheus that demands TLS and a client certificate: through `--prometheus-auth-config`
//! (a kubeconfig) and through `--prometheus-ca-file` with the client pair, and refused without one.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::env::{Killed, free_port, https, spawn_adapter, wait_until};
use crate::support::pki;

/// Writes ca.crt, server.{crt,key} (for 127.0.0.1) and client.{crt,key}, all from one CA.
fn pki(dir: &Path) {
    let ca = pki::ca("prometheus CA");
    std::fs::write(dir.join("ca.crt"), &ca.pem).unwrap();
    let (cert, key) = pki::serving(&ca, "prometheus", &["127.0.0.1"]);
    std::fs::write(dir.join("server.crt"), cert).unwrap();
    std::fs::write(dir.join("server.key"), key).unwrap();
    let client = pki::client(&ca, "prometheus-adapter", None);
    std::fs::write(dir.join("client.crt"), client.cert_pem).unwrap();
    std::fs::write(dir.join("client.key"), client.key_pem).unwrap();
}

fn adapter(dir: &Path, prom_port: u16, port: u16, auth: &[String]) -> Killed {
    let mut args = vec![
        format!("--prometheus-url=https://127.0.0.1:{prom_port}/"),
        format!(
            "--cert-dir={}",
            dir.join(format!("serving-{port}")).display()
        ),
        "--prometheus-timeout=3s".to_string(),
        "--metrics-relist-interval=1s".to_string(),
    ];
    args.extend_from_slice(auth);
    spawn_adapter(port, &args)
}

/// Whether the adapter's relists reached Prometheus, from its own metrics.
fn relist_state(port: u16, dir: &Path) -> Option<bool> {
    let ca = dir.join(format!("serving-{port}/apiserver.crt"));
    let (code, metrics) = https(port, &ca, "GET", "/metrics", &[]);
    if code != 200 || !metrics.contains("prometheus_adapter_rule_failing{") {
        return None;
    }
    Some(metrics.contains("prometheus_adapter_rule_failing{rule=\"custom[0]\"} 0"))
}

#[test]
fn prometheus_behind_mutual_tls_is_reached_with_kubeconfig_or_ca_and_client_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    std::fs::write(
        d.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: {0}/server.crt\n  key_file: {0}/server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {0}/ca.crt\n",
            d.display()
        ),
    )
    .unwrap();
    std::fs::write(d.join("prometheus.yml"), "global: {scrape_interval: 15s}\n").unwrap();
    let prom_port = free_port();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                d.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", d.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg(format!("--web.config.file={}", d.join("web.yml").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("prometheus", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", prom_port)).is_ok()
    });

    std::fs::write(
        d.join("kubeconfig"),
        "apiVersion: v1\nkind: Config\ncurrent-context: prom\nclusters:\n- name: prom\n  cluster: {server: 'https://ignored', certificate-authority: ca.crt}\n\
         users:\n- name: adapter\n  user: {client-certificate: client.crt, client-key: client.key}\ncontexts:\n- name: prom\n  context: {cluster: prom, user: adapter}\n",
    )
    .unwrap();
    let via_kubeconfig = free_port();
    let _a = adapter(
        d,
        prom_port,
        via_kubeconfig,
        &[format!(
            "--prometheus-auth-config={}",
            d.join("kubeconfig").display()
        )],
    );
    let via_files = free_port();
    let _b = adapter(
        d,
        prom_port,
        via_files,
        &[
            format!("--prometheus-ca-file={}", d.join("ca.crt").display()),
            format!(
                "--prometheus-client-tls-cert-file={}",
                d.join("client.crt").display()
            ),
            format!(
                "--prometheus-client-tls-key-file={}",
                d.join("client.key").display()
            ),
        ],
    );
    let without_cert = free_port();
    let _c = adapter(
        d,
        prom_port,
        without_cert,
        &[format!(
            "--prometheus-ca-file={}",
            d.join("ca.crt").display()
        )],
    );

    // Relists run every second; the first may meet a Prometheus still starting.
    wait_until(
        "kubeconfig client certificate accepted",
        Duration::from_secs(30),
        || relist_state(via_kubeconfig, d) == Some(true),
    );
    wait_until(
        "CA file and client pair accepted",
        Duration::from_secs(30),
        || relist_state(via_files, d) == Some(true),
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        relist_state(without_cert, d),
        Some(false),
        "no client certificate: Prometheus refuses"
    );
}
