# Shared by demo.sh and bench-requests.sh: installs what is missing, starts a Pushgateway and a Prometheus
# scraping it every second on loopback, pushes the demo series, and starts the adapter over HTTPS with the
# example rules and the demo objects. Everything stops when the calling script exits.
# Source it; it defines $work, $prom_port, $push_port, $port, $adapter, k(), start_stack ADAPTER_BINARY and
# release_adapter (the binary to measure: $ADAPTER_BIN, else this tree's release build).
# There is no cluster to ask who callers are, so the adapter runs with --delegated-auth=false and a client CA:
# callers need a certificate from it ($work/demo-user.crt/.key, which k() and the benchmarks use).

missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v prometheus-pushgateway >/dev/null || missing+=(prometheus-pushgateway)
command -v kubectl >/dev/null || missing+=(kubectl)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

prom_port=${PROM_PORT:-19090}
push_port=${PUSH_PORT:-19091}
port=${ADAPTER_PORT:-16443}

wait_for() { for _ in $(seq 1 60); do curl -fsS "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done; echo "timed out waiting for $*" >&2; return 1; }
push() { curl -fsS --data-binary @- "http://127.0.0.1:$push_port/metrics/job/demo/instance/$1"; }
push_all() { # $1: request counter value, $2: cpu counter value
  for pod in web-1 web-2 web-3; do
    push "$pod" <<METRICS
# TYPE http_requests_total counter
http_requests_total{namespace="prod",pod="$pod"} $1
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{namespace="prod",pod="$pod",container="app"} $2
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{namespace="prod",pod="$pod",container="app"} 47185920
METRICS
  done
  push nodes <<METRICS
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total{node="node-1"} $2
node_cpu_usage_seconds_total{node="node-2"} $2
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes{node="node-1"} 2147483648
node_memory_working_set_bytes{node="node-2"} 1073741824
METRICS
}
source scripts/certs.sh
k() {
  kubectl --server="https://127.0.0.1:$port" --certificate-authority="$work/certs/apiserver.crt" \
    --client-certificate="$work/demo-user.crt" --client-key="$work/demo-user.key" "$@"
}

release_adapter() { # prints the binary a benchmark measures
  if [ -n "${ADAPTER_BIN:-}" ]; then echo "$ADAPTER_BIN"; return; fi
  cargo build --release --quiet --package prometheus-adapter --bins >&2
  echo target/release/prometheus-adapter
}

start_stack() { # $1: the adapter binary
  adapter=$1
  make_ca "$work" demo-ca
  make_client "$work" demo-ca demo-user demo-user demo
  prometheus-pushgateway --web.listen-address=127.0.0.1:$push_port --persistence.file="$work/push.db" >"$work/push.log" 2>&1 & pids+=($!)
  cat >"$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: pushgateway
  honor_labels: true
  static_configs: [{targets: ['127.0.0.1:$push_port']}]
YAML
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address=127.0.0.1:$prom_port >"$work/prom.log" 2>&1 & pids+=($!)
  wait_for "http://127.0.0.1:$push_port/-/ready"
  wait_for "http://127.0.0.1:$prom_port/-/ready"
  push_all 100 10
  push worker <<'METRICS'
# TYPE app_queue_length gauge
app_queue_length{namespace="prod",deployment="worker"} 17
# TYPE queue_depth gauge
queue_depth{namespace="shop",queue="orders"} 42
queue_depth{namespace="shop",queue="mail"} 3
METRICS
  # Prometheus applies new scrape targets a few seconds after start: wait for the first scrape.
  for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:$prom_port/api/v1/series" --data-urlencode 'match[]=queue_depth' | grep -q orders && break
    sleep 0.5
  done
  sleep 2
  push_all 400 13   # the counters grow, so rate() has something to say
  sleep 3
  start_adapter "$adapter"
}

start_adapter() { # $1: the adapter binary, against the stack start_stack started; its pid is ${pids[-1]}
  "$1" --config=config/rules/example.yaml --objects=deploy/demo/objects.yaml \
    --prometheus-url="http://127.0.0.1:$prom_port/" --secure-port="$port" --bind-address=127.0.0.1 \
    --cert-dir="$work/certs" --metrics-relist-interval=30s \
    --delegated-auth=false --client-ca-file="$work/demo-ca.crt" ${ADAPTER_EXTRA_ARGS:-} >"$work/adapter.log" 2>&1 & pids+=($!)
  for _ in $(seq 1 60); do
    [ -f "$work/certs/apiserver.crt" ] && curl -fsS --cacert "$work/certs/apiserver.crt" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "the adapter did not become ready; its log:" >&2; cat "$work/adapter.log" >&2; return 1
}

go_concurrencies() { # GO_LOAD URL N SECONDS LABEL [go-load flags...]: Go's net/http at c=1 for N requests, then
  # at c=32 for SECONDS, with the demo user's certificate; each run's line follows a line naming it.
  local go_load=$1 url=$2 n=$3 seconds=$4 label=$5; shift 5
  local c amount
  for c in 1 32; do
    amount=(-n "$n"); [ "$c" = 32 ] && amount=(-d "${seconds}s")
    printf '%s c=%s\n' "$label" "$c"
    "$go_load" -url "$url" -c "$c" "${amount[@]}" -cert "$work/demo-user.crt" -key "$work/demo-user.key" "$@"
  done
}
