//! A load generator and test client that speaks like the adapter's real callers (Go's net/http in
//! kube-apiserver's aggregator, the HPA controller and kubectl): HTTP/2 by ALPN or forced HTTP/1.1,
//! keep-alive, client certificates, `TCP_NODELAY`. Used by `scripts/bench-requests.sh` and by the
//! end-to-end tests that must see what an HTTP/2 client sees.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![allow(
    clippy::disallowed_methods,
    reason = "a load generator measures real wall-clock latency"
)]

pub mod connection;
pub mod run;

pub use connection::{Answer, Connection, Endpoint, Options, Protocol};
pub use run::{Plan, Report, Stop, run};
