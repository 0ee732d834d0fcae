//! Delegated authentication and authorization over real TLS: client certificates from three CAs, front-proxy
//! headers, bearer tokens reviewed by the test API server, SubjectAccessReviews whose specs are checked,
//! caches, CA rotation (ConfigMap and files), always-allowed paths, and the clusterless mode.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::env::{Killed, free_port, https_as, spawn_adapter_with_auth, wait_until};
use crate::support::kube_api::KubeApi;
use crate::support::pki::{Ca, Client, ca, client};

/// The test API server (tokens, policy, authentication ConfigMap), three CAs and an adapter using them.
struct World {
    api: KubeApi,
    dir: tempfile::TempDir,
    port: u16,
    front_proxy: Ca,
    client_ca: Ca,
    other: Ca,
    _adapter: Killed,
}

fn config_map_data(client_ca: &Ca, front_proxy: &Ca) -> Value {
    json!({
        "client-ca-file": client_ca.pem,
        "requestheader-client-ca-file": front_proxy.pem,
        "requestheader-allowed-names": "[\"front-proxy-client\"]",
        "requestheader-username-headers": "[\"X-Remote-User\"]",
        "requestheader-group-headers": "[\"X-Remote-Group\"]",
        "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]",
    })
}

impl World {
    /// The API server knows tokens for alice (allowed), bob (denied) and admin (system:masters), allows
    /// carol and dave, and publishes the CAs in the authentication ConfigMap; `args` are added.
    fn start(args: &[String]) -> World {
        let api = KubeApi::start(Vec::new());
        api.token("alice-token", "alice", &["team-a"]);
        api.token("bob-token", "bob", &[]);
        api.token("admin-token", "admin", &["system:masters"]);
        for user in ["alice", "carol", "dave"] {
            api.allow(user);
        }
        let (front_proxy, client_ca, other) =
            (ca("front-proxy-ca"), ca("client-ca"), ca("other-ca"));
        api.set_auth_config_map(config_map_data(&client_ca, &front_proxy));
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = api.kubeconfig(dir.path());
        let port = free_port();
        let mut all = vec![
            format!("--authentication-kubeconfig={}", kubeconfig.display()),
            format!("--authorization-kubeconfig={}", kubeconfig.display()),
            format!("--prometheus-url=http://127.0.0.1:{}/", free_port()),
            format!("--cert-dir={}", dir.path().join("certs").display()),
            "--v=5".to_string(),
        ];
        all.extend_from_slice(args);
        let log = std::fs::File::create(dir.path().join("adapter.log")).unwrap();
        let adapter = spawn_adapter_with_auth(port, &all, log);
        let world = World {
            api,
            dir,
            port,
            front_proxy,
            client_ca,
            other,
            _adapter: adapter,
        };
        wait_until("the adapter", Duration::from_secs(30), || {
            world.request(None, None, &[], "/healthz").0 == 200
        });
        world
    }

    fn serving_ca(&self) -> PathBuf {
        self.dir.path().join("certs/apiserver.crt")
    }

    /// GET `path` with an optional client certificate, bearer token and extra headers.
    fn request(
        &self,
        cert: Option<&Client>,
        token: Option<&str>,
        headers: &[(&str, &str)],
        path: &str,
    ) -> (u16, String) {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(bearer) = &bearer {
            all.push(("Authorization", bearer));
        }
        https_as(
            self.port,
            &self.serving_ca(),
            cert.map(|c| &c.identity),
            "GET",
            path,
            &all,
        )
    }

    /// The status of a request through the front proxy (certificate `proxy`, user carol in headers).
    fn as_proxy(&self, proxy: &Client) -> u16 {
        self.request(Some(proxy), None, PROXY_HEADERS, DISCOVERY).0
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("adapter.log")).unwrap_or_default()
    }
}

const DISCOVERY: &str = "/apis/custom.metrics.k8s.io/v1beta1";
const PROXY_HEADERS: &[(&str, &str)] = &[
    ("X-Remote-User", "carol"),
    ("X-Remote-Group", "proxied"),
    ("X-Remote-Extra-Scopes", "metrics"),
];

fn no_caching() -> Vec<String> {
    vec![
        "--authentication-token-webhook-cache-ttl=0s".into(),
        "--authorization-webhook-cache-authorized-ttl=0s".into(),
        "--authorization-webhook-cache-unauthorized-ttl=0s".into(),
    ]
}

