//! A backend's `basicAuth` and `oauth2` (client credentials) end to end: Prometheus behind a proxy that
//! lets calls through only with a token its own token endpoint issued and that has not expired, or with
//! basic credentials matching a password file (both in `tests/backend_auth/servers.py`, independent of
//! our client). One token fetch per token lifetime under load; rotated secrets picked up; the token
//! endpoint down is a 503 for that backend's metrics only, counted, the secret never logged.

use std::process::Command;
use std::time::Duration;

use crate::support::adapter::Adapter;
use crate::support::env::{Env, Killed, demo_env, free_port, http, https, start_ready, wait_until};

const SECRET: &str = "s3cret-client-value";
const PASSWORD: &str = "p4ssword-value";
/// Token lifetime: renewed at half of it (under a minute), so a fetch every ~2 s at most.
const LIFETIME: u64 = 4;

struct Servers {
    token_port: u16,
    proxy_port: u16,
    _process: Killed,
}

impl Servers {
    fn start(env: &Env, secret_file: &std::path::Path, password_file: &std::path::Path) -> Servers {
        let (token_port, proxy_port) = (free_port(), free_port());
        let script = crate::support::root().join("tests/backend_auth/servers.py");
        let process = start_ready(
            Command::new("python3")
                .arg(script)
                .args([
                    token_port.to_string(),
                    proxy_port.to_string(),
                    env.prom_port.to_string(),
                ])
                .args(["adapter-client".into(), secret_file.display().to_string()])
                .args([
                    "adapter-user".into(),
                    password_file.display().to_string(),
                    LIFETIME.to_string(),
                ]),
        );
        Servers {
            token_port,
            proxy_port,
            _process: process,
        }
    }

    fn state(&self) -> serde_json::Value {
        let (_, body) = http(self.token_port, "GET", "/state", "");
        serde_json::from_str(&body).expect("the state is JSON")
    }

    fn fetches(&self) -> u64 {
        self.state()["fetches"].as_u64().expect("a count")
    }
}

const EXTERNAL: &str = "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth";
const CUSTOM: &str =
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/web-1/http_requests_per_second";

#[test]
fn basic_auth_and_oauth2_reach_a_protected_prometheus_and_fail_alone() {
    let env = demo_env();
    let dir = env.dir.path();
    let (secret_file, password_file) = (dir.join("client-secret"), dir.join("password"));
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("written");
    std::fs::write(&password_file, PASSWORD).expect("written");
    let servers = Servers::start(&env, &secret_file, &password_file);
    let proxy = format!("http://127.0.0.1:{}/", servers.proxy_port);
    // The example rules, the queue's external rule through oauth2 and the pods' rule through basicAuth.
    let rules = std::fs::read_to_string(crate::support::root().join("config/rules/example.yaml"))
        .expect("the example rules")
        .replacen("by (queue)'", "by (queue)'\n  backend: oauth", 1)
        .replacen(
            "as: \"${1}_per_second\"",
            "as: \"${1}_per_second\"\n  backend: basic",
            1,
        );
    let rules = format!(
        "backends:\n  oauth:\n    url: {proxy}\n    oauth2:\n      tokenUrl: http://127.0.0.1:{}/token\n      clientId: adapter-client\n      clientSecretFile: {}\n      scopes: [metrics.read, metrics.list]\n      endpointParams: {{audience: prometheus}}\n  basic:\n    url: {proxy}\n    basicAuth: {{username: adapter-user, passwordFile: {}}}\n{rules}",
        servers.token_port,
        secret_file.display(),
        password_file.display()
    );
    let rules_file = dir.join("auth-rules.yaml");
    std::fs::write(&rules_file, rules).expect("written");
    // The flags' backend is unprotected Prometheus; the rules' backends go through the proxy.
    let url = format!("http://127.0.0.1:{}/", env.prom_port);
    let adapter = Adapter::start(dir, &rules_file, &url, &["--v=4"]);
    adapter.wait_ready();
    let get = |path: &str| https(adapter.port, &adapter.ca, "GET", path, &[]);

    // Discovery went through both backends (the proxy refuses anything unauthenticated).
    let (status, body) = get(EXTERNAL);
    let log = || std::fs::read_to_string(adapter.log_path()).expect("the log");
    assert_eq!(status, 200, "{body}\n{}\n{}", servers.state(), log());
    assert!(body.contains("\"value\":\"42\""), "{body}");
    let (status, body) = get(CUSTOM);
    assert_eq!(status, 200, "{body}");
    let state = servers.state();
    assert_eq!(state["rejected"], 0, "{state}");
    assert_eq!(
        (&state["scope"], &state["audience"]),
        (
            &serde_json::json!("metrics.read metrics.list"),
            &serde_json::json!("prometheus")
        )
    );

    // Under load, one fetch per token lifetime: 40 requests from 4 threads within one lifetime.
    let before = servers.fetches();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10 {
                    assert_eq!(get(EXTERNAL).0, 200);
                }
            });
        }
    });
    assert!(servers.fetches() - before <= 1, "{}", servers.state());

    // A rotated client secret is read at the next fetch (the old one is refused by the endpoint).
    std::fs::write(&secret_file, "rotated-client-secret\n").expect("written");
    std::thread::sleep(Duration::from_secs(LIFETIME));
    assert_eq!(get(EXTERNAL).0, 200);
    assert_eq!(servers.state()["refused"], 0, "{}", servers.state());
    // A rotated password is read at the next call.
    std::fs::write(&password_file, "rotated-password").expect("written");
    assert_eq!(get(CUSTOM).0, 200);

    // The token endpoint down: once the token expires, that backend's metrics are 503, the other's 200.
    http(servers.token_port, "POST", "/down", "");
    wait_until("the token to expire", Duration::from_secs(10), || {
        get(EXTERNAL).0 == 503
    });
    let (status, body) = get(CUSTOM);
    assert_eq!(status, 200, "the basicAuth backend is unaffected: {body}");
    let (_, metrics) = get("/metrics");
    assert!(
        metrics.contains(
            "prometheus_adapter_backend_auth_failures_total{backend=\"oauth\",method=\"oauth2\"}"
        ),
        "{metrics}"
    );
    // Back up: served again without a restart.
    http(servers.token_port, "POST", "/up", "");
    wait_until(
        "the token endpoint to be used again",
        Duration::from_secs(10),
        || get(EXTERNAL).0 == 200,
    );

    // The log says which step failed, once per change of state, and never holds a secret.
    let log = std::fs::read_to_string(adapter.log_path()).expect("the log");
    assert!(log.contains("asking the token endpoint"), "{log}");
    assert_eq!(
        log.matches("backend authentication failed").count(),
        1,
        "{log}"
    );
    for secret in [
        SECRET,
        PASSWORD,
        "rotated-client-secret",
        "rotated-password",
    ] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}
