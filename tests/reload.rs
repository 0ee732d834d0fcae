//! The rules file while running: a ConfigMap-style symlink swap, a bad file (the running rules stay),
//! a good one again (the served groups follow the file), SIGHUP, and a plain rewrite — each asserted on
//! discovery, answers and `/metrics`. And a file upstream starts with (a rule without `metricsQuery`)
//! starts ours, with only that rule disabled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::env::{Env, wait_until};

const EXTERNAL_ONLY: &str = "externalRules:\n- seriesQuery: '{__name__=\"queue_depth\",queue!=\"\"}'\n  resources: {overrides: {namespace: {resource: namespace}}}\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)'\n";
const CUSTOM_ONLY: &str = "rules:\n- seriesQuery: 'http_requests_total{namespace!=\"\",pod!=\"\"}'\n  resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}\n  name: {matches: '^(.*)_total$', as: '${1}_per_second'}\n  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'\n";
const BROKEN: &str = "rules:\n- seriesQuery: 'x{namespace!=\"\"}'\n  name: {matches: '(unclosed'}\n  metricsQuery: 'sum(<<.Series>>)'\n";

const PUSHES: &[(&str, &str)] = &[(
    "job/r/instance/all",
    "# TYPE http_requests_total counter\nhttp_requests_total{namespace=\"prod\",pod=\"web-1\"} 10\n\
     # TYPE queue_depth gauge\nqueue_depth{namespace=\"shop\",queue=\"orders\"} 42\n",
)];

/// A directory laid out as kubelet lays out a ConfigMap volume: `config.yaml` → `..data/config.yaml`,
/// `..data` → a timestamped directory, swapped atomically by renaming a new symlink over `..data`.
struct ConfigMapVolume {
    dir: PathBuf,
    versions: usize,
}

impl ConfigMapVolume {
    fn new(dir: &Path, text: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let mut volume = Self {
            dir: dir.to_path_buf(),
            versions: 0,
        };
        volume.publish(text);
        std::os::unix::fs::symlink("..data/config.yaml", dir.join("config.yaml")).unwrap();
        volume
    }

    fn path(&self) -> PathBuf {
        self.dir.join("config.yaml")
    }

    /// A new version directory, then `..data` swapped to it in one rename.
    fn publish(&mut self, text: &str) {
        self.versions += 1;
        let version = format!("..2026_12_01_{:02}", self.versions);
        std::fs::create_dir(self.dir.join(&version)).unwrap();
        std::fs::write(self.dir.join(&version).join("config.yaml"), text).unwrap();
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&version, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
    }
}

