//! Serving certificates: given files are served, and a rotated pair is picked up without a restart.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::env::{free_port, https, wait_until};
use crate::support::root;

fn write_pair(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let pair = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let ca = dir.join(format!("{name}.crt"));
    std::fs::write(&ca, pair.cert.pem()).unwrap();
    std::fs::write(dir.join("tls.crt.new"), pair.cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key.new"), pair.signing_key.serialize_pem()).unwrap();
    // Replace both files the way a rotation does (a rename each).
    std::fs::rename(dir.join("tls.key.new"), dir.join("tls.key")).unwrap();
    std::fs::rename(dir.join("tls.crt.new"), dir.join("tls.crt")).unwrap();
    ca
}

#[test]
fn a_rotated_serving_certificate_is_served_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_pair(dir.path(), "first");
    let port = free_port();
    let mut adapter = Command::new(env!("CARGO_BIN_EXE_prometheus-adapter"))
        .current_dir(root())
        .args([
            "--config=config/rules/example.yaml",
            "--objects=deploy/demo/objects.yaml",
            &format!("--prometheus-url=http://127.0.0.1:{}/", free_port()),
            &format!("--secure-port={port}"),
            "--bind-address=127.0.0.1",
            &format!("--tls-cert-file={}", dir.path().join("tls.crt").display()),
            &format!(
                "--tls-private-key-file={}",
                dir.path().join("tls.key").display()
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the adapter", Duration::from_secs(20), || {
        https(port, &first, "GET", "/healthz", &[]).0 == 200
    });
    std::thread::sleep(Duration::from_millis(1100)); // a distinct modification time
    let second = write_pair(dir.path(), "second");
    wait_until("the new certificate", Duration::from_secs(10), || {
        https(port, &second, "GET", "/healthz", &[]).0 == 200
    });
    assert_eq!(
        https(port, &first, "GET", "/healthz", &[]).0,
        0,
        "the old certificate is no longer served"
    );
    let _ = adapter.kill();
    let _ = adapter.wait();
}
