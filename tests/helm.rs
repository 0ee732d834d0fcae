//! The Helm chart (deploy/helm/prometheus-adapter) rendered by a real Helm engine (Helm v4's SDK through
//! the PyPI package helm-python-sdk, offline): every values file validates against the Kubernetes schemas,
//! its rules pass check-config, the APIServices follow the rules as the community chart's do, the default
//! rules equal the community chart's, the Deployment runs this binary's flags, and the chart lints clean.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::{adapter, root, text};

const CHART: &str = "deploy/helm/prometheus-adapter";

fn python(args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg(root().join("tests/helm/render.py"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "render.py {args:?} (needs helm-python-sdk: scripts/test.sh installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Every object the chart renders with `values` (a file under tests/helm/values), by `Kind/name`.
fn render(values: &str) -> BTreeMap<String, Value> {
    let file = format!("tests/helm/values/{values}.yaml");
    let templates: BTreeMap<String, String> =
        serde_json::from_str(&python(&["render", CHART, &file])).unwrap();
    let mut objects = BTreeMap::new();
    for (template, manifest) in templates.iter().filter(|(t, _)| t.ends_with(".yaml")) {
        let docs: Vec<Value> = serde_saphyr::from_multiple(manifest)
            .unwrap_or_else(|e| panic!("{values}: {template}: {e}\n{manifest}"));
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            let key = format!(
                "{}/{}",
                doc["kind"].as_str().unwrap(),
                doc["metadata"]["name"].as_str().unwrap()
            );
            objects.insert(key, doc);
        }
    }
    objects
}

const CASES: &[&str] = &[
    "defaults",
    "all-rules",
    "existing",
    "tls-secret",
    "tls-existing",
    "everything-off",
    "everything-on",
];

fn apiservices(objects: &BTreeMap<String, Value>) -> Vec<&str> {
    objects
        .keys()
        .filter_map(|k| k.strip_prefix("APIService/"))
        .collect()
}

fn deployment(objects: &BTreeMap<String, Value>) -> &Value {
    objects
        .iter()
        .find(|(k, _)| k.starts_with("Deployment/"))
        .map(|(_, v)| v)
        .expect("a Deployment")
}

fn args(objects: &BTreeMap<String, Value>) -> Vec<String> {
    deployment(objects)["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_values_file_renders_valid_manifests_whose_rules_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = Vec::new();
    for case in CASES {
        let objects = render(case);
        let all: Vec<String> = objects
            .values()
            .map(|o| serde_json::to_string(o).unwrap())
            .collect();
        let file = dir.path().join(format!("{case}.yaml"));
        std::fs::write(&file, all.join("\n---\n")).unwrap();
        files.push(file);
        // The rendered rules load in this binary.
        if let Some(config_map) = objects.get("ConfigMap/prometheus-adapter") {
            let rules = dir.path().join(format!("{case}-config.yaml"));
            std::fs::write(&rules, config_map["data"]["config.yaml"].as_str().unwrap()).unwrap();
            let check = adapter(&[
                "check-config",
                "--strict",
                "--config",
                rules.to_str().unwrap(),
            ]);
            assert!(check.status.success(), "{case}: {}", text(&check).1);
            if *case == "everything-on" {
                // Backends pass through with their authentication as written.
                let summary = text(&check).0;
                for backend in [
                    "amp (1 URL, sigv4)",
                    "azure (1 URL, azureAd)",
                    "gmp (1 URL, googleIam)",
                ] {
                    assert!(summary.contains(backend), "{backend}: {summary}");
                }
            }
        }
    }
    let output = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "--quiet"])
        .args(["--kubernetes-version", "1.33.0"])
        .args(&files)
        .output()
        .expect("kubernetes-validate is installed (scripts/test.sh installs it)");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
}

#[test]
fn apiservices_follow_the_rules_as_the_community_chart_does() {
    let custom = [
        "v1beta1.custom.metrics.k8s.io",
        "v1beta2.custom.metrics.k8s.io",
    ];
    let cases: [(&str, Vec<&str>); 5] = [
        ("defaults", custom.to_vec()),
        (
            "all-rules",
            vec![
                "v1.metrics.k8s.io",
                "v1beta1.custom.metrics.k8s.io",
                "v1beta1.external.metrics.k8s.io",
                "v1beta1.metrics.k8s.io",
                "v1beta2.custom.metrics.k8s.io",
            ],
        ),
        // rules.existing replaces the ConfigMap; the groups still follow default/custom/external/resource.
        (
            "existing",
            vec![
                "v1beta1.custom.metrics.k8s.io",
                "v1beta1.external.metrics.k8s.io",
                "v1beta2.custom.metrics.k8s.io",
            ],
        ),
        ("everything-off", vec![]),
        (
            "everything-on",
            vec![
                "v1beta1.custom.metrics.k8s.io",
                "v1beta1.external.metrics.k8s.io",
                "v1beta2.custom.metrics.k8s.io",
            ],
        ),
    ];
    for (case, expected) in cases {
        let objects = render(case);
        assert_eq!(apiservices(&objects), expected, "{case}");
        for (name, service) in objects.iter().filter(|(k, _)| k.starts_with("APIService/")) {
            assert_eq!(
                service["spec"]["insecureSkipTLSVerify"], true,
                "{case} {name}"
            );
        }
    }
    // Grants follow the groups too.
    let all = render("all-rules");
    for role in [
        "ClusterRole/prometheus-adapter-server-resources",
        "ClusterRole/prometheus-adapter-external-metrics",
        "ClusterRole/prometheus-adapter-metrics",
        "ClusterRoleBinding/prometheus-adapter:system:auth-delegator",
        "RoleBinding/prometheus-adapter-auth-reader",
    ] {
        assert!(all.contains_key(role), "{role}: {:?}", all.keys());
    }
    let off = render("everything-off");
    assert!(
        off.keys()
            .all(|k| !k.contains("Role") && !k.starts_with("ServiceAccount/")),
        "{:?}",
        off.keys()
    );
    assert_eq!(
        deployment(&off)["spec"]["template"]["spec"]["serviceAccountName"],
        "existing-sa"
    );
    assert!(
        !off["ConfigMap/prometheus-adapter"]["data"]["config.yaml"]
            .as_str()
            .unwrap()
            .contains("rules:")
    );
}

#[test]
fn the_default_rules_are_the_community_charts() {
    let objects = render("defaults");
    let rendered: Value = serde_saphyr::from_str(
        objects["ConfigMap/prometheus-adapter"]["data"]["config.yaml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let community: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join("tests/helm/community-default-rules.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(rendered["rules"].as_array().unwrap().len(), 6);
    assert_eq!(rendered, community, "same rules, same queries");
}

#[test]
fn values_mean_what_they_mean_in_the_community_chart() {
    let args_of = |case| args(&render(case));
    let defaults = render("defaults");
    assert_eq!(
        args(&defaults),
        [
            "/adapter",
            "--secure-port=6443",
            "--cert-dir=/tmp/cert",
            "--logtostderr=true",
            "--prometheus-url=http://prometheus.default.svc:9090",
            "--metrics-relist-interval=1m",
            "--v=4",
            "--config=/etc/adapter/config.yaml",
        ]
    );
    let pod = &deployment(&defaults)["spec"]["template"];
    assert!(
        pod["metadata"]["annotations"]["checksum/config"].is_string(),
        "restart on a rules change by default, as the community chart"
    );
    assert_eq!(pod["spec"]["securityContext"]["fsGroup"], 10001);
    assert_eq!(
        pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "ghcr.io/prometheus-adapter-rs/prometheus-adapter:0.1.0"
    );

    let all = args_of("all-rules");
    assert!(all.contains(
        &"--prometheus-url=http://prometheus-operated.monitoring.svc:9090/prometheus".to_string()
    ));
    assert!(
        all.contains(&"--v=2".to_string())
            && all.contains(&"--metrics-relist-interval=30s".to_string())
    );

    let tls = render("tls-secret");
    assert!(args(&tls).contains(&"--tls-cert-file=/var/run/serving-cert/tls.crt".to_string()));
    assert_eq!(
        tls["Secret/prometheus-adapter"]["type"],
        "kubernetes.io/tls"
    );
    let service = &tls["APIService/v1beta1.custom.metrics.k8s.io"]["spec"];
    assert_eq!(service["insecureSkipTLSVerify"], false);
    assert!(service["caBundle"].as_str().unwrap().len() > 40);
    let existing_tls = render("tls-existing");
    assert!(!existing_tls.contains_key("Secret/prometheus-adapter"));
    let volumes = &deployment(&existing_tls)["spec"]["template"]["spec"]["volumes"];
    assert!(
        volumes
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["secret"]["secretName"] == "adapter-serving-cert")
    );

    let existing = render("existing");
    assert!(!existing.contains_key("ConfigMap/prometheus-adapter"));
    let volumes = &deployment(&existing)["spec"]["template"]["spec"]["volumes"];
    assert!(
        volumes
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["configMap"]["name"] == "my-adapter-rules")
    );

    let on = render("everything-on");
    let d = deployment(&on);
    let spec = &d["spec"]["template"]["spec"];
    assert_eq!(d["metadata"]["namespace"], "metrics");
    assert_eq!(
        d["metadata"]["annotations"]["example.com/owner"],
        "platform"
    );
    assert_eq!(d["metadata"]["annotations"]["team"], "platform");
    assert_eq!(d["metadata"]["labels"]["monitoring"], "adapter");
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"]["tier"],
        "control"
    );
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]
            .get("checksum/config")
            .is_none(),
        "hot reload instead"
    );
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(spec["priorityClassName"], "system-cluster-critical");
    assert_eq!(spec["serviceAccountName"], "adapter");
    assert_eq!(spec["imagePullSecrets"][0]["name"], "regcred");
    assert_eq!(
        spec["containers"][0]["image"],
        "registry.example.com/adapter:v9"
    );
    assert_eq!(spec["containers"][0]["env"][0]["name"], "TZ");
    let on_args = args(&on);
    for flag in [
        "--prometheus-timeout=10s",
        "--metrics-cache-ttl=5s",
        "--metrics-serve-stale-for=2m",
        "--strict-config",
        "--log-format=json",
        "--relist-mode=series",
    ] {
        assert!(on_args.contains(&flag.to_string()), "{flag}: {on_args:?}");
    }
    assert_eq!(
        on["PodDisruptionBudget/prometheus-adapter"]["spec"]["minAvailable"],
        1
    );
    assert_eq!(
        on["Service/prometheus-adapter"]["spec"]["ports"][0]["port"],
        8443
    );
    assert_eq!(
        on["APIService/v1beta1.external.metrics.k8s.io"]["spec"]["service"]["port"],
        8443
    );
    assert_eq!(
        on["APIService/v1beta1.external.metrics.k8s.io"]["spec"]["service"]["namespace"],
        "metrics"
    );

    // The rendered flags are this binary's: it gets past flag parsing and stops at the pod's config path.
    let mut local: Vec<&str> = on_args.iter().map(String::as_str).collect();
    local.push("--objects=deploy/demo/objects.yaml");
    let output = adapter(&local);
    let (_, stderr) = text(&output);
    assert!(
        stderr.contains("unable to load metrics discovery config file /etc/adapter/config.yaml"),
        "{stderr}"
    );
}

#[test]
fn the_chart_lints_without_errors() {
    for values in [
        None,
        Some("tests/helm/values/all-rules.yaml"),
        Some("tests/helm/values/everything-on.yaml"),
    ] {
        let mut call = vec!["lint", CHART];
        call.extend(values);
        let report: Value = serde_json::from_str(&python(&call)).unwrap();
        assert_eq!(report["errors"], serde_json::json!([]), "{report}");
        let severe: Vec<&Value> = report["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["severity"].as_u64().unwrap_or(0) >= 2)
            .collect();
        assert!(severe.is_empty(), "{values:?}: {severe:?}");
    }
}
