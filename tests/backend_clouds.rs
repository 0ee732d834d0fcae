//! Managed Prometheus services' authentication end to end — `sigv4` (Amazon), `googleIam` (Google),
//! `azureAd` (Azure) — against independent stand-ins for the clouds (`tests/backend_auth/clouds.py`): a
//! proxy in front of the real Prometheus that recomputes every SigV4 signature with botocore and checks
//! bearer tokens against the endpoints that issued them; STS (web identity and AssumeRole); Google's
//! metadata server and token endpoint (the service account's RS256 assertion verified with
//! `cryptography`); Microsoft Entra and Azure's instance metadata service. Tokens and temporary keys
//! expire after `LIFETIME` seconds, so the tests see them renewed, rotated files picked up, and one
//! endpoint down answered with a 503 for its backend only.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::adapter::Adapter;
use crate::support::env::{Killed, demo_env, http, https, start_ready, wait_until};

/// Lifetime of every token and temporary key, in seconds: renewed at half of it.
const LIFETIME: u64 = 6;
const STATIC_SECRET: &str = "static/secret+key";
const FEDERATED_TOKEN: &str = "federated-token-one";
const WEB_IDENTITY_TOKEN: &str = "web-identity-token-one";
const POD_IDENTITY_TOKEN: &str = "pod-identity-token-one";

struct Clouds {
    ports: serde_json::Value,
    _process: Killed,
}

impl Clouds {
    fn start(dir: &Path, prom_port: u16) -> Clouds {
        std::fs::write(dir.join("azure-federated-token"), FEDERATED_TOKEN).expect("written");
        std::fs::write(dir.join("web-identity-token"), WEB_IDENTITY_TOKEN).expect("written");
        std::fs::write(dir.join("pod-identity-token"), POD_IDENTITY_TOKEN).expect("written");
        let script = crate::support::root().join("tests/backend_auth/clouds.py");
        // clouds.py needs botocore and cryptography (scripts/test.sh installs them).
        let process = start_ready(
            Command::new("python3")
                .arg(script)
                .arg(dir)
                .args([prom_port.to_string(), LIFETIME.to_string()]),
        );
        let ports = std::fs::read_to_string(dir.join("ports.json")).expect("ports written");
        Clouds {
            ports: serde_json::from_str(&ports).expect("ports are JSON"),
            _process: process,
        }
    }

    fn port(&self, name: &str) -> u16 {
        self.ports[name].as_u64().expect("a port") as u16
    }

    fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}", self.port(name))
    }

    fn state(&self) -> serde_json::Value {
        let (_, body) = http(self.port("control"), "GET", "/state", "");
        serde_json::from_str(&body).expect("the state is JSON")
    }

    fn post(&self, path: &str) {
        http(self.port("control"), "POST", path, "");
    }

    fn count(&self, kind: &str, name: &str) -> u64 {
        self.state()[kind][name].as_u64().unwrap_or(0)
    }

    /// The environment an adapter is given: the AWS SDK kept off this machine's own files and instance
    /// metadata, every endpoint moved to the stand-ins.
    fn env(&self, dir: &Path) -> Vec<(&'static str, String)> {
        let none = dir.join("no-such-file").display().to_string();
        vec![
            ("AWS_CONFIG_FILE", none.clone()),
            ("AWS_SHARED_CREDENTIALS_FILE", none),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_ENDPOINT_URL_STS", self.url("sts")),
            (
                "GCE_METADATA_HOST",
                format!("127.0.0.1:{}", self.port("metadata")),
            ),
            ("AZURE_AUTHORITY_HOST", format!("{}/", self.url("entra"))),
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", self.url("imds")),
            ("AZURE_CLIENT_ID", "client-1".into()),
            ("AZURE_TENANT_ID", "tenant-1".into()),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                dir.join("azure-federated-token").display().to_string(),
            ),
        ]
    }
}

/// The metric the demo's `queue_depth` is served as from `backend` (metric names take no `-`).
fn queue_metric(backend: &str) -> String {
    format!("queue_depth_{}", backend.replace('-', "_"))
}

/// An external rule for the demo's `queue_depth`, served as [`queue_metric`] from `backend`.
fn queue_rule(backend: &str) -> String {
    format!(
        "- seriesQuery: '{{__name__=\"queue_depth\",queue!=\"\"}}'\n  resources:\n    overrides:\n      namespace: {{resource: namespace}}\n  \
         name: {{matches: '^queue_depth$', as: '{}'}}\n  metricsQuery: 'sum(<<.Series>>{{<<.LabelMatchers>>}}) by (queue)'\n  backend: {backend}\n",
        queue_metric(backend)
    )
}

fn external(backend: &str) -> String {
    format!(
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/{}",
        queue_metric(backend)
    )
}

