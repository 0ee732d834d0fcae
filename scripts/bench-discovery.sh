#!/usr/bin/env bash
# Discovery with 15,000 entries (BENCHMARKS.md): the demo stack plus 5,000 app_* gauges, which the example
# rules advertise for namespaces, deployments.apps and jobs.batch; then 2,000 GETs of the document.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --quiet
python3 - >"$work/many.prom" <<'PY'
for i in range(5000):
    print(f"# TYPE app_bench_{i} gauge")
    print(f'app_bench_{i}{{namespace="prod",deployment="worker"}} {i}')
PY
start_stack target/release/prometheus-adapter
push many <"$work/many.prom"
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$prom_port/api/v1/series" --data-urlencode 'match[]=app_bench_4999' | grep -q worker && break
  sleep 0.5
done
k get --raw /metrics >/dev/null 2>&1 || true
# Relist now rather than waiting for the 30 s timer: restart is simplest.
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'
target/release/prometheus-adapter --config=config/rules/example.yaml --objects=deploy/demo/objects.yaml \
  --prometheus-url="http://127.0.0.1:$prom_port/" --secure-port="$port" --bind-address=127.0.0.1 \
  --cert-dir="$work/certs" --metrics-relist-interval=30s >"$work/adapter.log" 2>&1 & pids+=($!)
for _ in $(seq 1 60); do curl -fsS --cacert "$work/certs/apiserver.crt" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
python3 - "$port" "$work/certs/apiserver.crt" <<'PY'
import http.client, json, ssl, sys, time
conn = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ssl.create_default_context(cafile=sys.argv[2]))
def get(path, headers={}):
    conn.request("GET", path, headers=headers); r = conn.getresponse(); return r.read()
entries = len(json.loads(get("/apis/custom.metrics.k8s.io/v1beta1"))["resources"])
for name, headers in [("identity", {}), ("gzip", {"Accept-Encoding": "gzip"})]:
    samples = []
    for _ in range(2000):
        t = time.perf_counter(); body = get("/apis/custom.metrics.k8s.io/v1beta1", headers); samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    print(f"{entries} entries, {name}, {len(body)} bytes: p50 {samples[1000]:.2f} ms, p99 {samples[1980]:.2f} ms, max {samples[-1]:.2f} ms")
PY
