#!/usr/bin/env bash
# Two adapter builds against one demo stack, interleaved (A, B, A, B: runs minutes apart on this box differ by up
# to 30 %, so only a comparison within one sitting says what a change moved). Each turn: the HPA Object, pods by
# selector, external, metrics.k8s.io pods, discovery and 404 shapes over HTTP/2 and HTTP/1.1, at c=1 (N requests) and c=32
# (SECONDS), with a client certificate, as bench-requests.sh sends them.
# GO_LOAD=PATH measures with Go's net/http instead (../shared/tools/go-load, as bench-go.sh), tools/load otherwise.
# Usage: [SHAPES=REGEX] [GO_LOAD=PATH] scripts/bench-ab.sh BINARY_A BINARY_B [ROUNDS=2] [N=2000] [SECONDS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
a=$(realpath "$1") b=$(realpath "$2") rounds=${3:-2} n=${4:-2000} seconds=${5:-5}
cargo build --release --quiet --package adapter-load --bins
load=target/release/adapter-load
start_stack "$a"
base="https://127.0.0.1:$port"
auth=(--cacert "$work/certs/apiserver.crt" --cert "$work/demo-user.crt" --key "$work/demo-user.key")
shapes=(
  "HPA Object|$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length"
  "pods by selector|$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb"
  "external|$base/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector=queue%3Dorders"
  "metrics.k8s.io pods|$base/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods"
  # No backend behind them: what serving a request costs the adapter itself.
  "discovery|$base/apis/custom.metrics.k8s.io/v1beta2"
  "404 unknown metric|$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/nope"
)
for round in $(seq 1 "$rounds"); do
  for side in A B; do
    binary=$a; [ "$side" = B ] && binary=$b
    if [ "$round.$side" != 1.A ]; then
      kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'
      start_adapter "$binary"
    fi
    for shape in "${shapes[@]}"; do
      label=${shape%%|*} url=${shape#*|}
      [[ -z ${SHAPES:-} || $label =~ $SHAPES ]] || continue
      for proto in h2 h1; do
        flags=(); [ "$proto" = h1 ] && flags=(--http1)
        if [ -n "${GO_LOAD:-}" ]; then
          go_flags=(); [ "$proto" = h1 ] && go_flags=(-h1)
          go_concurrencies "$GO_LOAD" "$url" "$n" "$seconds" "$side$round $label $proto" "${go_flags[@]}"
          continue
        fi
        "$load" --label "$side$round $label $proto" -c 1 -n "$n" "${auth[@]}" "${flags[@]}" --url "$url"
        "$load" --label "$side$round $label $proto" -c 32 -d "$seconds" "${auth[@]}" "${flags[@]}" --url "$url"
      done
    done
  done
done
