//! Logs: nothing per request at the default level (upstream logs none), an access log line per request
//! from `--v=4` with long targets cut, and no terminal colour codes in a log file.

use crate::env::demo_env_with;

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
