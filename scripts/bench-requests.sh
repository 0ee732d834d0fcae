#!/usr/bin/env bash
# Per-request overhead benchmark (BENCHMARKS.md): the demo stack with a release build of the adapter, then
# the same queries through the adapter and straight to Prometheus.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --quiet
start_stack target/release/prometheus-adapter
python3 scripts/bench_requests.py "$port" "$work/certs/apiserver.crt" "$prom_port" "${1:-2000}" \
  "$work/demo-user.crt" "$work/demo-user.key"
