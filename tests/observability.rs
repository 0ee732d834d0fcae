//! The dashboard and alerts in deploy/observability, tested rather than just present: the dashboard is
//! current Grafana JSON with the data source as a variable, every panel's PromQL parses (promtool checks a
//! rule file made of them), every metric the dashboard and the alerts name is one the adapter exposes, and
//! the alert rules pass `promtool check rules` and their unit tests (each alert fires and resolves).

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::support::env::demo_env;
use crate::support::{root, text};

fn promtool(args: &[&str]) -> (bool, String) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(root().join("deploy/observability"))
        .output()
        .expect("promtool is installed (Debian's prometheus package)");
    let (stdout, stderr) = text(&output);
    (output.status.success(), format!("{stdout}{stderr}"))
}

fn dashboard() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/observability/dashboard.json")).unwrap(),
    )
    .unwrap()
}

/// Every panel target's expression, with Grafana's variables replaced by what they stand for.
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "5m")
                .replace("$job", ".*");
            queries.push((panel["title"].as_str().unwrap().to_string(), expr));
        }
    }
    queries
}

/// `prometheus_adapter_*` names in `text`, without histogram/counter suffixes.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("prometheus_adapter_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_count", "_sum", "_total"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.insert(base.to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_dashboard_is_current_grafana_json_whose_queries_parse() {
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 39);
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(variables.iter().any(|v| v["type"] == "datasource"
        && v["name"] == "datasource"
        && v["query"] == "prometheus"));
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "unique ids");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], "${datasource}");
        }
    }
    // What the issue asks the dashboard to show.
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for wanted in [
        "Request rate",
        "Errors",
        "Request latency",
        "Prometheus query latency",
        "Relist duration",
        "Series per rule",
        "Failing rules",
        "reloads",
        "Value cache",
        "Auth reviews",
        "Kubernetes calls",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "{wanted}: {titles:?}"
        );
    }
    // Every expression parses: promtool checks them as recording rules.
    let queries = panel_queries(&dashboard);
    let rules: Vec<String> = queries
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| {
            format!(
                "  - record: dashboard:panel_{i}\n    expr: {}\n",
                serde_json::to_string(expr).unwrap()
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-rules.yaml");
    std::fs::write(
        &file,
        format!("groups:\n- name: dashboard\n  rules:\n{}", rules.concat()),
    )
    .unwrap();
    let (ok, out) = promtool(&["check", "rules", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("{} rules found", queries.len())),
        "{out}"
    );
    // ... and a broken one would not.
    std::fs::write(
        &file,
        "groups:\n- name: x\n  rules:\n  - record: x\n    expr: 'sum(rate(x[5m]) by'\n",
    )
    .unwrap();
    assert!(!promtool(&["check", "rules", file.to_str().unwrap()]).0);
}

#[test]
fn alerts_pass_promtool_and_their_unit_tests_and_the_prometheusrule_matches() {
    let (ok, out) = promtool(&["check", "rules", "alerts.yaml"]);
    assert!(ok && out.contains("9 rules found"), "{out}");
    let (ok, out) = promtool(&["test", "rules", "alerts.test.yaml"]);
    assert!(ok, "{out}");
    let read = |file: &str| -> Value {
        serde_saphyr::from_str(
            &std::fs::read_to_string(root().join("deploy/observability").join(file)).unwrap(),
        )
        .unwrap()
    };
    let (alerts, rule) = (read("alerts.yaml"), read("prometheusrule.yaml"));
    assert_eq!(rule["kind"], "PrometheusRule");
    assert_eq!(
        rule["spec"]["groups"], alerts["groups"],
        "the PrometheusRule carries the same alerts"
    );
    // Every alert has a unit test.
    let tests =
        std::fs::read_to_string(root().join("deploy/observability/alerts.test.yaml")).unwrap();
    for alert in alerts["groups"][0]["rules"].as_array().unwrap() {
        let name = alert["alert"].as_str().unwrap();
        assert!(
            tests.contains(&format!("alertname: {name}")),
            "{name} has no unit test"
        );
    }
}

/// The families the adapter registers (src/telemetry.rs: `registry.register("name", …)` under the
/// `prometheus_adapter` prefix). Labelled families appear on /metrics only once they have a sample.
fn registered() -> BTreeSet<String> {
    let source = std::fs::read_to_string(root().join("src/telemetry.rs")).unwrap();
    source
        .split("registry.register(")
        .skip(1)
        .filter_map(|call| call.split('"').nth(1))
        .map(|name| format!("prometheus_adapter_{name}"))
        .collect()
}

#[test]
fn every_metric_the_dashboard_and_alerts_name_is_exposed() {
    let registered = registered();
    assert!(registered.len() >= 18, "{registered:?}");
    // What a running adapter exposes is among the registered names (so the parse above is honest).
    let env = demo_env();
    let exposed: BTreeSet<String> = env
        .get("/metrics")
        .1
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(|n| n.strip_suffix("_total").unwrap_or(n).to_string())
        .collect();
    assert!(exposed.len() >= 10, "{exposed:?}");
    assert!(
        exposed.is_subset(&registered),
        "{exposed:?} vs {registered:?}"
    );
    let mut named = metric_names(&dashboard().to_string());
    named.extend(metric_names(
        &std::fs::read_to_string(root().join("deploy/observability/alerts.yaml")).unwrap(),
    ));
    named.retain(|n| !n.ends_with('_'));
    assert!(named.len() >= 15, "{named:?}");
    let missing: Vec<&String> = named.iter().filter(|n| !registered.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "named but not registered: {missing:?}\nregistered: {registered:?}"
    );
}
