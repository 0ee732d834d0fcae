#!/usr/bin/env bash
# Chaos (BENCHMARKS.md): the demo stack (release build, --prometheus-timeout=2s, relist every 10 s) under steady
# load — object, external and metrics.k8s.io requests at 300 req/s, and discovery alone at 100 req/s — while
# Prometheus is killed and restarted, then hung (SIGSTOP) longer than the timeout and resumed. Per fault: the
# codes and max latency during it, and the time from the fault's end to the first good answer. Pass marks: every
# request ends within its deadline (timeout + 5 s), discovery is never refused, metric requests fail only as
# 503s, recovery within one relist (10 s). Kubernetes faults and actor crashes are exercised by
# tests/kubernetes.rs (a hung API server) and actors/tests/simulation.rs (crashed actors).
# Usage: scripts/chaos.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --quiet --package prometheus-adapter --package adapter-load --bins
ADAPTER_EXTRA_ARGS="--prometheus-timeout=2s --metrics-relist-interval=10s" start_stack target/release/prometheus-adapter
load=target/release/adapter-load
base="https://127.0.0.1:$port"
auth=(--cacert "$work/certs/apiserver.crt" --cert "$work/demo-user.crt" --key "$work/demo-user.key")
object="$base/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length"
metrics=(--url "$object"
  --url "$base/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector=queue%3Dorders"
  --url "$base/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods")
prom_pid=${pids[1]}
start_prometheus() {
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address=127.0.0.1:$prom_port >>"$work/prom.log" 2>&1 & prom_pid=$!; pids+=($prom_pid)
}
code_of() { curl -s -o /dev/null -w '%{http_code}' --cacert "$work/certs/apiserver.crt" \
  --cert "$work/demo-user.crt" --key "$work/demo-user.key" "$1"; }
failed=0
run_fault() { # name, inject command, hold seconds, heal command
  local name=$1 inject=$2 hold=$3 heal=$4
  "$load" --label "$name: metrics" -c 16 --rate 300 -d 25 --warmup 0 "${auth[@]}" "${metrics[@]}" >"$work/m.txt" &
  local m=$!
  "$load" --label "$name: discovery" -c 4 --rate 100 -d 25 --warmup 0 "${auth[@]}" --url "$base/apis/custom.metrics.k8s.io/v1beta2" >"$work/d.txt" &
  local d=$!
  sleep 5; eval "$inject"; sleep "$hold"; eval "$heal"
  local healed=$(date +%s.%N) recovered=""
  for _ in $(seq 1 300); do
    if [ "$(code_of "$object")" = 200 ]; then recovered=$(date +%s.%N); break; fi
    sleep 0.1
  done
  wait $m $d
  cat "$work/m.txt" "$work/d.txt"
  local recovery
  recovery=$(python3 -c "print(f'{$recovered - $healed:.2f}')" 2>/dev/null || echo never)
  echo "$name: recovered ${recovery}s after the fault ended"
  python3 - "$work/m.txt" "$work/d.txt" "$recovery" <<'PY' || failed=1
import re, sys
m, d, recovery = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
maxm = float(re.search(r"max=([\d.]+)", m).group(1))
maxd = float(re.search(r"max=([\d.]+)", d).group(1))
codes_m = re.search(r"codes=(\S+)", m).group(1)
codes_d = re.search(r"codes=(\S+)", d).group(1)
errors = int(re.search(r"errors=(\d+)", m).group(1)) + int(re.search(r"errors=(\d+)", d).group(1))
bad_m = [c for c in codes_m.split(",") if c.split(":")[0] not in ("200", "503")]
marks = {
    "every request within its deadline (7 s)": max(maxm, maxd) <= 7000,
    "discovery never refused": codes_d.split(",") == [c for c in codes_d.split(",") if c.startswith("200:")],
    "metric requests fail only as 503": not bad_m and errors == 0,
    "recovery within one relist (10 s)": recovery != "never" and float(recovery) <= 10,
}
for mark, ok in marks.items():
    print(f"  {'ok  ' if ok else 'FAIL'} {mark}")
sys.exit(0 if all(marks.values()) else 1)
PY
}
echo "# Prometheus killed (SIGKILL) for 5 s, then restarted"
run_fault "prometheus killed" 'kill -9 $prom_pid' 5 'start_prometheus'
echo "# Prometheus hung (SIGSTOP) for 6 s (3 × the 2 s timeout), then resumed"
run_fault "prometheus hung" 'kill -STOP $prom_pid' 6 'kill -CONT $prom_pid'
[ $failed = 0 ] && echo "PASS" || { echo "FAIL"; exit 1; }
