//! `GET /debug/explain` on a running adapter, and `explain --server` printing the same text the offline
//! command prints for the same question.

use serde_json::Value;

use crate::support::env::{demo_env, encode, http};
use crate::support::{adapter, text};

#[test]
fn a_running_adapter_explains_its_rules_and_each_step_of_a_request() {
    let env = demo_env();
    // No question: every rule with its last relist, and the report's text.
    let all = env.json("/debug/explain");
    let rule = &all["rules"][0];
    assert_eq!(rule["rule"], "rules[0]");
    assert_eq!(
        rule["seriesQuery"],
        "http_requests_total{namespace!=\"\",pod!=\"\"}"
    );
    // Asked in label mode (the default), its count is of metric names: one name, three pods' series.
    assert_eq!(
        (&rule["relistMode"], &rule["counted"], &rule["series"]),
        (
            &Value::from("labels"),
            &Value::from("metric names"),
            &Value::from(1)
        ),
        "{rule}"
    );
    assert!(
        rule["lastSuccess"].is_string() && rule["error"].is_null(),
        "{rule}"
    );
    assert!(
        all["text"]
            .as_str()
            .unwrap()
            .contains("# rules[0] http_requests_total"),
        "{all}"
    );

    let ask = |query: &str| -> Value {
        let body = env.json(&format!("/debug/explain?{query}"));
        assert_eq!(body["kind"], "Explanation");
        body
    };
    // A custom metric by name: the rule, the object, the exact PromQL, what Prometheus said.
    let one = ask("custom=pods/http_requests_per_second&namespace=prod&names=web-1");
    let e = &one["explanation"];
    assert_eq!(
        (e["rule"].as_str(), e["status"].as_u64()),
        (Some("rules[0]"), Some(200)),
        "{e}"
    );
    assert_eq!(e["objects"], serde_json::json!(["web-1"]));
    assert_eq!(
        e["queries"][0],
        r#"sum(rate(http_requests_total{namespace="prod",pod="web-1"}[2m])) by (pod)"#
    );
    assert_eq!(e["prometheus"]["samples"], 1);
    assert_eq!(e["prometheus"]["preview"][0]["labels"]["pod"], "web-1");
    assert!(e.get("notFound").is_none());
    // Two names: one query for both, as the offline command builds it.
    let two = ask("custom=pods/http_requests_per_second&namespace=prod&names=web-1,web-2");
    assert_eq!(
        two["explanation"]["objects"],
        serde_json::json!(["web-1", "web-2"])
    );
    assert_eq!(two["explanation"]["queries"].as_array().unwrap().len(), 1);

    // What a 404 would be, and which step found nothing.
    let typo = ask("custom=pods/http_request_per_second&namespace=prod");
    let nf = &typo["explanation"]["notFound"];
    assert_eq!(nf["step"], "discovery", "{typo}");
    assert_eq!(nf["closest"][0], "http_requests_per_second", "{nf}");
    assert_eq!(typo["explanation"]["status"], 404);
    let nobody = ask(&format!(
        "custom=pods/http_requests_per_second&namespace=prod&labelSelector={}",
        encode("app=nothing")
    ));
    assert_eq!(
        nobody["explanation"]["notFound"]["step"], "objects",
        "{nobody}"
    );
    let no_series = ask("custom=pods/http_requests_per_second&namespace=shop");
    assert_eq!(
        no_series["explanation"]["notFound"]["step"], "objects",
        "{no_series}"
    );

    // External and resource metrics.
    let external = ask("external=queue_depth&namespace=shop");
    let e = &external["explanation"];
    assert_eq!(
        e["queries"][0],
        r#"sum(queue_depth{namespace="shop"}) by (queue)"#
    );
    assert_eq!(
        (e["prometheus"]["samples"].as_u64(), e["values"].as_u64()),
        (Some(2), Some(2))
    );
    let cpu = ask("resource=cpu&namespace=prod&names=web-2");
    let e = &cpu["explanation"];
    assert_eq!(e["objects"], serde_json::json!(["web-2"]));
    assert_eq!(
        e["queries"].as_array().unwrap().len(),
        2,
        "cpu and memory: {e}"
    );

    // Bad questions are 400s.
    assert_eq!(env.get("/debug/explain?custom=nometric").0, 400);
    assert_eq!(env.get("/debug/explain?resource=disk").0, 400);
    assert_eq!(env.get("/debug/explain?custum=x").0, 400);

    // explain --server prints what the offline command prints for the same rules and series.
    let series = env.dir.path().join("series.json");
    let (_, body) = http(
        env.prom_port,
        "GET",
        &format!("/api/v1/series?match[]={}", encode("{namespace!=\"\"}")),
        "",
    );
    std::fs::write(&series, body).unwrap();
    let server = format!("https://127.0.0.1:{}", env.port);
    let ca = env.ca().display().to_string();
    for question in [
        vec![
            "--custom",
            "pods/http_requests_per_second",
            "--namespace",
            "prod",
            "--names",
            "web-1,web-2",
        ],
        vec!["--external", "queue_depth", "--namespace", "shop"],
        vec![
            "--resource-metric",
            "memory",
            "--namespace",
            "prod",
            "--names",
            "web-3",
        ],
    ] {
        let mut live = vec![
            "explain",
            "--server",
            &server,
            "--certificate-authority",
            &ca,
        ];
        live.extend(&question);
        let mut offline = vec![
            "explain",
            "--config",
            "config/rules/example.yaml",
            "--series",
            series.to_str().unwrap(),
        ];
        offline.extend(&question);
        let (live_out, live_err) = text(&adapter(&live));
        let (offline_out, offline_err) = text(&adapter(&offline));
        assert!(!live_out.is_empty(), "{question:?}: {live_err}");
        assert_eq!(
            live_out, offline_out,
            "{question:?}: {live_err} / {offline_err}"
        );
    }
    // And the rules report: the same text, from the last relist instead of a series file.
    let (live, err) = text(&adapter(&[
        "explain",
        "--server",
        &server,
        "--certificate-authority",
        &ca,
    ]));
    assert!(
        live.contains("pods namespaced http_requests_per_second"),
        "{live}{err}"
    );
    assert!(live.contains("# rules[0] "), "{live}");
}
