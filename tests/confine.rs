//! Confinement checked by Prometheus itself: each hostile query, confined to `shop` by
//! `adapter_config::confine` (parsed and printed by `promql-parser`), is sent to the real Prometheus of
//! the demo world, which must accept it (its own parser is the independent one) and answer only `shop`'s
//! series, though the world also holds `prod`'s and nodes' series.

use adapter_config::confine::confine;

use crate::support::env::{demo_env, http};

/// Prometheus' answer to `promql`: every result's `namespace` label (`None` when it has none).
fn namespaces(prom_port: u16, promql: &str) -> Vec<Option<String>> {
    let query: String = url::form_urlencoded::byte_serialize(promql.as_bytes()).collect();
    let (status, body) = http(
        prom_port,
        "GET",
        &format!("/api/v1/query?query={query}"),
        "",
    );
    assert_eq!(status, 200, "{promql}: {body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    answer["data"]["result"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .map(|r| r["metric"]["namespace"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn confined_queries_read_only_their_namespace_in_a_real_prometheus() {
    let env = demo_env();
    // Unconfined, these read prod's and shop's series (and the nodes', which have no namespace).
    let everything = namespaces(
        env.prom_port,
        r#"{__name__=~"http_requests_total|queue_depth|node_cpu_usage_seconds_total"}"#,
    );
    assert!(everything.contains(&Some("prod".into())), "{everything:?}");
    assert!(everything.contains(&None), "{everything:?}");
    let hostile = [
        r#"{__name__=~"http_requests_total|queue_depth|node_cpu_usage_seconds_total"}"#,
        r#"http_requests_total{namespace="prod"}"#,
        r#"http_requests_total{namespace=~".*"} or queue_depth"#,
        r#"queue_depth unless on () http_requests_total{namespace="prod"}"#,
        r#"last_over_time(http_requests_total{namespace!="shop"}[10m])"#,
        r#"max_over_time(queue_depth{namespace="prod"}[5m:30s] offset 1s)"#,
        r#"label_replace(http_requests_total{namespace="prod"}, "namespace", "shop", "", "")"#,
        r#"node_cpu_usage_seconds_total"#,
    ];
    for query in hostile {
        let confined = confine(query, "namespace", "shop").expect("confinable");
        let seen = namespaces(env.prom_port, &confined);
        assert!(
            seen.iter().all(|ns| ns.as_deref() == Some("shop")),
            "{query} → {confined}: {seen:?}"
        );
    }
    // And it still reads shop's own series.
    let own = confine("queue_depth", "namespace", "shop").expect("confinable");
    assert_eq!(namespaces(env.prom_port, &own).len(), 2, "{own}");
}
