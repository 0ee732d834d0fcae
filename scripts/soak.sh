#!/usr/bin/env bash
# Soak (BENCHMARKS.md): the demo stack with a release build, mixed request shapes over HTTP/2 at a fixed rate
# for MINUTES, RSS sampled every 10 s. Pass marks: 0 errors and only 200s, RSS flat within ±10 % after the
# first minute, p99 steady (no minute's p99 over 3× the first's). Exits 1 when a mark is missed.
# Usage: scripts/soak.sh [MINUTES=5] [RATE=1000]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-5}
rate=${2:-1000}
source scripts/env.sh
cargo build --release --quiet --package prometheus-adapter --package adapter-load --bins
start_stack target/release/prometheus-adapter
adapter_pid=${pids[-1]}
load=target/release/adapter-load
base="https://127.0.0.1:$port"
auth=(--cacert "$work/certs/apiserver.crt" --cert "$work/demo-user.crt" --key "$work/demo-user.key")
urls=(
  --url "$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length"
  --url "$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb"
  --url "$base/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector=queue%3Dorders"
  --url "$base/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods"
  --url "$base/apis/metrics.k8s.io/v1/nodes/node-1"
  --url "$base/apis/custom.metrics.k8s.io/v1beta2"
)
(while kill -0 "$adapter_pid" 2>/dev/null; do
  awk '/VmRSS/ {print $2}' "/proc/$adapter_pid/status" >>"$work/rss" 2>/dev/null || true
  sleep 10
done) & pids+=($!)
echo "# $minutes minute(s) at $rate req/s, c=32, HTTP/2, six shapes round-robin"
for m in $(seq 1 "$minutes"); do
  "$load" --label "minute $m" -c 32 --rate "$rate" -d 60 --warmup 0 "${auth[@]}" "${urls[@]}" | tee -a "$work/soak.log"
done
python3 - "$work/rss" "$work/soak.log" <<'PY'
import re, sys
rss = [int(x) / 1024 for x in open(sys.argv[1]).read().split()]
lines = open(sys.argv[2]).read().splitlines()
p99 = [float(re.search(r"p99=([\d.]+)", l).group(1)) for l in lines]
errors = sum(int(re.search(r"errors=(\d+)", l).group(1)) for l in lines)
others = [c for l in lines for c in re.search(r"codes=(\S+)", l).group(1).split(",") if not c.startswith("200:")]
steady = rss[6:] or rss
mid = sorted(steady)[len(steady) // 2]
spread = (max(steady) - min(steady)) / mid * 100
print(f"RSS MiB: start {rss[0]:.1f}, after the first minute min {min(steady):.1f} median {mid:.1f} max {max(steady):.1f} (spread {spread:.1f} %)")
print(f"p99 per minute (ms): {' '.join(f'{x:.2f}' for x in p99)}; errors {errors}; non-200 {others or 'none'}")
ok = errors == 0 and not others and spread <= 20 and max(p99) <= 3 * p99[0] + 1
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
