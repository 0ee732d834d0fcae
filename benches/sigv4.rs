//! What SigV4 adds to each call of a `sigv4` backend: the signature over method, URL and body, computed
//! by `aws-sigv4` at every attempt (the credentials themselves are cached). Run:
//! `cargo bench --bench sigv4`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use prometheus_adapter::backends::sigv4::AwsIdentity;

fn signing(c: &mut Criterion) {
    // Temporary credentials, as IRSA and Pod Identity give: the session token is signed too.
    let credentials = aws_credential_types::Credentials::new(
        "ASIAEXAMPLEKEY",
        "example/secret/key",
        Some("a-session-token-".repeat(40)),
        None,
        "bench",
    );
    let identity = AwsIdentity::new(credentials, "us-east-1", "aps");
    let query = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123/api/v1/query?\
                 query=sum%28rate%28http_requests_total%7Bnamespace%3D%22prod%22%2Cpod%3D~%22web-1%7Cweb-2%7Cweb-3%22%7D%5B2m%5D%29%29%20by%20%28pod%29&time=1765000000";
    c.bench_function("sign a GET query", |b| {
        b.iter(|| black_box(identity.sign("GET", black_box(query), b"")))
    });
    let body = format!(
        "query={}&time=1765000000",
        "sum%28rate%28x%5B2m%5D%29%29%20".repeat(64)
    );
    let url = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123/api/v1/query";
    c.bench_function("sign a POST query (2 KiB body)", |b| {
        b.iter(|| black_box(identity.sign("POST", black_box(url), body.as_bytes())))
    });
}

criterion_group!(benches, signing);
criterion_main!(benches);
