#!/usr/bin/env bash
# Regenerates link/hot-symbols.txt: every function the release adapter runs while serving the demo (startup,
# TLS, HTTP/2 and HTTP/1.1 requests of every API shape, JSON and protobuf, a relist, self-metrics), recorded by
# valgrind's callgrind. build.rs has release builds lay those functions out first (lld's --symbol-ordering-file),
# so the pages the kernel maps around the code that runs hold code that runs: idle RSS 21.5 → 12.9 MiB
# (BENCHMARKS.md, "Functions that run, laid out together"). Names absent from a later build are skipped by the
# linker; rerun this after large changes. Needs valgrind (Debian's package).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
cargo build --release --quiet --bin prometheus-adapter
bin=$(pwd)/target/release/prometheus-adapter
profile="$work/callgrind.out"
wrapper="$work/under-callgrind.sh"
printf '#!/bin/sh\nexec valgrind --tool=callgrind --demangle=no --dump-instr=no --callgrind-out-file=%s %s "$@"\n' \
  "$profile" "$bin" >"$wrapper"
chmod +x "$wrapper"
ADAPTER_EXTRA_ARGS="--metrics-relist-interval=20s" start_stack "$wrapper"
get() { # PATH [curl flags]: once over HTTP/2, once over HTTP/1.1
  local path=$1; shift
  for version in --http2 --http1.1; do
    curl -sS -o /dev/null --cacert "$work/certs/apiserver.crt" --cert "$work/demo-user.crt" --key "$work/demo-user.key" \
      "$version" "$@" "https://127.0.0.1:$port$path"
  done
}
for path in /apis /api /apis/custom.metrics.k8s.io /apis/custom.metrics.k8s.io/v1beta1 /apis/custom.metrics.k8s.io/v1beta2 \
  /apis/external.metrics.k8s.io/v1beta1 /apis/metrics.k8s.io/v1beta1 /apis/metrics.k8s.io/v1 \
  "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second" \
  "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb" \
  /apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/web-1/http_requests_per_second \
  /apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth \
  /apis/metrics.k8s.io/v1beta1/namespaces/prod/pods /apis/metrics.k8s.io/v1/nodes /apis/metrics.k8s.io/v1/nodes/node-1 \
  /apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/web-1/no_such_metric /openapi/v2 /openapi/v3 \
  /metrics /healthz /livez /readyz /debug/explain; do
  get "$path"
  get "$path" -H 'Accept: application/vnd.kubernetes.protobuf'
done
sleep 25 # a relist
kill -INT "${pids[-1]}"
for _ in $(seq 1 60); do [ -s "$profile" ] && ! kill -0 "${pids[-1]}" 2>/dev/null && break; sleep 0.5; done
# Function names callgrind saw, kept if the binary defines them (not libc's, not valgrind's).
nm --defined-only "$bin" | awk '{print $3}' | sort -u >"$work/defined"
grep -ohE '^c?fn=\([0-9]+\) [^ ]+' "$profile" | awk '{print $2}' | sort -u | comm -12 - "$work/defined" >link/hot-symbols.txt
echo "link/hot-symbols.txt: $(wc -l <link/hot-symbols.txt) functions"
