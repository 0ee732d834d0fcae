#!/usr/bin/env bash
# Relist of 1 M series against a real Prometheus (BENCHMARKS.md): backfills 2,000 names x 500 pods with
# promtool, times Prometheus serving the seed rules' two series queries, then the adapter's first relist
# (from its own metrics) and its peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }
cargo build --release --quiet
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
prom_port=${PROM_PORT:-19190}
port=${ADAPTER_PORT:-16543}

echo "== backfilling 1,000,000 series"
python3 scripts/gen_openmetrics.py > "$work/series.om"
ls -l "$work/series.om" | awk '{printf "openmetrics: %.0f MB\n", $5/1e6}'
promtool tsdb create-blocks-from openmetrics "$work/series.om" "$work/data" >/dev/null
rm "$work/series.om"
printf 'global: {scrape_interval: 1h}\n' > "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address=127.0.0.1:$prom_port >"$work/prom.log" 2>&1 & pids+=($!)
for _ in $(seq 1 120); do curl -fsS "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1 && break; sleep 1; done

start=$(python3 -c 'import time; print(time.time() - 600)')
q1='{__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}'
q2='{namespace!="",__name__!~"^container_.*"}'
serve() { curl -fsS -o /dev/null -w '%{time_total} %{size_download}\n' -G "http://127.0.0.1:$prom_port/api/v1/series" --data-urlencode "match[]=$1" --data-urlencode "start=$start"; }
serve "$q1" >/dev/null # warm-up
echo "== Prometheus serving the two series queries (seconds, bytes), one after the other, then together"
serve "$q1"; serve "$q2"
( serve "$q1" & serve "$q2" & wait ) 

echo "== the adapter's first relist (default-modern rules: the same two queries, concurrently)"
target/release/prometheus-adapter --config=config/rules/default-modern.yaml --objects=deploy/demo/objects.yaml \
  --prometheus-url="http://127.0.0.1:$prom_port/" --secure-port="$port" --bind-address=127.0.0.1 \
  --cert-dir="$work/certs" --metrics-relist-interval=1h --prometheus-timeout=120s --delegated-auth=false \
  >"$work/adapter.log" 2>&1 & pids+=($!)
adapter_pid=$!
for _ in $(seq 1 300); do
  curl -fsS --cacert "$work/certs/apiserver.crt" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS --cacert "$work/certs/apiserver.crt" "https://127.0.0.1:$port/metrics" | grep -E "^prometheus_adapter_(relist_duration_seconds|registry_metrics|rule_series)"
grep -E "VmHWM|VmRSS" /proc/$adapter_pid/status
