//! Logs: nothing per request at the default level (upstream logs none), an access log line per request
//! from `--v=4` with long targets cut, and no terminal colour codes in a log file.

use crate::support::env::demo_env_with;

const OBJECT: &str =
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length";

#[test]
fn the_default_level_logs_no_line_per_request_and_no_colour() {
    let env = demo_env_with(&["--v=0"]);
    let before = env.log().lines().count();
    for _ in 0..50 {
        assert_eq!(env.get(OBJECT).0, 200);
    }
    assert_eq!(
        env.get("/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/nope")
            .0,
        404
    );
    let log = env.log();
    assert_eq!(
        log.lines().count(),
        before,
        "no line per request at the default level:\n{log}"
    );
    assert!(log.contains("serving"), "start-up is still logged: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI escapes in a file: {log:?}"
    );
}

#[test]
fn the_access_log_has_a_line_per_request_with_long_targets_cut() {
    let env = demo_env_with(&["--v=4"]);
    let long = format!(
        "{OBJECT}?metricLabelSelector=deployment%3D{}",
        "w".repeat(10_000)
    );
    for _ in 0..3 {
        assert_eq!(env.get(OBJECT).0, 200);
    }
    // A label value this long is refused (400); the request is logged all the same.
    assert_eq!(env.get(&long).0, 400);
    let log = env.log();
    // One line per request when its span closes (events inside a request carry its fields too).
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(OBJECT) && l.contains(" close "))
        .collect();
    assert_eq!(lines.len(), 4, "{log}");
    assert!(
        lines[0].contains("status=200") && lines[0].contains("method=GET"),
        "{}",
        lines[0]
    );
    let cut = lines[3];
    assert!(
        cut.len() < 1_000,
        "a 10 kB target is cut: {} bytes",
        cut.len()
    );
    assert!(cut.contains(&format!("({} bytes)", long.len())), "{cut}");
    assert!(!log.contains('\u{1b}'), "no ANSI escapes in a file");
}

#[test]
fn json_logs_are_one_object_a_line_with_the_text_logs_fields() {
    let mut env = demo_env_with(&["--v=4", "--log-format=json"]);
    assert_eq!(env.get(OBJECT).0, 200);
    // A failing relist names its rule.
    env.stop_prometheus();
    crate::support::env::wait_until(
        "a failed relist",
        std::time::Duration::from_secs(15),
        || env.log().contains("relist of rule failed"),
    );
    let log = env.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    assert!(lines.len() > 5, "{log}");
    for line in &lines {
        assert!(
            line["timestamp"].is_string()
                && line["level"].is_string()
                && line["message"].is_string(),
            "{line}"
        );
    }
    let request = lines
        .iter()
        .find(|l| {
            l["span"]["target"]
                .as_str()
                .is_some_and(|t| t.ends_with(OBJECT))
        })
        .unwrap_or_else(|| panic!("an access log line: {log}"));
    assert_eq!(request["span"]["status"], 200);
    assert_eq!(request["span"]["method"], "GET");
    assert!(
        request["span"]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() >= 32)
    );
    let relist = lines
        .iter()
        .find(|l| l["message"] == "relist of rule failed; its previous metrics are kept")
        .unwrap();
    assert_eq!(relist["level"], "WARN");
    assert!(
        relist["rule"].as_str().unwrap().contains("rules["),
        "{relist}"
    );
    assert!(relist["error"].is_string(), "{relist}");
}