const BACKENDS: [(&str, &str); 6] = [
    ("amp", "sigv4: {region: us-east-1}\n    verb: POST"),
    (
        "amp-role",
        "sigv4: {region: us-east-1, roleArn: 'arn:aws:iam::123456789012:role/prometheus', externalId: adapter}",
    ),
    ("gmp", "googleIam: {}"),
    ("gmp-key", "googleIam: {credentialsFile: KEY}"),
    ("azure-wi", "azureAd: {workloadIdentity: {}}"),
    (
        "azure-mi",
        "azureAd: {managedIdentity: {clientId: identity-1}}",
    ),
];

/// The proxy's status for a query signed by curl's own SigV4 implementation with `secret`.
fn curl_signed(clouds: &Clouds, secret: &str) -> String {
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--aws-sigv4", "aws:amz:us-east-1:aps"])
        .args(["--user", &format!("AKIASTATICTESTKEY:{secret}")])
        .arg(format!("{}/api/v1/query?query=up", clouds.url("proxy")))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn sigv4_google_and_azure_reach_a_protected_prometheus_and_fail_alone() {
    let env = demo_env();
    let dir = env.dir.path();
    let clouds = Clouds::start(dir, env.prom_port);
    // The verifier itself: a third implementation (curl's) passes it, a wrong secret does not.
    assert_eq!(curl_signed(&clouds, STATIC_SECRET), "200");
    assert_eq!(curl_signed(&clouds, "wrong-secret"), "403");
    assert_eq!(
        http(clouds.port("proxy"), "GET", "/api/v1/query?query=up", "").0,
        403
    );
    assert_eq!(clouds.state()["rejected"], 2, "{}", clouds.state());
    clouds.post("/reset");
    let key_file = dir.join("google-key.json");
    std::fs::copy(dir.join("google-key-a.json"), &key_file).expect("copied");
    let proxy = clouds.url("proxy");
    let mut rules = String::from("backends:\n");
    for (name, method) in BACKENDS {
        let method = method.replace("KEY", &key_file.display().to_string());
        rules.push_str(&format!("  {name}:\n    url: {proxy}/\n    {method}\n"));
    }
    rules.push_str("externalRules:\n");
    for (name, _) in BACKENDS {
        rules.push_str(&queue_rule(name));
    }
    let rules_file = dir.join("cloud-rules.yaml");
    std::fs::write(&rules_file, rules).expect("written");
    let mut adapter_env = clouds.env(dir);
    adapter_env.push(("AWS_ACCESS_KEY_ID", "AKIASTATICTESTKEY".into()));
    adapter_env.push(("AWS_SECRET_ACCESS_KEY", STATIC_SECRET.into()));
    let url = format!("http://127.0.0.1:{}/", env.prom_port);
    let adapter = Adapter::start_with_env(dir, &rules_file, &url, &["--v=4"], &adapter_env);
    adapter.wait_ready();
    let get = |path: &str| https(adapter.port, &adapter.ca, "GET", path, &[]);
    let log = || std::fs::read_to_string(adapter.log_path()).expect("the log");

    // Discovery and queries went through every backend: the proxy refuses anything it cannot verify.
    for (name, _) in BACKENDS {
        let (status, body) = get(&external(name));
        assert_eq!(status, 200, "{name}: {body}\n{}\n{}", clouds.state(), log());
        assert!(body.contains("\"value\":\"42\""), "{name}: {body}");
    }
    let state = clouds.state();
    assert_eq!(state["rejected"], 0, "{state}");
    for method in ["sigv4", "metadata", "google", "entra", "imds"] {
        assert!(clouds.count("proxied", method) > 0, "{method}: {state}");
    }
    assert!(
        state["signed_posts"].as_u64() > Some(0),
        "POST bodies signed: {state}"
    );
    assert!(
        clouds.count("fetches", "sts-assume-role") > 0,
        "roleArn assumed with the environment's keys, AssumeRole itself verified: {state}"
    );

    // Under load, one fetch per token lifetime for each endpoint.
    let issuers = ["sts-assume-role", "metadata", "google", "entra", "imds"];
    let before: Vec<u64> = issuers.iter().map(|i| clouds.count("fetches", i)).collect();
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    for (name, _) in BACKENDS {
                        assert_eq!(get(&external(name)).0, 200, "{name}");
                    }
                }
            });
        }
    });
    // Renewed at half the lifetime: one fetch per started half-lifetime, whatever the requests.
    let most = started.elapsed().as_secs() / (LIFETIME / 2) + 1;
    for (issuer, before) in issuers.iter().zip(before) {
        let fetched = clouds.count("fetches", issuer) - before;
        assert!(
            fetched <= most,
            "{issuer}: {fetched} fetches for 120 requests in {:?}",
            started.elapsed()
        );
    }

    // Rotated secrets are read at the next fetch: a new service-account key (the old one now refused)
    // and a new federated token.
    std::fs::copy(dir.join("google-key-b.json"), &key_file).expect("copied");
    clouds.post("/rotate-google");
    std::fs::write(dir.join("azure-federated-token"), "federated-token-two").expect("written");
    std::thread::sleep(Duration::from_secs(LIFETIME));
    for name in ["gmp-key", "azure-wi"] {
        assert_eq!(get(&external(name)).0, 200, "{name}: {}", clouds.state());
    }
    let state = clouds.state();
    assert_eq!(
        (&state["refused"], &state["rejected"]),
        (&serde_json::json!({}), &serde_json::json!(0)),
        "{state}"
    );

    // The metadata server down: once its token expires, that backend answers 503 saying which step
    // failed; every other backend still answers.
    clouds.post("/down/metadata");
    wait_until(
        "the metadata token to expire",
        Duration::from_secs(2 * LIFETIME),
        || get(&external("gmp")).0 == 503,
    );
    let (_, body) = get(&external("gmp"));
    assert!(
        body.contains("googleIam for backend gmp: asking the metadata server"),
        "{body}"
    );
    for (name, _) in BACKENDS.iter().filter(|(name, _)| *name != "gmp") {
        assert_eq!(get(&external(name)).0, 200, "{name} is unaffected");
    }
    let (_, metrics) = get("/metrics");
    assert!(
        metrics.contains(
            "prometheus_adapter_backend_auth_failures_total{backend=\"gmp\",method=\"googleIam\"}"
        ),
        "{metrics}"
    );
    clouds.post("/up/metadata");
    wait_until(
        "the metadata server to be used again",
        Duration::from_secs(10),
        || get(&external("gmp")).0 == 200,
    );

    // No secret in the log: keys, tokens, assertions.
    let log = log();
    assert_eq!(
        log.matches("backend authentication failed").count(),
        1,
        "{log}"
    );
    for secret in [
        STATIC_SECRET,
        "temp-secret-",
        "session-token-",
        FEDERATED_TOKEN,
        "federated-token-two",
        "PRIVATE KEY",
        "metadata-token-",
        "entra-token-",
        "imds-token-",
        "google-token-",
    ] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}

