//! Request paths, query strings, methods and `Accept` headers through the binary's own `App` (`api::app`:
//! every route and layer, everything allowed), with the real actors behind
//! them on simulated Prometheus and Kubernetes backends that are up. Whatever the request: no panic, no
//! 5xx (nothing is down), and every error is a `metav1.Status` whose `code` is the HTTP status (JSON, or
//! the protobuf envelope when asked for).
//!
//! Input: byte 0 picks the method (mostly GET), byte 1 the `Accept` header, the rest is the request
//! target (`/path?query`, as a client would send it on the request line).
use actix_web::test;
use adapter_actors::sim::{SimKube, SimPrometheus};
use prometheus_adapter::api::simulated::{Answer, Simulated};

const RULES: &str = include_str!("../../../config/rules/example.yaml");
const ACCEPT: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some("application/vnd.kubernetes.protobuf"),
    Some("application/vnd.kubernetes.protobuf, application/json"),
    Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
    Some("application/json;as=Table;v=v1;g=meta.k8s.io, application/json"),
    Some("*/*"),
    Some("text/html"),
];
const METHODS: &[&str] = &["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "WATCH"];

struct World {
    system: actix_rt::SystemRunner,
    app: Simulated,
}

fn world() -> World {
    let system = actix_rt::System::new();
    let app = system.block_on(async {
        let prom = SimPrometheus::new();
        for pod in ["web-1", "web-2"] {
            prom.add_series(
                "http_requests_total",
                &[("namespace", "prod"), ("pod", pod), ("method", "GET")],
            );
        }
        prom.add_series("queue_depth", &[("namespace", "shop"), ("queue", "orders")]);
        prom.add_series(
            "container_cpu_usage_seconds_total",
            &[
                ("namespace", "prod"),
                ("pod", "web-1"),
                ("container", "app"),
            ],
        );
        // Every query's answer is an empty vector: each flow runs to its end.
        let kube = SimKube::new();
        kube.add("namespaces", "", "prod", &[]);
        kube.add("pods", "prod", "web-1", &[("app", "web"), ("tier", "3")]);
        kube.add("pods", "prod", "web-2", &[("app", "web")]);
        kube.add("nodes", "", "node-1", &[("zone", "a")]);
        Simulated::start(RULES, prom, kube).await
    });
    World { system, app }
}

thread_local! {
    /// Built on the first input and never dropped: dropping it while thread-locals are torn down at exit
    /// would reach actix's own, already gone.
    static WORLD: &'static World = Box::leak(Box::new(world()));
}

/// One input: panics on a finding.
pub fn check(input: &[u8]) {
    let [method, accept, target @ ..] = input else {
        return;
    };
    let Ok(target) = std::str::from_utf8(target) else {
        return;
    };
    // Only what a request line can carry: clients and hyper's parser refuse anything else first.
    if !target.starts_with('/') || target.parse::<actix_web::http::Uri>().is_err() {
        return;
    }
    let method = match method % 16 {
        n @ 0..=6 => METHODS[usize::from(n)],
        _ => "GET",
    };
    let accept = ACCEPT[usize::from(*accept) % ACCEPT.len()];
    WORLD.with(|world| {
        let mut req = test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(target);
        if let Some(accept) = accept {
            req = req.insert_header(("Accept", accept));
        }
        let req = req.to_request();
        let Answer { status, body, .. } = world.system.block_on(world.app.call(req));
        assert!(
            status < 500,
            "{method} {target} ({accept:?}): {status} {body:?}"
        );
        if status >= 400 && method != "HEAD" {
            if body.starts_with(b"k8s\0") {
                return;
            }
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
                panic!("{method} {target}: {status} without a Status ({e}): {body:?}")
            });
            assert_eq!(value["kind"], "Status", "{method} {target}: {body:?}");
            assert_eq!(value["code"], status, "{method} {target}: {body:?}");
        }
    });
}
