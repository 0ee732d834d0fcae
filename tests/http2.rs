//! What the adapter's real callers see: Go's net/http (the aggregator, the HPA controller, kubectl) speaks
//! HTTP/2 with keep-alive. Small answers used to leave in two writes (headers+data, then an empty
//! END_STREAM frame) on sockets without `TCP_NODELAY`, so Nagle held the second until the client's delayed
//! ACK: 40 ms per request. These requests go through the suite's own HTTP/2 client (tools/load), in
//! sequence on one connection, and must each be far below that.

use std::time::{Duration, Instant};

use adapter_load::{Connection, Endpoint, Options};

use crate::support::env::demo_env;

/// Every small-answer shape: by name and by selector (custom, pods and other resources, the Namespace
/// object), external, metrics.k8s.io by name and short lists, discovery, OpenAPI, Status errors, /metrics.
const SHAPES: &[(&str, u16)] = &[
    (
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length",
        200,
    ),
    (
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/metrics/queue_length",
        200,
    ),
    (
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/web-1/http_requests_per_second",
        200,
    ),
    (
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb",
        200,
    ),
    (
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector=queue%3Dorders",
        200,
    ),
    (
        "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods/web-2",
        200,
    ),
    ("/apis/metrics.k8s.io/v1/nodes/node-1", 200),
    ("/apis/metrics.k8s.io/v1/nodes", 200),
    ("/apis/custom.metrics.k8s.io/v1beta2", 200),
    ("/apis", 200),
    ("/openapi/v2", 200),
    (
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/nope",
        404,
    ),
    (
        "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods/ghost",
        404,
    ),
    ("/metrics", 200),
];

/// The suite's client for `env`'s adapter, and a runtime to drive it.
fn client(env: &crate::support::env::Env) -> (Endpoint, Options, tokio::runtime::Runtime) {
    let (endpoint, _) = Endpoint::parse(&format!("https://127.0.0.1:{}/", env.port)).unwrap();
    let options = Options {
        ca: Some(env.ca()),
        ..Options::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (endpoint, options, runtime)
}

#[test]
fn small_answers_over_http2_are_not_held_for_delayed_acks() {
    let env = demo_env();
    let (endpoint, options, runtime) = client(&env);
    runtime.block_on(async {
        let mut connection = Connection::open(&endpoint, &options).await.unwrap();
        assert_eq!(
            connection.protocol(),
            "h2",
            "the adapter offers HTTP/2 by ALPN"
        );
        for (path, status) in SHAPES {
            let first = connection.get(path).await.unwrap();
            assert_eq!(first.status, *status, "{path}: {:?}", first.body);
            // Each request timed: with the stall every one waits ~40 ms for the delayed ACK, so the median
            // says it whatever else loads the machine.
            let mut times: Vec<Duration> = Vec::new();
            for _ in 0..50 {
                let started = Instant::now();
                let answer = connection.get(path).await.unwrap();
                times.push(started.elapsed());
                assert_eq!(answer.status, *status, "{path}");
            }
            times.sort();
            let median = times[times.len() / 2];
            assert!(
                median < Duration::from_millis(20),
                "HTTP/2 requests for {path}: median {median:?}"
            );
        }
    });
}

/// `--disable-http2` (upstream's flag) takes h2 out of ALPN: every client speaks HTTP/1.1. (actix-web's
/// `HttpServer` put h2 back in front of whatever the config offered, so the flag did nothing.)
#[test]
fn disable_http2_offers_http1_only() {
    let env = crate::support::env::demo_env_with(&["--disable-http2"]);
    let (endpoint, options, runtime) = client(&env);
    runtime.block_on(async {
        let mut connection = Connection::open(&endpoint, &options).await.unwrap();
        assert_eq!(connection.protocol(), "http/1.1");
        assert_eq!(connection.get("/apis").await.unwrap().status, 200);
    });
}

/// SIGTERM with a caller's idle keep-alive connection open (the aggregator keeps its connections): the
/// connection is closed and the process exits at once, not after the 30 s shutdown timeout that waited on
/// it (actix-http closes idle HTTP/1.1 connections on shutdown, not h2 ones).
#[test]
fn sigterm_closes_idle_http2_connections_with_goaway_and_exits_promptly() {
    use crate::support::raw_h2::{GOAWAY, HEADERS, NO_ERROR, RawH2};
    let mut env = demo_env();
    let mut raw = RawH2::connect(env.port, &env.ca());
    raw.server_settings();
    raw.get("/healthz");
    raw.flush();
    while raw.next_frame().expect("the answer").kind != HEADERS {}
    let (took, status) = env.terminate_adapter();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    // The rest of the answer, a GOAWAY without error (the client knows no stream after it was processed
    // and may retry elsewhere), then the end of the connection (not the 10 s read timeout).
    let started = Instant::now();
    let mut goaway = None;
    while let Some(frame) = raw.next_frame() {
        if frame.kind == GOAWAY {
            goaway = Some(frame.error_code());
        }
    }
    assert_eq!(goaway, Some(NO_ERROR));
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A server that answers before reading a request's body must end the stream as RFC 9113 §8.1 says
/// (the whole answer, then `RST_STREAM(NO_ERROR)`): curl (nghttp2) posting a body to a GET-only path lost
/// the 405 to "Stream error in the HTTP/2 framing layer" in 9 of 10 tries with the hand-made h2 glue.
#[test]
fn a_body_sent_with_a_refused_method_over_http2_gets_the_405_status_every_time() {
    let env = demo_env();
    let url = format!(
        "https://127.0.0.1:{}/apis/external.metrics.k8s.io/v1beta1/namespaces/demo/queue_depth",
        env.port
    );
    for attempt in 0..10 {
        let out = std::process::Command::new("curl")
            .args(["--silent", "--show-error", "--http2", "--cacert"])
            .arg(env.ca())
            .args([
                "-d",
                "x",
                "--write-out",
                "\n%{http_version} %{http_code}",
                &url,
            ])
            .output()
            .expect("curl runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "try {attempt}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (body, last) = stdout.rsplit_once('\n').unwrap();
        assert_eq!(last, "2 405", "try {attempt}: {stdout}");
        let status: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["code"], 405);
    }
}

/// The same, frame by frame: a body still to come when its request is answered gets the whole answer,
/// then `RST_STREAM(NO_ERROR)` (RFC 9113 §8.1), not a `CANCEL` that loses it.
#[test]
fn a_body_that_comes_after_its_answer_gets_the_answer_then_a_no_error_reset() {
    use crate::support::raw_h2::{DATA, END_STREAM, HEADERS, NO_ERROR, RST_STREAM, RawH2};
    let env = demo_env();
    let mut raw = RawH2::connect(env.port, &env.ca());
    raw.server_settings();
    let stream = raw.post("/apis/external.metrics.k8s.io/v1beta1/namespaces/demo/queue_depth");
    raw.flush();
    let mut frames = Vec::new();
    while let Some(frame) = raw.next_frame() {
        if frame.stream == stream {
            frames.push((
                frame.kind,
                frame.flags & END_STREAM,
                frame.error_code_or_zero(),
            ));
            if frame.kind == RST_STREAM {
                break;
            }
        }
    }
    raw.data(stream, b"x");
    raw.flush();
    assert_eq!(
        frames,
        [
            (HEADERS, 0, 0),
            (DATA, END_STREAM, 0),
            (RST_STREAM, 0, NO_ERROR)
        ]
    );
}
