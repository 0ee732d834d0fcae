//! A real environment for end-to-end tests: Prometheus and Pushgateway from Debian's packages on
//! loopback with their own data dirs, the adapter binary over HTTPS with its self-signed certificate, and
//! clients that verify that certificate (a small rustls client, and `kubectl`). Everything stops on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `check` holds, or panics naming `what`.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Splits a raw HTTP/1.x answer into status and body, undoing chunked encoding.
fn parse_http(raw: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if !head.to_lowercase().contains("transfer-encoding: chunked") {
        return (status, body.to_string());
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    (status, out)
}

/// A plain-HTTP request on loopback.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_http(&raw)
}

/// `(label value, value)` of every item of an external metric list, sorted.
pub fn external_values(list: &serde_json::Value, label: &str) -> Vec<(String, String)> {
    let mut values: Vec<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["metricLabels"][label].as_str().unwrap().to_string(),
                i["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    values.sort();
    values
}

/// URL-encodes a query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub prom_port: u16,
    pub push_port: u16,
    pub port: u16,
    prometheus: Option<Child>,
    pushgateway: Child,
    adapter: Option<Child>,
}

impl Env {
    /// Prometheus scraping a Pushgateway every second, with `pushes` (`(group path, text)`) pushed and
    /// visible, then the adapter serving `rules` with `object_source` (`--objects=…` or
    /// `--lister-kubeconfig=…`).
    pub fn start(rules: &str, object_source: &str, pushes: &[(&str, &str)]) -> Env {
        Self::start_with(rules, object_source, pushes, &[])
    }

