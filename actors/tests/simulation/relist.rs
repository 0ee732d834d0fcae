//! Discovery: the relist timer, its window, and per-rule failure isolation.

use super::*;

#[actix_rt::test]
async fn first_relist_publishes_sorted_discovery() {
    let w = world();
    let summary = w.relist().await;
    assert_eq!(summary.failed_rules, 0);
    assert_eq!(
        entries(&w),
        [
            "namespaces/http_requests_per_second",
            "namespaces/queue_length",
            "pods/http_requests_per_second",
            "deployments.apps/queue_length",
            "external/queue_depth",
        ]
    );
    let snapshot = w.adapter.front_door.send(GetDiscovery).await.unwrap();
    assert!(snapshot.ready());
    assert_eq!(snapshot.rules.len(), 4);
    assert!(
        snapshot
            .rules
            .iter()
            .all(|r| r.error.is_none() && r.last_success.is_some())
    );
}

#[actix_rt::test]
async fn relists_every_interval_after_the_last_finished_with_the_max_age_window() {
    // The window is the same in either mode; series calls show it (label mode: see below).
    let mut options = options();
    options.relist.mode = RelistMode::Series;
    let w = world_with(options);
    w.relist().await;
    let calls = w.prom.series_calls();
    // One call per distinct seriesQuery (4 rules, 4 queries), start = end − max-age.
    let distinct = calls.len();
    assert!(distinct >= 4);
    let (_, start, end) = calls.last().unwrap().clone();
    assert_eq!(end - start, 120.0);
    w.prom.add_series(
        "app_backlog",
        &[("namespace", "prod"), ("deployment", "worker")],
    );
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert!(
        !entries(&w).contains(&"deployments.apps/backlog".to_string()),
        "not before the interval"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::yield_now().await;
    assert!(
        entries(&w).contains(&"deployments.apps/backlog".to_string()),
        "relisted within one interval"
    );
    let later = w.prom.series_calls();
    assert!(
        later.last().unwrap().2 >= end + 60.0,
        "the window moves with the clock"
    );
}

#[actix_rt::test]
async fn a_failing_rule_keeps_its_metrics_while_others_refresh() {
    let w = world();
    w.relist().await;
    w.prom
        .fail_matcher(r#"{__name__="queue_depth",queue!=""}"#, true);
    w.prom.add_series(
        "app_backlog",
        &[("namespace", "prod"), ("deployment", "worker")],
    );
    let summary = w.relist().await;
    assert_eq!(summary.failed_rules, 1);
    let now = entries(&w);
    assert!(
        now.contains(&"external/queue_depth".to_string()),
        "previous metrics of the failed rule kept"
    );
    assert!(
        now.contains(&"deployments.apps/backlog".to_string()),
        "other rules refreshed"
    );
    let snapshot = w.adapter.registry.load();
    let failed: Vec<_> = snapshot
        .rules
        .iter()
        .filter(|r| r.error.is_some())
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .error
            .as_ref()
            .unwrap()
            .contains("simulated failure")
    );
    assert!(failed[0].last_success.is_some());
}

/// A world relisting in `mode`, with shapes beyond the example's: one name whose series carry
/// different resource labels, a series without a resource label, a name the seriesFilters drop, a
/// label (node) no rule of its query maps.
fn world_in(mode: RelistMode) -> World {
    let mut options = options();
    options.relist.mode = mode;
    let w = world_with(options);
    w.prom.add_series(
        "app_jobs",
        &[("namespace", "prod"), ("deployment", "worker")],
    );
    w.prom.add_series("app_jobs", &[("namespace", "batch")]);
    w.prom.add_series(
        "app_jobs_total",
        &[("namespace", "prod"), ("deployment", "worker")],
    );
    w.prom.add_series(
        "http_requests_total",
        &[("namespace", "prod"), ("pod", "web-3"), ("node", "n1")],
    );
    w
}

fn relisted_in(mode: RelistMode, support: LabelSupport) -> Relisted {
    in_own_system(move || async move {
        let w = world_in(mode);
        w.prom.set_label_support(support);
        relisted(&w).await
    })
}

#[test]
fn label_mode_discovers_exactly_what_series_mode_does() {
    let series = relisted_in(RelistMode::Series, LabelSupport::Honours);
    assert!(series.modes.iter().all(|m| *m == RelistMode::Series));
    assert!(series.label_calls.is_empty());
    assert!(
        series
            .entries
            .contains(&"deployments.apps/jobs".to_string())
    );
    let labels = relisted_in(RelistMode::Labels, LabelSupport::Honours);
    assert_eq!(labels.entries, series.entries);
    assert!(labels.modes.iter().all(|m| *m == RelistMode::Labels));
    assert_eq!(labels.series_calls, 0, "no series asked in label mode");
    // Per seriesQuery: label names and metric names; none for labels the selector requires.
    let app = r#"{__name__=~"^app_.*",namespace!="",deployment!=""}"#;
    let asked = |m: &str| labels.label_calls.iter().filter(|c| *c == m).count();
    assert_eq!(asked(app), 2, "{:?}", labels.label_calls);
    assert_eq!(asked(PROBE_SELECTOR), 0, "forced: no probe");
    assert_eq!(labels.questions.series, Default::default());
    assert_eq!(
        labels.questions.labels.label_names, 4,
        "one per seriesQuery"
    );
    assert_eq!(labels.questions.labels.metric_names, 4);
    // Auto: a backend honouring match[] is probed, then asked in label mode.
    let auto = relisted_in(RelistMode::Auto, LabelSupport::Honours);
    assert_eq!(auto.entries, series.entries);
    assert!(auto.modes.iter().all(|m| *m == RelistMode::Labels));
    assert_eq!(
        auto.label_calls
            .iter()
            .filter(|c| *c == PROBE_SELECTOR)
            .count(),
        1
    );
}

#[test]
fn auto_mode_falls_back_to_series_where_label_questions_are_refused_or_ignored() {
    let series = relisted_in(RelistMode::Series, LabelSupport::Honours);
    for support in [LabelSupport::Ignores, LabelSupport::Missing] {
        let (first, upgraded) = in_own_system(move || async move {
            let w = world_in(RelistMode::Auto);
            w.prom.set_label_support(support);
            let first = relisted(&w).await;
            // Upgraded in place: the next relist's probe sees it and asks labels again.
            w.prom.set_label_support(LabelSupport::Honours);
            (first, relisted(&w).await)
        });
        assert_eq!(first.entries, series.entries, "{support:?}");
        assert!(
            first.modes.iter().all(|m| *m == RelistMode::Series),
            "{support:?}"
        );
        assert_eq!(first.series_calls, 4, "{support:?}");
        assert_eq!(
            first.label_calls,
            [PROBE_SELECTOR],
            "only the probe: {support:?}"
        );
        assert_eq!(first.questions.series.series, 4);
        assert!(
            first.questions.fallbacks_total >= 4,
            "{:?}",
            first.questions
        );
        assert!(upgraded.modes.iter().all(|m| *m == RelistMode::Labels));
        assert_eq!(
            upgraded.questions.fallbacks_total, first.questions.fallbacks_total,
            "counted since start, not again"
        );
        assert_eq!(upgraded.series_calls, 0, "no more series asked");
        assert_eq!(upgraded.entries, series.entries);
    }
    // Forced label mode does not fall back: the rules fail, saying what could not be fetched.
    let forced = relisted_in(RelistMode::Labels, LabelSupport::Missing);
    assert!(forced.entries.is_empty());
    assert_eq!(forced.errors.len(), 4);
    assert!(
        forced.errors[0].contains("unable to fetch label and metric names")
            && forced.errors[0].contains("404"),
        "{:?}",
        forced.errors
    );
}

#[actix_rt::test]
async fn label_mode_keeps_a_failing_rules_metrics_and_fails_it_alone() {
    let w = world_in(RelistMode::Labels);
    let before = relisted(&w).await;
    w.prom.fail_matcher(
        r#"{__name__=~"^app_.*",namespace!="",deployment!=""}"#,
        true,
    );
    w.prom.remove_series("http_requests_total");
    let after = relisted(&w).await;
    assert_eq!(after.errors.len(), 1, "{:?}", after.errors);
    assert!(
        after.entries.contains(&"deployments.apps/jobs".to_string()),
        "kept: {:?}",
        after.entries
    );
    assert!(
        !after.entries.iter().any(|e| e.contains("http_requests")),
        "the others refresh"
    );
    assert!(before.entries.iter().any(|e| e.contains("http_requests")));
    let windows: Vec<(f64, f64)> = w
        .prom
        .label_calls()
        .into_iter()
        .map(|(_, _, start, end)| (start, end))
        .collect();
    assert!(!windows.is_empty());
    assert!(
        windows.iter().all(|(start, end)| end - start == 120.0),
        "the max-age window"
    );
}

/// Runs `test` in its own actor system on its own thread, so one test can compare worlds (each world
/// pauses its runtime's clock).
fn in_own_system<T: Send + 'static, F: Future<Output = T> + 'static>(
    test: impl FnOnce() -> F + Send + 'static,
) -> T {
    std::thread::spawn(move || actix_rt::System::new().block_on(test()))
        .join()
        .expect("the world's test passed")
}

/// What one relist found, as plain data that leaves its actor system.
#[derive(Debug)]
struct Relisted {
    entries: Vec<String>,
    modes: Vec<RelistMode>,
    series_calls: usize,
    label_calls: Vec<String>,
    questions: adapter_actors::registry::RelistQuestions,
    errors: Vec<String>,
}

/// Relists twice and reports the second: the first settles the relist the actor started with.
async fn relisted(w: &World) -> Relisted {
    w.relist().await;
    let (series_before, labels_before) = (w.prom.series_calls().len(), w.prom.label_calls().len());
    w.relist().await;
    let snapshot = w.adapter.registry.load();
    Relisted {
        entries: entries(w),
        modes: snapshot.rules.iter().map(|r| r.relist_mode).collect(),
        series_calls: w.prom.series_calls().len() - series_before,
        label_calls: w.prom.label_calls()[labels_before..]
            .iter()
            .map(|c| c.1.clone())
            .collect(),
        questions: snapshot.relist_questions,
        errors: snapshot
            .rules
            .iter()
            .filter_map(|r| r.error.clone())
            .collect(),
    }
}