#[test]
fn every_combination_of_certificate_headers_and_token_gets_the_right_user() {
    let world = World::start(&no_caching());
    let certs: Vec<(&str, Option<Client>)> = vec![
        ("no certificate", None),
        (
            "front-proxy CA, allowed CN",
            Some(client(&world.front_proxy, "front-proxy-client", None)),
        ),
        (
            "front-proxy CA, CN not allowed",
            Some(client(&world.front_proxy, "intruder", None)),
        ),
        (
            "another CA",
            Some(client(&world.other, "dave", Some("ops"))),
        ),
        (
            "client CA",
            Some(client(&world.client_ca, "dave", Some("ops"))),
        ),
    ];
    let mut cases = 0;
    for (cert_name, cert) in &certs {
        for with_headers in [false, true] {
            for token in [Some("alice-token"), Some("forged-token"), None] {
                let headers = if with_headers { PROXY_HEADERS } else { &[] };
                let expected: Option<(&str, Vec<&str>, Value)> =
                    if *cert_name == "front-proxy CA, allowed CN" && with_headers {
                        Some((
                            "carol",
                            vec!["proxied", "system:authenticated"],
                            json!({"scopes": ["metrics"]}),
                        ))
                    } else if *cert_name == "client CA" {
                        Some(("dave", vec!["ops", "system:authenticated"], Value::Null))
                    } else if token == Some("alice-token") {
                        Some(("alice", vec!["team-a", "system:authenticated"], Value::Null))
                    } else {
                        None
                    };
                let case = format!("{cert_name}, headers: {with_headers}, token: {token:?}");
                let reviews_before = world.api.access_reviews().len();
                let (status, body) = world.request(cert.as_ref(), token, headers, DISCOVERY);
                let reviews = world.api.access_reviews();
                match expected {
                    Some((user, groups, extra)) => {
                        assert_eq!(status, 200, "{case}: {body}");
                        assert_eq!(reviews.len(), reviews_before + 1, "{case}: one review");
                        let spec = reviews.last().unwrap();
                        assert_eq!(spec["user"], user, "{case}");
                        assert_eq!(spec["groups"], json!(groups), "{case}");
                        assert_eq!(spec["extra"], extra, "{case}");
                        assert_eq!(
                            spec["nonResourceAttributes"],
                            json!({"path": DISCOVERY, "verb": "get"}),
                            "{case}"
                        );
                    }
                    None => {
                        assert_eq!(status, 401, "{case}: {body}");
                        let status: Value = serde_json::from_str(&body).unwrap();
                        assert_eq!(status["reason"], "Unauthorized", "{case}");
                        assert_eq!(
                            reviews.len(),
                            reviews_before,
                            "{case}: nothing to authorize"
                        );
                    }
                }
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 30);
}

#[test]
fn requests_are_authorized_with_upstreams_attributes_and_denials_are_403() {
    let world = World::start(&no_caching());
    let alice = Some("alice-token");
    let cases = [
        (
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests?labelSelector=app%3Dweb",
            json!({"verb": "get", "group": "custom.metrics.k8s.io", "version": "v1beta2", "resource": "pods",
                   "subresource": "http_requests", "name": "*", "namespace": "prod"}),
        ),
        (
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/pr%6fd/pods/%2A/http_requests",
            json!({"verb": "get", "group": "custom.metrics.k8s.io", "version": "v1beta1", "resource": "pods",
                   "subresource": "http_requests", "name": "*", "namespace": "prod"}),
        ),
        (
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/metrics/queue_length",
            json!({"verb": "get", "group": "custom.metrics.k8s.io", "version": "v1beta1", "resource": "metrics",
                   "name": "queue_length", "namespace": "prod"}),
        ),
        (
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth",
            json!({"verb": "list", "group": "external.metrics.k8s.io", "version": "v1beta1",
                   "resource": "queue_depth", "namespace": "shop"}),
        ),
        (
            "/apis/metrics.k8s.io/v1beta1/nodes/node-1",
            json!({"verb": "get", "group": "metrics.k8s.io", "version": "v1beta1", "resource": "nodes",
                   "name": "node-1"}),
        ),
    ];
    for (path, attributes) in cases {
        let (status, body) = world.request(None, alice, &[], path);
        assert!(
            status != 401 && status != 403,
            "{path}: alice is allowed: {status} {body}"
        );
        let spec = world.api.access_reviews().pop().unwrap();
        assert_eq!(spec["resourceAttributes"], attributes, "{path}");
        assert_eq!(spec["user"], "alice");
    }

    let (status, body) = world.request(
        None,
        Some("bob-token"),
        &[],
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/http_requests",
    );
    assert_eq!(status, 403, "{body}");
    let denied: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            denied["kind"].as_str(),
            denied["reason"].as_str(),
            denied["code"].as_u64()
        ),
        (Some("Status"), Some("Forbidden"), Some(403))
    );
    assert_eq!(
        denied["message"],
        "pods.custom.metrics.k8s.io \"*\" is forbidden: User \"bob\" cannot get resource \"pods/http_requests\" \
         in API group \"custom.metrics.k8s.io\" in the namespace \"prod\": the test policy allows only listed users"
    );

    // A failing TokenReview is a 401 (as Go); a failing SubjectAccessReview is a 500, never an allow.
    let (status, _) = world.request(None, Some("failing-token"), &[], "/version");
    assert_eq!(status, 401);
    world.api.token("reviewed-token", "failing-review", &[]);
    let (status, body) = world.request(None, Some("reviewed-token"), &[], "/version");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("the request could not be authorized"),
        "{body}"
    );

    // system:masters (the aggregator's own probes) is never asked about.
    let before = world.api.access_reviews().len();
    assert_eq!(
        world.request(None, Some("admin-token"), &[], "/metrics").0,
        200
    );
    assert_eq!(world.api.access_reviews().len(), before);
}

