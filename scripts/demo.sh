#!/usr/bin/env bash
# The demo: a real Prometheus fed by a Pushgateway, the adapter serving the shipped example rules over
# HTTPS with the demo objects (deploy/demo/objects.yaml) standing in for a cluster, and kubectl as the
# client: custom, external and resource metrics, then `kubectl top`. Stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --quiet

echo "== check-config on every shipped rules file"
for f in config/rules/*.yaml; do target/debug/prometheus-adapter check-config --config "$f"; done

echo
echo "== the adapter: example rules, demo objects, Prometheus at 127.0.0.1:$prom_port, HTTPS on :$port"
start_stack target/debug/prometheus-adapter

show() {
  echo; echo "\$ kubectl get --raw '$1'"
  k get --raw "$1" >"$work/answer.json"
  python3 -m json.tool "$work/answer.json" | sed -n "1,${2:-40}p"
}
echo
echo "(no cluster to ask, so the adapter runs with --delegated-auth=false and a client CA: a caller without"
echo " a certificate from it is refused, and kubectl below presents one: CN=demo-user, O=demo)"
echo "\$ curl https://127.0.0.1:$port/apis/custom.metrics.k8s.io/v1beta2   # no client certificate"
curl -sS --cacert "$work/certs/apiserver.crt" "https://127.0.0.1:$port/apis/custom.metrics.k8s.io/v1beta2"; echo
show '/apis/custom.metrics.k8s.io/v1beta2' 30
show '/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb' 30
query=$($adapter explain --config config/rules/example.yaml --series <(curl -fsS "http://127.0.0.1:$prom_port/api/v1/series" --data-urlencode 'match[]={namespace!=""}') \
  --custom pods/http_requests_per_second --namespace prod --names web-1,web-2,web-3)
echo "(the PromQL behind it, as 'explain' prints it, and Prometheus' own answer to it:)"
echo "$query"
curl -fsS "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$query"; echo
show '/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length' 25
show '/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector=queue%3Dorders' 25
echo
echo "\$ kubectl top pod -n prod"
k top pod -n prod
echo
echo "\$ kubectl top node"
k top node
echo
echo "\$ kubectl get podmetrics -n prod"
k get podmetrics -n prod
echo
echo "\$ kubectl get --raw '/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/nope'"
k get --raw '/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/*/nope' || true
echo
echo "== ask the running adapter: explain --server prints what the offline explain printed above"
echo "\$ prometheus-adapter explain --server https://127.0.0.1:$port --custom pods/http_requests_per_second --namespace prod --names web-1,web-2,web-3"
$adapter explain --server "https://127.0.0.1:$port" --certificate-authority "$work/certs/apiserver.crt" \
  --client-certificate "$work/demo-user.crt" --client-key "$work/demo-user.key" \
  --custom pods/http_requests_per_second --namespace prod --names web-1,web-2,web-3
echo "(and for a typo, which step found nothing and the closest names:)"
k get --raw '/debug/explain?custom=pods/http_request_per_second&namespace=prod' >"$work/explain.json"
python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["explanation"]["notFound"], indent=1))' "$work/explain.json"
