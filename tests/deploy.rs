//! The manifests: every overlay renders with `kubectl kustomize`, registers the APIServices it should, and
//! runs the adapter with arguments this binary accepts and rules it loads.

use std::process::Command;

use crate::support::{adapter, root, text};

/// `kubectl kustomize deploy/overlays/<overlay>`.
pub fn render(overlay: &str) -> String {
    let output = Command::new("kubectl")
        .args(["kustomize", &format!("deploy/overlays/{overlay}")])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{overlay}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn names_of(rendered: &str, kind: &str) -> Vec<String> {
    rendered
        .split("\n---\n")
        .filter(|doc| doc.lines().any(|l| l == format!("kind: {kind}")))
        .filter_map(|doc| {
            doc.lines()
                .skip_while(|l| *l != "metadata:")
                .find_map(|l| l.strip_prefix("  name: "))
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn every_manifest_validates_against_the_kubernetes_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for overlay in ["all", "resource-metrics-only", "custom-and-external"] {
        let path = dir.path().join(format!("{overlay}.yaml"));
        std::fs::write(&path, render(overlay)).unwrap();
        files.push(path);
    }
    files.push(root().join("deploy/demo/objects.yaml"));
    // A broken manifest must fail, or the check proves nothing.
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n",
    )
    .unwrap();
    let validate = |files: &[std::path::PathBuf]| {
        Command::new("python3")
            .args(["-m", "kubernetes_validate", "--strict", "--quiet"])
            .args(["--kubernetes-version", "1.33.0"])
            .args(files)
            .output()
            .expect("kubernetes-validate is installed (scripts/test.sh installs it)")
    };
    let output = validate(&files);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(!validate(&[broken]).status.success());
}

#[test]
fn overlays_register_the_groups_they_name() {
    let cases: [(&str, &[&str]); 3] = [
        (
            "all",
            &[
                "v1.metrics.k8s.io",
                "v1beta1.custom.metrics.k8s.io",
                "v1beta1.external.metrics.k8s.io",
                "v1beta1.metrics.k8s.io",
                "v1beta2.custom.metrics.k8s.io",
            ],
        ),
        (
            "resource-metrics-only",
            &["v1.metrics.k8s.io", "v1beta1.metrics.k8s.io"],
        ),
        (
            "custom-and-external",
            &[
                "v1beta1.custom.metrics.k8s.io",
                "v1beta1.external.metrics.k8s.io",
                "v1beta2.custom.metrics.k8s.io",
            ],
        ),
    ];
    for (overlay, expected) in cases {
        let rendered = render(overlay);
        let mut services = names_of(&rendered, "APIService");
        services.sort();
        assert_eq!(services, expected, "{overlay}");
        for kind in [
            "Deployment",
            "Service",
            "ServiceAccount",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "ConfigMap",
        ] {
            assert_eq!(names_of(&rendered, kind).len(), 1, "{overlay}: one {kind}");
        }
        assert!(
            rendered.contains("readOnlyRootFilesystem: true")
                && rendered.contains("runAsNonRoot: true"),
            "{overlay}"
        );
    }
}

#[test]
fn the_deployment_runs_with_flags_and_rules_this_binary_accepts() {
    let rendered = render("all");
    let args: Vec<String> = rendered
        .lines()
        .skip_while(|l| !l.trim_start_matches([' ', '-']).starts_with("args:"))
        .skip(1)
        .map_while(|l| l.trim().strip_prefix("- ").map(str::to_string))
        .collect();
    assert!(
        args.iter().any(|a| a.starts_with("--secure-port=6443")),
        "{args:?}"
    );
    // The config path only exists in the pod: the binary gets past flag parsing and stops at the file.
    let mut with_local_objects: Vec<&str> = args.iter().map(String::as_str).collect();
    with_local_objects.push("--objects=deploy/demo/objects.yaml");
    let output = adapter(&with_local_objects);
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("unable to load metrics discovery config file /etc/adapter/config.yaml"),
        "{stderr}"
    );
    let check = adapter(&["check-config", "--config", "deploy/base/config.yaml"]);
    assert!(check.status.success(), "{}", text(&check).1);
}

#[test]
fn the_image_and_ci_build_the_release_binary_the_same_way() {
    let read = |path: &str| std::fs::read_to_string(root().join(path)).unwrap();
    let dockerfile = read("deploy/Dockerfile");
    assert!(
        dockerfile
            .lines()
            .any(|l| l.trim() == "RUN ./scripts/build-release.sh"),
        "{dockerfile}"
    );
    assert!(dockerfile.lines().any(|l| l.trim() == "USER 65534:65534"));
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "./scripts/build-release.sh"),
        "{ci}"
    );
    assert!(ci.lines().any(|l| l.trim() == "./scripts/test.sh"), "{ci}");
}