    /// As `start`, with `extra` flags for the adapter.
    pub fn start_with(
        rules: &str,
        object_source: &str,
        pushes: &[(&str, &str)],
        extra: &[&str],
    ) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let (prom_port, push_port, port) = (free_port(), free_port(), free_port());
        let pushgateway = Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{push_port}"))
            .arg(format!(
                "--persistence.file={}",
                dir.path().join("push.db").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-pushgateway is installed (scripts/test.sh installs it)");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: push\n  honor_labels: true\n  static_configs: [{{targets: ['127.0.0.1:{push_port}']}}]\n"),
        )
        .unwrap();
        let mut env = Env {
            dir,
            prom_port,
            push_port,
            port,
            prometheus: None,
            pushgateway,
            adapter: None,
        };
        env.start_prometheus();
        wait_until("the pushgateway", Duration::from_secs(20), || {
            http(push_port, "GET", "/-/ready", "").0 == 200
        });
        for (group, text) in pushes {
            env.push(group, text);
        }
        // Two more scrapes, so rate() over the pushed counters has two samples.
        std::thread::sleep(Duration::from_millis(2500));
        env.start_adapter(rules, object_source, extra);
        env
    }

    /// A Prometheus with this environment's scrape config on `port`, keeping its data in `data`.
    fn spawn_prometheus(&self, data: &str, port: u16) -> Child {
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                self.dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.path().join(data).display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (scripts/test.sh installs it)")
    }

    pub fn start_prometheus(&mut self) {
        self.prometheus = Some(self.spawn_prometheus("data", self.prom_port));
        let port = self.prom_port;
        wait_until("prometheus", Duration::from_secs(30), || {
            http(port, "GET", "/-/ready", "").0 == 200
        });
    }

    /// A second Prometheus scraping the same Pushgateway (a replica on the same data), on its own port
    /// and data dir, ready and holding `series`. Killed when dropped.
    pub fn start_replica(&self, series: &str) -> (u16, Killed) {
        let port = free_port();
        let replica = Killed(self.spawn_prometheus(&format!("replica-{port}"), port));
        wait_until("the replica to scrape", Duration::from_secs(30), || {
            let path = format!("/api/v1/series?match[]={}", encode(series));
            http(port, "GET", &path, "").1.contains(series)
        });
        (port, replica)
    }

    pub fn stop_prometheus(&mut self) {
        if let Some(mut child) = self.prometheus.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Pushes Prometheus text under `group` (`job/x/instance/y`) and waits until Prometheus scraped it.
    pub fn push(&self, group: &str, text: &str) {
        let (status, body) = http(self.push_port, "PUT", &format!("/metrics/{group}"), text);
        assert!(
            status == 200 || status == 202,
            "push to {group}: {status} {body}"
        );
        let first = text
            .lines()
            .find(|l| !l.starts_with('#') && !l.is_empty())
            .unwrap();
        let name = first.split(['{', ' ']).next().unwrap();
        let port = self.prom_port;
        wait_until(
            &format!("{name} in prometheus"),
            Duration::from_secs(20),
            || {
                let (_, body) = http(
                    port,
                    "GET",
                    &format!("/api/v1/series?match[]={}", encode(name)),
                    "",
                );
                body.contains(name)
            },
        );
    }

    fn start_adapter(&mut self, rules: &str, object_source: &str, extra: &[&str]) {
        let child = super::adapter_command()
            .args([
                "/adapter",
                &format!("--config={rules}"),
                object_source,
                &format!("--prometheus-url=http://127.0.0.1:{}/", self.prom_port),
                &format!("--secure-port={}", self.port),
                "--bind-address=127.0.0.1",
                &format!("--cert-dir={}", self.dir.path().join("certs").display()),
                "--metrics-relist-interval=2s",
                "--prometheus-timeout=2s",
                "--logtostderr=true",
                // No cluster to ask who callers are: tests/auth.rs covers delegated auth.
                "--delegated-auth=false",
            ])
            // The access log is on unless the test sets its own verbosity.
            .args((!extra.iter().any(|a| a.starts_with("--v="))).then_some("--v=4"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("adapter.log")).unwrap())
            .spawn()
            .unwrap();
        self.adapter = Some(child);
        wait_until("the adapter to be ready", Duration::from_secs(30), || {
            self.get("/readyz").0 == 200
        });
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("certs/apiserver.crt")
    }

    /// GET over HTTPS, verifying the adapter's certificate.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.https("GET", path, &[])
    }

    /// A request over HTTPS with extra headers.
    pub fn https(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        https(self.port, &self.ca(), method, path, headers)
    }

    /// GET that must succeed, parsed as JSON.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// A discovery document's resources as `<name> <namespaced>` lines.
    pub fn discovery_entries(&self, path: &str) -> Vec<String> {
        self.json(path)["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r["name"].as_str().unwrap(), r["namespaced"]))
            .collect()
    }

    /// `kubectl` against the adapter, verifying its certificate.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args([
                &format!("--server=https://127.0.0.1:{}", self.port),
                &format!("--certificate-authority={}", self.ca().display()),
                "--token=e2e",
                "--request-timeout=20s",
            ])
            .args(args)
            .env("KUBECONFIG", self.dir.path().join("no-kubeconfig"))
            .output()
            .expect("kubectl is installed")
    }

    /// The adapter's process id (to signal it).
    pub fn adapter_pid(&self) -> u32 {
        self.adapter.as_ref().expect("the adapter runs").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("adapter.log")).unwrap_or_default()
    }

    /// Sends the adapter SIGTERM and waits (up to 60 s) for it to exit: how long it took, and its status.
    pub fn terminate_adapter(&mut self) -> (Duration, std::process::ExitStatus) {
        let child = self.adapter.as_mut().expect("the adapter runs");
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (started.elapsed(), status);
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the adapter ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A request over HTTPS to the adapter on `port`, trusting only `ca`; `(0, "")` when the connection or
/// the handshake fails.
pub fn https(
    port: u16,
    ca: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    https_as(port, ca, None, method, path, headers)
}

/// A client certificate chain (leaf first) and its key.
pub type Identity = (
    Vec<rustls_pki_types::CertificateDer<'static>>,
    rustls_pki_types::PrivateKeyDer<'static>,
);

/// As `https`, presenting `identity` as the client certificate when given.
pub fn https_as(
    port: u16,
    ca: &Path,
    identity: Option<&Identity>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n");
    match exchange(port, ca, identity, request.as_bytes()) {
        Some(raw) => parse_http(&raw),
        None => (0, String::new()),
    }
}

/// `bytes` written as they are over HTTPS (HTTP/1.1) to the adapter on `port`, trusting only `ca`:
/// everything it answers until it closes; empty when the connection or the handshake fails.
pub fn https_raw(port: u16, ca: &Path, bytes: &[u8]) -> Vec<u8> {
    exchange(port, ca, None, bytes).unwrap_or_default()
}

/// A TLS connection to the adapter on `port` (loopback), trusting only `ca`, presenting `identity` when
/// given; reads give up after 15 s.
pub fn tls_connection(
    port: u16,
    ca: &Path,
    identity: Option<&Identity>,
) -> Option<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let tls = client_config(ca, identity);
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(tls), name).unwrap();
    Some(rustls::StreamOwned::new(conn, tcp))
}

fn exchange(port: u16, ca: &Path, identity: Option<&Identity>, bytes: &[u8]) -> Option<Vec<u8>> {
    if !ca.exists() {
        return None;
    }
    let mut stream = tls_connection(port, ca, identity)?;
    stream.write_all(bytes).ok()?;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    Some(raw)
}