#[test]
fn probes_are_always_allowed_and_everything_else_needs_a_user() {
    let world = World::start(&[]);
    for path in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(world.request(None, None, &[], path).0, 200, "{path}");
        assert_eq!(
            world.request(None, Some("forged-token"), &[], path).0,
            200,
            "{path} ignores credentials"
        );
    }
    for path in [
        "/metrics",
        "/version",
        "/apis",
        "/openapi/v2",
        DISCOVERY,
        "/healthz/extra",
    ] {
        assert_eq!(world.request(None, None, &[], path).0, 401, "{path}");
    }
    // Front-proxy headers without the proxy's certificate are ignored, not trusted.
    assert_eq!(world.request(None, None, PROXY_HEADERS, DISCOVERY).0, 401);
    assert!(world.api.access_reviews().is_empty());
}

#[test]
fn reviews_are_cached_per_identity_for_their_ttl() {
    let world = World::start(&[
        "--authentication-token-webhook-cache-ttl=5s".into(),
        "--authorization-webhook-cache-authorized-ttl=5s".into(),
        "--authorization-webhook-cache-unauthorized-ttl=5s".into(),
    ]);
    let counts = || (world.api.token_reviews(), world.api.access_reviews().len());
    for _ in 0..5 {
        assert_eq!(
            world.request(None, Some("alice-token"), &[], "/version").0,
            200
        );
    }
    assert_eq!(
        counts(),
        (1, 1),
        "one TokenReview and one SAR for five requests"
    );
    for _ in 0..3 {
        assert_eq!(
            world.request(None, Some("bob-token"), &[], "/version").0,
            403
        );
        assert_eq!(
            world.request(None, Some("forged-token"), &[], "/version").0,
            401
        );
    }
    assert_eq!(
        counts(),
        (3, 2),
        "denials and rejected tokens are cached too"
    );
    assert_eq!(
        world.request(None, Some("alice-token"), &[], "/metrics").0,
        200
    );
    assert_eq!(
        counts(),
        (3, 3),
        "another path is another question, same token"
    );
    let dave = client(&world.client_ca, "dave", Some("ops"));
    assert_eq!(world.request(Some(&dave), None, &[], "/version").0, 200);
    assert_eq!(world.request(Some(&dave), None, &[], "/version").0, 200);
    assert_eq!(counts(), (3, 4), "certificates need no TokenReview");
    std::thread::sleep(Duration::from_millis(5200));
    assert_eq!(
        world.request(None, Some("alice-token"), &[], "/version").0,
        200
    );
    assert_eq!(counts(), (4, 5), "asked again once the TTL passed");
    let (status, metrics) = world.request(None, Some("admin-token"), &[], "/metrics");
    assert_eq!(status, 200);
    for line in [
        r#"prometheus_adapter_auth_reviews_total{review="access",source="apiserver",outcome="denied"} 1"#,
        r#"prometheus_adapter_auth_reviews_total{review="access",source="cache",outcome="denied"} 2"#,
        r#"prometheus_adapter_auth_reviews_total{review="token",source="apiserver",outcome="rejected"} 1"#,
        r#"prometheus_adapter_auth_reviews_total{review="token",source="cache",outcome="rejected"} 2"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }

    // Concurrent requests with a token not yet cached share one TokenReview.
    world.api.token("slow-alice", "alice", &["team-a"]);
    let before = world.api.token_reviews();
    std::thread::scope(|threads| {
        for _ in 0..10 {
            threads.spawn(|| {
                assert_eq!(
                    world.request(None, Some("slow-alice"), &[], "/version").0,
                    200
                )
            });
        }
    });
    assert_eq!(world.api.token_reviews() - before, 1);
}

#[test]
fn a_rotated_front_proxy_ca_in_the_config_map_applies_without_restart() {
    let world = World::start(&no_caching());
    let old_proxy = client(&world.front_proxy, "front-proxy-client", None);
    assert_eq!(world.as_proxy(&old_proxy), 200);
    let rotated = ca("front-proxy-ca-2");
    let new_proxy = client(&rotated, "front-proxy-client", None);
    assert_eq!(world.as_proxy(&new_proxy), 401);
    world
        .api
        .set_auth_config_map(config_map_data(&world.client_ca, &rotated));
    wait_until("the rotated CA", Duration::from_secs(15), || {
        world.as_proxy(&new_proxy) == 200
    });
    assert_eq!(
        world.as_proxy(&old_proxy),
        401,
        "the old CA is no longer trusted"
    );
    assert_eq!(world.api.access_reviews().last().unwrap()["user"], "carol");
    assert!(world.log().contains("extension-apiserver-authentication"));
}

/// `count` GETs of `path` one after another on one HTTP/2 connection (by ALPN), presenting `identity`
/// (certificate and key files) when given: their statuses.
fn h2_statuses(
    port: u16,
    ca: &Path,
    identity: Option<(PathBuf, PathBuf)>,
    path: &str,
    count: usize,
) -> Vec<u16> {
    crate::support::env::with_h2_connection(port, ca, identity, |connection| async move {
        let mut statuses = Vec::new();
        for _ in 0..count {
            let mut stream = connection.share().unwrap();
            statuses.push(stream.get(path).await.unwrap().status);
        }
        statuses
    })
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(path.with_extension("tmp"), text).unwrap();
    std::fs::rename(path.with_extension("tmp"), &path).unwrap();
    path
}

#[test]
fn ca_files_from_flags_are_used_and_reloaded() {
    let files = tempfile::tempdir().unwrap();
    let (proxy_ca, client_ca) = (ca("flag-proxy-ca"), ca("flag-client-ca"));
    let proxy_file = write(files.path(), "proxy.crt", &proxy_ca.pem);
    let client_file = write(files.path(), "client.crt", &client_ca.pem);
    let world = World::start(&[
        format!("--requestheader-client-ca-file={}", proxy_file.display()),
        format!("--client-ca-file={}", client_file.display()),
        "--requestheader-allowed-names=front-proxy-client,aggregator".into(),
        "--authentication-skip-lookup".into(),
    ]);
    let proxy = client(&proxy_ca, "aggregator", None);
    assert_eq!(world.as_proxy(&proxy), 200);
    assert_eq!(world.api.access_reviews().last().unwrap()["user"], "carol");
    let dave = client(&client_ca, "dave", Some("ops"));
    assert_eq!(world.request(Some(&dave), None, &[], DISCOVERY).0, 200);
    assert_eq!(world.api.access_reviews().last().unwrap()["user"], "dave");
    // The ConfigMap's CAs are not used when the flags give both.
    let config_map_proxy = client(&world.front_proxy, "front-proxy-client", None);
    assert_eq!(world.as_proxy(&config_map_proxy), 401);
    // A rotated file applies without restart.
    let rotated = ca("flag-proxy-ca-2");
    std::thread::sleep(Duration::from_millis(1100));
    write(files.path(), "proxy.crt", &rotated.pem);
    let new_proxy = client(&rotated, "front-proxy-client", None);
    wait_until("the rotated CA file", Duration::from_secs(10), || {
        world.as_proxy(&new_proxy) == 200
    });
    assert_eq!(world.as_proxy(&proxy), 401);
}

#[test]
fn kubectl_authenticates_with_a_client_certificate_and_a_token_over_http2() {
    let world = World::start(&[]);
    let dave = client(&world.client_ca, "dave", Some("ops"));
    let cert = write(world.dir.path(), "dave.crt", &dave.cert_pem);
    let key = write(world.dir.path(), "dave.key", &dave.key_pem);
    let kubectl = |auth: &[String]| {
        Command::new("kubectl")
            .args([
                format!("--server=https://127.0.0.1:{}", world.port),
                format!("--certificate-authority={}", world.serving_ca().display()),
                "--request-timeout=20s".into(),
            ])
            .args(auth)
            .args(["get", "--raw", DISCOVERY])
            .env("KUBECONFIG", world.dir.path().join("none"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let with_cert = kubectl(&[
        format!("--client-certificate={}", cert.display()),
        format!("--client-key={}", key.display()),
    ]);
    assert!(
        with_cert.status.success(),
        "{}",
        String::from_utf8_lossy(&with_cert.stderr)
    );
    assert_eq!(world.api.access_reviews().last().unwrap()["user"], "dave");
    let with_token = kubectl(&["--token=alice-token".into()]);
    assert!(
        with_token.status.success(),
        "{}",
        String::from_utf8_lossy(&with_token.stderr)
    );
    assert_eq!(world.api.access_reviews().last().unwrap()["user"], "alice");
    let denied = kubectl(&["--token=bob-token".into()]);
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
}

#[test]
fn without_a_cluster_delegation_must_be_switched_off_explicitly() {
    // Delegated auth is the default: with no cluster to ask, the adapter refuses to start.
    let unreachable = tempfile::tempdir().unwrap();
    let kubeconfig = unreachable.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'http://127.0.0.1:{}'}}\n\
             users:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n",
            free_port()
        ),
    )
    .unwrap();
    let output = crate::support::adapter(&[
        "--config=config/rules/example.yaml",
        "--objects=deploy/demo/objects.yaml",
        &format!("--secure-port={}", free_port()),
        "--bind-address=127.0.0.1",
        &format!("--cert-dir={}", unreachable.path().display()),
        &format!("--authentication-kubeconfig={}", kubeconfig.display()),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("unable to load ConfigMap kube-system/extension-apiserver-authentication"),
        "{stderr}"
    );

    // Switched off with a client CA: a certificate from it is required, then everything is allowed.
    let client_ca = ca("local-ca");
    let ca_file = write(unreachable.path(), "ca.crt", &client_ca.pem);
    let port = free_port();
    let log = unreachable.path().join("adapter.log");
    let _adapter = spawn_adapter_with_auth(
        port,
        &[
            "--delegated-auth=false".into(),
            format!("--client-ca-file={}", ca_file.display()),
            format!("--cert-dir={}", unreachable.path().join("certs").display()),
            format!("--prometheus-url=http://127.0.0.1:{}/", free_port()),
        ],
        std::fs::File::create(&log).unwrap(),
    );
    let serving = unreachable.path().join("certs/apiserver.crt");
    wait_until("the adapter", Duration::from_secs(30), || {
        https_as(port, &serving, None, "GET", "/healthz", &[]).0 == 200
    });
    assert_eq!(
        https_as(port, &serving, None, "GET", "/version", &[]).0,
        401
    );
    let me = client(&client_ca, "me", None);
    assert_eq!(
        https_as(port, &serving, Some(&me.identity), "GET", "/version", &[]).0,
        200
    );
    let stranger = client(&ca("elsewhere"), "me", None);
    assert_eq!(
        https_as(
            port,
            &serving,
            Some(&stranger.identity),
            "GET",
            "/version",
            &[]
        )
        .0,
        401
    );
    // Over HTTP/2, as the aggregator calls: the certificate belongs to the connection and every stream's
    // request is authenticated by it (src/http2.rs hands it to each request).
    let identity = (
        write(unreachable.path(), "me.crt", &me.cert_pem),
        write(unreachable.path(), "me.key", &me.key_pem),
    );
    assert_eq!(
        h2_statuses(port, &serving, Some(identity), "/version", 3),
        [200; 3]
    );
    assert_eq!(h2_statuses(port, &serving, None, "/version", 1), [401]);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("--delegated-auth=false"), "{log}");
}

