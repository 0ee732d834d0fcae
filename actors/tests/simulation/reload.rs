//! Hot reload of the rules: swapped only when they compile; requests in flight finish on theirs.

use super::*;

fn reload(text: &str, strict: bool) -> Reload {
    Reload {
        file: "new.yaml".into(),
        text: text.into(),
        strict,
    }
}

#[actix_rt::test]
async fn reload_swaps_rules_only_when_they_compile() {
    let w = world();
    w.relist().await;
    // An error (upstream refuses it too): nothing changes.
    let bad = w
        .adapter
        .namer
        .send(reload(
            "rules:\n- seriesQuery: x\n  name: {matches: '('}\n",
            false,
        ))
        .await
        .unwrap();
    let errors = bad.unwrap_err().to_string();
    assert!(
        errors.contains("new.yaml: rules[0].name.matches: invalid regex"),
        "{errors}"
    );
    assert_eq!(w.adapter.namer.send(CurrentRules).await.unwrap().number, 1);
    assert_eq!(w.relist().await.metrics, 5, "old rules still served");
    // A warning under --strict-config: refused as well.
    let warned = "rules:\n- seriesQuery: ''\n";
    let refused = w.adapter.namer.send(reload(warned, true)).await.unwrap();
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("rules[0].seriesQuery: warning: must not be empty")
    );
    assert_eq!(w.adapter.namer.send(CurrentRules).await.unwrap().number, 1);
    let good = "externalRules:\n- seriesQuery: '{__name__=\"queue_depth\"}'\n  name: {as: depth}\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'\n  resources: {namespaced: false}\n";
    let generation = w
        .adapter
        .namer
        .send(reload(good, false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(generation, 2);
    let summary = w.relist().await;
    assert_eq!((summary.generation, summary.metrics), (2, 1));
    assert_eq!(entries(&w), ["external/depth"]);
    let served = w.adapter.registry.load().served.clone();
    assert!(
        served.external && !served.custom && !served.resource,
        "{served:?}"
    );
    // Without strict, a warning disables only its rule: the other is served.
    let mixed = format!(
        "{good}- seriesQuery: '{{__name__=\"queue_depth\"}}'\n  name: {{as: other}}\n  metricsQuery: ''\n"
    );
    assert_eq!(
        w.adapter
            .namer
            .send(reload(&mixed, false))
            .await
            .unwrap()
            .unwrap(),
        3
    );
    w.relist().await;
    assert_eq!(entries(&w), ["external/depth"]);
    let snapshot = w.adapter.registry.load();
    assert_eq!(snapshot.served.disabled.len(), 1);
    let (rule, why) = &snapshot.served.disabled[0];
    assert_eq!(rule, "externalRules[1]");
    assert!(why[0].contains("externalRules[1].metricsQuery"), "{why:?}");
}

#[actix_rt::test]
async fn a_request_in_flight_during_a_reload_finishes_on_its_rules() {
    let w = world();
    w.relist().await;
    w.answer_pods();
    // The request is discovered with generation 1 and its query waits in Prometheus.
    w.prom.set_health(Health::Slow(Duration::from_millis(500)));
    let in_flight = w.web_pods();
    let reload_then_relist = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Generation 2 serves nothing for pods; until the relist publishes it, requests keep generation 1.
        let text = "externalRules:\n- seriesQuery: '{__name__=\"queue_depth\"}'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'\n";
        w.adapter
            .namer
            .send(reload(text, false))
            .await
            .unwrap()
            .unwrap();
        let during = w.web_pods().await;
        w.prom.set_health(Health::Up);
        w.relist().await;
        (during, w.web_pods().await)
    };
    let (first, (during, after)) = futures_util::future::join(in_flight, reload_then_relist).await;
    assert_eq!(
        first.unwrap().len(),
        2,
        "the request in flight finished on generation 1"
    );
    assert_eq!(
        during.unwrap().len(),
        2,
        "the snapshot still names generation 1"
    );
    assert!(
        matches!(after, Err(FlowError::MetricNotFound { .. })),
        "after the relist: generation 2, no such metric: {after:?}"
    );
}