/// Runs `work` with one HTTP/2 connection (hyper, by ALPN; asserted) to the adapter on `port`, trusting
/// only `ca` and presenting `identity` (certificate and key files) when given.
pub fn with_h2_connection<T, F>(
    port: u16,
    ca: &Path,
    identity: Option<(PathBuf, PathBuf)>,
    work: impl FnOnce(adapter_load::connection::Connection) -> F,
) -> T
where
    F: std::future::Future<Output = T>,
{
    use adapter_load::connection::{Connection, Endpoint, Options};
    let (endpoint, _) = Endpoint::parse(&format!("https://127.0.0.1:{port}/")).unwrap();
    let options = Options {
        ca: Some(ca.to_path_buf()),
        identity,
        ..Options::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let connection = Connection::open(&endpoint, &options).await.unwrap();
        assert_eq!(connection.protocol(), "h2");
        work(connection).await
    })
}

pub fn client_config(ca: &Path, identity: Option<&Identity>) -> rustls::ClientConfig {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for child in [
            self.adapter.as_mut(),
            self.prometheus.as_mut(),
            Some(&mut self.pushgateway),
        ]
        .into_iter()
        .flatten()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The demo world: pods web-1..3 in prod with counters and memory, a worker deployment's queue length, a
/// shop queue, two nodes.
pub fn demo_env() -> Env {
    demo_env_with(&[])
}

/// The demo world with `extra` adapter flags.
pub fn demo_env_with(extra: &[&str]) -> Env {
    let mut pushes: Vec<(String, String)> = Vec::new();
    for pod in ["web-1", "web-2", "web-3"] {
        pushes.push((
            format!("job/demo/instance/{pod}"),
            format!(
                "# TYPE http_requests_total counter\nhttp_requests_total{{namespace=\"prod\",pod=\"{pod}\"}} 100\n\
                 # TYPE container_cpu_usage_seconds_total counter\ncontainer_cpu_usage_seconds_total{{namespace=\"prod\",pod=\"{pod}\",container=\"app\"}} 12.5\n\
                 # TYPE container_memory_working_set_bytes gauge\ncontainer_memory_working_set_bytes{{namespace=\"prod\",pod=\"{pod}\",container=\"app\"}} 47185920\n"
            ),
        ));
    }
    pushes.push((
        "job/demo/instance/worker".into(),
        "# TYPE app_queue_length gauge\napp_queue_length{namespace=\"prod\",deployment=\"worker\"} 17\n\
         # TYPE queue_depth gauge\nqueue_depth{namespace=\"shop\",queue=\"orders\"} 42\nqueue_depth{namespace=\"shop\",queue=\"mail\"} 3\n"
            .into(),
    ));
    pushes.push((
        "job/demo/instance/nodes".into(),
        "# TYPE node_cpu_usage_seconds_total counter\nnode_cpu_usage_seconds_total{node=\"node-1\"} 100\nnode_cpu_usage_seconds_total{node=\"node-2\"} 50\n\
         # TYPE node_memory_working_set_bytes gauge\nnode_memory_working_set_bytes{node=\"node-1\"} 2147483648\nnode_memory_working_set_bytes{node=\"node-2\"} 1073741824\n"
            .into(),
    ));
    let refs: Vec<(&str, &str)> = pushes
        .iter()
        .map(|(g, t)| (g.as_str(), t.as_str()))
        .collect();
    Env::start_with(
        "config/rules/example.yaml",
        "--objects=deploy/demo/objects.yaml",
        &refs,
        extra,
    )
}

/// A child process killed when dropped.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a helper of the tests (a Python stand-in for a server) and waits until it prints `ready`; what it
/// says on stderr goes to the test's output.
pub fn start_ready(command: &mut std::process::Command) -> Killed {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} runs: {e}"));
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut ready,
    )
    .expect("the helper says it is ready");
    assert_eq!(ready.trim(), "ready", "{command:?} did not start");
    Killed(child)
}

/// The adapter alone on `port` (example rules, demo objects, loopback, no delegated auth), with `args`
/// added — for tests that need no Prometheus data or set their own TLS and backend flags.
pub fn spawn_adapter(port: u16, args: &[String]) -> Killed {
    let mut all = vec!["--delegated-auth=false".to_string()];
    all.extend_from_slice(args);
    spawn_adapter_with_auth(port, &all, Stdio::null())
}

/// As `spawn_adapter`, but the authentication flags are the caller's, and the log goes to `log`.
pub fn spawn_adapter_with_auth(port: u16, args: &[String], log: impl Into<Stdio>) -> Killed {
    let child = super::adapter_command()
        .args([
            "--config=config/rules/example.yaml".to_string(),
            "--objects=deploy/demo/objects.yaml".to_string(),
            format!("--secure-port={port}"),
            "--bind-address=127.0.0.1".to_string(),
        ])
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Killed(child)
}
