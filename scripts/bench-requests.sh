#!/usr/bin/env bash
# Per-request latency and throughput (BENCHMARKS.md), the way the adapter's callers send requests: the demo
# stack with a release build, then every request shape through the adapter over HTTP/2 (by ALPN, one shared
# connection, as Go's net/http) and HTTP/1.1 (a connection per worker), at concurrency 1 and 32, with a
# client certificate — beside the same PromQL sent straight to Prometheus. Then a repeated request with the
# value cache on, and RSS after a minute at concurrency 32.
# Usage: scripts/bench-requests.sh [REQUESTS_AT_C1=2000] [SECONDS_AT_C32=5]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
n=${1:-2000}
seconds=${2:-5}
cargo build --release --quiet --package prometheus-adapter --package adapter-load --bins
load=target/release/adapter-load
start_stack target/release/prometheus-adapter
adapter_pid=${pids[-1]}
base="https://127.0.0.1:$port"
auth=(--cacert "$work/certs/apiserver.crt" --cert "$work/demo-user.crt" --key "$work/demo-user.key")
prom() { python3 -c 'import sys, urllib.parse; print(sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[2]}))' "http://127.0.0.1:$prom_port" "$1"; }
run() { # label, then adapter-load arguments
  local label=$1; shift
  for c in 1 32; do
    local amount=(-n "$n"); [ "$c" = 32 ] && amount=(-d "$seconds")
    "$load" --label "$label" -c "$c" "${amount[@]}" "$@"
  done
}
both() { # label, URL..., run over HTTP/2 and HTTP/1.1
  local label=$1; shift
  local urls=(); for u in "$@"; do urls+=(--url "$u"); done
  run "$label h2" "${auth[@]}" "${urls[@]}"
  run "$label h1" "${auth[@]}" --http1 "${urls[@]}"
}
straight() { # label, PromQL... straight to Prometheus (plain HTTP/1.1, as Go's client speaks to it)
  local label=$1; shift
  local urls=(); for q in "$@"; do urls+=(--url "$(prom "$q")"); done
  run "$label prom" "${urls[@]}"
}
together() { # label, PromQL... all at once per request (what the adapter does for metrics.k8s.io)
  local label=$1; shift
  local urls=(); for q in "$@"; do urls+=(--url "$(prom "$q")"); done
  run "$label prom" --together "${urls[@]}"
}

echo "# ms; c=1: $n requests in sequence, c=32: ${seconds}s; h2 = one shared HTTP/2 connection, h1 = a connection per worker"
cpu_pods='sum(rate(container_cpu_usage_seconds_total{namespace="prod",pod=~"web-1|web-2|web-3",container!="",pod!=""}[2m])) by (pod,container)'
mem_pods='sum(container_memory_working_set_bytes{namespace="prod",pod=~"web-1|web-2|web-3",container!="",pod!=""}) by (pod,container)'
cpu_pod='sum(rate(container_cpu_usage_seconds_total{namespace="prod",pod="web-1",container!="",pod!=""}[2m])) by (pod,container)'
mem_pod='sum(container_memory_working_set_bytes{namespace="prod",pod="web-1",container!="",pod!=""}) by (pod,container)'
both "custom object (HPA Object)" "$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length"
straight "custom object (HPA Object)" 'max(app_queue_length{namespace="prod",deployment="worker"}) by (deployment)'
both "custom pods by selector" "$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb"
straight "custom pods by selector" 'sum(rate(http_requests_total{namespace="prod",pod=~"web-1|web-2|web-3"}[2m])) by (pod)'
both "custom pod by name" "$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/web-1/http_requests_per_second"
straight "custom pod by name" 'sum(rate(http_requests_total{namespace="prod",pod="web-1"}[2m])) by (pod)'
both "custom Namespace object" "$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/metrics/http_requests_per_second"
straight "custom Namespace object" 'sum(rate(http_requests_total{namespace="prod"}[2m])) by (namespace)'
both "external" "$base/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector=queue%3Dorders"
straight "external" 'sum(queue_depth{queue="orders",namespace="shop"}) by (queue)'
both "metrics.k8s.io pods (2 queries)" "$base/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods"
straight "metrics.k8s.io pods (each query)" "$cpu_pods" "$mem_pods"
together "metrics.k8s.io pods (both queries at once)" "$cpu_pods" "$mem_pods"
both "metrics.k8s.io pod by name (2 queries)" "$base/apis/metrics.k8s.io/v1/namespaces/prod/pods/web-1"
straight "metrics.k8s.io pod by name (each query)" "$cpu_pod" "$mem_pod"
together "metrics.k8s.io pod by name (both queries at once)" "$cpu_pod" "$mem_pod"
run "metrics.k8s.io pods protobuf h2" "${auth[@]}" --accept "application/vnd.kubernetes.protobuf, application/json" \
  --url "$base/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods"
both "discovery" "$base/apis/custom.metrics.k8s.io/v1beta2"
both "404 unknown metric" "$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/nope"
both "400 bad selector" "$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?labelSelector=a%3D%3D%3D"
both "/metrics" "$base/metrics"

echo "# a minute of mixed load at c=32 over HTTP/2: RSS before and after"
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$adapter_pid/status"; }
echo "RSS before: $(rss)"
"$load" --label "mixed h2, 60 s" -c 32 -d 60 "${auth[@]}" \
  --url "$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length" \
  --url "$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb" \
  --url "$base/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector=queue%3Dorders" \
  --url "$base/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods" \
  --url "$base/apis/custom.metrics.k8s.io/v1beta2"
echo "RSS after: $(rss)"

echo "# the value cache on (--metrics-cache-ttl=5s): a repeated request at c=32"
kill "$adapter_pid"; wait "$adapter_pid" 2>/dev/null || true
target/release/prometheus-adapter --config=config/rules/example.yaml --objects=deploy/demo/objects.yaml \
  --prometheus-url="http://127.0.0.1:$prom_port/" --secure-port="$port" --bind-address=127.0.0.1 \
  --cert-dir="$work/certs" --metrics-relist-interval=30s --metrics-cache-ttl=5s \
  --delegated-auth=false --client-ca-file="$work/demo-ca.crt" >"$work/adapter-cache.log" 2>&1 & pids+=($!)
wait_for --cacert "$work/certs/apiserver.crt" "$base/readyz"
for proto in h2 h1; do
  flags=(); [ "$proto" = h1 ] && flags=(--http1)
  "$load" --label "custom object, cached, $proto" -c 32 -d "$seconds" "${auth[@]}" "${flags[@]}" \
    --url "$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length"
done
