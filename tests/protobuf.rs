//! Protobuf answers, as kube-controller-manager and kubectl ask for them, decoded by an independent
//! decoder (tests/protobuf/decode.py: protoc and Python's protobuf runtime over message definitions
//! written from the Kubernetes .proto files) and compared field by field with the JSON answer.

use std::process::Command;

use adapter_load::{Answer, Connection, Endpoint, Options};
use serde_json::Value;

use crate::support::env::demo_env;
use crate::support::root;

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf, application/json";

/// Every type with a protobuf form: custom v1beta1/v1beta2 (by selector, one object, with a metric
/// selector), external, metrics.k8s.io lists and single objects in both versions, Status errors.
const SHAPES: &[&str] = &[
    "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb",
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb",
    "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/deployments.apps/worker/queue_length?metricLabelSelector=deployment%3Dworker",
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length?metricLabelSelector=deployment+in+(worker,other)",
    "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth",
    "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods",
    "/apis/metrics.k8s.io/v1/namespaces/prod/pods/web-1",
    "/apis/metrics.k8s.io/v1beta1/nodes",
    "/apis/metrics.k8s.io/v1/nodes/node-2",
    "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/nope",
    "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods/ghost",
    "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/http_requests_per_second?labelSelector=a%3D%3D%3D",
];

/// The JSON answer as protobuf can carry it: no nulls (unset), no `creationTimestamp` (now, read twice).
/// The answer without what may differ between two fetches: `creationTimestamp` (now) goes, and sample
/// `timestamp`s are set aside (Prometheus may scrape between the JSON and the protobuf fetch) as
/// seconds of the day, to be compared within a few seconds.
fn comparable(mut value: Value) -> (Value, Vec<i64>) {
    fn strip(value: &mut Value, times: &mut Vec<i64>) {
        match value {
            Value::Object(map) => {
                map.retain(|k, v| !v.is_null() && k != "creationTimestamp");
                if let Some(Value::String(time)) = map.get_mut("timestamp") {
                    let clock = time.get(11..19).unwrap_or_default();
                    let parts: Vec<i64> = clock.split(':').filter_map(|p| p.parse().ok()).collect();
                    assert_eq!(parts.len(), 3, "an RFC 3339 time: {time}");
                    times.push(parts[0] * 3600 + parts[1] * 60 + parts[2]);
                    *time = time.get(..10).unwrap_or_default().to_string();
                }
                map.values_mut().for_each(|v| strip(v, times));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| strip(v, times)),
            _ => {}
        }
    }
    let mut times = Vec::new();
    strip(&mut value, &mut times);
    (value, times)
}

#[test]
fn protobuf_answers_decode_to_the_json_answers() {
    let env = demo_env();
    let (endpoint, _) = Endpoint::parse(&format!("https://127.0.0.1:{}/", env.port)).unwrap();
    let options = |accept: &str| Options {
        ca: Some(env.ca()),
        accept: Some(accept.to_string()),
        ..Options::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answers: Vec<(Answer, Answer)> = runtime.block_on(async {
        let mut json = Connection::open(&endpoint, &options("application/json"))
            .await
            .unwrap();
        let mut protobuf = Connection::open(&endpoint, &options(PROTOBUF))
            .await
            .unwrap();
        let mut answers = Vec::new();
        for path in SHAPES {
            answers.push((
                json.get(path).await.unwrap(),
                protobuf.get(path).await.unwrap(),
            ));
        }
        answers
    });
    let mut files = Vec::new();
    for (i, (path, (json, protobuf))) in SHAPES.iter().zip(&answers).enumerate() {
        assert_eq!(json.status, protobuf.status, "{path}");
        assert_eq!(
            protobuf.content_type.as_deref(),
            Some("application/vnd.kubernetes.protobuf"),
            "{path}"
        );
        assert_eq!(&protobuf.body[..4], b"k8s\0", "{path}");
        let file = env.dir.path().join(format!("answer-{i}.pb"));
        std::fs::write(&file, &protobuf.body).unwrap();
        files.push(file);
    }
    let decoded = Command::new("python3")
        .arg(root().join("tests/protobuf/decode.py"))
        .args(&files)
        .output()
        .expect("python3");
    assert!(
        decoded.status.success(),
        "decode.py (needs grpcio-tools: scripts/test.sh installs it): {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(decoded.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), SHAPES.len());
    let mut statuses = Vec::new();
    for ((path, (json, _)), from_protobuf) in SHAPES.iter().zip(&answers).zip(lines) {
        let json: Value = serde_json::from_slice(&json.body).unwrap();
        statuses.push(json["kind"].as_str().unwrap().to_string());
        if let Some(items) = json["items"].as_array() {
            assert!(!items.is_empty(), "{path}: compare something: {json}");
        }
        let (from_protobuf, protobuf_times) = comparable(from_protobuf);
        let (json, json_times) = comparable(json);
        assert_eq!(from_protobuf, json, "{path}");
        assert_eq!(protobuf_times.len(), json_times.len(), "{path}");
        for (a, b) in protobuf_times.iter().zip(&json_times) {
            let apart = (a - b).rem_euclid(86_400).min((b - a).rem_euclid(86_400));
            assert!(apart <= 5, "{path}: sample times {a} and {b} s of the day");
        }
    }
    assert_eq!(
        statuses.iter().filter(|k| *k == "Status").count(),
        3,
        "two 404s and a 400 as protobuf Status: {statuses:?}"
    );
}

#[test]
fn json_stays_the_default_and_the_answer_for_anything() {
    let env = demo_env();
    for accept in [
        "",
        "*/*",
        "application/json",
        "application/json, application/vnd.kubernetes.protobuf",
    ] {
        let headers: Vec<(&str, &str)> = if accept.is_empty() {
            vec![]
        } else {
            vec![("Accept", accept)]
        };
        let (code, body) = env.https("GET", "/apis/metrics.k8s.io/v1beta1/nodes/node-1", &headers);
        assert_eq!(code, 200, "{accept}: {body}");
        let node: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{accept}: {e}: {body}"));
        assert_eq!(node["kind"], "NodeMetrics");
    }
    // Discovery has no protobuf form here: JSON even when protobuf is preferred.
    let (code, body) = env.https(
        "GET",
        "/apis/metrics.k8s.io/v1beta1",
        &[("Accept", PROTOBUF)],
    );
    assert_eq!(code, 200);
    assert!(serde_json::from_str::<Value>(&body).is_ok(), "{body}");
}
