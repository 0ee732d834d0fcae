#!/usr/bin/env bash
# Per-request cost of authentication and authorization (BENCHMARKS.md): a release adapter answering /version
# (no backend work) to the same client, once per way of getting in, with reviews cached.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}
cargo build --release --quiet
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Two CAs (client, front proxy) and a certificate from each.
source scripts/certs.sh
make_ca "$work" client-ca
make_client "$work" client-ca client bench bench
make_ca "$work" proxy-ca
make_client "$work" proxy-ca proxy front-proxy-client
reviewer_port=18444
python3 scripts/bench_auth.py reviewer $reviewer_port & pids+=($!)
cat > "$work/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: r, cluster: {server: 'http://127.0.0.1:$reviewer_port'}}]
users: [{name: r, user: {token: adapter}}]
contexts: [{name: r, context: {cluster: r, user: r}}]
current-context: r
YAML

run() { # $1: label, $2: client mode, then adapter flags
  local label=$1 mode=$2; shift 2
  local port=16500
  target/release/prometheus-adapter --config=config/rules/example.yaml --objects=deploy/demo/objects.yaml \
    --prometheus-url=http://127.0.0.1:1/ --secure-port=$port --bind-address=127.0.0.1 \
    --cert-dir="$work/certs" "$@" >"$work/adapter.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 60); do curl -fsS --cacert "$work/certs/apiserver.crt" "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
  python3 scripts/bench_auth.py measure $port "$work/certs/apiserver.crt" "$work" "$n" "$label" "$mode"
  kill $pid; wait $pid 2>/dev/null || true
}

delegated=(--authentication-kubeconfig="$work/kubeconfig" --authentication-skip-lookup
  --client-ca-file="$work/client-ca.crt" --requestheader-client-ca-file="$work/proxy-ca.crt"
  --requestheader-allowed-names=front-proxy-client
  --authentication-token-webhook-cache-ttl=10m --authorization-webhook-cache-authorized-ttl=10m)
echo "$n sequential keep-alive GET /version per case; milliseconds p50 p99 max"
run "no auth (--delegated-auth=false)" anonymous --delegated-auth=false
run "client certificate, no review (--delegated-auth=false)" client-cert --delegated-auth=false --client-ca-file="$work/client-ca.crt"
run "front proxy (cert + X-Remote-*), SAR cached" front-proxy "${delegated[@]}"
run "client certificate, SAR cached" client-cert "${delegated[@]}"
run "bearer token, TokenReview + SAR cached" token "${delegated[@]}"
echo "reviews answered by the stand-in kube-apiserver: $(curl -fsS http://127.0.0.1:$reviewer_port/)"
