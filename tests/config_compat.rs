//! Rules files: the shipped ones load, broken ones are rejected naming the rule and field, and
//! `explain` shows discovery and the PromQL a request runs.

use crate::support::{adapter, files_in, root, text};

#[test]
fn check_config_accepts_every_shipped_rules_file() {
    let files = files_in(&root().join("config/rules"), "yaml");
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let output = adapter(&["check-config", "--config", file.to_str().unwrap()]);
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{}: {stderr}", file.display());
        assert_eq!(stdout.lines().count(), 1, "one-line summary: {stdout}");
        assert!(stdout.contains(": ok: "), "{stdout}");
    }
}

/// `# expect: <location>: <message part>` lines of a file (errors), or `# warn:` lines (warnings).
fn stated(file: &std::path::Path, prefix: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|want| {
            let (location, message) = want.split_once(": ").unwrap();
            (location.to_string(), message.to_string())
        })
        .collect()
}

/// Whether `output` has a line `<path>: <location>: <label><…message…>`.
fn reports(output: &str, path: &str, (location, message): &(String, String), label: &str) -> bool {
    let needle = format!("{path}: {location}: {label}");
    output
        .lines()
        .any(|l| l.starts_with(&needle) && l.contains(message.as_str()))
        || (location == "yaml"
            && output.starts_with(&needle)
            && output.to_lowercase().contains(&message.to_lowercase()))
}

/// Each broken file states what must be reported: `# expect:` lines are errors (upstream refuses to
/// start too: exit 1, every error on its own line), `# warn:` lines are warnings (upstream starts:
/// exit 0 with the warning printed, exit 1 with `--strict`).
#[test]
fn check_config_rejects_broken_files_naming_file_rule_and_field() {
    let files = files_in(&root().join("tests/config_compat/broken"), "yaml");
    assert!(files.len() >= 10, "{files:?}");
    let mut warned = 0;
    for file in files {
        let path = file.to_str().unwrap();
        let (errors, warnings) = (stated(&file, "# expect: "), stated(&file, "# warn: "));
        assert!(
            errors.is_empty() != warnings.is_empty(),
            "{path} states errors or warnings"
        );
        let output = adapter(&["check-config", "--config", path]);
        let (stdout, stderr) = text(&output);
        if errors.is_empty() {
            warned += 1;
            assert_eq!(
                output.status.code(),
                Some(0),
                "{path} loads with a warning: {stderr}"
            );
            for want in &warnings {
                assert!(
                    reports(&stdout, path, want, "warning: "),
                    "{path}: expected warning {want:?} in:\n{stdout}"
                );
            }
            assert!(
                stdout.lines().last().unwrap().contains(": ok: "),
                "{stdout}"
            );
            let strict = adapter(&["check-config", "--strict", "--config", path]);
            let (_, strict_stderr) = text(&strict);
            assert_eq!(strict.status.code(), Some(1), "--strict fails {path}");
            for want in &warnings {
                assert!(
                    reports(&strict_stderr, path, want, "warning: "),
                    "{path}: {strict_stderr}"
                );
            }
            continue;
        }
        assert_eq!(
            output.status.code(),
            Some(1),
            "{path} must be rejected; stdout: {stdout}"
        );
        for want in &errors {
            assert!(
                reports(&stderr, path, want, ""),
                "{path}: expected `{want:?}` in:\n{stderr}"
            );
        }
        if errors.len() > 1 {
            assert_eq!(
                stderr.lines().count(),
                errors.len(),
                "every error, one a line:\n{stderr}"
            );
        }
    }
    assert!(warned >= 5, "warning files: {warned}");
}

