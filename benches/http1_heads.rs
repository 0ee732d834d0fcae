//! What judging HTTP/1.1 request heads (`http1::Heads`) costs per request, on the heads real callers send:
//! the aggregator's proxied HPA request (protobuf Accept, X-Remote-* headers, a bearer token), the same
//! kept alive three in one read, a 60 kB selector, a head arriving in 1,460-byte pieces (a TCP
//! segment each), and a POST with a 64 KiB chunked body in 1 KiB chunks (read to the next head).
//! Run: `cargo bench --bench http1_heads`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use prometheus_adapter::http1::{Heads, Verdict};

fn hpa_head(selector: &str) -> Vec<u8> {
    format!(
        "GET /apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second\
         ?labelSelector={selector} HTTP/1.1\r\n\
         Host: 10.96.12.7:443\r\n\
         User-Agent: kube-controller-manager/v1.37.0 (linux/amd64) kubernetes/abcdef0/system:serviceaccount:kube-system:horizontal-pod-autoscaler\r\n\
         Accept: application/vnd.kubernetes.protobuf, */*\r\n\
         Authorization: Bearer {}\r\n\
         X-Forwarded-For: 10.0.0.12\r\n\
         X-Remote-Group: system:serviceaccounts\r\n\
         X-Remote-Group: system:authenticated\r\n\
         X-Remote-User: system:serviceaccount:kube-system:horizontal-pod-autoscaler\r\n\
         Accept-Encoding: gzip\r\n\r\n",
        "e".repeat(900)
    )
    .into_bytes()
}

fn judged(heads: &mut Heads, pieces: &[&[u8]]) {
    for piece in pieces {
        assert_eq!(heads.judge(black_box(piece)), Verdict::Pass);
    }
}

fn bench(c: &mut Criterion) {
    let one = hpa_head("app%3Dweb");
    let three = [one.clone(), one.clone(), one.clone()].concat();
    let terms: Vec<String> = (0..2250)
        .map(|i| format!("x{i:04}%21%3Dno-such-value"))
        .collect();
    let long = hpa_head(&format!("app%3Dweb,{}", terms.join(",")));
    let segments: Vec<&[u8]> = long.chunks(1460).collect();
    c.bench_function(&format!("HPA head ({} B)", one.len()), |b| {
        b.iter(|| judged(&mut Heads::default(), &[&one]))
    });
    c.bench_function("three HPA heads in one read", |b| {
        b.iter(|| judged(&mut Heads::default(), &[&three]))
    });
    c.bench_function(&format!("60 kB selector head ({} B)", long.len()), |b| {
        b.iter(|| judged(&mut Heads::default(), &[&long]))
    });
    c.bench_function(
        &format!("the same in {} segments of 1,460 B", segments.len()),
        |b| b.iter(|| judged(&mut Heads::default(), &segments)),
    );
    let chunk = format!("400;ext=1\r\n{}\r\n", "c".repeat(1024));
    let chunked = [
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
        chunk.repeat(64).into_bytes(),
        b"0\r\n\r\n".to_vec(),
        one.clone(),
    ]
    .concat();
    let chunked_segments: Vec<&[u8]> = chunked.chunks(1460).collect();
    c.bench_function(
        &format!(
            "POST, 64 x 1 KiB chunks, then the HPA head, in {} segments",
            chunked_segments.len()
        ),
        |b| b.iter(|| judged(&mut Heads::default(), &chunked_segments)),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