#[test]
fn the_shipped_rbac_lets_the_hpa_and_viewers_in_and_nobody_else() {
    let world = World::start(&no_caching());
    let mut rbac = crate::support::rbac::Rbac::from_manifests(&crate::deploy::render("all"));
    rbac.bind_user("view", "viewer");
    world.api.set_rbac(rbac);
    world.api.token(
        "hpa-token",
        "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:kube-system",
        ],
    );
    world.api.token("viewer-token", "viewer", &[]);
    let status = |token: &str, path: &str| world.request(None, Some(token), &[], path).0;
    let hpa_reads = [
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb",
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length",
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/metrics/queue_length",
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector=queue%3Dorders",
    ];
    for path in hpa_reads {
        let code = status("hpa-token", path);
        assert!(code != 401 && code != 403, "the HPA reads {path}: {code}");
        assert_eq!(
            status("viewer-token", path),
            403,
            "a viewer does not read {path}"
        );
        assert_eq!(status("alice-token", path), 403, "nobody else reads {path}");
    }
    for path in [
        "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods",
        "/apis/metrics.k8s.io/v1/nodes/node-1",
    ] {
        let code = status("viewer-token", path);
        assert!(code != 401 && code != 403, "view includes {path}: {code}");
        assert_eq!(status("alice-token", path), 403);
    }
    // The debug endpoint is granted to no one by the shipped RBAC (deploy/README says how to grant it).
    for token in ["hpa-token", "viewer-token", "alice-token"] {
        assert_eq!(status(token, "/debug/explain"), 403, "{token}");
    }
    // ... and a ClusterRole with its non-resource URL lets a user in.
    let grant = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: adapter-debug}\n\
         rules: [{nonResourceURLs: [/debug/explain], verbs: [get]}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: adapter-debug}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: adapter-debug}\n\
         subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: viewer}]\n";
    let mut rbac = crate::support::rbac::Rbac::from_manifests(&format!(
        "{}\n---\n{grant}",
        crate::deploy::render("all")
    ));
    rbac.bind_user("view", "viewer");
    world.api.set_rbac(rbac);
    assert_eq!(status("viewer-token", "/debug/explain"), 200);
    assert_eq!(status("alice-token", "/debug/explain"), 403);
}