#[test]
fn check_config_reports_a_missing_file() {
    let output = adapter(&["check-config", "--config", "does/not/exist.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output)
            .1
            .contains("unable to read does/not/exist.yaml")
    );
}

#[test]
fn explain_lists_discovered_metrics_from_a_series_answer() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series.json");
    std::fs::write(
        &series,
        r#"{"status":"success","data":[
        {"__name__":"http_requests_total","namespace":"prod","pod":"web-1","method":"GET"},
        {"__name__":"http_requests_total","namespace":"prod","pod":"web-2","method":"POST"},
        {"__name__":"app_queue_length","namespace":"prod","deployment":"worker"},
        {"__name__":"queue_depth","namespace":"shop","queue":"orders"},
        {"__name__":"cloud_sqs_messages_visible","queue_name":"q"},
        {"__name__":"up","job":"x","instance":"y"}]}"#,
    )
    .unwrap();
    let output = adapter(&[
        "explain",
        "--config",
        "config/rules/example.yaml",
        "--series",
        series.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let metrics: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        metrics,
        [
            "namespaces cluster http_requests_per_second http_requests_total",
            "namespaces cluster queue_length app_queue_length",
            "pods namespaced http_requests_per_second http_requests_total",
            "deployments.apps namespaced queue_length app_queue_length",
            "external namespaced queue_depth queue_depth",
            "external cluster sqs_backlog cloud_sqs_messages_visible",
        ]
    );
    assert!(stdout.contains("# rules[0] http_requests_total{namespace!=\"\",pod!=\"\"}: 2 series, 2 named, 2 metrics"), "{stdout}");

    let query = |extra: &[&str]| {
        let mut args = vec![
            "explain",
            "--config",
            "config/rules/example.yaml",
            "--series",
            series.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let output = adapter(&args);
        let (stdout, stderr) = text(&output);
        (output.status.code(), stdout, stderr)
    };
    let (code, stdout, _) = query(&[
        "--custom",
        "pods/http_requests_per_second",
        "--namespace",
        "prod",
        "--names",
        "web-1,web-2",
        "--metric-selector",
        "method=GET",
    ]);
    assert_eq!(
        (code, stdout.as_str()),
        (
            Some(0),
            "sum(rate(http_requests_total{method=\"GET\",namespace=\"prod\",pod=~\"web-1|web-2\"}[2m])) by (pod)\n"
        )
    );
    let (code, stdout, _) = query(&[
        "--custom",
        "deployments.apps/queue_length",
        "--namespace",
        "prod",
        "--names",
        "worker",
    ]);
    assert_eq!(
        (code, stdout.as_str()),
        (
            Some(0),
            "max(app_queue_length{namespace=\"prod\",deployment=\"worker\"}) by (deployment)\n"
        )
    );
    let (code, stdout, _) = query(&[
        "--external",
        "sqs_backlog",
        "--namespace",
        "prod",
        "--metric-selector",
        "queue_name=q",
    ]);
    assert_eq!(
        (code, stdout.as_str()),
        (
            Some(0),
            "sum(cloud_sqs_messages_visible{queue_name=\"q\"})\n"
        )
    );
    let (code, _, stderr) = query(&[
        "--custom",
        "pods/nope",
        "--namespace",
        "prod",
        "--names",
        "a",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("could not find the metric nope for pods"),
        "{stderr}"
    );
    let (code, _, stderr) = query(&[
        "--custom",
        "pods/http_requests_per_second",
        "--namespace",
        "prod",
        "--names",
        "a",
        "--metric-selector",
        "x>1",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("operator not supported by prometheus"),
        "{stderr}"
    );
}

#[test]
fn explain_splits_a_5000_pod_selector_under_the_budget() {
    let names: Vec<String> = (0..5000).map(|i| format!("web-7d9f8c6b5-{i:05}")).collect();
    let joined = names.join(",");
    let output = adapter(&[
        "explain",
        "--config",
        "config/rules/resource-metrics.yaml",
        "--resource-metric",
        "cpu",
        "--namespace",
        "prod",
        "--names",
        &joined,
    ]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let queries: Vec<&str> = stdout.lines().collect();
    assert!(queries.len() > 1);
    assert!(
        queries.iter().all(|q| q.len() <= 8192),
        "every query within 8 KiB"
    );
    let total: usize = queries
        .iter()
        .map(|q| q.matches("web-7d9f8c6b5-").count())
        .sum();
    assert_eq!(total, 5000);
}
