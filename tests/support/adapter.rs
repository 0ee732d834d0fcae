//! One adapter process on loopback with its own certificates and log, for tests that run several
//! against the same backends.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::env::{Killed, free_port, https};

/// The discovery documents an adapter serves, in order: custom v1beta1 and v1beta2, external v1beta1.
pub const DOCUMENTS: [&str; 3] = [
    "/apis/custom.metrics.k8s.io/v1beta1",
    "/apis/custom.metrics.k8s.io/v1beta2",
    "/apis/external.metrics.k8s.io/v1beta1",
];

/// One adapter process with its own certificates.
pub struct Adapter {
    pub port: u16,
    pub ca: PathBuf,
    log: PathBuf,
    _process: Killed,
}

impl Adapter {
    /// Starts the adapter on `rules` against `prometheus` with `extra` flags, relisting once (ten minutes
    /// apart) over the last 10 minutes.
    pub fn start(dir: &Path, rules: &Path, prometheus: &str, extra: &[&str]) -> Adapter {
        Self::start_with_env(dir, rules, prometheus, extra, &[])
    }

    /// As `start`, with `env` added to the process' environment.
    pub fn start_with_env(
        dir: &Path,
        rules: &Path,
        prometheus: &str,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> Adapter {
        let port = free_port();
        let certs = dir.join(format!("certs-{port}"));
        let child = crate::support::adapter_command()
            .args([
                format!("--config={}", rules.display()),
                "--objects=deploy/demo/objects.yaml".to_string(),
                format!("--prometheus-url={prometheus}"),
                format!("--secure-port={port}"),
                "--bind-address=127.0.0.1".to_string(),
                format!("--cert-dir={}", certs.display()),
                "--metrics-relist-interval=10m".to_string(),
                "--metrics-max-age=10m".to_string(),
                "--prometheus-timeout=10s".to_string(),
                "--delegated-auth=false".to_string(),
            ])
            .args(extra)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("adapter-{port}.log"))).expect("a log"))
            .spawn()
            .expect("the adapter starts");
        Adapter {
            port,
            log: dir.join(format!("adapter-{port}.log")),
            ca: certs.join("apiserver.crt"),
            _process: Killed(child),
        }
    }

    /// Its log (stderr).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// GET that must succeed, parsed as JSON.
    pub fn get(&self, path: &str) -> serde_json::Value {
        let (status, body) = https(self.port, &self.ca, "GET", path, &[]);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    pub fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !(self.ca.exists() && https(self.port, &self.ca, "GET", "/readyz", &[]).0 == 200) {
            assert!(
                std::time::Instant::now() < deadline,
                "not ready after 60 s; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The discovery documents, whole; `null` for a group the rules do not serve (a 404).
    pub fn documents(&self) -> Vec<serde_json::Value> {
        DOCUMENTS
            .iter()
            .map(|path| match https(self.port, &self.ca, "GET", path, &[]) {
                (404, _) => serde_json::Value::Null,
                _ => self.get(path),
            })
            .collect()
    }

    /// Each rule's relist mode and error from `/debug/explain`.
    pub fn rule_modes(&self) -> Vec<(String, String, serde_json::Value)> {
        self.get("/debug/explain")["rules"]
            .as_array()
            .expect("rules listed")
            .iter()
            .map(|r| {
                (
                    r["rule"].as_str().unwrap_or_default().to_string(),
                    r["relistMode"].as_str().unwrap_or_default().to_string(),
                    r["error"].clone(),
                )
            })
            .collect()
    }
}