/// A sample's value from `/metrics`, 0 when absent.
fn metric(env: &Env, series: &str) -> f64 {
    env.get("/metrics")
        .1
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn reloads(env: &Env, result: &str) -> f64 {
    metric(
        env,
        &format!("prometheus_adapter_config_reloads_total{{result=\"{result}\"}}"),
    )
}

#[test]
fn a_configmap_symlink_swap_reloads_bad_files_keep_the_running_rules_and_sighup_reloads() {
    let volume_dir = tempfile::tempdir().unwrap();
    let mut volume = ConfigMapVolume::new(&volume_dir.path().join("config"), EXTERNAL_ONLY);
    let env = Env::start(
        volume.path().to_str().unwrap(),
        "--objects=deploy/demo/objects.yaml",
        PUSHES,
    );
    let custom_group = "/apis/custom.metrics.k8s.io/v1beta1";
    let external = "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth";
    let pods =
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/web-1/http_requests_per_second";
    assert_eq!(env.get(custom_group).0, 404, "no custom rules yet");
    assert_eq!(env.get(external).0, 200);
    assert_eq!(
        metric(&env, "prometheus_adapter_config_last_reload_successful"),
        1.0
    );
    let started_at = metric(
        &env,
        "prometheus_adapter_config_last_reload_success_timestamp_seconds",
    );
    assert!(
        started_at > 1.7e9,
        "start-up counts as a load: {started_at}"
    );

    // Both groups: the swap is noticed, the custom group appears and answers within one relist.
    volume.publish(&format!("{CUSTOM_ONLY}{EXTERNAL_ONLY}"));
    wait_until(
        "the reload after the symlink swap",
        Duration::from_secs(20),
        || env.get(pods).0 == 200,
    );
    assert!(
        env.discovery_entries(custom_group)
            .contains(&"pods/http_requests_per_second true".to_string())
    );
    assert_eq!(env.get(external).0, 200);
    assert_eq!(reloads(&env, "success"), 1.0);

    // A broken file: logged with file, rule and field; everything keeps being served.
    volume.publish(BROKEN);
    wait_until("the failed reload", Duration::from_secs(20), || {
        reloads(&env, "failure") == 1.0
    });
    assert_eq!(
        metric(&env, "prometheus_adapter_config_last_reload_successful"),
        0.0
    );
    assert!(
        env.log()
            .contains("config.yaml: rules[0].name.matches: invalid regex"),
        "{}",
        env.log()
    );
    assert_eq!(env.get(pods).0, 200, "the running rules stay");
    assert_eq!(env.get(external).0, 200);

    // Good again, without external rules: that group is no longer served.
    volume.publish(CUSTOM_ONLY);
    wait_until("the next reload", Duration::from_secs(20), || {
        env.get("/apis/external.metrics.k8s.io/v1beta1").0 == 404
    });
    assert_eq!(env.get(external).0, 404);
    assert_eq!(env.get(pods).0, 200);
    assert_eq!(reloads(&env, "success"), 2.0);
    assert_eq!(
        metric(&env, "prometheus_adapter_config_last_reload_successful"),
        1.0
    );
    let apis = env.json("/apis");
    let groups: Vec<&str> = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(!groups.contains(&"external.metrics.k8s.io"), "{groups:?}");
    assert!(groups.contains(&"custom.metrics.k8s.io"), "{groups:?}");

    // SIGHUP reloads even an unchanged file.
    let status = std::process::Command::new("kill")
        .args(["-HUP", &env.adapter_pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_until("the SIGHUP reload", Duration::from_secs(10), || {
        reloads(&env, "success") == 3.0
    });
    assert!(
        env.log().contains("cause=\"SIGHUP\"") || env.log().contains("cause=SIGHUP"),
        "{}",
        env.log()
    );
    assert_eq!(env.get(pods).0, 200);
}

#[test]
fn a_plain_rewrite_reloads_and_a_warning_disables_only_its_rule() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    // The published GPU example's shape: a rule without metricsQuery beside one that works. Upstream
    // starts with it; so do we, serving the rest.
    let gpu = "- seriesQuery: 'DCGM_FI_DEV_GPU_UTIL{namespace!=\"\",pod!=\"\"}'\n  resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}\n  name: {as: gpu_util}\n";
    std::fs::write(&rules, format!("{CUSTOM_ONLY}{gpu}")).unwrap();
    let env = Env::start(
        rules.to_str().unwrap(),
        "--objects=deploy/demo/objects.yaml",
        PUSHES,
    );
    let pods =
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/web-1/http_requests_per_second";
    assert_eq!(env.get(pods).0, 200, "the working rule is served");
    assert_eq!(
        metric(&env, "prometheus_adapter_rule_disabled{rule=\"rules[1]\"}"),
        1.0
    );
    assert!(
        env.log()
            .contains("rules[1].metricsQuery: warning: must not be empty"),
        "{}",
        env.log()
    );
    let explained = env.json("/debug/explain");
    assert_eq!(explained["disabled"][0]["rule"], "rules[1]");
    assert!(
        explained["disabled"][0]["why"][0]
            .as_str()
            .unwrap()
            .contains("rules[1].metricsQuery"),
        "{explained}"
    );
    // A plain rewrite of the file (no symlinks) is noticed too; the disabled rule is gone with it.
    std::fs::write(&rules, format!("{CUSTOM_ONLY}{EXTERNAL_ONLY}")).unwrap();
    wait_until(
        "the reload after a rewrite",
        Duration::from_secs(20),
        || {
            env.get("/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth")
                .0
                == 200
        },
    );
    assert_eq!(
        metric(&env, "prometheus_adapter_rule_disabled{rule=\"rules[1]\"}"),
        0.0
    );
}

#[test]
fn strict_config_refuses_a_warning_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, "rules:\n- seriesQuery: 'x{namespace!=\"\"}'\n").unwrap();
    let output = crate::support::adapter(&[
        &format!("--config={}", rules.display()),
        "--objects=deploy/demo/objects.yaml",
        "--delegated-auth=false",
        "--strict-config",
        "--secure-port=1",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--strict-config")
            && stderr.contains("rules[0].metricsQuery: warning: must not be empty"),
        "{stderr}"
    );
}