#[test]
fn impersonation_is_reviewed_then_the_request_runs_as_the_impersonated_user() {
    let world = World::start(&no_caching());
    let path = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests";
    // alice may impersonate (the stand-in allows everything for her) but bob may not read: 403 as bob.
    let (status, body) = world.request(
        None,
        Some("alice-token"),
        &[("Impersonate-User", "bob")],
        path,
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains(r#"User \"bob\" cannot get resource \"pods/http_requests\""#),
        "{body}"
    );
    let reviews = world.api.access_reviews();
    let impersonate = &reviews[reviews.len() - 2];
    assert_eq!(impersonate["user"], "alice");
    assert_eq!(
        impersonate["resourceAttributes"],
        json!({"verb": "impersonate", "group": "", "resource": "users", "name": "bob"})
    );
    assert_eq!(
        reviews.last().unwrap()["user"],
        "bob",
        "then authorized as bob"
    );
    // bob may not impersonate: 403 in Kubernetes' words, nothing else asked.
    let before = world.api.access_reviews().len();
    let (status, body) = world.request(
        None,
        Some("bob-token"),
        &[("Impersonate-User", "alice")],
        path,
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains(r#"users \"alice\" is forbidden: User \"bob\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"#),
        "{body}"
    );
    assert_eq!(world.api.access_reviews().len(), before + 1);
    // alice as carol in group team-x: each attribute reviewed, then served as carol with that group.
    let (status, body) = world.request(
        None,
        Some("alice-token"),
        &[
            ("Impersonate-User", "carol"),
            ("Impersonate-Group", "team-x"),
        ],
        path,
    );
    assert!(status != 401 && status != 403, "{status} {body}");
    let reviews = world.api.access_reviews();
    let n = reviews.len();
    assert_eq!(reviews[n - 3]["resourceAttributes"]["resource"], "users");
    assert_eq!(
        reviews[n - 2]["resourceAttributes"],
        json!({"verb": "impersonate", "group": "", "resource": "groups", "name": "team-x"})
    );
    assert_eq!(reviews[n - 1]["user"], "carol");
    assert_eq!(
        reviews[n - 1]["groups"],
        json!(["team-x", "system:authenticated"])
    );
    // Groups without a user: 400.
    let (status, body) = world.request(
        None,
        Some("alice-token"),
        &[("Impersonate-Group", "x")],
        path,
    );
    assert_eq!(status, 400, "{body}");
}
