#!/usr/bin/env bash
# The demo: a real Prometheus fed by a Pushgateway with sample application and cAdvisor-like series; the
# adapter's rules core reads Prometheus' own /api/v1/series answer and shows what it would serve and the
# PromQL each request would run, and Prometheus answers that PromQL. Stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null || ! command -v prometheus-pushgateway >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-pushgateway >/dev/null
fi
cargo build --quiet
adapter=target/debug/prometheus-adapter

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

prom_port=${PROM_PORT:-19090}
push_port=${PUSH_PORT:-19091}
prometheus-pushgateway --web.listen-address=127.0.0.1:$push_port >"$work/push.log" 2>&1 & pids+=($!)
cat >"$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: pushgateway
  honor_labels: true
  static_configs: [{targets: ['127.0.0.1:$push_port']}]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address=127.0.0.1:$prom_port >"$work/prom.log" 2>&1 & pids+=($!)

wait_for() { for _ in $(seq 1 60); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.5; done; echo "timed out waiting for $1" >&2; return 1; }
wait_for "http://127.0.0.1:$push_port/-/ready"
wait_for "http://127.0.0.1:$prom_port/-/ready"

push() { curl -fsS --data-binary @- "http://127.0.0.1:$push_port/metrics/job/demo/instance/$1"; }
for pod in web-1 web-2 web-3; do
  push "$pod" <<METRICS
# TYPE http_requests_total counter
http_requests_total{namespace="prod",pod="$pod",method="GET"} $((RANDOM % 1000 + 100))
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{namespace="prod",pod="$pod",container="app"} 12.5
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{namespace="prod",pod="$pod",container="app"} 47185920
METRICS
done
push worker <<'METRICS'
# TYPE app_queue_length gauge
app_queue_length{namespace="prod",deployment="worker"} 17
# TYPE queue_depth gauge
queue_depth{namespace="shop",queue="orders"} 42
queue_depth{namespace="shop",queue="mail"} 3
METRICS

echo "== waiting for Prometheus to scrape the Pushgateway"
for _ in $(seq 1 60); do
  n=$(curl -fsS "http://127.0.0.1:$prom_port/api/v1/series" --data-urlencode 'match[]=queue_depth' | grep -o '"queue_depth"' | wc -l || true)
  [ "$n" -ge 2 ] && break; sleep 0.5
done

sleep 3 # two scrapes, so rate() has two samples
echo "== check-config on every shipped rules file"
for f in config/rules/*.yaml; do $adapter check-config --config "$f"; done

curl -fsS "http://127.0.0.1:$prom_port/api/v1/series" --data-urlencode 'match[]={namespace!=""}' >"$work/series.json"
echo
echo "== what config/rules/example.yaml discovers from Prometheus' real /api/v1/series answer"
$adapter explain --config config/rules/example.yaml --series "$work/series.json"

run_query() {
  echo "PromQL: $1"
  curl -fsS "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" | head -c 600; echo
}
echo
echo "== custom: pods/http_requests_per_second for web-1,web-2 in prod"
q=$($adapter explain --config config/rules/example.yaml --series "$work/series.json" \
  --custom pods/http_requests_per_second --namespace prod --names web-1,web-2)
run_query "$q"
echo
echo "== custom: deployments.apps/queue_length for worker"
q=$($adapter explain --config config/rules/example.yaml --series "$work/series.json" \
  --custom deployments.apps/queue_length --namespace prod --names worker)
run_query "$q"
echo
echo "== external: queue_depth in namespace shop, labelSelector queue=orders"
q=$($adapter explain --config config/rules/example.yaml --series "$work/series.json" \
  --external queue_depth --namespace shop --metric-selector queue=orders)
run_query "$q"
echo
echo "== resource metrics: memory of web-1,web-2,web-3 in prod"
q=$($adapter explain --config config/rules/example.yaml --resource-metric memory --namespace prod --names web-1,web-2,web-3)
run_query "$q"