#[test]
fn sigv4_keys_from_irsa_and_pod_identity_are_renewed_before_they_expire() {
    let env = demo_env();
    let dir = env.dir.path();
    let clouds = Clouds::start(dir, env.prom_port);
    // The flags' backend this time: --prometheus-url is the proxy, signed per --prometheus-sigv4-region.
    let rules_file = dir.join("irsa-rules.yaml");
    let rule = queue_rule("amp").replace("  backend: amp\n", "");
    std::fs::write(&rules_file, format!("externalRules:\n{rule}")).expect("written");
    let url = format!("{}/", clouds.url("proxy"));
    let start = |extra_env: [(&'static str, String); 2]| {
        let mut adapter_env = clouds.env(dir);
        adapter_env.extend(extra_env);
        let adapter = Adapter::start_with_env(
            dir,
            &rules_file,
            &url,
            &["--prometheus-sigv4-region=us-east-1"],
            &adapter_env,
        );
        adapter.wait_ready();
        adapter
    };
    // As EKS IRSA sets it: a role and a projected token file, no keys.
    let irsa = start([
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            dir.join("web-identity-token").display().to_string(),
        ),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa".into()),
    ]);
    // As EKS Pod Identity sets it: the agent's endpoint and the pod's token file.
    let pod_identity = start([
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/v1/credentials", clouds.url("container")),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            dir.join("pod-identity-token").display().to_string(),
        ),
    ]);

    // Requests for three key lifetimes: every one answered, though each key expires after LIFETIME s
    // and the proxy refuses expired keys.
    let until = Instant::now() + Duration::from_secs(3 * LIFETIME);
    let mut answered = 0;
    while Instant::now() < until {
        for adapter in [&irsa, &pod_identity] {
            let (status, body) = https(adapter.port, &adapter.ca, "GET", &external("amp"), &[]);
            assert_eq!(
                status,
                200,
                "{body}\n{}\n{}",
                clouds.state(),
                std::fs::read_to_string(adapter.log_path()).unwrap_or_default()
            );
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let state = clouds.state();
    assert!(answered > 100, "{answered} requests");
    assert_eq!(state["rejected"], 0, "{state}");
    for issuer in ["sts-web-identity", "container"] {
        let fetches = clouds.count("fetches", issuer);
        assert!(
            (3..=8).contains(&fetches),
            "{issuer}: renewed at half the lifetime: {fetches} fetches over {} s: {state}",
            3 * LIFETIME
        );
    }
}
