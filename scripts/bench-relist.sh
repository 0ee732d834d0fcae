#!/usr/bin/env bash
# Relist against a real Prometheus (BENCHMARKS.md, "Relist by label values"): for each size (2,000 names ×
# PODS pods, backfilled with promtool), interleaved for ROUNDS rounds:
#   - the floor: Prometheus serving the seed rules' two series queries at the same time (wall);
#   - Prometheus answering the label questions label mode asks for the same queries, at the same time;
#   - the adapter's first relist in --relist-mode=series and in --relist-mode=labels (its own
#     relist_duration_seconds), its peak RSS (VmHWM) and the questions it asked.
# The seed rules (default-modern) are six rules, three sharing each seriesQuery. Then the same against
# VictoriaMetrics (Debian's package) holding VM_PODS pods per name.
# RELIST_SIZES="125 500 1000" (pods per name: 250 k, 1 M, 2 M series), ROUNDS=2, VM_PODS=500 (0: skip).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }
command -v victoria-metrics >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq victoria-metrics >/dev/null; }
cargo build --release --quiet
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
prom_port=${PROM_PORT:-19190}
port=${ADAPTER_PORT:-16543}
rounds=${ROUNDS:-2}

q1='{__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}'
q2='{namespace!="",__name__!~"^container_.*"}'
backend="http://127.0.0.1:$prom_port/"
api() { echo "${backend}api/v1"; }
now() { date +%s.%N; }
ask() { curl -fsS -o /dev/null -G "$(api)/$1" --data-urlencode "match[]=$2" --data-urlencode "start=$start" --data-urlencode "end=$(date +%s)"; }

# Wall time of the two series calls at once.
series_floor() {
  local t0; t0=$(now)
  ask series "$q1" & ask series "$q2" & wait
  echo "$(now) - $t0" | bc
}

# Wall time of the label questions the adapter asks in label mode, four at a time as it does: per query
# its label names and metric names; for q2 (resources by template) the names carrying each label that
# maps to a resource and q2 does not require (pod, service, job — the data's labels are container,
# endpoint, instance, job, namespace, pod, service); q1 requires its two resource labels; and the probe.
label_floor() {
  local t0; t0=$(now)
  ask labels "$q1" & ask "label/__name__/values" "$q1" & ask labels "$q2" & ask "label/__name__/values" "$q2" & wait
  ask "label/__name__/values" "${q2%\}},pod!=\"\"}" & ask "label/__name__/values" "${q2%\}},service!=\"\"}" &
  ask "label/__name__/values" "${q2%\}},job!=\"\"}" & ask "label/__name__/values" '{__name__="prometheus_adapter_relist_probe_matches_nothing"}' & wait
  echo "$(now) - $t0" | bc
}

# The adapter's first relist in mode $1: "seconds peak_kib questions peak_kib_before_any_client".
adapter_relist() {
  target/release/prometheus-adapter --config=config/rules/default-modern.yaml --objects=deploy/demo/objects.yaml \
    --prometheus-url="$backend" --secure-port="$port" --bind-address=127.0.0.1 \
    --cert-dir="$work/certs" --metrics-relist-interval=1h --prometheus-timeout=300s --delegated-auth=false \
    --relist-mode="$1" --v=2 >"$work/adapter-$1.log" 2>&1 &
  local pid=$!
  # The relist's own peak, before any HTTPS client pages in the TLS code: read when it logs its end.
  for _ in $(seq 1 3000); do grep -q "relist finished" "$work/adapter-$1.log" && break; sleep 0.1; done
  local alone; alone=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  for _ in $(seq 1 3000); do
    curl -fsS --cacert "$work/certs/apiserver.crt" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  local metrics; metrics=$(curl -fsS --cacert "$work/certs/apiserver.crt" "https://127.0.0.1:$port/metrics")
  local seconds; seconds=$(grep '^prometheus_adapter_relist_duration_seconds ' <<<"$metrics" | awk '{print $2}')
  local asked; asked=$(grep '^prometheus_adapter_relist_questions{' <<<"$metrics" | awk '{s+=$2} END {print s}')
  local hwm; hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$seconds $hwm $asked $alone"
}

printf '| backend, series | round | series floor (s) | label questions (s) | relist, series mode (s, peak MiB: relist alone, with a client) | relist, label mode (s, peak MiB: alone, with a client; questions) | label / floor |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'

# Both modes and both floors, interleaved, against $backend holding $1 series.
measure() {
  start=$(python3 -c 'import time; print(time.time() - 600)')
  ask series "$q1"; ask labels "$q1" # warm-up
  for round in $(seq 1 "$rounds"); do
    floor=$(series_floor)
    labels=$(label_floor)
    read -r s_secs s_kib _ s_alone <<<"$(adapter_relist series)"
    read -r l_secs l_kib l_asked l_alone <<<"$(adapter_relist labels)"
    mib() { echo "$1 / 1024" | bc -l; }
    printf '| %s | %s | %.2f | %.2f | %.2f; %.1f, %.1f | %.2f; %.1f, %.1f; %s | %.3f× |\n' "$1" "$round" "$floor" "$labels" \
      "$s_secs" "$(mib "$s_alone")" "$(mib "$s_kib")" "$l_secs" "$(mib "$l_alone")" "$(mib "$l_kib")" "$l_asked" "$(echo "$l_secs / $floor" | bc -l)"
  done
}

for pods in ${RELIST_SIZES:-125 500 1000}; do
  rm -rf "$work/data"
  PODS=$pods python3 scripts/gen_openmetrics.py > "$work/series.om"
  promtool tsdb create-blocks-from openmetrics "$work/series.om" "$work/data" >/dev/null
  rm "$work/series.om"
  printf 'global: {scrape_interval: 1h}\n' > "$work/prometheus.yml"
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address=127.0.0.1:$prom_port >"$work/prom.log" 2>&1 & prom=$!
  for _ in $(seq 1 120); do curl -fsS "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1 && break; sleep 1; done
  backend="http://127.0.0.1:$prom_port/"
  measure "Prometheus, $((pods * 2000))"
  kill "$prom"; wait "$prom" 2>/dev/null || true
done

vm_pods=${VM_PODS:-500}
if [ "$vm_pods" -gt 0 ]; then
  # Series mode needs VictoriaMetrics' series limits raised (label mode asks for no series).
  victoria-metrics -storageDataPath="$work/vm" -httpListenAddr=127.0.0.1:$prom_port -search.latencyOffset=0s \
    -search.maxSeries=10000000 -search.maxUniqueTimeseries=10000000 -loggerLevel=ERROR >"$work/vm.log" 2>&1 & vm=$!
  for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$prom_port/health" >/dev/null 2>&1 && break; sleep 1; done
  FORMAT=prometheus PODS=$vm_pods python3 scripts/gen_openmetrics.py "$(python3 -c 'import time; print(time.time() - 120)')" \
    | curl -fsS --data-binary @- "http://127.0.0.1:$prom_port/api/v1/import/prometheus"
  curl -fsS "http://127.0.0.1:$prom_port/internal/force_flush" >/dev/null
  backend="http://127.0.0.1:$prom_port/"
  measure "VictoriaMetrics, $((vm_pods * 2000))"
  kill "$vm"; wait "$vm" 2>/dev/null || true
fi
