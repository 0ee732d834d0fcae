#!/usr/bin/env bash
# The object caches (BENCHMARKS.md, "Object caches"): the test API server holding 1,000, 20,000 and 100,000
# pods, a real Prometheus, and a release build of the adapter asked for a 10-pod and a 1,000-pod selector's
# pods at concurrency 1 and 8 over HTTP/2, with the value cache off and on; sync time and RSS per size.
# The harness is tests/object_caches_bench.rs (an ignored test); ADAPTER_BIN=PATH measures another build.
# Usage: scripts/bench-objects.sh [SIZES=1000,20000,100000]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --package prometheus-adapter --package adapter-load --bins
export LOAD_BIN=$PWD/target/release/adapter-load
export ADAPTER_BIN=${ADAPTER_BIN:-$PWD/target/release/prometheus-adapter}
export OBJECT_BENCH_SIZES=${1:-1000,20000,100000}
cargo test --quiet --test tests -- --ignored --exact object_caches_bench::object_caches_bench --nocapture
