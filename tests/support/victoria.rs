//! VictoriaMetrics (Debian's package) as a backend: started on loopback with its own data dir, fed
//! through its Prometheus-text import.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::env::{Killed, free_port, http, wait_until};

/// A VictoriaMetrics single-node on loopback with its own data dir.
pub struct Victoria {
    pub port: u16,
    _process: Killed,
}

impl Victoria {
    pub fn start(dir: &std::path::Path) -> Victoria {
        let port = free_port();
        let child = Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", dir.join("vm").display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            // Instant queries at "now" see what was just imported.
            .arg("-search.latencyOffset=0s")
            .arg("-loggerLevel=ERROR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("victoria-metrics is installed (scripts/test.sh installs it)");
        let vm = Victoria {
            port,
            _process: Killed(child),
        };
        wait_until("victoria-metrics", Duration::from_secs(30), || {
            http(port, "GET", "/health", "").0 == 200
        });
        vm
    }

    /// Imports Prometheus text lines (`name{labels} value`) at the given ages in seconds, then flushes
    /// so that they are searchable at once.
    pub fn import(&self, lines: &[(&str, f64, u64)]) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let body: String = lines
            .iter()
            .map(|(series, value, age)| format!("{series} {value} {}\n", now - age * 1000))
            .collect();
        let (status, answer) = http(self.port, "POST", "/api/v1/import/prometheus", &body);
        assert_eq!(status, 204, "import: {answer}");
        assert_eq!(http(self.port, "GET", "/internal/force_flush", "").0, 200);
    }
}
